import CSwiftmonRecords
import SwiftmonCore
import SwiftmonSinks
import XCTest
@testable import SwiftmonLinux

/// Every kind of kernel record, as the BPF programs write it, in an order a
/// kernel could send them, for the event builders' tests: a fixed host
/// identity, a fixed user table and a process cache seeded with one known
/// shell, so that nothing comes from this machine (no root, no BPF, no /proc).
enum BuilderScenario {
    /// Machine word c0ffee42, 100 ticks/s, booted 2026-01-01 00:00:00 UTC.
    static let host = HostIdentity(machine: 0xC0FF_EE42, ticksPerSecond: 100,
                                   bootEpochNanoseconds: 1_767_225_600_000_000_000)
    static let users: [UInt32: String] = [0: "root", 1000: "alice"]

    typealias Task = KernelRecordFixture.Task
    /// The login shell the cache knows from the start-up scan.
    static let shell = Task(pid: 100, startBootNanoseconds: 1_000_000_000)
    /// Started by the shell: forks, gets a thread, execs curl, and does the rest.
    static let child = Task(pid: 200, startBootNanoseconds: 5_000_000_000)
    /// A 32-bit program whose parent swiftmon never saw.
    static let orphan = Task(pid: 300, startBootNanoseconds: 6_000_000_000)
    static let unseenParent = Task(pid: 299, startBootNanoseconds: 5_500_000_000)

    /// Cgroups of the scenario by id, as a unified hierarchy would resolve them.
    static let cgroups: [UInt64: String] = [
        1: "/",
        10: "/user.slice/user-1000.slice/session-3.scope",
        20: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f3c2a1e_5b6d_4e7f_8a9b_0c1d2e3f4a5b.slice/"
            + "cri-containerd-" + String(repeating: "ab", count: 32) + ".scope",
    ]
    /// The host's namespaces, and a container's.
    static let hostNamespaces: (pid: UInt32, mnt: UInt32, net: UInt32) = (4_026_531_836, 4_026_531_841, 4_026_531_840)
    static let podNamespaces: (pid: UInt32, mnt: UInt32, net: UInt32) = (4_026_532_301, 4_026_532_299, 4_026_532_304)
    /// A process in a Kubernetes pod's container: pid 1 of its pid namespace.
    static let contained = Task(pid: 700, startBootNanoseconds: 9_200_000_000)

    /// A sensor's builders with nothing from this machine in them.
    static func makeBuilder() -> SensorEventBuilder {
        let processes = ProcessEventBuilder(host: host, users: UserNames(fixed: users), hasher: nil,
                                            containers: ContainerResolver { cgroups[$0] })
        processes.remember(ProcessEntry(
            guid: host.guid(pid: shell.pid, startBootNanoseconds: shell.startBootNanoseconds), pid: shell.pid,
            image: Array("/usr/bin/bash".utf8), commandLine: Array("-bash".utf8), user: "alice"))
        return SensorEventBuilder(processes: processes, selfPID: swiftmon.pid, isSelfThread: { $0 == swiftmon.pid + 1 })
    }

    /// The swiftmon of the scenario (its reader thread is pid + 1).
    static let swiftmon = Task(pid: 700, startBootNanoseconds: 500_000_000)

    struct Step {
        let name: String
        let records: [[UInt8]]
        var events: [Event] = []
    }

    /// The records of the scenario, step by step, in the order a kernel
    /// could send them.
    static func steps() -> [Step] {
        var f = KernelRecordFixture()
        let alice = KernelRecordFixture.credentials(uid: 1000)
        let root = KernelRecordFixture.credentials(uid: 0)
        let stranger = KernelRecordFixture.credentials(uid: 1001, loginUID: 0xFFFF_FFFF, session: 0xFFFF_FFFF)
        let worker = child.thread(201)
        let hostile: [UInt8] = Array("new\nline \"q\" \\back\t".utf8) + [0xFF, 0xFE] + Array("é.txt".utf8)
        let loopback6: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        let doc6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53]
        let mapped6: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 1]
        var steps: [Step] = []
        func step(_ name: String, _ records: [UInt8]...) { steps.append(Step(name: name, records: records)) }

        let onHost = KernelRecordFixture.container(
            cgroup: 10, pidNamespace: hostNamespaces.pid, mntNamespace: hostNamespaces.mnt,
            netNamespace: hostNamespaces.net, pidInNamespace: child.pid)
        let inPod = KernelRecordFixture.container(
            cgroup: 20, pidNamespace: podNamespaces.pid, mntNamespace: podNamespaces.mnt,
            netNamespace: podNamespaces.net, pidInNamespace: 1)
        step("fork: the shell starts a process (no event until exec)",
             f.fork(child, parent: shell, credentials: alice, container: onHost))
        step("fork: a thread of the new process, still running the shell's image",
             f.fork(worker, parent: child, credentials: alice, thread: true))
        step("exec: the new process runs curl (ProcessCreate + ImageLoad of the executable)",
             f.exec(child, parent: shell, image: "/usr/bin/curl", cwd: "/home/alice",
                    argv: ["curl", "-s", "https://example.org/a b"], credentials: alice, container: onHost))
        step("exec: a 32-bit program of an unknown user whose parent was never seen",
             f.exec(orphan, parent: unseenParent, image: "/opt/old/bin/legacy", cwd: "/",
                    argv: ["legacy"], credentials: stranger, elfClass: 1, elfMachine: 3))
        step("exec: command line longer than the capture limit",
             f.exec(orphan, parent: unseenParent, image: "/usr/bin/printf", cwd: "/tmp",
                    argv: ["printf", String(repeating: "A", count: 40)], credentials: stranger,
                    flags: [SM_FLAG_ARGS_TRUNCATED], argsTotal: 100_000))
        step("exec: argv unreadable, image and working directory deeper than the limits",
             f.exec(orphan, parent: unseenParent, image: "/deep/d/e/f/run", cwd: "/deep/d/e",
                    argv: ["ignored"], credentials: stranger,
                    flags: [SM_FLAG_ARGS_UNREADABLE, SM_FLAG_IMAGE_TRUNCATED, SM_FLAG_CWD_TRUNCATED]))
        step("exec: hostile bytes in image path, working directory and argv",
             f.exec(orphan, parent: unseenParent, image: Array("/tmp/".utf8) + hostile, cwd: "/tmp",
                    argv: [hostile, Array("--x=\"<&>\"".utf8)], credentials: stranger))
        step("exec: not an ELF file (a script), run by root",
             f.exec(Task(pid: 310, startBootNanoseconds: 7_000_000_000), parent: shell, image: "/usr/local/bin/job.sh",
                    cwd: "/root", argv: ["/bin/sh", "/usr/local/bin/job.sh"], credentials: root, elfClass: 0, elfMachine: 0))

        step("file: create, name relative to the working directory",
             f.file(SM_PATH_OP_CREATE, worker, euid: 1000, dir: "/home/alice", name: "notes.txt"))
        step("file: create with a hostile, non-UTF-8 name",
             f.path(SM_RECORD_FILE, SM_PATH_OP_CREATE, child, euid: 1000, dir1: "/tmp", name1: hostile))
        step("file: mknod of a regular file, absolute name",
             f.file(SM_PATH_OP_MKNOD, child, euid: 1000, dir: "/home/alice", name: "/tmp//fifo/./x"))
        step("file: link, the new name is path 2",
             f.path(SM_RECORD_FILE, SM_PATH_OP_LINK, child, euid: 1000, dir1: "/tmp", name1: Array("a".utf8),
                    dir2: "/tmp/sub", name2: Array("../b".utf8)))
        step("file: delete of an executable",
             f.file(SM_PATH_OP_DELETE, child, euid: 1000, dir: "/home/alice", name: "bin/tool", mode: 0o100755))
        step("file: delete without the inode's mode",
             f.file(SM_PATH_OP_DELETE, child, euid: 1000, dir: "/tmp", name: "gone", mode: 0))
        step("file: rename with '..' and '.' in both names",
             f.path(SM_RECORD_FILE, SM_PATH_OP_RENAME, child, euid: 1000, dir1: "/tmp/work",
                    name1: Array("./a/../old".utf8), dir2: "/tmp/work", name2: Array("../new".utf8)))
        step("file: rename into a systemd unit directory (FileRename + ServiceInstall)",
             f.path(SM_RECORD_FILE, SM_PATH_OP_RENAME, child, euid: 0, dir1: "/tmp", name1: Array("u".utf8),
                    dir2: "/etc/systemd/system", name2: Array("evil.service".utf8)))
        step("file: rename whose target directory was deeper than the limits",
             f.path(SM_RECORD_FILE, SM_PATH_OP_RENAME, child, euid: 1000, dir1: "/tmp", name1: Array("a".utf8),
                    dir2: "/q/r", name2: Array("b".utf8), flags: [SM_FLAG_PATH2_TRUNCATED]))
        step("file: create of a per-user unit (FileCreate + ServiceInstall)",
             f.file(SM_PATH_OP_CREATE, child, euid: 1000, dir: "/home/alice/.config/systemd/user", name: "agent.timer"))
        step("file: create under a truncated directory",
             f.file(SM_PATH_OP_CREATE, child, euid: 1000, dir: "/x/y", name: "leaf", flags: [SM_FLAG_PATH1_TRUNCATED]))
        step("file: a block device opened (RawAccessRead)",
             f.file(SM_PATH_OP_BLOCK_OPEN, child, euid: 0, dir: "/dev/sda", name: ""))
        step("file: an op this build does not know gives no event",
             f.file(sm_path_op(rawValue: 99), child, euid: 0, dir: "/tmp", name: "x"))

        step("network: IPv4 TCP connect",
             f.network(child, euid: 1000, ipv6: false, initiated: true, local: [10, 0, 0, 5], localPort: 40_000,
                       remote: [93, 184, 216, 34], remotePort: 443))
        step("network: IPv4 TCP accept (the peer is the source)",
             f.network(child, euid: 1000, ipv6: false, initiated: false, local: [10, 0, 0, 5], localPort: 22,
                       remote: [10, 0, 0, 9], remotePort: 51_000))
        step("network: IPv6 TCP connect",
             f.network(child, euid: 1000, ipv6: true, initiated: true, local: loopback6, localPort: 50_001,
                       remote: doc6, remotePort: 8443))
        step("network: IPv6 TCP accept from an IPv4-mapped peer",
             f.network(child, euid: 1000, ipv6: true, initiated: false, local: loopback6, localPort: 80,
                       remote: mapped6, remotePort: 60_000))
        step("network: UDP first send",
             f.network(child, euid: 1000, ipv6: false, udp: true, initiated: true, local: [10, 0, 0, 5],
                       localPort: 53_000, remote: [9, 9, 9, 9], remotePort: 53))
        step("network: UDP received first (not initiated), unknown process",
             f.network(Task(pid: 400, startBootNanoseconds: 8_000_000_000), euid: 0, ipv6: false, udp: true,
                       initiated: false, local: [0, 0, 0, 0], localPort: 123, remote: [10, 0, 0, 1], remotePort: 123))

        step("module: finit_module of a file that loaded",
             f.path(SM_RECORD_MODULE, SM_PATH_OP_FINIT_MODULE, child, euid: 0,
                    dir1: "/lib/modules/6.12.0/extra/rootkit.ko"))
        step("module: init_module from memory, refused (EPERM)",
             f.path(SM_RECORD_MODULE, SM_PATH_OP_INIT_MODULE, child, euid: 1000, result: -1))
        step("module: finit_module refused with ENOSYS",
             f.path(SM_RECORD_MODULE, SM_PATH_OP_FINIT_MODULE, child, euid: 0, dir1: "/tmp/x.ko", result: -38))
        step("module: an errno without a name",
             f.path(SM_RECORD_MODULE, SM_PATH_OP_INIT_MODULE, child, euid: 0, result: -4000))

        step("access: PTRACE_ATTACH of the shell",
             f.access(worker, euid: 1000, target: shell.pid, syscall: SM_NR_ptrace, request: 16))
        step("access: PTRACE_SEIZE of a process not in the cache",
             f.access(child, euid: 1000, target: 4321, syscall: SM_NR_ptrace, request: 0x4206))
        step("access: another ptrace request",
             f.access(child, euid: 1000, target: shell.pid, syscall: SM_NR_ptrace, request: 0x4207))
        step("access: process_vm_readv",
             f.access(child, euid: 1000, target: shell.pid, syscall: SM_NR_process_vm_readv))
        step("access: process_vm_writev by an unknown process",
             f.access(Task(pid: 401, startBootNanoseconds: 8_100_000_000), euid: 0, target: child.pid,
                      syscall: SM_NR_process_vm_writev))
        step("access: a syscall number this build does not name",
             f.access(child, euid: 1000, target: shell.pid, syscall: 999))

        step("bpf: BPF_PROG_LOAD of a named tracepoint program",
             f.bpf(child, euid: 0, command: 5, programType: 5, programID: 77, name: "trace_exec"))
        step("bpf: BPF_LINK_CREATE without a program id",
             f.bpf(child, euid: 0, command: 28))
        step("bpf: BPF_PROG_ATTACH of an unnamed program of a type libbpf does not know",
             f.bpf(child, euid: 0, command: 8, programType: 9999, programID: 78))
        step("bpf: a command this build does not name",
             f.bpf(child, euid: 0, command: 99))
        step("bpf: BPF_RAW_TRACEPOINT_OPEN with a 15-character name",
             f.bpf(child, euid: 0, command: 17, programType: 17, programID: 79, name: "abcdefghijklmno"))

        step("image: mmap PROT_EXEC of a library",
             f.path(SM_RECORD_IMAGE, SM_PATH_OP_MMAP_EXEC, child, euid: 1000,
                    dir1: "/usr/lib/x86_64-linux-gnu/libc.so.6"))
        step("image: mprotect made a file mapping executable",
             f.path(SM_RECORD_IMAGE, SM_PATH_OP_MPROTECT_EXEC, child, euid: 1000, dir1: "/tmp/plugin.so"))

        step("exit: a thread ends (ThreadTerminate only)",
             f.exit(worker, status: 0, flags: [SM_FLAG_THREAD]))
        step("exit: the main thread ends while other threads run (no event)",
             f.exit(child, status: 0, flags: []))
        step("exit: the last thread, exit(3)",
             f.exit(child, status: 3 << 8, flags: [SM_FLAG_GROUP_DEAD]))
        step("exit: the 32-bit program killed by SIGKILL, its last thread a secondary one",
             f.exit(orphan.thread(301), status: 9, flags: [SM_FLAG_THREAD, SM_FLAG_GROUP_DEAD]))
        step("exit: killed by SIGSEGV with a core dump",
             f.exit(Task(pid: 310, startBootNanoseconds: 7_000_000_000), status: 0x80 | 11, flags: [SM_FLAG_GROUP_DEAD]))
        step("exit: a process swiftmon never saw",
             f.exit(Task(pid: 500, startBootNanoseconds: 9_000_000_000), status: 1 << 8, flags: [SM_FLAG_GROUP_DEAD]))
        step("network: a record still in flight after its process exited names its image",
             f.network(child, euid: 1000, ipv6: false, initiated: true, local: [10, 0, 0, 5], localPort: 40_001,
                       remote: [93, 184, 216, 34], remotePort: 443))
        step("fork: a process whose parent swiftmon never saw, then a thread of it (no image yet)",
             f.fork(Task(pid: 600, startBootNanoseconds: 9_100_000_000), parent: unseenParent, credentials: root),
             f.fork(Task(pid: 600, startBootNanoseconds: 9_100_000_000, tid: 601), parent: unseenParent,
                    credentials: root, thread: true))
        step("tamper: SIGTERM from the shell to swiftmon (SensorSignal)",
             f.signal(shell, euid: 1000, signal: 15, target: swiftmon, image: "/usr/bin/bash", comm: "bash"))
        step("tamper: SIGSTOP to a thread of swiftmon (tgkill) by a process the cache never saw, image from the record",
             f.signal(Task(pid: 402, startBootNanoseconds: 8_200_000_000), euid: 0, signal: 19, code: -6,
                      target: swiftmon.thread(swiftmon.pid + 1), group: false, image: "/usr/bin/kill", comm: "kill"))
        step("tamper: SIGINT from the terminal (SI_KERNEL), a real-time signal already pending",
             f.signal(shell, euid: 1000, signal: 2, code: 0x80, target: swiftmon),
             f.signal(shell, euid: 1000, signal: 34, code: -1, result: 2, target: swiftmon))
        step("tamper: PTRACE_SEIZE of swiftmon refused (SensorAccess only)",
             f.access(shell, euid: 1000, target: swiftmon.pid, syscall: SM_NR_ptrace, request: 0x4206, result: -1))
        step("tamper: process_vm_writev into a thread of swiftmon (ProcessAccess + SensorAccess)",
             f.access(shell, euid: 1000, target: swiftmon.pid + 1, syscall: SM_NR_process_vm_writev, result: 8))
        step("containers: a process forked into a pod's cgroup and pid namespace (no event until exec)",
             f.fork(contained, parent: shell, credentials: root, container: inPod))
        step("containers: it execs: ProcessCreate with the container, pod and namespaces, pid 1 inside",
             f.exec(contained, parent: shell, image: "/usr/sbin/nginx", cwd: "/", argv: ["nginx"], credentials: root,
                    container: inPod))
        step("containers: its file and network events carry the same container fields",
             f.file(SM_PATH_OP_CREATE, contained, euid: 0, dir: "/var/run", name: "nginx.pid"),
             f.network(contained, euid: 0, ipv6: false, initiated: true, local: [10, 244, 0, 7], localPort: 41_000,
                       remote: [10, 96, 0, 1], remotePort: 443))
        step("containers: a cgroup the hierarchy no longer has: namespaces only",
             f.exec(Task(pid: 710, startBootNanoseconds: 9_300_000_000), parent: contained, image: "/bin/true",
                    cwd: "/", argv: ["true"], credentials: root,
                    container: KernelRecordFixture.container(cgroup: 99, pidNamespace: podNamespaces.pid,
                                                             mntNamespace: podNamespaces.mnt,
                                                             netNamespace: podNamespaces.net, pidInNamespace: 2)))
        step("containers: the contained process exits",
             f.exit(contained, status: 0, flags: [SM_FLAG_GROUP_DEAD]))
        // Last, so that the fixture times of the steps above stay as they were.
        step("tamper: a protected-file record with no protected set in the builder (ProtectedFilesTests covers the set): no event",
             f.protectedFile(shell, euid: 1000, syscall: SM_NR_renameat2, role: SM_PROTECTED_FILE, device: 0x0800001,
                             inode: 4242))
        return steps
    }

    /// Decodes and builds every step's records; a record that does not
    /// decode fails the test (the scenario has no malformed ones).
    static func run(file: StaticString = #filePath, line: UInt = #line) -> [Step] {
        let builder = makeBuilder()
        var steps = Self.steps()
        for i in steps.indices {
            for bytes in steps[i].records {
                if !builder.build(bytes, into: &steps[i].events) {
                    XCTFail("\(steps[i].name): does not decode", file: file, line: line)
                }
            }
        }
        return steps
    }

    static func render(_ steps: [Step]) -> [UInt8] {
        var out: [UInt8] = []
        for step in steps {
            out += Array("# \(step.name)\n".utf8)
            for event in step.events { JSONLinesSink.render(event, into: &out) }
        }
        return out
    }
}

extension Array where Element == BuilderScenario.Step {
    /// The events of the step whose name starts with `prefix`.
    func events(_ prefix: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Event] {
        try XCTUnwrap(first { $0.name.hasPrefix(prefix) }, "no step \(prefix)", file: file, line: line).events
    }

    /// The first event of that step.
    func event(_ prefix: String, file: StaticString = #filePath, line: UInt = #line) throws -> Event {
        try XCTUnwrap(try events(prefix, file: file, line: line).first, "no event in \(prefix)", file: file, line: line)
    }
}

extension SensorEventBuilder {
    /// Decodes `bytes` and builds their events into `out`; false when they
    /// do not decode. The record points into `bytes`, so it is built inside
    /// their scope, as the ring buffer's callback does.
    @discardableResult
    func build(_ bytes: [UInt8], into out: inout [Event]) -> Bool {
        bytes.withUnsafeBytes { raw in
            guard let record = KernelRecord(raw) else { return false }
            events(for: record, into: &out)
            return true
        }
    }
}
