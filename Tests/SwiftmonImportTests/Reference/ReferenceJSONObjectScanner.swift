// The line parser as it was before it was rewritten for speed (commit ceb6aae),
// kept unchanged but for its names as the oracle of ParserDifferentialTests:
// the new parser must produce field-for-field the same events, hosts, record
// ids, times and malformed reasons. Not used by swiftmon itself.
/// Reads one flat JSON object — string keys, string or number values — as
/// swiftmon's `--format json` writes it. Strings are unescaped into their UTF-8
/// bytes; `\udc80`…`\udcff` (the surrogate escapes swiftmon writes for bytes
/// that are not UTF-8) become those bytes again. Nested objects and arrays
/// are refused: no Sysmon field holds one.
struct ReferenceJSONScanner {
    let bytes: UnsafeRawBufferPointer
    var i = 0
    var first = true

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    static let eventIDKey = Array("EventID".utf8)
    static let eventNameKey = Array("EventName".utf8)
    static let computerKey = Array("Computer".utf8)
    static let hostKey = Array("Host".utf8)

    mutating func skipSpace() {
        while i < bytes.count, ReferenceXMLScanner.isSpace(bytes[i]) { i += 1 }
    }

    mutating func expect(_ b: UInt8, _ what: String) throws {
        skipSpace()
        guard i < bytes.count, bytes[i] == b else {
            throw ReferenceSyntaxError(i < bytes.count ? "expected \(what) at byte \(i)" : "the JSON object is cut short")
        }
        i += 1
    }

    mutating func begin() throws { try expect(UInt8(ascii: "{"), "'{'") }

    /// The next key, or nil at the closing brace.
    mutating func nextKey() throws -> [UInt8]? {
        skipSpace()
        guard i < bytes.count else { throw ReferenceSyntaxError("the JSON object is cut short") }
        if bytes[i] == UInt8(ascii: "}") { i += 1; return nil }
        if !first { try expect(UInt8(ascii: ","), "',' or '}'") ; skipSpace() }
        first = false
        guard i < bytes.count, bytes[i] == 0x22 else { throw ReferenceSyntaxError("expected a key at byte \(i)") }
        return try string()
    }

    mutating func value() throws -> [UInt8] {
        try expect(UInt8(ascii: ":"), "':'")
        skipSpace()
        guard i < bytes.count else { throw ReferenceSyntaxError("the JSON object is cut short") }
        switch bytes[i] {
        case 0x22: return try string()
        case UInt8(ascii: "{"), UInt8(ascii: "["): throw ReferenceSyntaxError("a nested object or array at byte \(i)")
        default:
            let start = i
            while i < bytes.count, bytes[i] != UInt8(ascii: ","), bytes[i] != UInt8(ascii: "}"), !ReferenceXMLScanner.isSpace(bytes[i]) { i += 1 }
            let literal = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
            if literal == Array("null".utf8) { return Array("-".utf8) }
            guard !literal.isEmpty, literal.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
                || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") || $0 == UInt8(ascii: "+") })
                || literal == Array("true".utf8) || literal == Array("false".utf8)
            else { throw ReferenceSyntaxError("a value that is not JSON at byte \(start)") }
            return literal
        }
    }

    mutating func finish() throws {
        skipSpace()
        guard i == bytes.count else { throw ReferenceSyntaxError("text after the JSON object at byte \(i)") }
    }

    static func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case 0x30...0x39: return UInt32(b - 0x30)
        case 0x41...0x46: return UInt32(b - 0x41 + 10)
        case 0x61...0x66: return UInt32(b - 0x61 + 10)
        default: return nil
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw ReferenceSyntaxError("a \\u escape is cut short") }
        var v: UInt32 = 0
        for k in 0..<4 {
            guard let d = ReferenceJSONScanner.hexValue(bytes[i + k]) else { throw ReferenceSyntaxError("a bad \\u escape at byte \(i)") }
            v = v << 4 | d
        }
        i += 4
        return v
    }

    /// A string at `i` (the opening quote), unescaped.
    mutating func string() throws -> [UInt8] {
        i += 1
        var out: [UInt8] = []
        var runStart = i
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x22 {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
                i += 1
                return out
            }
            if b < 0x20 { throw ReferenceSyntaxError("a control character inside a string at byte \(i)") }
            guard b == 0x5C else { i += 1; continue }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
            i += 1
            guard i < bytes.count else { break }
            let e = bytes[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                let unit = try hex4()
                if unit >= 0xDC80 && unit <= 0xDCFF {
                    out.append(UInt8(unit - 0xDC00))  // a byte that was not UTF-8
                } else if unit >= 0xD800 && unit <= 0xDBFF, i + 6 <= bytes.count, bytes[i] == 0x5C, bytes[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low <= 0xDFFF, let s = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)) else {
                        throw ReferenceSyntaxError("a broken surrogate pair at byte \(i)")
                    }
                    out.append(contentsOf: Array(String(Character(s)).utf8))
                } else if let s = Unicode.Scalar(unit) {
                    out.append(contentsOf: Array(String(Character(s)).utf8))
                } else {
                    throw ReferenceSyntaxError("a lone surrogate at byte \(i)")
                }
            default:
                throw ReferenceSyntaxError("an unknown escape at byte \(i - 1)")
            }
            runStart = i
        }
        throw ReferenceSyntaxError("a string without its closing quote")
    }
}
