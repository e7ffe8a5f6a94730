import Foundation
import SwiftmonRules
import SwiftmonSystem
import Yams

/// One Sigma document as read from YAML: a detection rule, a correlation rule
/// or a filter, with its metadata and where it is. Its detection stays a YAML
/// node (with line marks) until ``SigmaCompiler`` turns it into a matcher.
public struct SigmaDocument: @unchecked Sendable {  // Yams.Node holds only value types and a weak anchor, never mutated after parsing
    public enum Kind: String, Sendable { case detection, correlation, filter }

    public struct Logsource: Sendable, Hashable, CustomStringConvertible {
        public var product: String?
        public var category: String?
        public var service: String?
        public init(product: String? = nil, category: String? = nil, service: String? = nil) {
            self.product = product; self.category = category; self.service = service
        }
        public var description: String {
            [("product", product), ("category", category), ("service", service)]
                .compactMap { k, v in v.map { "\(k): \($0)" } }.joined(separator: ", ")
        }
    }

    public let file: String
    /// Line of the document's first key (1-based).
    public let line: Int
    public let kind: Kind
    public let id: String?
    /// `name`, by which correlation rules may refer to it.
    public let name: String?
    public let title: String
    public let status: String?
    public let level: String?
    public let tags: [String]
    public let author: String?
    public let logsource: Logsource
    let detection: Node?
    let correlation: Node?
    let filter: Node?
    let root: Node

    public var location: String { "\(file):\(line)" }

    /// The rule's level on Sigma's scale (informational … critical), or nil.
    public var levelRank: Int? { level.flatMap { SigmaLevel.rank($0) } }
}

public enum SigmaLevel {
    public static let names = ["informational", "low", "medium", "high", "critical"]
    public static func rank(_ name: String) -> Int? { names.firstIndex(of: name.lowercased()) }
}

/// Reads Sigma YAML files: one document per rule, or several separated by `---`
/// (correlation rules and the rules they refer to often share a file).
public enum SigmaReader {
    /// Every `.yml`/`.yaml` file at `path`: the file itself, or a folder's, recursively, sorted.
    public static func files(at path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SigmaLoadError(diagnostics: [Diagnostic(file: path, line: 0, column: 0, severity: .error,
                                                           message: "no such file or folder")])
        }
        guard isDirectory.boolValue else { return [path] }
        guard let walker = FileManager.default.enumerator(atPath: path) else { return [] }
        var out: [String] = []
        for case let relative as String in walker where relative.hasSuffix(".yml") || relative.hasSuffix(".yaml") {
            out.append(path.hasSuffix("/") ? path + relative : path + "/" + relative)
        }
        return out.sorted()
    }

    /// The largest rule file read (a rule is a few KiB; a folder of them is read file by file).
    public static let maximumFileSize = 4 << 20

    /// Parses one file's documents; problems become diagnostics, never crashes.
    public static func read(file: String) -> (documents: [SigmaDocument], diagnostics: [Diagnostic]) {
        let bytes: [UInt8]
        do {
            guard let read = try Syscalls.readSmallFile(file, limit: maximumFileSize + 1) else {
                return ([], [Diagnostic(file: file, line: 0, column: 0, severity: .error, message: "no such file")])
            }
            bytes = read
        } catch {
            return ([], [Diagnostic(file: file, line: 0, column: 0, severity: .error, message: "\(error)")])
        }
        if bytes.count > maximumFileSize {
            return ([], [Diagnostic(file: file, line: 0, column: 0, severity: .error,
                                   message: "larger than \(maximumFileSize) bytes; not a Sigma rule file")])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return ([], [Diagnostic(file: file, line: 0, column: 0, severity: .error, message: "not UTF-8 text")])
        }
        return parse(text, file: file)
    }

    public static func parse(_ text: String, file: String) -> (documents: [SigmaDocument], diagnostics: [Diagnostic]) {
        var documents: [SigmaDocument] = []
        var diagnostics: [Diagnostic] = []
        do {
            var sequence = try Yams.compose_all(yaml: text)
            while let node = sequence.next() {
                do {
                    documents.append(try document(node, file: file))
                } catch let e as SigmaCompileError {
                    diagnostics.append(Diagnostic(file: file, line: e.line ?? (node.mark?.line ?? 0), column: 0,
                                                  severity: .error, message: e.message))
                }
            }
            if let error = sequence.error { diagnostics.append(yamlDiagnostic(error, file: file)) }
        } catch {
            diagnostics.append(yamlDiagnostic(error, file: file))
        }
        return (documents, diagnostics)
    }

    static func yamlDiagnostic(_ error: Error, file: String) -> Diagnostic {
        var line = 0, column = 0
        var message = "broken YAML: \(error)"
        if let y = error as? YamlError {
            switch y {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
                line = mark.line; column = mark.column
                message = "broken YAML: \(problem)" + (context.map { " \($0.text)" } ?? "")
            case .composer(let context, let problem, let mark, _):
                line = mark.line; column = mark.column
                message = "broken YAML: \(problem)" + (context.map { " \($0.text)" } ?? "")
            default: break
            }
        }
        return Diagnostic(file: file, line: line, column: column, severity: .error,
                          message: message.replacingOccurrences(of: "\n", with: " "))
    }

    static func string(_ node: Node?, _ key: String) throws -> String? {
        guard let node else { return nil }
        guard case .scalar(let s) = node else {
            throw SigmaCompileError("'\(key)' must be a text value", line: node.mark?.line)
        }
        return s.string
    }

    static func document(_ node: Node, file: String) throws -> SigmaDocument {
        guard case .mapping(let map) = node else {
            throw SigmaCompileError("a Sigma document is a mapping (title:, logsource:, detection: …)", line: node.mark?.line)
        }
        let line = map.mark?.line ?? 0
        let title = try string(map["title"], "title") ?? ""
        if title.isEmpty { throw SigmaCompileError("the rule has no title", line: line) }
        var logsource = SigmaDocument.Logsource()
        if let ls = map["logsource"] {
            guard case .mapping(let lm) = ls else { throw SigmaCompileError("'logsource' must be a mapping", line: ls.mark?.line) }
            logsource.product = try string(lm["product"], "product")?.lowercased()
            logsource.category = try string(lm["category"], "category")?.lowercased()
            logsource.service = try string(lm["service"], "service")?.lowercased()
        }
        var tags: [String] = []
        if let t = map["tags"] {
            guard case .sequence(let seq) = t else { throw SigmaCompileError("'tags' must be a list", line: t.mark?.line) }
            for item in seq { if let s = try string(item, "tags") { tags.append(s) } }
        }
        var author = try? string(map["author"], "author")
        if author == nil, case .sequence(let seq)? = map["author"] {
            author = seq.compactMap { $0.string }.joined(separator: ", ")
        }
        let kind: SigmaDocument.Kind
        if map["correlation"] != nil {
            kind = .correlation
        } else if map["filter"] != nil {
            kind = .filter
        } else if map["detection"] != nil {
            kind = .detection
        } else {
            throw SigmaCompileError("no detection:, correlation: or filter: section", line: line)
        }
        return SigmaDocument(
            file: file, line: line, kind: kind, id: try string(map["id"], "id"), name: try string(map["name"], "name"),
            title: title, status: try string(map["status"], "status"), level: try string(map["level"], "level"),
            tags: tags, author: author ?? nil, logsource: logsource, detection: map["detection"],
            correlation: map["correlation"], filter: map["filter"], root: node)
    }
}

/// Rules that could not be loaded at all (a path that does not exist).
public struct SigmaLoadError: Error, CustomStringConvertible {
    public let diagnostics: [Diagnostic]
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
