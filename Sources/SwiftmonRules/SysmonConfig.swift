#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftmonSystem

/// A Sysmon configuration file as written: schema version, options and the
/// `EventFiltering` rules, each with its place in the file.
///
/// This is the parsed form (for `config dump` and `config check`); ``RuleSet``
/// compiles it into the form that filters events.
public struct SysmonConfig: Sendable {
    /// Where it came from, as given (used in diagnostics and event 16).
    public let path: String
    /// The file's exact bytes, so the caller can hash them for event 16.
    public let bytes: [UInt8]
    public let schemaVersion: SchemaVersion
    /// Top-level option elements in file order (`HashAlgorithms`, `FieldSizes`, …).
    public let options: [Option]
    /// Rule blocks (one per event element) in file order.
    public let blocks: [RuleBlock]

    /// The largest configuration file swiftmon reads. Real ones are well under
    /// 1 MB (sysmon-modular's biggest merge is ~250 KB); the cap bounds memory.
    public static let maximumFileSize = 16 << 20

    public struct Option: Sendable {
        public let name: String
        public let value: String
        public let location: SourceLocation
    }

    /// `HashAlgorithms`, split and lower-cased (`["md5", "sha256", "imphash"]`);
    /// empty when the configuration does not set it.
    public var hashAlgorithms: [String] {
        guard let value = options.last(where: { $0.name == "HashAlgorithms" })?.value else { return [] }
        return value.split(separator: ",").map { $0.trimmingSpaces.lowercased() }.filter { !$0.isEmpty }
    }

    /// `FieldSizes` (`CommandLine:100,Image:20`) as field → maximum characters.
    public var fieldSizes: [String: Int] {
        guard let value = options.last(where: { $0.name == "FieldSizes" })?.value else { return [:] }
        var sizes: [String: Int] = [:]
        for item in value.split(separator: ",") {
            let parts = item.split(separator: ":", maxSplits: 1)
            if parts.count == 2, let n = Int(parts[1].trimmingSpaces), n > 0 {
                sizes[parts[0].trimmingSpaces] = n
            }
        }
        return sizes
    }

    /// Reads and parses the file at `path`. Throws ``ConfigError`` (with every
    /// diagnostic) when it has errors; otherwise returns it with its warnings.
    public static func load(path: String) throws -> (SysmonConfig, [Diagnostic]) {
        let (config, diagnostics) = check(path: path)
        guard let config, !diagnostics.hasErrors else { throw ConfigError(diagnostics) }
        return (config, diagnostics)
    }

    /// Parses configuration text already in memory.
    public static func parse(bytes: [UInt8], path: String) throws -> (SysmonConfig, [Diagnostic]) {
        let (config, diagnostics) = check(bytes: bytes, path: path)
        guard let config, !diagnostics.hasErrors else { throw ConfigError(diagnostics) }
        return (config, diagnostics)
    }

    /// Like ``load(path:)`` but never throws: every problem is a diagnostic, and
    /// the configuration is returned when it could be read at all.
    public static func check(path: String) -> (SysmonConfig?, [Diagnostic]) {
        switch readFile(path) {
        case .success(let bytes): return check(bytes: bytes, path: path)
        case .failure(let message):
            return (nil, [Diagnostic(file: path, line: 0, column: 0, severity: .error, message: message)])
        }
    }

    public static func check(bytes: [UInt8], path: String) -> (SysmonConfig?, [Diagnostic]) {
        ConfigReader(bytes: bytes, path: path).read()
    }

    init(path: String, bytes: [UInt8], schemaVersion: SchemaVersion, options: [Option], blocks: [RuleBlock]) {
        self.path = path
        self.bytes = bytes
        self.schemaVersion = schemaVersion
        self.options = options
        self.blocks = blocks
    }

    enum ReadResult { case success([UInt8]), failure(String) }

    /// Reads the whole file, refusing anything larger than ``maximumFileSize``
    /// before reading it and anything that is not a regular file.
    static func readFile(_ path: String) -> ReadResult {
        // O_NONBLOCK: opening a FIFO must not hang; it is then refused as not a regular file.
        let fd: Int32
        let st: stat
        do {
            fd = try Syscalls.open(path, O_RDONLY | O_NONBLOCK)
        } catch {
            return .failure("cannot open file: \(error.reason)")
        }
        defer { Syscalls.close(fd) }
        do {
            st = try Syscalls.fstat(fd, path)
        } catch {
            return .failure("cannot stat file: \(error.reason)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .failure("not a regular file") }
        let size = Int(st.st_size)
        if size > maximumFileSize {
            return .failure("file is \(megabytes(size)); a Sysmon configuration may be at most \(megabytes(maximumFileSize))")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n: Int
            do {
                n = try bytes.withUnsafeMutableBytes { try Syscalls.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: $0[done...]), path) }
            } catch {
                return .failure("cannot read file: \(error.reason)")
            }
            if n == 0 { break }
            done += n
        }
        return .success(Array(bytes[0..<done]))
    }

    static func megabytes(_ n: Int) -> String {
        let tenths = (n * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MB"
    }
}

/// A line and column (1-based; the column counts characters) in a text file.
public struct SourceLocation: Sendable, Hashable {
    public let line: Int
    public let column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
}

/// `schemaversion` as Sysmon reads it: a decimal number with two fraction
/// digits, so `4.1` is 4.10 and sorts below 4.22.
public struct SchemaVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// major × 100 + hundredths.
    public let hundredths: Int

    public init(major: Int, minor: Int) { hundredths = major * 100 + minor }

    public init?(_ text: String) {
        let t = text.trimmingSpaces
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let major = Int(parts[0]), major >= 0, major < 1000 else { return nil }
        var minor = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            // Round to two digits as Sysmon's "%.2f" does.
            let padded = Array(digits) + ["0", "0", "0"]
            minor = Int(String(padded[0..<2]))!
            if padded[2] >= "5" { minor += 1 }
        }
        hundredths = major * 100 + minor
    }

    public static func < (a: SchemaVersion, b: SchemaVersion) -> Bool { a.hundredths < b.hundredths }

    /// `"4.90"`, as Sysmon prints it.
    public var description: String {
        let minor = hundredths % 100
        return "\(hundredths / 100).\(minor < 10 ? "0" : "")\(minor)"
    }

    public static let newestKnown = SchemaVersion(major: 4, minor: 90)
    public static let oldestSupported = SchemaVersion(major: 4, minor: 0)
    /// Up to 4.10, rules of one event without a RuleGroup are OR-ed; later, AND-ed.
    public static let lastOrDefault = SchemaVersion(major: 4, minor: 10)
}

public enum OnMatch: String, Sendable { case include, exclude }
public enum GroupRelation: String, Sendable { case and, or }

/// One event element (`<ProcessCreate onmatch="include">`) and its filters.
public struct RuleBlock: Sendable {
    public let tag: String
    public let onMatch: OnMatch
    /// How the block's items combine: the RuleGroup's `groupRelation`, or the
    /// schema-version default when the element is not inside a RuleGroup.
    public let relation: GroupRelation
    public let groupName: String?
    public let items: [RuleItem]
    public let location: SourceLocation
    /// Position among all blocks in the file.
    public let order: Int

    public var filterCount: Int {
        items.reduce(0) { n, item in
            switch item {
            case .filter: return n + 1
            case .compound(let c): return n + c.filters.count
            }
        }
    }
}

public enum RuleItem: Sendable {
    case filter(FieldFilter)
    case compound(CompoundRule)
}

/// `<Image condition="end with" name="…">\bash</Image>`.
public struct FieldFilter: Sendable {
    public let field: String
    public let condition: Condition
    /// The text exactly as written (entities decoded, not trimmed: Sysmon does not trim).
    public let value: String
    /// The RuleName this filter reports: its own `name`, else its compound
    /// rule's, else its RuleGroup's, else empty.
    public let ruleName: String
    public let location: SourceLocation
}

/// `<Rule name="…" groupRelation="and">` and the filters inside it.
public struct CompoundRule: Sendable {
    public let name: String?
    public let relation: GroupRelation
    /// Whether `groupRelation` was written (Sysmon defaults a Rule to OR).
    public let relationGiven: Bool
    public let filters: [FieldFilter]
    public let location: SourceLocation
    /// Sysmon's number for this rule (its `AggregationId`), which its dump
    /// shows for an unnamed compound rule: one counter across the file in
    /// dump order, that also counts the rules Sysmon reaches while it tries a
    /// block as an event of its tag's series that does not fit (see
    /// `ConfigReader.numberCompounds`).
    public let aggregationID: Int
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
