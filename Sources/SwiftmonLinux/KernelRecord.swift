import CSwiftmonRecords

/// A record from the BPF programs, decoded from the ring buffer's bytes into
/// Swift values. The layouts are those of swiftmon_records.h.
///
/// An exec record's variable part (paths, argv) is not copied: it points into
/// the bytes the record was decoded from, so a record is used only while
/// those are valid (inside the ring buffer's callback, or the
/// `withUnsafeBytes` that decoded it) and never kept.
enum KernelRecord {
    case exec(ExecRecord)
    case fork(ForkRecord)
    case exit(ExitRecord)
    /// File, module and image records: one layout, told apart by kind and op.
    case path(PathRecord)
    case network(sm_network_record)
    case access(sm_access_record)
    case bpf(sm_bpf_record)
    /// A signal raised against swiftmon (live, or from the kill ledger at start).
    case signal(SignalRecord)
    /// A change to one of swiftmon's protected files (or to a folder watched for one).
    case protectedFile(sm_protected_file_record)

    /// Decodes one record; nil when it is too short for what its header claims,
    /// of a kind this build does not know, or has a time no kernel writes
    /// (counted by the caller).
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= MemoryLayout<sm_record_header>.size, let base = bytes.baseAddress else { return nil }
        let header = base.loadUnaligned(as: sm_record_header.self)
        guard Int(header.size) <= bytes.count else { return nil }
        // 2^62 ns is 146 years of uptime: a later time is damage, and would
        // overflow the conversion to wall-clock time.
        guard header.time_boot_ns < 1 << 62 else { return nil }
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
                imageComponents: UnsafeRawBufferPointer(rebasing: bytes[fixed..<imageEnd]),
                cwdComponents: UnsafeRawBufferPointer(rebasing: bytes[imageEnd..<cwdEnd]),
                arguments: UnsafeRawBufferPointer(rebasing: bytes[cwdEnd..<argsEnd])))
        case SM_RECORD_FORK.rawValue:
            guard bytes.count >= MemoryLayout<sm_fork_record>.size else { return nil }
            self = .fork(ForkRecord(raw: base.loadUnaligned(as: sm_fork_record.self)))
        case SM_RECORD_EXIT.rawValue:
            guard bytes.count >= MemoryLayout<sm_exit_record>.size else { return nil }
            self = .exit(ExitRecord(raw: base.loadUnaligned(as: sm_exit_record.self)))
        case SM_RECORD_FILE.rawValue, SM_RECORD_MODULE.rawValue, SM_RECORD_IMAGE.rawValue:
            guard let r = PathRecord(bytes, base: base) else { return nil }
            self = .path(r)
        case SM_RECORD_NETWORK.rawValue:
            guard bytes.count >= MemoryLayout<sm_network_record>.size else { return nil }
            self = .network(base.loadUnaligned(as: sm_network_record.self))
        case SM_RECORD_ACCESS.rawValue:
            guard bytes.count >= MemoryLayout<sm_access_record>.size else { return nil }
            self = .access(base.loadUnaligned(as: sm_access_record.self))
        case SM_RECORD_BPF.rawValue:
            guard bytes.count >= MemoryLayout<sm_bpf_record>.size else { return nil }
            self = .bpf(base.loadUnaligned(as: sm_bpf_record.self))
        case SM_RECORD_SIGNAL.rawValue:
            let fixed = MemoryLayout<sm_signal_record>.size
            guard bytes.count >= fixed else { return nil }
            let r = base.loadUnaligned(as: sm_signal_record.self)
            guard fixed + Int(r.image_size) <= bytes.count else { return nil }
            self = .signal(SignalRecord(
                raw: r, imageComponents: [UInt8](UnsafeRawBufferPointer(rebasing: bytes[fixed..<(fixed + Int(r.image_size))]))))
        case SM_RECORD_PROTECTED_FILE.rawValue:
            guard bytes.count >= MemoryLayout<sm_protected_file_record>.size else { return nil }
            self = .protectedFile(base.loadUnaligned(as: sm_protected_file_record.self))
        default:
            return nil
        }
    }

    static func kindName(_ kind: UInt32) -> String {
        switch kind {
        case SM_RECORD_EXEC.rawValue: return "exec"
        case SM_RECORD_FORK.rawValue: return "fork"
        case SM_RECORD_EXIT.rawValue: return "exit"
        case SM_RECORD_FILE.rawValue: return "file"
        case SM_RECORD_NETWORK.rawValue: return "network"
        case SM_RECORD_MODULE.rawValue: return "module"
        case SM_RECORD_ACCESS.rawValue: return "access"
        case SM_RECORD_BPF.rawValue: return "bpf"
        case SM_RECORD_IMAGE.rawValue: return "image"
        case SM_RECORD_SIGNAL.rawValue: return "signal"
        case SM_RECORD_PROTECTED_FILE.rawValue: return "protected file"
        default: return "kind\(kind)"
        }
    }
}

extension sm_record_header {
    func has(_ flag: sm_record_flags) -> Bool { UInt32(flags) & flag.rawValue != 0 }
}

struct SignalRecord {
    let raw: sm_signal_record
    /// The sender's executable: path components, leaf first, each NUL-terminated.
    let imageComponents: [UInt8]

    var image: [UInt8]? {
        imageComponents.isEmpty ? nil
            : KernelText.path(fromComponents: imageComponents, truncated: raw.header.has(SM_FLAG_IMAGE_TRUNCATED))
    }
}

struct ExecRecord {
    let raw: sm_exec_record
    /// Path components, leaf first, each NUL-terminated. These three are the
    /// record's own bytes, not copies (see ``KernelRecord``).
    let imageComponents: UnsafeRawBufferPointer
    let cwdComponents: UnsafeRawBufferPointer
    /// argv as in the new image's memory: NUL-separated.
    let arguments: UnsafeRawBufferPointer
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

/// A record naming up to two paths, each as a directory the kernel resolved
/// (components, leaf first) and a name as the process gave it.
struct PathRecord {
    let raw: sm_path_record
    let dir1: [UInt8]
    let name1: [UInt8]
    let dir2: [UInt8]
    let name2: [UInt8]

    init?(_ bytes: UnsafeRawBufferPointer, base: UnsafeRawPointer) {
        let fixed = MemoryLayout<sm_path_record>.size
        guard bytes.count >= fixed else { return nil }
        let r = base.loadUnaligned(as: sm_path_record.self)
        let sizes = [Int(r.dir1_size), Int(r.name1_size), Int(r.dir2_size), Int(r.name2_size)]
        guard fixed + sizes.reduce(0, +) <= bytes.count else { return nil }
        var parts: [[UInt8]] = []
        var at = fixed
        for size in sizes {
            parts.append([UInt8](UnsafeRawBufferPointer(rebasing: bytes[at..<(at + size)])))
            at += size
        }
        raw = r
        (dir1, name1, dir2, name2) = (parts[0], parts[1], parts[2], parts[3])
    }

    var path1: [UInt8] {
        KernelText.path(directoryComponents: dir1, name: name1, truncated: raw.header.has(SM_FLAG_PATH1_TRUNCATED))
    }
    var path2: [UInt8] {
        KernelText.path(directoryComponents: dir2, name: name2, truncated: raw.header.has(SM_FLAG_PATH2_TRUNCATED))
    }
}

/// Turns the kernel's path and argv encodings into the bytes users know.
enum KernelText {
    /// "leaf\0dir\0usr\0" → "/usr/dir/leaf". A truncated path is marked with a
    /// leading "…/" in place of the components that were not captured.
    static func path(fromComponents components: [UInt8], truncated: Bool) -> [UInt8] {
        var out: [UInt8] = []
        components.withUnsafeBytes { path(fromComponents: $0, truncated: truncated, into: &out) }
        return out
    }

    /// The same, written into `out` (emptied first; its capacity is kept, so
    /// a caller that reuses one buffer allocates nothing per path).
    static func path(fromComponents components: UnsafeRawBufferPointer, truncated: Bool, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        if truncated { out.append(contentsOf: ellipsis) }
        var parts = 0
        forEachComponentRootFirst(components) { part in
            out.append(UInt8(ascii: "/"))
            out.append(contentsOf: part)
            parts += 1
        }
        if parts == 0, !truncated { out.append(UInt8(ascii: "/")) }
    }

    /// "…" in UTF-8.
    static let ellipsis: [UInt8] = [0xE2, 0x80, 0xA6]

    /// Calls `body` with each non-empty component of "leaf\0dir\0usr\0", root
    /// first ("usr", "dir", "leaf"), without a last component that is "/"
    /// (the root itself, as the kernel may write it).
    @inline(__always)
    static func forEachComponentRootFirst(_ c: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var i = c.count
        var rootmost = true
        while i > 0 {
            while i > 0, c[i - 1] == 0 { i -= 1 }
            let end = i
            while i > 0, c[i - 1] != 0 { i -= 1 }
            if i == end { break }
            let part = UnsafeRawBufferPointer(rebasing: c[i..<end])
            if rootmost {
                rootmost = false
                if part.count == 1, part[0] == UInt8(ascii: "/") { continue }
            }
            body(part)
        }
    }

    /// A directory (components, leaf first) and a name relative to it, as a
    /// process gave it to a syscall → one absolute path. "." and empty
    /// components are dropped and ".." removes the component before it (as
    /// the kernel does when no symbolic link is involved); an absolute name
    /// ignores the directory; an empty name is the directory itself.
    static func path(directoryComponents dir: [UInt8], name: [UInt8], truncated: Bool) -> [UInt8] {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        var base: [UInt8]
        if name.first == slash {
            base = []
        } else {
            base = path(fromComponents: dir, truncated: truncated)
            if name.isEmpty { return base }
        }
        var prefix: [UInt8] = []
        var stack: [ArraySlice<UInt8>] = []
        let ellipsis = Array("…".utf8)
        if base.starts(with: ellipsis) {
            prefix = ellipsis
            base.removeFirst(ellipsis.count)
        }
        for part in (base + [slash] + name).split(separator: slash, omittingEmptySubsequences: true) {
            if part.count == 1, part.first == dot { continue }
            if part.count == 2, part.allSatisfy({ $0 == dot }) {
                if !stack.isEmpty { stack.removeLast() }
                continue
            }
            stack.append(part)
        }
        var out = prefix
        if stack.isEmpty { return out + [slash] }
        for part in stack {
            out.append(slash)
            out += part
        }
        return out
    }

    /// argv, NUL-separated → the arguments joined by single spaces, as Sysmon
    /// for Linux writes CommandLine. When the kernel captured only the first
    /// `captured` of `total` bytes, a marker says so.
    static func commandLine(fromArguments args: [UInt8], total: UInt32, truncated: Bool) -> [UInt8] {
        var out: [UInt8] = []
        args.withUnsafeBytes { commandLine(fromArguments: $0, total: total, truncated: truncated, into: &out) }
        return out
    }

    /// The same, written into `out` (emptied first, capacity kept).
    static func commandLine(fromArguments args: UnsafeRawBufferPointer, total: UInt32, truncated: Bool,
                            into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        var end = args.count
        while end > 0, args[end - 1] == 0 { end -= 1 }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: args[0..<end]))
        out.withUnsafeMutableBufferPointer { line in
            for i in line.indices where line[i] == 0 { line[i] = UInt8(ascii: " ") }
        }
        if truncated {
            out += Array(" …[command line truncated: \(args.count) of \(total) bytes]".utf8)
        }
    }
}
