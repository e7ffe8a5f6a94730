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
