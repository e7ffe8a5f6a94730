import CSwiftmonRecords

/// A record from the BPF programs, decoded from the ring buffer's bytes into
/// Swift values. The layouts are those of swiftmon_records.h.
enum KernelRecord {
    case exec(ExecRecord)
    case fork(ForkRecord)
    case exit(ExitRecord)

    /// Decodes one record; nil when it is too short for what its header claims
    /// or of a kind this build does not know (counted by the caller).
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= MemoryLayout<sm_record_header>.size, let base = bytes.baseAddress else { return nil }
        let header = base.loadUnaligned(as: sm_record_header.self)
        guard Int(header.size) <= bytes.count else { return nil }
        switch UInt32(header.kind) {
        case SM_RECORD_EXEC.rawValue:
            let fixed = MemoryLayout<sm_exec_record>.size
            guard bytes.count >= fixed else { return nil }
            let r = base.loadUnaligned(as: sm_exec_record.self)
            let imageEnd = fixed + Int(r.image_size)
            let cwdEnd = imageEnd + Int(r.cwd_size)
            let argsEnd = cwdEnd + Int(r.args_size)
            guard argsEnd <= bytes.count else { return nil }
            self = .exec(ExecRecord(
                raw: r,
                imageComponents: [UInt8](UnsafeRawBufferPointer(rebasing: bytes[fixed..<imageEnd])),
                cwdComponents: [UInt8](UnsafeRawBufferPointer(rebasing: bytes[imageEnd..<cwdEnd])),
                arguments: [UInt8](UnsafeRawBufferPointer(rebasing: bytes[cwdEnd..<argsEnd]))))
        case SM_RECORD_FORK.rawValue:
            guard bytes.count >= MemoryLayout<sm_fork_record>.size else { return nil }
            self = .fork(ForkRecord(raw: base.loadUnaligned(as: sm_fork_record.self)))
        case SM_RECORD_EXIT.rawValue:
            guard bytes.count >= MemoryLayout<sm_exit_record>.size else { return nil }
            self = .exit(ExitRecord(raw: base.loadUnaligned(as: sm_exit_record.self)))
        default:
            return nil
        }
    }

    static func kindName(_ kind: UInt32) -> String {
        switch kind {
        case SM_RECORD_EXEC.rawValue: return "exec"
        case SM_RECORD_FORK.rawValue: return "fork"
        case SM_RECORD_EXIT.rawValue: return "exit"
        default: return "kind\(kind)"
        }
    }
}

extension sm_record_header {
    func has(_ flag: sm_record_flags) -> Bool { UInt32(flags) & flag.rawValue != 0 }
}

struct ExecRecord {
    let raw: sm_exec_record
    /// Path components, leaf first, each NUL-terminated.
    let imageComponents: [UInt8]
    let cwdComponents: [UInt8]
    /// argv as in the new image's memory: NUL-separated.
    let arguments: [UInt8]
}

struct ForkRecord {
    let raw: sm_fork_record
    var isThread: Bool { raw.header.has(SM_FLAG_THREAD) }
}

struct ExitRecord {
    let raw: sm_exit_record
    var isThread: Bool { raw.header.has(SM_FLAG_THREAD) }
    var isLastThread: Bool { raw.header.has(SM_FLAG_GROUP_DEAD) }
}

/// Turns the kernel's path and argv encodings into the bytes users know.
enum KernelText {
    /// "leaf\0dir\0usr\0" → "/usr/dir/leaf". A truncated path is marked with a
    /// leading "…/" in place of the components that were not captured.
    static func path(fromComponents components: [UInt8], truncated: Bool) -> [UInt8] {
        var parts = components.split(separator: 0, omittingEmptySubsequences: true)
        if parts.last?.elementsEqual([UInt8(ascii: "/")]) == true { parts.removeLast() }
        var out: [UInt8] = truncated ? Array("…".utf8) : []
        if parts.isEmpty { return truncated ? out : [UInt8(ascii: "/")] }
        for part in parts.reversed() {
            out.append(UInt8(ascii: "/"))
            out += part
        }
        return out
    }

    /// argv, NUL-separated → the arguments joined by single spaces, as Sysmon
    /// for Linux writes CommandLine. When the kernel captured only the first
    /// `captured` of `total` bytes, a marker says so.
    static func commandLine(fromArguments args: [UInt8], total: UInt32, truncated: Bool) -> [UInt8] {
        var end = args.count
        while end > 0, args[end - 1] == 0 { end -= 1 }
        var out = Array(args[0..<end])
        for i in out.indices where out[i] == 0 { out[i] = UInt8(ascii: " ") }
        if truncated {
            out += Array(" …[command line truncated: \(args.count) of \(total) bytes]".utf8)
        }
        return out
    }
}
