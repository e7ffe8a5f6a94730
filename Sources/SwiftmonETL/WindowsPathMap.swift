/// Maps the kernel's NT paths to the drive-letter paths a user knows, from
/// what the trace itself says about the machine it was recorded on — never
/// from the machine that reads it.
///
/// Sources, as PerfView's TraceEvent uses them:
/// * SystemConfig VolumeMapping (EventTraceConfig opcode 35): an NT device
///   name and its DOS name (`\Device\HarddiskVolume2` → `C:`);
/// * SystemConfig SystemPaths (opcode 33): the system directory and the
///   Windows directory, which `\SystemRoot\` and `\Windows\` stand for.
/// Fixed rules that hold on every machine: `\??\C:\…` is `C:\…`,
/// `\??\UNC\server\…` and `\Device\Mup\server\…` are `\\server\…`
/// (without the redirector's components that Mup paths of mapped drives
/// carry).
///
/// Prefixes compare without regard to case, as the object manager does; a
/// prefix matches only up to a path separator (`\Device\HarddiskVolume1`
/// does not match `\Device\HarddiskVolume10\…`).
struct WindowsPathMap {
    /// (NT prefix without a trailing separator, lower-cased; its replacement).
    private var volumes: [(nt: [UInt16], dos: String)] = []
    private(set) var windowsDirectory: String?
    /// A hostile trace cannot grow the table without limit.
    static let capacity = 256

    var isEmpty: Bool { volumes.isEmpty && windowsDirectory == nil }

    /// A volume's NT device name and its DOS name (`C:` or a mount folder).
    mutating func addVolume(ntPath: String, dosPath: String) {
        let nt = WindowsPathMap.trimmed(ntPath), dos = WindowsPathMap.trimmed(dosPath)
        guard nt.hasPrefix("\\"), !dos.isEmpty, volumes.count < WindowsPathMap.capacity else { return }
        let key = WindowsPathMap.folded(nt)
        volumes.removeAll { $0.nt == key }
        volumes.append((key, dos))
        // Longest prefix first: a mount folder inside a volume wins over it.
        volumes.sort { $0.nt.count > $1.nt.count }
    }

    /// The Windows directory (`C:\Windows`) from SystemPaths.
    mutating func setWindowsDirectory(_ path: String) {
        let dir = WindowsPathMap.trimmed(path)
        if !dir.isEmpty { windowsDirectory = dir }
    }

    /// `path` with a drive letter (or UNC form), or nil when no rule applies.
    func map(_ path: String) -> String? {
        guard path.hasPrefix("\\"), !path.hasPrefix("\\\\") else { return nil }
        let units = Array(path.utf16)
        if let rest = WindowsPathMap.strip(units, "\\??\\") {
            if let unc = WindowsPathMap.strip(Array(rest), "UNC\\") { return "\\\\" + String(decoding: unc, as: UTF16.self) }
            return String(decoding: rest, as: UTF16.self)
        }
        if let rest = WindowsPathMap.strip(units, "\\Device\\Mup\\") { return "\\\\" + WindowsPathMap.uncTail(rest) }
        if let windows = windowsDirectory {
            for prefix in ["\\SystemRoot", "\\Windows"] {
                if let rest = WindowsPathMap.strip(units, prefix, boundary: true) {
                    return windows + String(decoding: rest, as: UTF16.self)
                }
            }
        }
        for (nt, dos) in volumes {
            if let rest = WindowsPathMap.strip(units, nt, boundary: true) {
                return dos + String(decoding: rest, as: UTF16.self)
            }
        }
        return nil
    }

    /// A path under `\Device\Mup\` as `server\share\…`: the redirector's
    /// own components go (`;LanmanRedirector\;Z:00000000000d3e2a\`,
    /// `DfsClient\;Z:0000000000020d40\` — a provider name, then the mapped
    /// drive and logon session, each marked by a leading `;`).
    private static func uncTail(_ rest: ArraySlice<UInt16>) -> String {
        var parts = rest.split(separator: 0x5C, omittingEmptySubsequences: false)
        func marked(_ i: Int) -> Bool { i < parts.count && parts[i].first == 0x3B }
        while parts.count > 1 && (marked(0) || marked(1)) { parts.removeFirst() }
        return parts.map { String(decoding: $0, as: UTF16.self) }.joined(separator: "\\")
    }

    /// The rest of `units` after `prefix` (case-insensitive, ASCII), or nil.
    /// With `boundary` the prefix must end the path or be followed by `\`.
    private static func strip(_ units: [UInt16], _ prefix: String, boundary: Bool = false) -> ArraySlice<UInt16>? {
        strip(units, folded(prefix), boundary: boundary)
    }

    private static func strip(_ units: [UInt16], _ prefix: [UInt16], boundary: Bool) -> ArraySlice<UInt16>? {
        guard units.count >= prefix.count else { return nil }
        for i in 0..<prefix.count where fold(units[i]) != prefix[i] { return nil }
        let rest = units[prefix.count...]
        if boundary, let first = rest.first, first != 0x5C { return nil }
        return rest
    }

    private static func trimmed(_ s: String) -> String {
        var s = Substring(s)
        while s.count > 1 && s.hasSuffix("\\") && !s.hasSuffix(":\\") { s = s.dropLast() }
        if s.hasSuffix(":\\") { s = s.dropLast() }
        return String(s)
    }

    private static func folded(_ s: String) -> [UInt16] { s.utf16.map(fold) }
    private static func fold(_ u: UInt16) -> UInt16 { u >= 0x41 && u <= 0x5A ? u + 0x20 : u }
}
