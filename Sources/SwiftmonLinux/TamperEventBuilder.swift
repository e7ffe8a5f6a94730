import CSwiftmonRecords
import SwiftmonCore
import SwiftmonSystem

/// Records of somebody acting on swiftmon itself → the tamper events:
/// SensorSignal (205) from the signal records, SensorAccess (206) from the
/// access records whose target is swiftmon. The sender is named as every
/// other event names a process (ProcessGuid, ProcessId, Image, User); a
/// sender the process cache no longer knows (the SIGKILL of the previous run,
/// reported at this start) is named from what the kernel captured with the
/// signal: its executable and effective uid.
final class TamperEventBuilder {
    let processes: ProcessEventBuilder
    /// swiftmon's own process id: the target of the access records that are tamper.
    let selfPID: UInt32
    private let isSelfThread: (UInt32) -> Bool

    init(processes: ProcessEventBuilder, selfPID: UInt32, isSelfThread: @escaping (UInt32) -> Bool) {
        self.processes = processes
        self.selfPID = selfPID
        self.isSelfThread = isSelfThread
    }

    /// `recovered`: read from the kill ledger at start, not from the ring buffer.
    func sensorSignal(_ r: SignalRecord, recovered: Bool) -> Event {
        let raw = r.raw
        var e = processes.attributedEvent(.sensorSignal, raw.header, euid: raw.euid)
        e["ThreadId"] = String(raw.header.tid)
        if e["Image"] == Event.absent, let image = r.image { e.set("Image", bytes: image) }
        e["Signal"] = TamperEventBuilder.signalName(raw.signal)
        e["SignalNumber"] = String(raw.signal)
        e["SignalCode"] = TamperEventBuilder.signalCodeName(raw.code)
        e["SentTo"] = raw.group != 0 ? "process" : "thread"
        e["Result"] = TamperEventBuilder.signalResultName(raw.result)
        let host = processes.host
        e["TargetProcessGuid"] = host.guid(pid: raw.target_pid, startBootNanoseconds: raw.target_start_boot_ns).description
        e["TargetProcessId"] = String(raw.target_pid)
        e["TargetThreadId"] = String(raw.target_tid)
        e["Recovered"] = recovered ? "true" : "false"
        if recovered { e["UnreadRecordBytes"] = String(raw.unread_bytes) }
        return e
    }

    /// Whether an access record is aimed at swiftmon: its process, or one of
    /// its threads (the kernel sends the pid the caller named, which may be a
    /// thread id).
    func targetsSelf(_ r: sm_access_record) -> Bool {
        r.target_pid == selfPID || isSelfThread(r.target_pid)
    }

    func sensorAccess(_ r: sm_access_record) -> Event {
        var e = processes.attributedEvent(.sensorAccess, r.header, euid: r.euid)
        e["ThreadId"] = String(r.header.tid)
        e["Operation"] = ProcessAccessEventBuilder.operationName(syscall: r.operation, request: r.request)
        e["Result"] = ErrnoName.text(forResult: r.result)
        if let target = processes.cache[selfPID] { e["TargetProcessGuid"] = target.guidText }
        e["TargetProcessId"] = String(selfPID)
        e["TargetThreadId"] = String(r.target_pid)
        return e
    }

    /// The files whose changes are SensorFileChange events (nil: none watched).
    var protectedFiles: ProtectedFiles?
    /// swiftmon's own executable: a writer running it is `swiftmon config
    /// update` or `service install` (WriterIsSwiftmon=true), not the sensor.
    var ownBinary: String? = ProtectedFiles.runningBinary()
    /// The last change record (thread, device, inode, syscall, time).
    private var lastChange: (UInt32, UInt32, UInt64, Int32, UInt64)?

    /// A change the kernel saw to a protected file (or to a folder watched
    /// for a missing one): one event per protected path it changed, after a
    /// new scan that also watches whatever replaced it.
    func sensorFileChanges(_ r: sm_protected_file_record, into out: inout [Event]) {
        guard let protectedFiles else { return }
        // The kernel may set a change time twice in one syscall (an O_TRUNC
        // open, a rename over a file, an unlink on ext4) — milliseconds apart
        // when the call waits for the journal between them: one event for
        // both. The kernel gives no syscall instance, so records of the same
        // thread, file and syscall within 50 ms are taken as one call.
        let change = (r.header.tid, r.device, r.inode, r.syscall, r.header.time_boot_ns)
        defer { lastChange = change }
        if let last = lastChange, last.0 == change.0, last.1 == change.1, last.2 == change.2, last.3 == change.3,
           change.4 &- last.4 < 50_000_000 {
            return
        }
        let (syscall, operation) = TamperEventBuilder.fileOperation(syscall: r.syscall, onFolder: r.role == SM_PROTECTED_DIRECTORY.rawValue)
        let changes = protectedFiles.changes(device: r.device, inode: r.inode, role: r.role,
                                             renamesOrRemoves: ["rename", "unlink", "link", "modify"].contains(operation))
        for change in changes {
            var e = processes.attributedEvent(.sensorFileChange, r.header, euid: r.euid)
            e["ThreadId"] = String(r.header.tid)
            e["TargetFilename"] = change.path
            e["FileRole"] = change.role.rawValue
            e["Operation"] = operation
            e["Syscall"] = syscall
            e["Outcome"] = change.outcome
            let image = e["Image"]
            e["WriterIsSwiftmon"] = image != nil && image != Event.absent && image == ownBinary ? "true" : "false"
            out.append(e)
        }
    }

    /// The syscall a change happened in → its name and what it did to the
    /// file ("-" and `modify` outside a syscall: a write through a shared mapping).
    static func fileOperation(syscall: Int32, onFolder: Bool) -> (syscall: String, operation: String) {
        guard let name = fileSyscalls[syscall] else { return ("-", "modify") }
        switch name {
        case "write", "pwrite64", "writev", "pwritev", "pwritev2", "sendfile", "splice", "copy_file_range", "fallocate":
            return (name, "write")
        case "open", "openat", "openat2", "creat":
            // A file's change time moves at open only when O_TRUNC empties it;
            // a folder's when a name is created in it.
            return (name, onFolder ? "create" : "truncate")
        case "truncate", "ftruncate": return (name, "truncate")
        case "chmod", "fchmod", "fchmodat", "fchmodat2": return (name, "chmod")
        case "chown", "fchown", "lchown", "fchownat": return (name, "chown")
        case "utime", "utimes", "futimesat", "utimensat": return (name, "set times")
        case "setxattr", "lsetxattr", "fsetxattr", "setxattrat": return (name, "set xattr")
        case "removexattr", "lremovexattr", "fremovexattr", "removexattrat": return (name, "remove xattr")
        case "rename", "renameat", "renameat2": return (name, "rename")
        case "unlink", "unlinkat": return (name, "unlink")
        case "link", "linkat": return (name, "link")
        case "mknod", "mknodat": return (name, "create")
        case "mkdir", "mkdirat": return (name, "mkdir")
        case "rmdir": return (name, "rmdir")
        case "symlink", "symlinkat": return (name, "symlink")
        default: return (name, "modify")
        }
    }

    /// The syscalls that change a file's or a folder's change time, by number.
    #if arch(x86_64)
    static let fileSyscalls: [Int32: String] = [
        1: "write", 18: "pwrite64", 20: "writev", 296: "pwritev", 328: "pwritev2", 40: "sendfile", 275: "splice",
        326: "copy_file_range", 285: "fallocate", 2: "open", 257: "openat", 437: "openat2", 85: "creat",
        76: "truncate", 77: "ftruncate", 90: "chmod", 91: "fchmod", 268: "fchmodat", 452: "fchmodat2",
        92: "chown", 93: "fchown", 94: "lchown", 260: "fchownat", 132: "utime", 235: "utimes", 261: "futimesat",
        280: "utimensat", 188: "setxattr", 189: "lsetxattr", 190: "fsetxattr", 463: "setxattrat",
        197: "removexattr", 198: "lremovexattr", 199: "fremovexattr", 466: "removexattrat", 82: "rename",
        264: "renameat", 316: "renameat2", 87: "unlink", 263: "unlinkat", 86: "link", 265: "linkat",
        133: "mknod", 259: "mknodat", 83: "mkdir", 258: "mkdirat", 84: "rmdir", 88: "symlink", 266: "symlinkat",
        426: "io_uring_enter",
    ]
    #elseif arch(arm64)
    static let fileSyscalls: [Int32: String] = [
        64: "write", 68: "pwrite64", 66: "writev", 70: "pwritev", 287: "pwritev2", 71: "sendfile", 76: "splice",
        285: "copy_file_range", 47: "fallocate", 56: "openat", 437: "openat2", 45: "truncate", 46: "ftruncate",
        52: "fchmod", 53: "fchmodat", 452: "fchmodat2", 55: "fchown", 54: "fchownat", 88: "utimensat",
        5: "setxattr", 6: "lsetxattr", 7: "fsetxattr", 463: "setxattrat", 14: "removexattr", 15: "lremovexattr",
        16: "fremovexattr", 466: "removexattrat", 38: "renameat", 276: "renameat2", 35: "unlinkat", 37: "linkat",
        33: "mknodat", 34: "mkdirat", 36: "symlinkat", 426: "io_uring_enter",
    ]
    #endif

    /// The kernel's names (signal(7)); real-time signals as SIGRTMIN+n.
    static func signalName(_ signal: UInt32) -> String {
        let names = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
                     "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD",
                     "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ",
                     "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"]
        if signal >= 1, signal <= UInt32(names.count) { return names[Int(signal) - 1] }
        if signal >= 32, signal <= 64 { return "SIGRTMIN+\(signal - 32)" }
        return "signal \(signal)"
    }

    /// siginfo's si_code: how the signal was sent.
    static func signalCodeName(_ code: Int32) -> String {
        switch code {
        case 0: return "SI_USER"        // kill(2)
        case 0x80: return "SI_KERNEL"   // raised by the kernel (terminal ^C, OOM killer…)
        case -1: return "SI_QUEUE"      // sigqueue(3)
        case -2: return "SI_TIMER"
        case -3: return "SI_MESGQ"
        case -4: return "SI_ASYNCIO"
        case -5: return "SI_SIGIO"
        case -6: return "SI_TKILL"      // tkill(2), tgkill(2)
        default: return String(code)
        }
    }

    /// The kernel's verdict on the signal (TRACE_SIGNAL_*).
    static func signalResultName(_ result: UInt32) -> String {
        switch result {
        case 0: return "delivered"
        case 1: return "ignored"
        case 2: return "already pending"
        case 3: return "queue overflow"
        case 4: return "delivered without its information"
        default: return String(result)
        }
    }
}
