// The line parser as it was before it was rewritten for speed (commit ceb6aae),
// kept unchanged but for its names as the oracle of ParserDifferentialTests:
// the new parser must produce field-for-field the same events, hosts, record
// ids, times and malformed reasons. Not used by swiftmon itself.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A forward-only scanner over one `<Event>` document: tags, attributes and
/// text with XML's five entities and character references decoded. It knows
/// only what a Sysmon event needs (no DTD, no namespaces beyond ignoring
/// prefixes' meaning); anything it cannot read is an ``ReferenceSyntaxError``
/// naming what, never a crash. Names are positions in the line, so tags the
/// import does not need cost no allocation.
struct ReferenceXMLScanner {
    let bytes: UnsafeRawBufferPointer
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    enum Token {
        /// A start tag: its name and the bytes of its attributes (positions in the line).
        case open(name: Range<Int>, attributes: Range<Int>, selfClosing: Bool)
        case close
        case text
        case end
    }

    static let eventTag = Array("Event".utf8)
    static let dataTag = Array("Data".utf8)
    static let eventIDTag = Array("EventID".utf8)
    static let computerTag = Array("Computer".utf8)
    static let recordIDTag = Array("EventRecordID".utf8)
    static let timeCreatedTag = Array("TimeCreated".utf8)
    static let nameAttribute = Array("Name".utf8)
    static let systemTimeAttribute = Array("SystemTime".utf8)

    func equals(_ range: Range<Int>, _ name: [UInt8]) -> Bool {
        guard range.count == name.count else { return false }
        var k = 0
        for j in range {
            if bytes[j] != name[k] { return false }
            k += 1
        }
        return true
    }

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    @inline(__always)
    static func isNameByte(_ b: UInt8) -> Bool {
        !(isSpace(b) || b == UInt8(ascii: "/") || b == UInt8(ascii: ">") || b == UInt8(ascii: "=") || b == UInt8(ascii: "<"))
    }

    mutating func next() throws -> Token {
        guard i < bytes.count else { return .end }
        if bytes[i] != UInt8(ascii: "<") {
            while i < bytes.count, bytes[i] != UInt8(ascii: "<") { i += 1 }
            return .text
        }
        i += 1
        guard i < bytes.count else { throw ReferenceSyntaxError("the line ends inside a tag") }
        switch bytes[i] {
        case UInt8(ascii: "/"):
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: ">") { i += 1 }
            guard i < bytes.count else { throw ReferenceSyntaxError("the line ends inside an end tag") }
            i += 1
            return .close
        case UInt8(ascii: "?"):
            try skip(past: Array("?>".utf8), what: "a processing instruction")
            return .text
        case UInt8(ascii: "!"):
            if hasPrefix("!--") {
                try skip(past: Array("-->".utf8), what: "a comment")
            } else {
                try skip(past: [UInt8(ascii: ">")], what: "a declaration")
            }
            return .text
        default:
            let nameStart = i
            while i < bytes.count, ReferenceXMLScanner.isNameByte(bytes[i]) { i += 1 }
            let name = nameStart..<i
            guard !name.isEmpty else { throw ReferenceSyntaxError("a tag without a name at byte \(nameStart)") }
            let attributesStart = i
            var quote: UInt8 = 0
            while i < bytes.count {
                let b = bytes[i]
                if quote != 0 {
                    if b == quote { quote = 0 }
                } else if b == 0x22 || b == 0x27 {
                    quote = b
                } else if b == UInt8(ascii: ">") {
                    break
                } else if b == UInt8(ascii: "<") {
                    throw ReferenceSyntaxError("'<' inside the tag \(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[name]), as: UTF8.self))")
                }
                i += 1
            }
            guard i < bytes.count else { throw ReferenceSyntaxError("the line ends inside a tag") }
            let selfClosing = i > attributesStart && bytes[i - 1] == UInt8(ascii: "/")
            let attributes = attributesStart..<(selfClosing ? i - 1 : i)
            i += 1
            return .open(name: name, attributes: attributes, selfClosing: selfClosing)
        }
    }

    func hasPrefix(_ text: StaticString) -> Bool {
        var j = i
        let count = text.utf8CodeUnitCount
        let start = text.utf8Start
        for k in 0..<count {
            let b = start[k]
            guard j < bytes.count, bytes[j] == b else { return false }
            j += 1
        }
        return true
    }

    mutating func skip(past terminator: [UInt8], what: String) throws {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[i...])
        guard let at = ReferenceLineParser.find(terminator, in: rest) else { throw ReferenceSyntaxError("the line ends inside \(what)") }
        i += at + terminator.count
    }

    /// The decoded value of attribute `name` among `range`, or nil.
    func attribute(_ name: [UInt8], in range: Range<Int>) throws -> [UInt8]? {
        guard let value = try attributeRange(name, in: range) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        ReferenceXMLScanner.appendDecoded(UnsafeRawBufferPointer(rebasing: bytes[value]), to: &out)
        return out
    }

    /// The text of the element just opened, up to its end tag, decoded
    /// (entities, character references, CDATA sections; comments skipped).
    mutating func textUntilClose(_ name: Range<Int>) throws -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let start = i
            while i < bytes.count, bytes[i] != UInt8(ascii: "<") { i += 1 }
            if i > start { ReferenceXMLScanner.appendDecoded(UnsafeRawBufferPointer(rebasing: bytes[start..<i]), to: &out) }
            guard i < bytes.count else { throw ReferenceSyntaxError("the line ends inside <\(text(name))>") }
            if hasPrefix("<![CDATA[") {
                i += 9
                let rest = UnsafeRawBufferPointer(rebasing: bytes[i...])
                guard let at = ReferenceLineParser.find(Array("]]>".utf8), in: rest) else {
                    throw ReferenceSyntaxError("the line ends inside a CDATA section")
                }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + at)]))
                i += at + 3
            } else if hasPrefix("<!--") {
                try skip(past: Array("-->".utf8), what: "a comment")
            } else if hasPrefix("</") {
                i += 2
                let closeStart = i
                while i < bytes.count, ReferenceXMLScanner.isNameByte(bytes[i]) { i += 1 }
                guard sameBytes(closeStart..<i, name) else {
                    throw ReferenceSyntaxError("</\(text(closeStart..<i))> closes <\(text(name))>")
                }
                while i < bytes.count, bytes[i] != UInt8(ascii: ">") { i += 1 }
                guard i < bytes.count else { throw ReferenceSyntaxError("the line ends inside an end tag") }
                i += 1
                return out
            } else {
                throw ReferenceSyntaxError("an element inside <\(text(name))>")
            }
        }
    }

    func sameBytes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count else { return false }
        return memcmp(bytes.baseAddress! + a.lowerBound, bytes.baseAddress! + b.lowerBound, a.count) == 0
    }

    /// Where the value of attribute `name` sits, undecoded (names hold no
    /// references; ``attribute(_:in:)`` decodes).
    func attributeRange(_ name: [UInt8], in range: Range<Int>) throws -> Range<Int>? {
        var j = range.lowerBound
        while j < range.upperBound {
            while j < range.upperBound, ReferenceXMLScanner.isSpace(bytes[j]) { j += 1 }
            let nameStart = j
            while j < range.upperBound, ReferenceXMLScanner.isNameByte(bytes[j]) { j += 1 }
            let attributeName = nameStart..<j
            while j < range.upperBound, ReferenceXMLScanner.isSpace(bytes[j]) { j += 1 }
            guard j < range.upperBound, bytes[j] == UInt8(ascii: "="), !attributeName.isEmpty else {
                if attributeName.isEmpty, j >= range.upperBound { return nil }
                throw ReferenceSyntaxError("an attribute without a value")
            }
            j += 1
            while j < range.upperBound, ReferenceXMLScanner.isSpace(bytes[j]) { j += 1 }
            guard j < range.upperBound, bytes[j] == 0x22 || bytes[j] == 0x27 else {
                throw ReferenceSyntaxError("an attribute value without quotes")
            }
            let quote = bytes[j]
            j += 1
            let valueStart = j
            while j < range.upperBound, bytes[j] != quote { j += 1 }
            guard j < range.upperBound else { throw ReferenceSyntaxError("an attribute value without its closing quote") }
            if equals(attributeName, name) { return valueStart..<j }
            j += 1
        }
        return nil
    }

    /// The element's text: where it sits when it is one run without references
    /// (the common case: no copy), else decoded.
    mutating func valueUntilClose(_ name: Range<Int>) throws -> ReferenceLineParser.Piece {
        let start = i
        var j = i
        while j < bytes.count, bytes[j] != UInt8(ascii: "<"), bytes[j] != UInt8(ascii: "&") { j += 1 }
        if j + 1 < bytes.count, bytes[j] == UInt8(ascii: "<"), bytes[j + 1] == UInt8(ascii: "/") {
            var k = j + 2
            let closeStart = k
            while k < bytes.count, ReferenceXMLScanner.isNameByte(bytes[k]) { k += 1 }
            if sameBytes(closeStart..<k, name), k < bytes.count, bytes[k] == UInt8(ascii: ">") {
                i = k + 1
                return .range(start..<j)
            }
        }
        return .bytes(try textUntilClose(name))
    }

    func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]).prefix(64), as: UTF8.self)
    }

    /// Appends `raw` with `&amp; &lt; &gt; &quot; &apos; &#N; &#xN;` decoded. An
    /// `&` that starts none of them is kept as it is (the value is not lost).
    static func appendDecoded(_ raw: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var j = 0
        var runStart = 0
        while j < raw.count {
            guard raw[j] == UInt8(ascii: "&") else { j += 1; continue }
            var semicolon = j + 1
            while semicolon < raw.count, semicolon - j <= 12, raw[semicolon] != UInt8(ascii: ";") { semicolon += 1 }
            guard semicolon < raw.count, raw[semicolon] == UInt8(ascii: ";"),
                  let decoded = decodeReference(UnsafeRawBufferPointer(rebasing: raw[(j + 1)..<semicolon]))
            else { j += 1; continue }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[runStart..<j]))
            out.append(contentsOf: decoded)
            j = semicolon + 1
            runStart = j
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[runStart...]))
    }

    static func decodeReference(_ name: UnsafeRawBufferPointer) -> [UInt8]? {
        switch String(decoding: name, as: UTF8.self) {
        case "amp": return [UInt8(ascii: "&")]
        case "lt": return [UInt8(ascii: "<")]
        case "gt": return [UInt8(ascii: ">")]
        case "quot": return [0x22]
        case "apos": return [0x27]
        default:
            guard name.count >= 2, name[0] == UInt8(ascii: "#") else { return nil }
            let hex = name[1] == UInt8(ascii: "x") || name[1] == UInt8(ascii: "X")
            let digits = String(decoding: UnsafeRawBufferPointer(rebasing: name[(hex ? 2 : 1)...]), as: UTF8.self)
            guard !digits.isEmpty, digits.count <= 8, let value = UInt32(digits, radix: hex ? 16 : 10),
                  let scalar = Unicode.Scalar(value), value != 0 else { return nil }
            return Array(String(Character(scalar)).utf8)
        }
    }
}
