/// One problem found in a configuration, with where it is.
///
/// Printed as `file:line:column: severity: message`, the layout compilers use, so
/// editors and CI log parsers jump to the spot.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Comparable {
        case error, warning, note
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
        var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
    }

    public let file: String
    public let line: Int
    public let column: Int
    public let severity: Severity
    public let message: String
    /// True when the problem is only that the item has no meaning on Linux.
    public let windowsOnly: Bool

    public init(file: String, line: Int, column: Int, severity: Severity, message: String, windowsOnly: Bool = false) {
        self.file = file
        self.line = line
        self.column = column
        self.severity = severity
        self.message = message
        self.windowsOnly = windowsOnly
    }

    public var description: String { "\(file):\(line):\(column): \(severity.rawValue): \(message)" }
}

extension Array where Element == Diagnostic {
    public var errors: [Diagnostic] { filter { $0.severity == .error } }
    public var hasErrors: Bool { contains { $0.severity == .error } }

    /// `"2 errors, 5 warnings (4 about Windows-only events or fields)"`.
    public var summary: String {
        let e = filter { $0.severity == .error }.count
        let w = filter { $0.severity == .warning }.count
        let win = filter { $0.windowsOnly }.count
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        var text = "\(plural(e, "error")), \(plural(w, "warning"))"
        if win > 0 { text += " (\(win) about Windows-only events or fields)" }
        return text
    }
}

/// Thrown by ``SysmonConfig/load(path:)`` when the file cannot be used; carries
/// every diagnostic found, errors and warnings alike.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.errors.map(\.description).joined(separator: "\n") }
}
