import SwiftmonRules

/// A Sigma string value as bytes with wildcards: `*` any run, `?` one character.
/// `\*`, `\?` and `\\` are the literal characters; any other backslash is itself
/// (spec 2.1, "Escaping").
public struct SigmaPattern: Sendable, Hashable, CustomStringConvertible {
    public enum Part: Sendable, Hashable {
        case literal([UInt8])
        case anyRun
        case anyCharacter
    }

    public private(set) var parts: [Part]

    public init(parts: [Part]) {
        self.parts = []
        for p in parts { append(p) }
    }

    /// Parses the wildcards and escapes of a plain value.
    public init(sigma text: String) {
        var parts: [Part] = []
        var lit: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x5C, i + 1 < bytes.count, [0x2A, 0x3F, 0x5C].contains(bytes[i + 1]) {
                lit.append(bytes[i + 1]); i += 2; continue
            }
            if b == 0x2A || b == 0x3F {
                if !lit.isEmpty { parts.append(.literal(lit)); lit = [] }
                parts.append(b == 0x2A ? .anyRun : .anyCharacter)
            } else {
                lit.append(b)
            }
            i += 1
        }
        if !lit.isEmpty { parts.append(.literal(lit)) }
        self.init(parts: parts)
    }

    /// A value taken literally (no wildcards): encodings' output, field names.
    public init(literal bytes: [UInt8]) { self.init(parts: bytes.isEmpty ? [] : [.literal(bytes)]) }

    mutating func append(_ p: Part) {
        switch (parts.last, p) {
        case (.literal(let a)?, .literal(let b)): parts[parts.count - 1] = .literal(a + b)
        case (.anyRun?, .anyRun): break
        case (_, .literal(let b)) where b.isEmpty: break
        default: parts.append(p)
        }
    }

    public var hasWildcards: Bool { parts.contains { if case .literal = $0 { return false } else { return true } } }

    /// The bytes when the value has no wildcards.
    public var literalBytes: [UInt8]? {
        if parts.isEmpty { return [] }
        guard parts.count == 1, case .literal(let b) = parts[0] else { return nil }
        return b
    }

    public func prefixed(_ p: Part) -> SigmaPattern { SigmaPattern(parts: [p] + parts) }
    public func suffixed(_ p: Part) -> SigmaPattern { SigmaPattern(parts: parts + [p]) }

    /// The same pattern with every literal lower-cased as event values are.
    public func folded() -> SigmaPattern {
        SigmaPattern(parts: parts.map {
            if case .literal(let b) = $0 { return .literal(CaseFolding.fold(String(decoding: b, as: UTF8.self))) }
            return $0
        })
    }

    public var description: String {
        parts.map { p -> String in
            switch p {
            case .literal(let b):
                return String(decoding: b, as: UTF8.self).replacingAll("\\", "\\\\").replacingAll("*", "\\*").replacingAll("?", "\\?")
            case .anyRun: return "*"
            case .anyCharacter: return "?"
            }
        }.joined()
    }

    /// The longest literal: a value can only match when it contains it.
    var longestLiteral: [UInt8]? {
        var best: [UInt8]? = nil
        for case .literal(let b) in parts where b.count > (best?.count ?? 0) { best = b }
        return best
    }

    /// Whether `value` (already folded when the pattern is) matches the whole pattern.
    public func matches(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        Self.match(parts[...], value, 0)
    }

    private static func match(_ parts: ArraySlice<Part>, _ v: UnsafeBufferPointer<UInt8>, _ start: Int) -> Bool {
        var pi = parts.startIndex
        var i = start
        while pi < parts.endIndex {
            switch parts[pi] {
            case .literal(let b):
                guard v.count - i >= b.count else { return false }
                for k in 0..<b.count where v[i + k] != b[k] { return false }
                i += b.count
            case .anyCharacter:
                guard i < v.count else { return false }
                i += utf8Length(v[i])
            case .anyRun:
                let rest = parts[(pi + 1)...]
                if rest.isEmpty { return true }
                // Try each position; the first literal after the run narrows the candidates.
                var j = i
                while j <= v.count {
                    if case .literal(let b)? = rest.first {
                        guard let found = find(b, in: v, from: j) else { return false }
                        j = found
                    }
                    if match(rest, v, j) { return true }
                    if j == v.count { break }
                    j += 1
                }
                return false
            }
            pi += 1
        }
        return i == v.count
    }

    @inline(__always)
    static func utf8Length(_ b: UInt8) -> Int { b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4 }

    static func find(_ needle: [UInt8], in v: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard !needle.isEmpty else { return from }
        var i = from
        let first = needle[0]
        while i + needle.count <= v.count {
            if v[i] == first {
                var k = 1
                while k < needle.count && v[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}

extension String {
    func replacingAll(_ a: String, _ b: String) -> String {
        guard contains(a) else { return self }
        return components(separatedBy: a).joined(separator: b)
    }
}

/// The encoding modifiers of spec 2.1, on a value's bytes.
enum SigmaEncoding {
    static func utf16(_ bytes: [UInt8], littleEndian: Bool) -> [UInt8] {
        var out: [UInt8] = []
        for unit in String(decoding: bytes, as: UTF8.self).utf16 {
            let lo = UInt8(unit & 0xFF), hi = UInt8(unit >> 8)
            out += littleEndian ? [lo, hi] : [hi, lo]
        }
        return out
    }

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func base64(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let n = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(i + 1 < bytes.count ? alphabet[Int(n >> 6 & 63)] : 0x3D)
            out.append(i + 2 < bytes.count ? alphabet[Int(n & 63)] : 0x3D)
            i += 3
        }
        return out
    }

    /// The three shifted encodings of a value that may sit anywhere in a base64
    /// text, each without the characters that depend on its neighbours.
    static func base64Offsets(_ bytes: [UInt8]) -> [[UInt8]] {
        let startOffsets = [0, 2, 3]
        let endOffsets: [Int?] = [nil, -3, -2]
        return (0..<3).map { shift in
            let encoded = base64(Array(repeating: 0x20, count: shift) + bytes)
            let start = startOffsets[shift]
            let endTrim = endOffsets[(bytes.count + shift) % 3]
            let end = endTrim.map { encoded.count + $0 } ?? encoded.count
            return end > start ? Array(encoded[start..<end]) : []
        }
    }

    static let dashes: [[UInt8]] = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"].map { Array($0.utf8) }

    /// Every spelling of a command-line flag's dash: `-`, `/`, en dash, em dash,
    /// horizontal bar, at each `-`/`/` that starts a word.
    static func windash(_ bytes: [UInt8]) throws -> [[UInt8]] {
        func isWord(_ b: UInt8) -> Bool { SigmaRegex.isWord(UInt32(b)) || b >= 0x80 }
        var positions: [Int] = []
        for (i, b) in bytes.enumerated() where (b == 0x2D || b == 0x2F)
            && (i == 0 || !isWord(bytes[i - 1])) && i + 1 < bytes.count && isWord(bytes[i + 1]) {
            positions.append(i)
        }
        if positions.isEmpty { return [bytes] }
        guard positions.count <= 5 else { throw SigmaCompileError("windash: more than 5 dashes in one value") }
        var out: [[UInt8]] = []
        var choice = Array(repeating: 0, count: positions.count)
        while true {
            var v: [UInt8] = []
            var last = 0
            for (k, p) in positions.enumerated() {
                v += bytes[last..<p]
                v += dashes[choice[k]]
                last = p + 1
            }
            v += bytes[last...]
            out.append(v)
            var k = 0
            while k < choice.count {
                choice[k] += 1
                if choice[k] < dashes.count { break }
                choice[k] = 0
                k += 1
            }
            if k == choice.count { break }
        }
        return out
    }
}

/// An error in one rule, before its location is known.
struct SigmaCompileError: Error, CustomStringConvertible {
    let message: String
    var line: Int?
    init(_ message: String, line: Int? = nil) { self.message = message; self.line = line }
    var description: String { message }
}
