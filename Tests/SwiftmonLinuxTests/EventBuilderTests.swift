import CSwiftmonRecords
import Foundation
import SwiftmonCore
import SwiftmonSinks
import XCTest
@testable import SwiftmonLinux

/// Every kind of kernel record, as the BPF programs write it, through the
/// decoder and the event builders, with a fixed host identity, a fixed user
/// table and a process cache seeded with one known shell: no root, no BPF, no
/// /proc. The events, rendered by the real JSON lines renderer under a `#`
/// line naming each step, are compared with Golden/event-builders.golden;
/// the facts that matter most are asserted one by one as well.
final class EventBuilderTests: XCTestCase {
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

    /// A sensor's builders with nothing from this machine in them.
    static func makeBuilder() -> SensorEventBuilder {
        let processes = ProcessEventBuilder(host: host, users: UserNames(fixed: users), hasher: nil)
        processes.remember(ProcessEntry(
            guid: host.guid(pid: shell.pid, startBootNanoseconds: shell.startBootNanoseconds), pid: shell.pid,
            image: Array("/usr/bin/bash".utf8), commandLine: Array("-bash".utf8), user: "alice"))
        return SensorEventBuilder(processes: processes)
    }

    struct Step {
        let name: String
        let records: [[UInt8]]
        var events: [Event] = []
    }

    /// The records of the scenario, step by step, in the order a kernel
    /// could send them.
    static func scenarioSteps() -> [Step] {
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

        step("fork: the shell starts a process (no event until exec)",
             f.fork(child, parent: shell, credentials: alice))
        step("fork: a thread of the new process, still running the shell's image",
             f.fork(worker, parent: child, credentials: alice, thread: true))
        step("exec: the new process runs curl (ProcessCreate + ImageLoad of the executable)",
             f.exec(child, parent: shell, image: "/usr/bin/curl", cwd: "/home/alice",
                    argv: ["curl", "-s", "https://example.org/a b"], credentials: alice))
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
        return steps
    }

    /// Decodes and builds every step's records; a record that does not
    /// decode fails the test (the scenario has no malformed ones).
    static func runScenario(file: StaticString = #filePath, line: UInt = #line) -> [Step] {
        let builder = makeBuilder()
        var steps = scenarioSteps()
        for i in steps.indices {
            for bytes in steps[i].records {
                guard let record = bytes.withUnsafeBytes({ KernelRecord($0) }) else {
                    XCTFail("\(steps[i].name): does not decode", file: file, line: line)
                    continue
                }
                builder.events(for: record, into: &steps[i].events)
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

    func testEveryRecordKindMatchesGolden() throws {
        let rendered = Self.render(Self.runScenario())
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/event-builders.golden")
        if ProcessInfo.processInfo.environment["SWIFTMON_UPDATE_GOLDEN"] == "1" {
            try Data(rendered).write(to: url)
            return
        }
        let golden = try [UInt8](Data(contentsOf: url))
        guard rendered != golden else { return }
        let got = rendered.split(separator: 0x0A, omittingEmptySubsequences: false)
        let want = golden.split(separator: 0x0A, omittingEmptySubsequences: false)
        var step = ""
        for i in 0..<max(got.count, want.count) {
            let a = i < got.count ? String(decoding: got[i], as: UTF8.self) : "<end>"
            let b = i < want.count ? String(decoding: want[i], as: UTF8.self) : "<end>"
            if b.hasPrefix("# ") { step = b }
            if a != b {
                XCTFail("differs from \(url.lastPathComponent) at line \(i + 1) (\(step)):\n got: \(a)\nwant: \(b)\n(SWIFTMON_UPDATE_GOLDEN=1 rewrites the golden file)")
                return
            }
        }
    }

    /// Every record kind the header defines appears in the scenario, and
    /// every path op and record flag too.
    func testScenarioCoversEveryRecordKindOpAndFlag() {
        var kinds = Set<UInt16>(), ops = Set<UInt32>(), flags: UInt16 = 0
        for step in Self.scenarioSteps() {
            for bytes in step.records {
                let header = bytes.withUnsafeBytes { $0.loadUnaligned(as: sm_record_header.self) }
                XCTAssertEqual(Int(header.size), bytes.count, step.name)
                kinds.insert(header.kind)
                flags |= header.flags
                if [SM_RECORD_FILE, SM_RECORD_MODULE, SM_RECORD_IMAGE].map({ UInt16($0.rawValue) }).contains(header.kind) {
                    ops.insert(bytes.withUnsafeBytes { $0.loadUnaligned(as: sm_path_record.self) }.op)
                }
            }
        }
        XCTAssertEqual(kinds, Set((1..<SM_RECORD_KIND_COUNT.rawValue).map { UInt16($0) }))
        XCTAssertTrue(Set((SM_PATH_OP_CREATE.rawValue...SM_PATH_OP_MPROTECT_EXEC.rawValue)).isSubset(of: ops))
        XCTAssertEqual(flags, UInt16(SM_FLAG_INITIATED.rawValue << 1) - 1, "every flag up to SM_FLAG_INITIATED")
    }

    /// One fixture written out by hand, byte by byte (little-endian): the
    /// fixtures are the C layout, not Swift's idea of it.
    func testFixtureBytesAreTheCLayout() {
        var f = KernelRecordFixture()
        let built = f.exit(Task(pid: 0x0102_0304, startBootNanoseconds: 0x1122_3344_5566_7788).thread(0x0A0B_0C0D),
                           status: 0x0000_0309, flags: [SM_FLAG_THREAD, SM_FLAG_GROUP_DEAD])
        let expected: [UInt8] = [
            0x03, 0x00, 0x21, 0x00, 0x28, 0x00, 0x00, 0x00,  // kind 3, flags 0x21, size 40
            0x00, 0xE4, 0x0B, 0x54, 0x02, 0x00, 0x00, 0x00,  // time 10 s
            0x04, 0x03, 0x02, 0x01, 0x0D, 0x0C, 0x0B, 0x0A,  // pid, tid
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // start
            0x09, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // exit_code, pad
        ]
        XCTAssertEqual(built, expected)
    }

    // MARK: facts, one by one

    func step(_ prefix: String, in steps: [Step], file: StaticString = #filePath, line: UInt = #line) throws -> [Event] {
        try XCTUnwrap(steps.first { $0.name.hasPrefix(prefix) }, "no step \(prefix)", file: file, line: line).events
    }

    func testProcessGuidsAndParentLinkage() throws {
        let steps = Self.runScenario()
        let shellGuid = "{c0ffee42-0000-0000-0000-006400000064}"  // 1 s = 100 ticks, pid 100
        let childGuid = "{c0ffee42-0000-0000-0000-01f4000000c8}"  // 5 s = 500 ticks, pid 200
        XCTAssertEqual(Self.host.guid(pid: 100, startBootNanoseconds: 1_000_000_000).description, shellGuid)

        XCTAssertTrue(try step("fork: the shell starts", in: steps).isEmpty)
        let thread = try XCTUnwrap(try step("fork: a thread", in: steps).first)
        XCTAssertEqual(thread.kind, .threadCreate)
        XCTAssertEqual(thread["ProcessGuid"], childGuid)
        XCTAssertEqual(thread["ThreadId"], "201")
        XCTAssertEqual(thread["Image"], "/usr/bin/bash", "before exec a child runs its parent's image")

        let exec = try step("exec: the new process runs curl", in: steps)
        XCTAssertEqual(exec.map(\.kind), [.processCreate, .imageLoad])
        let create = exec[0]
        XCTAssertEqual(create["ProcessGuid"], childGuid)
        XCTAssertEqual(create["ProcessId"], "200")
        XCTAssertEqual(create["Image"], "/usr/bin/curl")
        XCTAssertEqual(create["CommandLine"], "curl -s https://example.org/a b")
        XCTAssertEqual(create["CurrentDirectory"], "/home/alice")
        XCTAssertEqual(create["User"], "alice")
        XCTAssertEqual(create["ParentProcessGuid"], shellGuid)
        XCTAssertEqual(create["ParentProcessId"], "100")
        XCTAssertEqual(create["ParentImage"], "/usr/bin/bash")
        XCTAssertEqual(create["ParentCommandLine"], "-bash")
        XCTAssertEqual(create["ParentUser"], "alice")
        XCTAssertEqual(create["LogonGuid"], "{c0ffee42-0000-0000-0000-0000000003e8}")
        XCTAssertEqual(create["LogonId"], "1000")
        XCTAssertEqual(create["TerminalSessionId"], "3")
        XCTAssertEqual(create["Architecture"], "64-bit")
        XCTAssertEqual(create["UtcTime"], "2026-01-01 00:00:10.002")
        XCTAssertEqual(exec[1]["ImageLoaded"], "/usr/bin/curl")
        XCTAssertEqual(exec[1]["ProcessGuid"], childGuid)

        // Later events of the process name its new image.
        let file = try XCTUnwrap(try step("file: create, name relative", in: steps).first)
        XCTAssertEqual(file["ProcessGuid"], childGuid)
        XCTAssertEqual(file["Image"], "/usr/bin/curl")
        XCTAssertEqual(file["User"], "alice")

        let orphan = try XCTUnwrap(try step("exec: a 32-bit program", in: steps).first)
        XCTAssertEqual(orphan["Architecture"], "32-bit")
        XCTAssertEqual(orphan["User"], "1001", "a uid without a name is its number")
        XCTAssertEqual(orphan["ParentProcessGuid"], "{c0ffee42-0000-0000-0000-02260000012b}",
                       "an unseen parent's GUID still comes from the record")
        XCTAssertEqual(orphan["ParentImage"], "-")
        XCTAssertEqual(orphan["LogonId"], "4294967295")
        let script = try XCTUnwrap(try step("exec: not an ELF file", in: steps).first)
        XCTAssertEqual(script["Architecture"], "-")
        XCTAssertEqual(script["User"], "root")
    }

    func testCommandLinesAndHostileBytes() throws {
        let steps = Self.runScenario()
        let truncated = try XCTUnwrap(try step("exec: command line longer", in: steps).first)
        XCTAssertEqual(truncated["CommandLine"],
                       "printf " + String(repeating: "A", count: 40) + " …[command line truncated: 48 of 100000 bytes]")
        let unreadable = try XCTUnwrap(try step("exec: argv unreadable", in: steps).first)
        XCTAssertEqual(unreadable["CommandLine"], "…[command line unreadable]")
        XCTAssertEqual(unreadable["Image"], "…/deep/d/e/f/run")
        XCTAssertEqual(unreadable["CurrentDirectory"], "…/deep/d/e")

        let hostile = try XCTUnwrap(try step("exec: hostile bytes", in: steps).first)
        XCTAssertEqual(hostile["Image"], "/tmp/new\nline \"q\" \\\\back\t\\xff\\xfeé.txt", "readable escaped form")
        let json = String(decoding: JSONLinesSink.render(hostile), as: UTF8.self)
        XCTAssertTrue(json.contains(#""Image":"/tmp/new\nline \"q\" \\back\t\udcff\udcfeé.txt""#), json)
        XCTAssertTrue(json.contains(#""CommandLine":"new\nline \"q\" \\back\t\udcff\udcfeé.txt --x=\"<&>\"""#), json)
        XCTAssertEqual(json.filter { $0 == "\n" }.count, 1, "one line per event")

        let file = try XCTUnwrap(try step("file: create with a hostile", in: steps).first)
        let fileJSON = String(decoding: JSONLinesSink.render(file), as: UTF8.self)
        XCTAssertTrue(fileJSON.contains(#""TargetFilename":"/tmp/new\nline \"q\" \\back\t\udcff\udcfeé.txt""#), fileJSON)
    }

    func testFilePathsAndServiceInstall() throws {
        let steps = Self.runScenario()
        func target(_ prefix: String) throws -> String? { try XCTUnwrap(try step(prefix, in: steps).first)["TargetFilename"] }
        XCTAssertEqual(try target("file: create, name relative"), "/home/alice/notes.txt")
        XCTAssertEqual(try target("file: mknod"), "/tmp/fifo/x", "an absolute name ignores the directory")
        XCTAssertEqual(try target("file: link"), "/tmp/b", "path 2, with '..' resolved")
        XCTAssertEqual(try target("file: create under a truncated"), "…/x/y/leaf")

        let create = try XCTUnwrap(try step("file: create, name relative", in: steps).first)
        XCTAssertEqual(create["CreationUtcTime"], create["UtcTime"])
        let executable = try XCTUnwrap(try step("file: delete of an executable", in: steps).first)
        XCTAssertEqual(executable.kind, .fileDelete)
        XCTAssertEqual(executable["TargetFilename"], "/home/alice/bin/tool")
        XCTAssertEqual(executable["IsExecutable"], "true")
        XCTAssertEqual(try XCTUnwrap(try step("file: delete without", in: steps).first)["IsExecutable"], "-")

        let rename = try step("file: rename with", in: steps)
        XCTAssertEqual(rename.map(\.kind), [.fileRename])
        XCTAssertEqual(rename[0]["SourceFilename"], "/tmp/work/old")
        XCTAssertEqual(rename[0]["TargetFilename"], "/tmp/new")
        let deep = try XCTUnwrap(try step("file: rename whose target", in: steps).first)
        XCTAssertEqual([deep["SourceFilename"], deep["TargetFilename"]], ["/tmp/a", "…/q/r/b"])

        let unit = try step("file: rename into a systemd", in: steps)
        XCTAssertEqual(unit.map(\.kind), [.fileRename, .serviceInstall])
        XCTAssertEqual(unit[1]["ServiceName"], "evil.service")
        XCTAssertEqual(unit[1]["ServiceFile"], "/etc/systemd/system/evil.service")
        XCTAssertEqual(unit[1]["Manager"], "systemd")
        XCTAssertEqual(unit[1]["ProcessGuid"], unit[0]["ProcessGuid"])
        let userUnit = try step("file: create of a per-user unit", in: steps)
        XCTAssertEqual(userUnit.map(\.kind), [.fileCreate, .serviceInstall])
        XCTAssertEqual(userUnit[1]["ServiceName"], "agent.timer")

        let raw = try step("file: a block device", in: steps)
        XCTAssertEqual(raw.map(\.kind), [.rawAccessRead])
        XCTAssertEqual(raw[0]["Device"], "/dev/sda")
        XCTAssertTrue(try step("file: an op this build", in: steps).isEmpty)
    }

    func testNetworkSourceIsTheInitiator() throws {
        let steps = Self.runScenario()
        func only(_ prefix: String) throws -> Event { try XCTUnwrap(try step(prefix, in: steps).first) }
        let connect = try only("network: IPv4 TCP connect")
        XCTAssertEqual([connect["Protocol"], connect["Initiated"], connect["SourceIp"], connect["SourcePort"],
                        connect["DestinationIp"], connect["DestinationPort"], connect["SourceIsIpv6"]],
                       ["tcp", "true", "10.0.0.5", "40000", "93.184.216.34", "443", "false"])
        let accept = try only("network: IPv4 TCP accept")
        XCTAssertEqual([accept["Initiated"], accept["SourceIp"], accept["SourcePort"], accept["DestinationIp"],
                        accept["DestinationPort"]], ["false", "10.0.0.9", "51000", "10.0.0.5", "22"])
        let v6 = try only("network: IPv6 TCP connect")
        XCTAssertEqual([v6["SourceIsIpv6"], v6["DestinationIsIpv6"], v6["SourceIp"], v6["DestinationIp"]],
                       ["true", "true", "::1", "2001:db8::53"])
        XCTAssertEqual(try only("network: IPv6 TCP accept")["SourceIp"], "::ffff:192.0.2.1")
        let udp = try only("network: UDP first send")
        XCTAssertEqual([udp["Protocol"], udp["DestinationIp"], udp["DestinationPort"]], ["udp", "9.9.9.9", "53"])
        let unknown = try only("network: UDP received first")
        XCTAssertEqual(unknown["Image"], "-")
        XCTAssertEqual(unknown["User"], "root", "an unknown process's user comes from the record's euid")
    }

    func testModulesAccessBPFAndImages() throws {
        let steps = Self.runScenario()
        func only(_ prefix: String) throws -> Event { try XCTUnwrap(try step(prefix, in: steps).first) }
        let loaded = try only("module: finit_module of a file that loaded")
        XCTAssertEqual([loaded["ImageLoaded"], loaded["Result"], loaded["Image"]],
                       ["/lib/modules/6.12.0/extra/rootkit.ko", "0", "/usr/bin/curl"])
        let memory = try only("module: init_module")
        XCTAssertEqual([memory["ImageLoaded"], memory["Result"]], ["-", "EPERM"])
        XCTAssertEqual(try only("module: finit_module refused")["Result"], "ENOSYS")
        XCTAssertEqual(try only("module: an errno without")["Result"], "errno 4000")

        let attach = try only("access: PTRACE_ATTACH")
        XCTAssertEqual([attach["GrantedAccess"], attach["SourceThreadId"], attach["SourceImage"], attach["TargetProcessGUID"],
                        attach["TargetImage"], attach["TargetUser"]],
                       ["PTRACE_ATTACH", "201", "/usr/bin/curl", "{c0ffee42-0000-0000-0000-006400000064}",
                        "/usr/bin/bash", "alice"])
        let seize = try only("access: PTRACE_SEIZE")
        XCTAssertEqual([seize["GrantedAccess"], seize["TargetProcessId"], seize["TargetProcessGUID"]],
                       ["PTRACE_SEIZE", "4321", "-"])
        XCTAssertEqual(try only("access: another ptrace")["GrantedAccess"], "PTRACE_\(0x4207)")
        XCTAssertEqual(try only("access: process_vm_readv")["GrantedAccess"], "process_vm_readv")
        let writev = try only("access: process_vm_writev")
        XCTAssertEqual([writev["GrantedAccess"], writev["SourceUser"], writev["SourceImage"], writev["TargetImage"]],
                       ["process_vm_writev", "root", "-", "/usr/bin/curl"])
        XCTAssertEqual(try only("access: a syscall number")["GrantedAccess"], "syscall 999")

        let load = try only("bpf: BPF_PROG_LOAD")
        XCTAssertEqual([load["BpfCommand"], load["BpfProgramType"], load["BpfProgramId"], load["BpfProgramName"]],
                       ["BPF_PROG_LOAD", "BPF_PROG_TYPE_TRACEPOINT", "77", "trace_exec"])
        let link = try only("bpf: BPF_LINK_CREATE")
        XCTAssertEqual([link["BpfCommand"], link["BpfProgramType"], link["BpfProgramId"]], ["BPF_LINK_CREATE", "-", "-"])
        let attachBPF = try only("bpf: BPF_PROG_ATTACH")
        XCTAssertEqual([attachBPF["BpfProgramType"], attachBPF["BpfProgramName"]], ["9999", "-"])
        XCTAssertEqual(try only("bpf: a command")["BpfCommand"], "BPF_CMD_99")
        XCTAssertEqual(try only("bpf: BPF_RAW_TRACEPOINT_OPEN")["BpfProgramName"], "abcdefghijklmno")

        XCTAssertEqual(try only("image: mmap")["ImageLoaded"], "/usr/lib/x86_64-linux-gnu/libc.so.6")
        XCTAssertEqual(try only("image: mprotect")["ImageLoaded"], "/tmp/plugin.so")
    }

    func testExitCodesAndThreadEnds() throws {
        let steps = Self.runScenario()
        let thread = try step("exit: a thread ends", in: steps)
        XCTAssertEqual(thread.map(\.kind), [.threadTerminate])
        XCTAssertEqual(thread[0]["ThreadId"], "201")
        XCTAssertTrue(try step("exit: the main thread ends", in: steps).isEmpty)
        let last = try step("exit: the last thread", in: steps)
        XCTAssertEqual(last.map(\.kind), [.processTerminate])
        XCTAssertEqual(last[0]["ExitCode"], "3")
        XCTAssertEqual(last[0]["Image"], "/usr/bin/curl")
        let killed = try step("exit: the 32-bit program killed", in: steps)
        XCTAssertEqual(killed.map(\.kind), [.threadTerminate, .processTerminate])
        XCTAssertEqual(killed[1]["ExitCode"], "137", "128 + SIGKILL, as a shell shows it")
        XCTAssertEqual(try step("exit: killed by SIGSEGV", in: steps).first?["ExitCode"], "139")
        let unseen = try XCTUnwrap(try step("exit: a process swiftmon never saw", in: steps).first)
        XCTAssertEqual([unseen["ExitCode"], unseen["Image"], unseen["User"]], ["1", "-", "-"])
        let late = try XCTUnwrap(try step("network: a record still in flight", in: steps).first)
        XCTAssertEqual([late["ProcessGuid"], late["Image"]], ["{c0ffee42-0000-0000-0000-01f4000000c8}", "/usr/bin/curl"])
        let orphanThread = try XCTUnwrap(try step("fork: a process whose parent", in: steps).first)
        XCTAssertEqual([orphanThread["ThreadId"], orphanThread["Image"], orphanThread["User"]], ["601", "-", "root"])
    }

    func testExecutableImageLoadFollowsTheConfiguration() throws {
        let builder = Self.makeBuilder()
        builder.buildsExecutableImageLoads = false
        var f = KernelRecordFixture()
        let bytes = f.exec(Self.child, parent: Self.shell, image: "/usr/bin/id", cwd: "/", argv: ["id"],
                           credentials: KernelRecordFixture.credentials(uid: 1000))
        var events: [Event] = []
        builder.events(for: try XCTUnwrap(bytes.withUnsafeBytes { KernelRecord($0) }), into: &events)
        XCTAssertEqual(events.map(\.kind), [.processCreate])
    }

    /// With hashing on, the executable and a mapped library are hashed once
    /// per file identity (a real file here: hashing reads it).
    func testHashesOfTheExecutableAndImages() throws {
        let path = NSTemporaryDirectory() + "swiftmon-builder-hash-\(getpid())"
        try Data("abc".utf8).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        let hasher = FileHasher(algorithms: [.sha256])
        let processes = ProcessEventBuilder(host: Self.host, users: UserNames(fixed: Self.users), hasher: hasher)
        let builder = SensorEventBuilder(processes: processes)
        let sha = "SHA256=BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"

        var f = KernelRecordFixture()
        var exec = f.exec(Self.child, parent: Self.shell, image: path, cwd: "/", argv: ["x"],
                          credentials: KernelRecordFixture.credentials(uid: 1000))
        // The kernel's identity of the file: device as the kernel encodes it, inode, ctime.
        var raw = exec.withUnsafeBytes { $0.loadUnaligned(as: sm_exec_record.self) }
        raw.image_device = UInt32(FileHasher.kernelDevice(UInt64(st.st_dev)))
        raw.image_inode = UInt64(st.st_ino)
        withUnsafeBytes(of: raw) { exec.replaceSubrange(0..<MemoryLayout<sm_exec_record>.size, with: $0) }
        var events: [Event] = []
        builder.events(for: try XCTUnwrap(exec.withUnsafeBytes { KernelRecord($0) }), into: &events)
        XCTAssertEqual(events.map { $0["Hashes"] }, [sha, sha])

        var image = f.path(SM_RECORD_IMAGE, SM_PATH_OP_MMAP_EXEC, Self.child, euid: 1000, dir1: path)
        var pathRaw = image.withUnsafeBytes { $0.loadUnaligned(as: sm_path_record.self) }
        pathRaw.device = raw.image_device
        pathRaw.inode = raw.image_inode
        pathRaw.ctime_ns = raw.image_ctime_ns
        withUnsafeBytes(of: pathRaw) { image.replaceSubrange(0..<MemoryLayout<sm_path_record>.size, with: $0) }
        events.removeAll()
        builder.events(for: try XCTUnwrap(image.withUnsafeBytes { KernelRecord($0) }), into: &events)
        XCTAssertEqual(events.first?["Hashes"], sha)
        XCTAssertEqual(hasher.filesHashed, 1, "one file identity, hashed once")
    }
}
