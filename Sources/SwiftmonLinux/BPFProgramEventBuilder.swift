import CLibbpf
import CSwiftmonRecords
import SwiftmonCore

/// The kernel's bpf(2) records → eBPFEvent (100): a program loaded, or
/// attached, by a process other than swiftmon.
final class BPFProgramEventBuilder {
    let processes: ProcessEventBuilder

    init(processes: ProcessEventBuilder) { self.processes = processes }

    func bpfEvent(_ r: sm_bpf_record) -> Event {
        var e = processes.attributedEvent(.bpfEvent, r.header, euid: r.euid)
        e["BpfCommand"] = BPFProgramEventBuilder.commandName(r.command)
        if r.program_id != 0 {
            e["BpfProgramType"] = BPFProgramEventBuilder.programTypeName(r.program_type)
            e["BpfProgramId"] = String(r.program_id)
            let name = withUnsafeBytes(of: r.program_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if !name.isEmpty { e.set("BpfProgramName", bytes: name) }
        }
        return e
    }

    static func commandName(_ command: UInt32) -> String {
        switch command {
        case 5: return "BPF_PROG_LOAD"
        case 8: return "BPF_PROG_ATTACH"
        case 17: return "BPF_RAW_TRACEPOINT_OPEN"
        case 28: return "BPF_LINK_CREATE"
        default: return "BPF_CMD_\(command)"
        }
    }

    /// libbpf's name for the type ("tracepoint") in the kernel's spelling
    /// (BPF_PROG_TYPE_TRACEPOINT).
    static func programTypeName(_ type: UInt32) -> String {
        guard let name = libbpf_bpf_prog_type_str(bpf_prog_type(rawValue: type)) else { return String(type) }
        return "BPF_PROG_TYPE_" + String(cString: name).uppercased()
    }
}
