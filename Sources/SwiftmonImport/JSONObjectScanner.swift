#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads one flat JSON object — string keys, string or number values — as
/// swiftmon's `--format json` writes it. Strings are unescaped into their UTF-8
/// bytes; `\udc80`…`\udcff` (the surrogate escapes swiftmon writes for bytes
/// that are not UTF-8) become those bytes again. Nested objects and arrays
/// are refused: no Sysmon field holds one.
///
/// Keys and values come back as ``Span``s: a string without escapes (nearly
/// all of them) is where it sits in the line; one with escapes, and `null`
/// (`-`), is decoded into the parser's arena.
struct JSONObjectScanner {
    let p: UnsafePointer<UInt8>
    let n: Int
    var i = 0
    var first = true

    init(_ bytes: UnsafeRawBufferPointer) {
        n = bytes.count
        p = bytes.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? XMLScanner.nothing
    }

    mutating func skipSpace() {
        while i < n, XMLScanner.isSpace(p[i]) { i += 1 }
    }

    mutating func expect(_ b: UInt8, _ what: String) throws {
        skipSpace()
        guard i < n, p[i] == b else {
            throw ImportSyntaxError(i < n ? "expected \(what) at byte \(i)" : "the JSON object is cut short")
        }
        i += 1
    }

    mutating func begin() throws { try expect(UInt8(ascii: "{"), "'{'") }

    /// The next key, or nil at the closing brace.
    mutating func nextKey(into arena: inout [UInt8]) throws -> Span? {
        skipSpace()
        guard i < n else { throw ImportSyntaxError("the JSON object is cut short") }
        if p[i] == UInt8(ascii: "}") { i += 1; return nil }
        if !first { try expect(UInt8(ascii: ","), "',' or '}'") ; skipSpace() }
        first = false
        guard i < n, p[i] == 0x22 else { throw ImportSyntaxError("expected a key at byte \(i)") }
        return try string(into: &arena)
    }

    mutating func value(into arena: inout [UInt8]) throws -> Span {
        try expect(UInt8(ascii: ":"), "':'")
        skipSpace()
        guard i < n else { throw ImportSyntaxError("the JSON object is cut short") }
        switch p[i] {
        case 0x22: return try string(into: &arena)
        case UInt8(ascii: "{"), UInt8(ascii: "["): throw ImportSyntaxError("a nested object or array at byte \(i)")
        default:
            let start = i
            while i < n, p[i] != UInt8(ascii: ","), p[i] != UInt8(ascii: "}"), !XMLScanner.isSpace(p[i]) { i += 1 }
            let literal = UnsafeBufferPointer(start: p + start, count: i - start)
            if literal.elementsEqual("null".utf8) {
                arena.append(UInt8(ascii: "-"))
                return Span(start: arena.count - 1, end: arena.count, decoded: true)
            }
            guard !literal.isEmpty, literal.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
                || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") || $0 == UInt8(ascii: "+") })
                || literal.elementsEqual("true".utf8) || literal.elementsEqual("false".utf8)
            else { throw ImportSyntaxError("a value that is not JSON at byte \(start)") }
            return Span(start: start, end: i, decoded: false)
        }
    }

    mutating func finish() throws {
        skipSpace()
        guard i == n else { throw ImportSyntaxError("text after the JSON object at byte \(i)") }
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
        guard i + 4 <= n else { throw ImportSyntaxError("a \\u escape is cut short") }
        var v: UInt32 = 0
        for k in 0..<4 {
            guard let d = JSONObjectScanner.hexValue(p[i + k]) else { throw ImportSyntaxError("a bad \\u escape at byte \(i)") }
            v = v << 4 | d
        }
        i += 4
        return v
    }

    /// A string at `i` (the opening quote): its span in the line when it has
    /// no escape, else unescaped into `arena`.
    mutating func string(into arena: inout [UInt8]) throws -> Span {
        i += 1
        let start = i
        while i < n {
            let b = p[i]
            if b == 0x22 {
                i += 1
                return Span(start: start, end: i - 1, decoded: false)
            }
            if b < 0x20 { throw ImportSyntaxError("a control character inside a string at byte \(i)") }
            if b == 0x5C { break }
            i += 1
        }
        guard i < n else { throw ImportSyntaxError("a string without its closing quote") }
        // An escape: decode the whole string into the arena.
        let from = arena.count
        arena.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
        var runStart = i
        while i < n {
            let b = p[i]
            if b == 0x22 {
                arena.append(contentsOf: UnsafeBufferPointer(start: p + runStart, count: i - runStart))
                i += 1
                return Span(start: from, end: arena.count, decoded: true)
            }
            if b < 0x20 { throw ImportSyntaxError("a control character inside a string at byte \(i)") }
            guard b == 0x5C else { i += 1; continue }
            arena.append(contentsOf: UnsafeBufferPointer(start: p + runStart, count: i - runStart))
            i += 1
            guard i < n else { break }
            let e = p[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: arena.append(e)
            case UInt8(ascii: "n"): arena.append(0x0A)
            case UInt8(ascii: "r"): arena.append(0x0D)
            case UInt8(ascii: "t"): arena.append(0x09)
            case UInt8(ascii: "b"): arena.append(0x08)
            case UInt8(ascii: "f"): arena.append(0x0C)
            case UInt8(ascii: "u"):
                let unit = try hex4()
                if unit >= 0xDC80 && unit <= 0xDCFF {
                    arena.append(UInt8(unit - 0xDC00))  // a byte that was not UTF-8
                } else if unit >= 0xD800 && unit <= 0xDBFF, i + 6 <= n, p[i] == 0x5C, p[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low <= 0xDFFF, Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)) != nil else {
                        throw ImportSyntaxError("a broken surrogate pair at byte \(i)")
                    }
                    XMLScanner.appendUTF8(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), to: &arena)
                } else if Unicode.Scalar(unit) != nil {
                    XMLScanner.appendUTF8(unit, to: &arena)
                } else {
                    throw ImportSyntaxError("a lone surrogate at byte \(i)")
                }
            default:
                throw ImportSyntaxError("an unknown escape at byte \(i - 1)")
            }
            runStart = i
        }
        throw ImportSyntaxError("a string without its closing quote")
    }
}
