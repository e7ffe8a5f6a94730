import CSwiftmonRecords
import SwiftmonCore

/// The kernel's access records → ProcessAccess (10). GrantedAccess names the
/// operation (PTRACE_ATTACH, PTRACE_SEIZE, process_vm_readv,
/// process_vm_writev): Linux has no access masks to report.
final class ProcessAccessEventBuilder {
    let processes: ProcessEventBuilder

    init(processes: ProcessEventBuilder) { self.processes = processes }

    func processAccess(_ r: sm_access_record) -> Event {
        let h = r.header
        let host = processes.host
        var e = Event(.processAccess, time: host.time(bootNanoseconds: h.time_boot_ns))
        let guid = host.guid(pid: h.pid, startBootNanoseconds: h.start_boot_ns)
        let source = processes.cache.lookup(pid: h.pid, guid: guid)
        e["SourceProcessGUID"] = source?.guidText ?? guid.description
        e["SourceProcessId"] = String(h.pid)
        e["SourceThreadId"] = String(h.tid)
        if let source { e.setText("SourceImage", source.image, exact: source.imageBytes) }
        e["SourceUser"] = source?.user ?? processes.users.name(r.euid)
        e.setContainer(source?.container, pid: h.pid, containerPid: source?.containerPid ?? 0)
        // The target is named by pid only: the live process with that pid
        // (the syscall succeeded, so it existed a moment ago).
        e["TargetProcessId"] = String(r.target_pid)
        if let target = processes.cache[r.target_pid] {
            e["TargetProcessGUID"] = target.guidText
            e.setText("TargetImage", target.image, exact: target.imageBytes)
            e["TargetUser"] = target.user
        }
        e["GrantedAccess"] = ProcessAccessEventBuilder.operationName(syscall: r.operation, request: r.request)
        return e
    }

    static func operationName(syscall: UInt32, request: UInt32) -> String {
        switch (syscall, request) {
        case (Syscall.ptrace, 16): return "PTRACE_ATTACH"
        case (Syscall.ptrace, 0x4206): return "PTRACE_SEIZE"
        case (Syscall.ptrace, _): return "PTRACE_\(request)"
        case (Syscall.processVMReadv, _): return "process_vm_readv"
        case (Syscall.processVMWritev, _): return "process_vm_writev"
        default: return "syscall \(syscall)"
        }
    }
}

/// The syscall numbers the kernel records carry, for this architecture
/// (the same table as sensor.bpf.h).
enum Syscall {
    #if arch(x86_64)
    static let ptrace: UInt32 = 101, processVMReadv: UInt32 = 310, processVMWritev: UInt32 = 311
    #else
    static let ptrace: UInt32 = 117, processVMReadv: UInt32 = 270, processVMWritev: UInt32 = 271
    #endif
}
