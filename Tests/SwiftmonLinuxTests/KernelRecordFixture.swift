import CSwiftmonRecords

/// Kernel records as the BPF programs write them into the ring buffer: the C
/// struct's bytes (padding zeroed, as the BPF side zeroes its scratch), then
/// the variable data, with `header.size` the length of the whole.
///
/// Each record gets the next time on a fixed boot clock, so that the events
/// built from a sequence of fixtures are the same on every run.
struct KernelRecordFixture {
    /// Boot-clock time of the next record: 10 s after boot, 1 ms apart.
    private(set) var nextTime: UInt64 = 10_000_000_000

    /// A process as the kernel names it: pid and start time since boot.
    struct Task {
        let pid: UInt32
        let startBootNanoseconds: UInt64
        var tid: UInt32? = nil

        func thread(_ tid: UInt32) -> Task { Task(pid: pid, startBootNanoseconds: startBootNanoseconds, tid: tid) }
    }

    mutating func header(_ kind: sm_record_kind, _ task: Task, flags: [sm_record_flags] = []) -> sm_record_header {
        var h = sm_record_header()
        h.kind = UInt16(kind.rawValue)
        h.flags = UInt16(flags.reduce(0) { $0 | $1.rawValue })
        h.time_boot_ns = nextTime
        nextTime += 1_000_000
        h.pid = task.pid
        h.tid = task.tid ?? task.pid
        h.start_boot_ns = task.startBootNanoseconds
        return h
    }

    static func credentials(uid: UInt32, euid: UInt32? = nil, loginUID: UInt32 = 1000, session: UInt32 = 3) -> sm_credentials {
        var c = sm_credentials()
        (c.uid, c.euid, c.gid, c.egid) = (uid, euid ?? uid, uid, uid)
        c.login_uid = loginUID
        c.session_id = session
        return c
    }

    /// The record's bytes followed by `data`, `header.size` set to the total.
    static func bytes<Record>(_ record: Record, _ data: [UInt8]...) -> [UInt8] {
        var out = withUnsafeBytes(of: record) { Array($0) }
        for part in data { out += part }
        let size = UInt32(out.count)
        withUnsafeBytes(of: size.littleEndian) { out.replaceSubrange(4..<8, with: $0) }
        return out
    }

    /// A path as the kernel sends it: components leaf first, each ending in
    /// NUL ("/usr/bin/env" → "env\0bin\0usr\0").
    static func components(_ path: [UInt8]) -> [UInt8] {
        path.split(separator: UInt8(ascii: "/")).reversed().flatMap { Array($0) + [0] }
    }

    static func components(_ path: String) -> [UInt8] { components(Array(path.utf8)) }

    // MARK: process records

    mutating func exec(_ task: Task, parent: Task, image: [UInt8], cwd: String, argv: [[UInt8]],
                       credentials: sm_credentials, flags: [sm_record_flags] = [], argsTotal: UInt32? = nil,
                       elfClass: UInt8 = 2, elfMachine: UInt16 = 62,
                       container: sm_container_identity = sm_container_identity()) -> [UInt8] {
        var r = sm_exec_record()
        r.container = container
        r.header = header(SM_RECORD_EXEC, task, flags: flags)
        r.credentials = credentials
        r.parent_pid = parent.pid
        r.parent_start_boot_ns = parent.startBootNanoseconds
        let imageData = Self.components(image), cwdData = Self.components(cwd)
        let args: [UInt8] = argv.flatMap { $0 + [0] }
        r.image_inode = 4242
        r.image_ctime_ns = 1_700_000_000_000_000_000
        r.image_device = 0x0080_0001
        r.image_size = UInt16(imageData.count)
        r.cwd_size = UInt16(cwdData.count)
        r.args_size = UInt32(args.count)
        r.args_total = argsTotal ?? UInt32(args.count)
        r.elf_class = elfClass
        r.elf_machine = elfMachine
        return Self.bytes(r, imageData, cwdData, args)
    }

    mutating func exec(_ task: Task, parent: Task, image: String, cwd: String, argv: [String],
                       credentials: sm_credentials, flags: [sm_record_flags] = [], argsTotal: UInt32? = nil,
                       elfClass: UInt8 = 2, elfMachine: UInt16 = 62,
                       container: sm_container_identity = sm_container_identity()) -> [UInt8] {
        exec(task, parent: parent, image: Array(image.utf8), cwd: cwd, argv: argv.map { Array($0.utf8) },
             credentials: credentials, flags: flags, argsTotal: argsTotal, elfClass: elfClass, elfMachine: elfMachine,
             container: container)
    }

    /// Where a task runs, as the BPF side captures it (containers block).
    static func container(cgroup: UInt64, pidNamespace: UInt32, mntNamespace: UInt32, netNamespace: UInt32,
                          pidInNamespace: UInt32) -> sm_container_identity {
        var c = sm_container_identity()
        c.cgroup_id = cgroup
        (c.pid_ns, c.mnt_ns, c.net_ns, c.ns_pid) = (pidNamespace, mntNamespace, netNamespace, pidInNamespace)
        return c
    }

    /// A new process (`task`) or, with `thread`, a new thread of `task`.
    mutating func fork(_ task: Task, parent: Task, credentials: sm_credentials, thread: Bool = false,
                       container: sm_container_identity = sm_container_identity()) -> [UInt8] {
        var r = sm_fork_record()
        r.container = container
        r.header = header(SM_RECORD_FORK, task, flags: thread ? [SM_FLAG_THREAD] : [])
        r.credentials = credentials
        r.parent_pid = parent.pid
        r.parent_tid = parent.tid ?? parent.pid
        r.parent_start_boot_ns = parent.startBootNanoseconds
        return Self.bytes(r)
    }

    /// `status` as wait(2) reports it: `(code << 8) | signal`.
    mutating func exit(_ task: Task, status: UInt32, flags: [sm_record_flags]) -> [UInt8] {
        var r = sm_exit_record()
        r.header = header(SM_RECORD_EXIT, task, flags: flags)
        r.exit_code = status
        return Self.bytes(r)
    }

    // MARK: path records (file, module, image)

    /// A path record: each path as a resolved directory and a name as the
    /// process gave it.
    mutating func path(_ kind: sm_record_kind, _ op: sm_path_op, _ task: Task, euid: UInt32,
                       dir1: String = "", name1: [UInt8] = [], dir2: String = "", name2: [UInt8] = [],
                       result: Int32 = 0, mode: UInt32 = 0o100644, inode: UInt64 = 77,
                       flags: [sm_record_flags] = []) -> [UInt8] {
        var r = sm_path_record()
        r.header = header(kind, task, flags: flags)
        r.euid = euid
        r.result = result
        r.op = op.rawValue
        r.mode = mode
        r.inode = inode
        r.ctime_ns = 1_700_000_000_000_000_001
        r.device = 0x0080_0001
        let d1 = Self.components(dir1), d2 = Self.components(dir2)
        r.dir1_size = UInt16(d1.count)
        r.name1_size = UInt16(name1.count)
        r.dir2_size = UInt16(d2.count)
        r.name2_size = UInt16(name2.count)
        return Self.bytes(r, d1, name1, d2, name2)
    }

    mutating func file(_ op: sm_path_op, _ task: Task, euid: UInt32, dir: String, name: String,
                       mode: UInt32 = 0o100644, flags: [sm_record_flags] = []) -> [UInt8] {
        path(SM_RECORD_FILE, op, task, euid: euid, dir1: dir, name1: Array(name.utf8), mode: mode, flags: flags)
    }

    // MARK: network, access, bpf

    mutating func network(_ task: Task, euid: UInt32, ipv6: Bool, udp: Bool = false, initiated: Bool,
                          local: [UInt8], localPort: UInt16, remote: [UInt8], remotePort: UInt16) -> [UInt8] {
        var r = sm_network_record()
        r.header = header(SM_RECORD_NETWORK, task, flags: initiated ? [SM_FLAG_INITIATED] : [])
        r.euid = euid
        r.family = ipv6 ? 10 : 2  // AF_INET6, AF_INET
        r.protocol = udp ? 17 : 6  // IPPROTO_UDP, IPPROTO_TCP
        r.local_port = localPort
        r.remote_port = remotePort
        withUnsafeMutableBytes(of: &r.local_address) { $0.copyBytes(from: local) }
        withUnsafeMutableBytes(of: &r.remote_address) { $0.copyBytes(from: remote) }
        return Self.bytes(r)
    }

    mutating func access(_ task: Task, euid: UInt32, target: UInt32, syscall: Int32, request: UInt32 = 0,
                         result: Int32 = 0) -> [UInt8] {
        var r = sm_access_record()
        r.header = header(SM_RECORD_ACCESS, task)
        r.euid = euid
        r.target_pid = target
        r.operation = UInt32(bitPattern: syscall)
        r.request = request
        r.result = result
        return Self.bytes(r)
    }

    mutating func bpf(_ task: Task, euid: UInt32, command: UInt32, programType: UInt32 = 0, programID: UInt32 = 0,
                      name: String = "", result: Int32 = 0) -> [UInt8] {
        var r = sm_bpf_record()
        r.header = header(SM_RECORD_BPF, task)
        r.euid = euid
        r.command = command
        r.program_type = programType
        r.program_id = programID
        r.result = result
        withUnsafeMutableBytes(of: &r.program_name) { $0.copyBytes(from: Array(name.utf8.prefix(15))) }
        return Self.bytes(r)
    }

    mutating func signal(_ sender: Task, euid: UInt32, signal: UInt32, code: Int32 = 0, result: UInt32 = 0,
                         target: Task, group: Bool = true, image: String? = nil, comm: String = "",
                         unreadBytes: UInt64 = 0) -> [UInt8] {
        var r = sm_signal_record()
        r.header = header(SM_RECORD_SIGNAL, sender)
        r.euid = euid
        r.signal = signal
        r.code = code
        r.result = result
        r.target_pid = target.pid
        r.target_tid = target.tid ?? target.pid
        r.target_start_boot_ns = target.startBootNanoseconds
        r.unread_bytes = unreadBytes
        r.group = group ? 1 : 0
        withUnsafeMutableBytes(of: &r.comm) { $0.copyBytes(from: Array(comm.utf8.prefix(15))) }
        let data = image.map { Self.components($0) } ?? []
        r.image_size = UInt16(data.count)
        return Self.bytes(r, data)
    }

    /// A change to a protected file (or a watched folder) by `task`.
    mutating func protectedFile(_ task: Task, euid: UInt32, syscall: Int32, role: sm_protected_file_role,
                                device: UInt32, inode: UInt64) -> [UInt8] {
        var r = sm_protected_file_record()
        r.header = header(SM_RECORD_PROTECTED_FILE, task)
        r.euid = euid
        r.syscall = syscall
        r.role = role.rawValue
        r.mode = 0o100600
        r.nlink = 1
        r.device = device
        r.inode = inode
        return Self.bytes(r)
    }
}
