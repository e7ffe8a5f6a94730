import Foundation
import SwiftmonCore
import SwiftmonRules
import Yams

/// A detection's condition over its leaves (rule-local leaf numbers).
public indirect enum SigmaExpr: Sendable {
    case leaf(Int)
    case and([SigmaExpr])
    case or([SigmaExpr])
    case not(SigmaExpr)
    case constant(Bool)
}

public enum SigmaComparison: String, Sendable { case gt, gte, lt, lte, eq }

public enum SigmaTimePart: String, Sendable, CaseIterable { case minute, hour, day, week, month, year }

/// One test of one field (or, for keywords, of every field) of an event.
public enum SigmaTest: Sendable {
    /// Wildcard pattern; folded unless the leaf is cased.
    case pattern(SigmaPattern)
    case regex(SigmaRegex)
    case cidr(SigmaCIDR)
    case compare(SigmaComparison, Double)
    /// The field's value against another field's: equal, or contains / starts / ends with it.
    case fieldRef(Int, FieldRefShape)
    case exists(Bool)
    /// `Field: null`: the field is absent or empty of a value.
    case null
    case timePart(SigmaTimePart, SigmaComparison, Double)
}

public enum FieldRefShape: Sendable { case equals, contains, startsWith, endsWith }

public struct SigmaLeaf: Sendable {
    /// Index in the event kind's fields; -1 for a keyword (any field).
    public let field: Int
    public let fieldName: String
    public let test: SigmaTest
    public let cased: Bool
    /// The substring-automaton pattern without which the leaf cannot match (-1: none).
    var gate: Int32 = -1
    /// True when the gate's hit alone decides the leaf (anchored literal patterns).
    var gateDecides = false
}

/// A detection (or filter) compiled for one event kind.
public struct SigmaDetection: Sendable {
    public var expr: SigmaExpr
    public var leaves: [SigmaLeaf]
}

/// Turns a document's `detection:` into leaves and a condition for one event kind.
public struct SigmaCompiler: Sendable {
    /// Values for `%name%` placeholders (`|expand`).
    public var placeholders: [String: [String]]

    public init(placeholders: [String: [String]] = [:]) { self.placeholders = placeholders }

    public func compile(detection node: Node, kind: EventKind) throws -> SigmaDetection {
        guard case .mapping(let map) = node else { throw SigmaCompileError("'detection' must be a mapping", line: node.mark?.line) }
        var leaves: [SigmaLeaf] = []
        var named: [(String, SigmaExpr)] = []
        var conditionNode: Node?
        for (key, value) in map {
            guard let name = key.string else { throw SigmaCompileError("detection keys are names", line: key.mark?.line) }
            if name == "condition" { conditionNode = value; continue }
            if name == "timeframe" {
                throw SigmaCompileError("'timeframe' with aggregations is Sigma 1; use a correlation rule", line: key.mark?.line)
            }
            named.append((name, try searchIdentifier(value, kind: kind, leaves: &leaves)))
        }
        guard let conditionNode else { throw SigmaCompileError("detection has no condition", line: map.mark?.line) }
        var conditions: [String] = []
        switch conditionNode {
        case .scalar(let s): conditions = [s.string]
        case .sequence(let seq): conditions = seq.compactMap(\.string)
        default: throw SigmaCompileError("condition must be text or a list of texts", line: conditionNode.mark?.line)
        }
        var exprs: [SigmaExpr] = []
        for text in conditions {
            do {
                var parser = SigmaConditionParser(text, names: named)
                exprs.append(try parser.parse())
            } catch var e as SigmaCompileError {
                e.line = e.line ?? conditionNode.mark?.line
                throw e
            }
        }
        return SigmaDetection(expr: exprs.count == 1 ? exprs[0] : .or(exprs), leaves: leaves)
    }

    func searchIdentifier(_ node: Node, kind: EventKind, leaves: inout [SigmaLeaf]) throws -> SigmaExpr {
        switch node {
        case .mapping(let map):
            return try selection(map, kind: kind, leaves: &leaves)
        case .sequence(let seq):
            if seq.isEmpty { throw SigmaCompileError("empty list", line: node.mark?.line) }
            if seq.allSatisfy({ if case .mapping = $0 { return true } else { return false } }) {
                return .or(try seq.map { n -> SigmaExpr in
                    guard case .mapping(let m) = n else { return .constant(false) }
                    return try selection(m, kind: kind, leaves: &leaves)
                })
            }
            // A plain list: keywords, searched in every field.
            return try item(field: "", modifiers: [], values: node, kind: kind, line: node.mark?.line, leaves: &leaves)
        case .scalar:
            return try item(field: "", modifiers: [], values: node, kind: kind, line: node.mark?.line, leaves: &leaves)
        case .alias:
            throw SigmaCompileError("YAML aliases are not supported in detections", line: node.mark?.line)
        }
    }

    func selection(_ map: Node.Mapping, kind: EventKind, leaves: inout [SigmaLeaf]) throws -> SigmaExpr {
        if map.isEmpty { throw SigmaCompileError("empty selection", line: map.mark?.line) }
        var parts: [SigmaExpr] = []
        for (key, value) in map {
            guard let text = key.string else { throw SigmaCompileError("field names are text", line: key.mark?.line) }
            let pieces = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            parts.append(try item(field: pieces[0], modifiers: Array(pieces.dropFirst()), values: value, kind: kind,
                                  line: key.mark?.line, leaves: &leaves))
        }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    static let modifierNames: Set<String> = Set([
        "contains", "startswith", "endswith", "all", "re", "i", "m", "s", "cidr", "base64", "base64offset",
        "utf16le", "utf16be", "utf16", "wide", "windash", "exists", "fieldref", "gt", "gte", "lt", "lte",
        "expand", "cased", "neq",
    ]).union(SigmaTimePart.allCases.map(\.rawValue))

    enum Shape { case equals, contains, startsWith, endsWith }
    enum Encoding { case utf16le, utf16be, utf16, base64, base64offset, windash, expand }

    func item(field: String, modifiers: [String], values: Node, kind: EventKind, line: Int?,
              leaves: inout [SigmaLeaf]) throws -> SigmaExpr {
        func fail(_ m: String) -> SigmaCompileError { SigmaCompileError(m, line: line) }
        var all = false, cased = false, neq = false
        var shape = Shape.equals
        var isRegex = false, isCIDR = false, isFieldRef = false, isExists = false
        var regexFlags = SigmaRegex.Flags()
        var comparison: SigmaComparison?
        var timePart: SigmaTimePart?
        var encodings: [Encoding] = []
        for m in modifiers {
            switch m {
            case "contains": shape = .contains
            case "startswith": shape = .startsWith
            case "endswith": shape = .endsWith
            case "all": all = true
            case "cased": cased = true
            case "neq": neq = true
            case "re": isRegex = true
            case "i", "m", "s":
                guard isRegex else { throw fail("modifier '\(m)' only follows 're'") }
                if m == "i" { regexFlags.caseInsensitive = true } else if m == "m" { regexFlags.multiLine = true } else { regexFlags.dotAll = true }
            case "cidr": isCIDR = true
            case "fieldref": isFieldRef = true
            case "exists": isExists = true
            case "gt", "gte", "lt", "lte": comparison = SigmaComparison(rawValue: m)
            case "base64": encodings.append(.base64)
            case "base64offset": encodings.append(.base64offset)
            case "utf16le", "wide": encodings.append(.utf16le)
            case "utf16be": encodings.append(.utf16be)
            case "utf16": encodings.append(.utf16)
            case "windash": encodings.append(.windash)
            case "expand": encodings.append(.expand)
            default:
                if let t = SigmaTimePart(rawValue: m) { timePart = t; continue }
                throw fail("unknown modifier '\(m)'")
            }
        }
        let fieldIndex: Int
        if field.isEmpty {
            fieldIndex = -1
            if shape == .equals { shape = .contains }  // keywords are found anywhere in a value
            if isFieldRef || isExists || comparison != nil || timePart != nil || isCIDR {
                throw fail("keywords take no field modifiers like \(modifiers.joined(separator: "|"))")
            }
        } else {
            guard let i = kind.index(of: field) else {
                throw fail("field \(field) is not in \(kind.name) events (EventID \(kind.id)); swiftmon cannot serve it")
            }
            fieldIndex = i
        }
        var valueNodes: [Node]
        switch values {
        case .sequence(let seq): valueNodes = Array(seq)
        case .scalar: valueNodes = [values]
        default: throw fail("a value must be text, a number, null or a list of them")
        }
        if valueNodes.isEmpty { throw fail("empty list of values") }
        var parts: [SigmaExpr] = []
        func add(_ test: SigmaTest, cased c: Bool = cased) {
            leaves.append(SigmaLeaf(field: fieldIndex, fieldName: field, test: test, cased: c))
            parts.append(.leaf(leaves.count - 1))
        }
        for v in valueNodes {
            guard case .scalar(let scalar) = v else { throw fail("nested lists or maps are not values") }
            if v.null != nil && scalar.style == .plain || (scalar.string.isEmpty && scalar.style == .plain) {
                if fieldIndex < 0 { throw fail("a keyword cannot be null") }
                add(.null)
                continue
            }
            let text = scalar.string
            if isExists {
                guard let b = v.bool else { throw fail("'exists' takes true or false") }
                add(.exists(b)); continue
            }
            if let comparison {
                guard let d = Double(text) else { throw fail("'\(comparison.rawValue)' takes a number, not \(text)") }
                if let timePart { add(.timePart(timePart, comparison, d)) } else { add(.compare(comparison, d)) }
                continue
            }
            if let timePart {
                guard let d = Double(text) else { throw fail("'\(timePart.rawValue)' takes a number") }
                add(.timePart(timePart, .eq, d)); continue
            }
            if isCIDR {
                guard let net = SigmaCIDR(text) else { throw fail("not a CIDR network: \(text)") }
                add(.cidr(net)); continue
            }
            if isRegex {
                do { add(.regex(try SigmaRegex(text, flags: regexFlags))) } catch { throw fail("regex \(text): \(error)") }
                continue
            }
            if isFieldRef {
                guard let other = kind.index(of: text) else {
                    throw fail("fieldref: field \(text) is not in \(kind.name) events")
                }
                let how: FieldRefShape = shape == .contains ? .contains : shape == .startsWith ? .startsWith : shape == .endsWith ? .endsWith : .equals
                add(.fieldRef(other, how)); continue
            }
            // Plain strings, through the encodings in the order written.
            var variants: [SigmaPattern] = [SigmaPattern(sigma: text)]
            for enc in encodings {
                var next: [SigmaPattern] = []
                for p in variants {
                    switch enc {
                    case .expand:
                        next += try expand(p.description, line: line).map { SigmaPattern(sigma: $0) }
                    case .windash:
                        guard let bytes = p.literalBytes else {
                            // Wildcards stay; only the literal pieces vary.
                            var expanded: [[SigmaPattern.Part]] = [[]]
                            for part in p.parts {
                                if case .literal(let b) = part {
                                    let forms = try SigmaEncoding.windash(b)
                                    expanded = expanded.flatMap { pre in forms.map { pre + [.literal($0)] } }
                                } else {
                                    expanded = expanded.map { $0 + [part] }
                                }
                                if expanded.count > 4096 { throw fail("windash: too many variants") }
                            }
                            next += expanded.map { SigmaPattern(parts: $0) }
                            continue
                        }
                        next += try SigmaEncoding.windash(bytes).map { SigmaPattern(literal: $0) }
                    default:
                        guard let bytes = p.literalBytes else {
                            throw fail("wildcards cannot be encoded (\(modifiers.joined(separator: "|")))")
                        }
                        switch enc {
                        case .utf16le: next.append(SigmaPattern(literal: SigmaEncoding.utf16(bytes, littleEndian: true)))
                        case .utf16be: next.append(SigmaPattern(literal: SigmaEncoding.utf16(bytes, littleEndian: false)))
                        case .utf16: next.append(SigmaPattern(literal: [0xFF, 0xFE] + SigmaEncoding.utf16(bytes, littleEndian: true)))
                        case .base64: next.append(SigmaPattern(literal: SigmaEncoding.base64(bytes)))
                        case .base64offset: next += SigmaEncoding.base64Offsets(bytes).map { SigmaPattern(literal: $0) }
                        default: break
                        }
                    }
                }
                variants = next
            }
            var alternatives: [SigmaExpr] = []
            for var p in variants {
                switch shape {
                case .equals: break
                case .contains: p = p.prefixed(.anyRun).suffixed(.anyRun)
                case .startsWith: p = p.suffixed(.anyRun)
                case .endsWith: p = p.prefixed(.anyRun)
                }
                leaves.append(SigmaLeaf(field: fieldIndex, fieldName: field, test: .pattern(cased ? p : p.folded()), cased: cased))
                alternatives.append(.leaf(leaves.count - 1))
            }
            parts.append(alternatives.count == 1 ? alternatives[0] : .or(alternatives))
        }
        var combined: SigmaExpr = parts.count == 1 ? parts[0] : (all ? .and(parts) : .or(parts))
        if neq { combined = .not(combined) }
        return combined
    }

    func expand(_ text: String, line: Int?) throws -> [String] {
        var results = [""]
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "%") {
            let afterOpen = rest.index(after: open)
            guard let close = rest[afterOpen...].firstIndex(of: "%") else { break }
            let name = String(rest[afterOpen..<close])
            guard let values = placeholders[name], !values.isEmpty else {
                throw SigmaCompileError("expand: placeholder %\(name)% has no values (give them with --sigma-placeholder)", line: line)
            }
            let prefix = String(rest[..<open])
            results = results.flatMap { r in values.map { r + prefix + $0 } }
            rest = rest[rest.index(after: close)...]
        }
        return results.map { $0 + rest }
    }
}
