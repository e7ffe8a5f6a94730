#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a name or value of one event sits: in the line itself (nothing to
/// decode: the common case, no copy) or, decoded, in the parser's scratch
/// bytes (``SysmonLineParser``'s arena).
struct Span {
    var start: Int
    var end: Int
    var decoded: Bool

    static let empty = Span(start: 0, end: 0, decoded: false)
    var count: Int { end - start }
}

/// A forward-only scanner over one `<Event>` document: tags, attributes and
/// text with XML's five entities and character references decoded. It knows
/// only what a Sysmon event needs (no DTD, no namespaces beyond ignoring
/// prefixes' meaning); anything it cannot read is an ``ImportSyntaxError``
/// naming what, never a crash. Names are positions in the line, so tags the
/// import does not need cost no allocation.
///
/// Hot path of `swiftmon import` (once per tag of every event): it reads the
/// line through a raw pointer (no optional base, no bounds checks beyond its
/// own `i < n`), finds `<`, `>` and `&` with memchr, and decodes text into the
/// parser's reused arena only where an `&` or a CDATA section occurs.
struct XMLScanner {
    let p: UnsafePointer<UInt8>
    let n: Int
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        n = bytes.count
        p = bytes.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? XMLScanner.nothing
    }

    /// A valid address for an empty line.
    nonisolated(unsafe) static let nothing: UnsafePointer<UInt8> = {
        let one = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        one.initialize(to: 0)
        return UnsafePointer(one)
    }()

    enum Token {
        /// A start tag: its name and the bytes of its attributes (positions in the line).
        case open(name: Range<Int>, attributes: Range<Int>, selfClosing: Bool)
        case close
        case text
        case end
    }

    @inline(__always)
    func equals(_ range: Range<Int>, _ name: StaticString) -> Bool {
        range.count == name.utf8CodeUnitCount && memcmp(p + range.lowerBound, name.utf8Start, range.count) == 0
    }

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    @inline(__always)
    static func isNameByte(_ b: UInt8) -> Bool {
        !(isSpace(b) || b == UInt8(ascii: "/") || b == UInt8(ascii: ">") || b == UInt8(ascii: "=") || b == UInt8(ascii: "<"))
    }

    /// The first `byte` at or after `from` (before `n`), or nil.
    @inline(__always)
    func find(_ byte: UInt8, from: Int) -> Int? {
        guard from < n, let hit = memchr(p + from, Int32(byte), n - from) else { return nil }
        return UnsafeRawPointer(hit) - UnsafeRawPointer(p)
    }

    mutating func next() throws -> Token {
        guard i < n else { return .end }
        if p[i] != UInt8(ascii: "<") {
            i = find(UInt8(ascii: "<"), from: i) ?? n
            return .text
        }
        i += 1
        guard i < n else { throw ImportSyntaxError("the line ends inside a tag") }
        switch p[i] {
        case UInt8(ascii: "/"):
            guard let gt = find(UInt8(ascii: ">"), from: i + 1) else { throw ImportSyntaxError("the line ends inside an end tag") }
            i = gt + 1
            return .close
        case UInt8(ascii: "?"):
            try skip(past: "?>", what: "a processing instruction")
            return .text
        case UInt8(ascii: "!"):
            if hasPrefix("!--") {
                try skip(past: "-->", what: "a comment")
            } else {
                try skip(past: ">", what: "a declaration")
            }
            return .text
        default:
            // Locals, not `i`: the loops then run in registers.
            let nameStart = i
            var j = i
            while j < n, XMLScanner.isNameByte(p[j]) { j += 1 }
            let name = nameStart..<j
            guard !name.isEmpty else { throw ImportSyntaxError("a tag without a name at byte \(nameStart)") }
            let attributesStart = j
            // To the '>' that is not inside a quoted value; a '<' outside one is an error.
            while j < n {
                let b = p[j]
                if b == UInt8(ascii: ">") { break }
                if b == 0x22 || b == 0x27 {
                    guard let close = memchr(p + j + 1, Int32(b), n - j - 1) else { j = n; break }
                    j = UnsafeRawPointer(close) - UnsafeRawPointer(p) + 1
                    continue
                }
                if b == UInt8(ascii: "<") {
                    i = j
                    throw ImportSyntaxError("'<' inside the tag \(String(decoding: UnsafeBufferPointer(start: p + name.lowerBound, count: name.count), as: UTF8.self))")
                }
                j += 1
            }
            i = j
            guard i < n else { throw ImportSyntaxError("the line ends inside a tag") }
            let selfClosing = i > attributesStart && p[i - 1] == UInt8(ascii: "/")
            let attributes = attributesStart..<(selfClosing ? i - 1 : i)
            i += 1
            return .open(name: name, attributes: attributes, selfClosing: selfClosing)
        }
    }

    @inline(__always)
    func hasPrefix(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        return n - i >= count && memcmp(p + i, text.utf8Start, count) == 0
    }

    /// Where `needle` first occurs at or after `from`, or nil.
    func find(_ needle: StaticString, from: Int) -> Int? {
        XMLScanner.find(needle, in: p, n, from: from)
    }

    /// Where `needle` first occurs in `p[from..<n]` (memchr for its first
    /// byte, then memcmp; Glibc's module has no memmem), or nil.
    static func find(_ needle: StaticString, in p: UnsafePointer<UInt8>, _ n: Int, from: Int) -> Int? {
        let count = needle.utf8CodeUnitCount
        let first = Int32(needle.utf8Start[0])
        var at = from
        while n - at >= count {
            guard let hit = memchr(p + at, first, n - at - count + 1) else { return nil }
            at = UnsafeRawPointer(hit) - UnsafeRawPointer(p)
            if memcmp(p + at, needle.utf8Start, count) == 0 { return at }
            at += 1
        }
        return nil
    }

    mutating func skip(past terminator: StaticString, what: String) throws {
        guard let at = find(terminator, from: i) else { throw ImportSyntaxError("the line ends inside \(what)") }
        i = at + terminator.utf8CodeUnitCount
    }

    /// The value of attribute `name` among `range`, decoded into `arena`
    /// (its span there), or nil.
    func attribute(_ name: StaticString, in range: Range<Int>, into arena: inout [UInt8]) throws -> Span? {
        guard let value = try attributeRange(name, in: range) else { return nil }
        let start = arena.count
        XMLScanner.appendDecoded(p + value.lowerBound, value.count, to: &arena)
        return Span(start: start, end: arena.count, decoded: true)
    }

    /// The text of the element just opened, up to its end tag, decoded
    /// (entities, character references, CDATA sections; comments skipped)
    /// and appended to `out`.
    mutating func textUntilClose(_ name: Range<Int>, into out: inout [UInt8]) throws {
        while true {
            let start = i
            i = find(UInt8(ascii: "<"), from: i) ?? n
            if i > start { XMLScanner.appendDecoded(p + start, i - start, to: &out) }
            guard i < n else { throw ImportSyntaxError("the line ends inside <\(text(name))>") }
            if hasPrefix("<![CDATA[") {
                i += 9
                guard let at = find("]]>", from: i) else {
                    throw ImportSyntaxError("the line ends inside a CDATA section")
                }
                out.append(contentsOf: UnsafeBufferPointer(start: p + i, count: at - i))
                i = at + 3
            } else if hasPrefix("<!--") {
                try skip(past: "-->", what: "a comment")
            } else if hasPrefix("</") {
                i += 2
                let closeStart = i
                while i < n, XMLScanner.isNameByte(p[i]) { i += 1 }
                guard sameBytes(closeStart..<i, name) else {
                    throw ImportSyntaxError("</\(text(closeStart..<i))> closes <\(text(name))>")
                }
                guard let gt = find(UInt8(ascii: ">"), from: i) else { throw ImportSyntaxError("the line ends inside an end tag") }
                i = gt + 1
                return
            } else {
                throw ImportSyntaxError("an element inside <\(text(name))>")
            }
        }
    }

    @inline(__always)
    func sameBytes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        a.count == b.count && memcmp(p + a.lowerBound, p + b.lowerBound, a.count) == 0
    }

    /// Where the value of attribute `name` sits, undecoded (names hold no
    /// references; ``attribute(_:in:into:)`` decodes).
    func attributeRange(_ name: StaticString, in range: Range<Int>) throws -> Range<Int>? {
        var j = range.lowerBound
        let end = range.upperBound
        // The usual `<Data Name="…">`: the attribute first, after one space, quoted.
        let nameCount = name.utf8CodeUnitCount
        if end - j >= nameCount + 3, p[j] == 0x20, memcmp(p + j + 1, name.utf8Start, nameCount) == 0,
           p[j + 1 + nameCount] == UInt8(ascii: "="), p[j + 2 + nameCount] == 0x22 || p[j + 2 + nameCount] == 0x27 {
            let valueStart = j + 3 + nameCount
            if let close = memchr(p + valueStart, Int32(p[j + 2 + nameCount]), end - valueStart) {
                return valueStart..<(UnsafeRawPointer(close) - UnsafeRawPointer(p))
            }
        }
        while j < end {
            while j < end, XMLScanner.isSpace(p[j]) { j += 1 }
            let nameStart = j
            while j < end, XMLScanner.isNameByte(p[j]) { j += 1 }
            let attributeName = nameStart..<j
            while j < end, XMLScanner.isSpace(p[j]) { j += 1 }
            guard j < end, p[j] == UInt8(ascii: "="), !attributeName.isEmpty else {
                if attributeName.isEmpty, j >= end { return nil }
                throw ImportSyntaxError("an attribute without a value")
            }
            j += 1
            while j < end, XMLScanner.isSpace(p[j]) { j += 1 }
            guard j < end, p[j] == 0x22 || p[j] == 0x27 else {
                throw ImportSyntaxError("an attribute value without quotes")
            }
            let quote = p[j]
            j += 1
            let valueStart = j
            while j < end, p[j] != quote { j += 1 }
            guard j < end else { throw ImportSyntaxError("an attribute value without its closing quote") }
            if equals(attributeName, name) { return valueStart..<j }
            j += 1
        }
        return nil
    }

    /// The element's text: where it sits in the line when it is one run
    /// without references (the common case: no copy), else decoded into `arena`.
    mutating func valueUntilClose(_ name: Range<Int>, into arena: inout [UInt8]) throws -> Span {
        let start = i
        if let lt = find(UInt8(ascii: "<"), from: i), memchr(p + i, Int32(UInt8(ascii: "&")), lt - i) == nil,
           lt + 1 < n, p[lt + 1] == UInt8(ascii: "/") {
            var k = lt + 2
            let closeStart = k
            while k < n, XMLScanner.isNameByte(p[k]) { k += 1 }
            if sameBytes(closeStart..<k, name), k < n, p[k] == UInt8(ascii: ">") {
                i = k + 1
                return Span(start: start, end: lt, decoded: false)
            }
        }
        let from = arena.count
        try textUntilClose(name, into: &arena)
        return Span(start: from, end: arena.count, decoded: true)
    }

    func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(start: p + range.lowerBound, count: min(range.count, 64)), as: UTF8.self)
    }

    /// Appends `raw` with `&amp; &lt; &gt; &quot; &apos; &#N; &#xN;` decoded. An
    /// `&` that starts none of them is kept as it is (the value is not lost).
    static func appendDecoded(_ raw: UnsafePointer<UInt8>, _ count: Int, to out: inout [UInt8]) {
        var j = 0
        var runStart = 0
        while j < count {
            guard let hit = memchr(raw + j, Int32(UInt8(ascii: "&")), count - j) else { break }
            j = UnsafeRawPointer(hit) - UnsafeRawPointer(raw)
            var semicolon = j + 1
            while semicolon < count, semicolon - j <= 12, raw[semicolon] != UInt8(ascii: ";") { semicolon += 1 }
            guard semicolon < count, raw[semicolon] == UInt8(ascii: ";") else { j += 1; continue }
            var scalar: UInt32 = 0
            guard decodeReference(raw + j + 1, semicolon - j - 1, &scalar) else { j += 1; continue }
            out.append(contentsOf: UnsafeBufferPointer(start: raw + runStart, count: j - runStart))
            appendUTF8(scalar, to: &out)
            j = semicolon + 1
            runStart = j
        }
        out.append(contentsOf: UnsafeBufferPointer(start: raw + runStart, count: count - runStart))
    }

    /// The scalar a reference's name (between `&` and `;`) stands for: the five
    /// entities, `#N`, `#xN` (an optional `+`, at most 8 characters after `#`,
    /// not NUL, not a surrogate); false for anything else.
    static func decodeReference(_ name: UnsafePointer<UInt8>, _ count: Int, _ scalar: inout UInt32) -> Bool {
        func named(_ text: StaticString) -> Bool {
            count == text.utf8CodeUnitCount && memcmp(name, text.utf8Start, count) == 0
        }
        if named("amp") { scalar = 0x26; return true }
        if named("lt") { scalar = 0x3C; return true }
        if named("gt") { scalar = 0x3E; return true }
        if named("quot") { scalar = 0x22; return true }
        if named("apos") { scalar = 0x27; return true }
        guard count >= 2, name[0] == UInt8(ascii: "#") else { return false }
        let hex = name[1] == UInt8(ascii: "x") || name[1] == UInt8(ascii: "X")
        var k = hex ? 2 : 1
        // As UInt32(text, radix:) reads it: an optional sign, then digits;
        // "-0" is 0 (refused below), any other negative number is nothing.
        let digitsCount = count - k
        guard digitsCount >= 1, digitsCount <= 8 else { return false }
        var negative = false
        if name[k] == UInt8(ascii: "+") || name[k] == UInt8(ascii: "-") {
            negative = name[k] == UInt8(ascii: "-")
            k += 1
            guard k < count else { return false }
        }
        var value: UInt32 = 0
        while k < count {
            let b = name[k]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46 where hex: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66 where hex: d = UInt32(b - 0x61 + 10)
            default: return false
            }
            value = value * (hex ? 16 : 10) + d  // at most 8 digits: no overflow in hex; decimal below 10^8
            k += 1
        }
        guard !negative || value == 0 else { return false }
        guard value != 0, Unicode.Scalar(value) != nil else { return false }
        scalar = value
        return true
    }

    /// Appends the UTF-8 encoding of a valid scalar.
    @inline(__always)
    static func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
        switch v {
        case 0..<0x80:
            out.append(UInt8(v))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | v >> 6)); out.append(UInt8(0x80 | v & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | v >> 12)); out.append(UInt8(0x80 | v >> 6 & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
        default:
            out.append(UInt8(0xF0 | v >> 18)); out.append(UInt8(0x80 | v >> 12 & 0x3F))
            out.append(UInt8(0x80 | v >> 6 & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
        }
    }
}
