import Foundation
import SwiftmonCore
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An XML element read by Foundation's `XMLParser`, with where it starts.
final class XMLNode {
    let name: String
    let attributes: [String: String]
    let location: SourceLocation
    var children: [XMLNode] = []
    var text = ""

    init(name: String, attributes: [String: String], location: SourceLocation) {
        self.name = name
        self.attributes = attributes
        self.location = location
    }
}

/// Builds an ``XMLNode`` tree with `XMLParser` (libxml2 underneath).
///
/// Hostile input is refused before the parser sees it: a document type
/// declaration (the door to external entities and entity expansion bombs) is
/// an error, and so is anything deeper than ``maximumDepth``.
struct XMLTree {
    static let maximumDepth = 32

    enum Outcome {
        case root(XMLNode)
        case failure(message: String, location: SourceLocation)
    }

    let bytes: [UInt8]
    let text: SourceText

    init(bytes: [UInt8]) {
        self.bytes = bytes
        self.text = SourceText(bytes)
    }

    func parse() -> Outcome {
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            return .failure(message: "the file is UTF-16; save it as UTF-8", location: SourceLocation(line: 1, column: 1))
        }
        if bytes[start...].allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            return .failure(message: "the file is empty; a Sysmon configuration starts with <Sysmon schemaversion=\"4.90\">",
                            location: SourceLocation(line: 1, column: 1))
        }
        // libxml2 hands element names it could not decode to Foundation, which
        // traps on them: only valid UTF-8 reaches the parser.
        if let bad = firstInvalidUTF8() {
            return .failure(message: "the file is not valid UTF-8 (byte offset \(bad)); save it as UTF-8",
                            location: text.location(ofByte: bad))
        }
        if let doctype = prologDoctype(from: start) {
            return .failure(
                message: "document type declarations (<!DOCTYPE …>) are refused: they can pull in external entities; remove it",
                location: text.location(ofByte: doctype))
        }
        if let pi = emptyProcessingInstruction() {
            return .failure(message: "processing instruction without data (<?name?>) is not allowed; remove it",
                            location: text.location(ofByte: pi))
        }
        let builder = TreeBuilder(text: text)
        let parser = XMLParser(data: Data(bytes))
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.delegate = builder
        let ok = parser.parse()
        if let failure = builder.failure { return .failure(message: failure.0, location: failure.1) }
        if !ok || parser.parserError != nil || builder.firstError != nil {
            let (code, location) = builder.firstError
                ?? ((parser.parserError as NSError?)?.code ?? -1,
                    SourceLocation(line: max(parser.lineNumber, 1), column: max(parser.columnNumber, 1)))
            if builder.root == nil && (code == 4 || code == 5) {
                return .failure(message: "no XML element found; a Sysmon configuration starts with <Sysmon schemaversion=\"4.90\">",
                                location: location)
            }
            return .failure(message: "malformed XML: \(XMLTree.describe(code))", location: location)
        }
        guard let root = builder.root else {
            return .failure(message: "no XML element found; a Sysmon configuration starts with <Sysmon schemaversion=\"4.90\">",
                            location: SourceLocation(line: 1, column: 1))
        }
        return .root(root)
    }

    func firstInvalidUTF8() -> Int? {
        if String(validating: bytes, as: UTF8.self) != nil { return nil }
        var offset = 0
        var found: Int?
        FieldText.forEachSegment(bytes) { segment in
            guard found == nil else { return }
            switch segment {
            case .text(let t): offset += t.utf8.count
            case .invalid: found = offset
            }
        }
        return found ?? 0
    }

    /// Foundation's XMLParser on Linux dereferences a null pointer on a
    /// processing instruction with no data (`<?x?>`), and libxml2 may report
    /// one after an earlier error even inside what began as a comment: refuse
    /// the shape anywhere in the file.
    func emptyProcessingInstruction() -> Int? {
        let n = bytes.count
        var i = 0
        while i + 1 < n {
            if bytes[i] == 0x3C && bytes[i + 1] == 0x3F {
                var j = i + 2
                while j < n && ![0x20, 0x09, 0x0A, 0x0D, 0x3F, 0x3C].contains(bytes[j]) { j += 1 }
                if j + 1 < n && bytes[j] == 0x3F && bytes[j + 1] == 0x3E { return i }
            }
            i += 1
        }
        return nil
    }

    /// Finds `<!DOCTYPE` in the prolog (before the first element), skipping the
    /// XML declaration, processing instructions, comments and white space.
    func prologDoctype(from start: Int) -> Int? {
        var i = start
        let n = bytes.count
        func has(_ s: String, at k: Int) -> Bool {
            let u = Array(s.utf8)
            return k + u.count <= n && bytes[k..<(k + u.count)].elementsEqual(u)
        }
        func skip(past s: String, from k: Int) -> Int? {
            let u = Array(s.utf8)
            var j = k
            while j + u.count <= n {
                if bytes[j] == u[0] && bytes[j..<(j + u.count)].elementsEqual(u) { return j + u.count }
                j += 1
            }
            return nil
        }
        while i < n {
            let b = bytes[i]
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { i += 1; continue }
            if has("<?", at: i) { guard let j = skip(past: "?>", from: i + 2) else { return nil }; i = j; continue }
            if has("<!--", at: i) { guard let j = skip(past: "-->", from: i + 4) else { return nil }; i = j; continue }
            if has("<!", at: i) { return i }  // DOCTYPE (any case) or other declaration
            return nil
        }
        return nil
    }

    /// libxml2's error numbers, as XMLParser reports them, for the mistakes
    /// people make by hand in configuration files.
    static func describe(_ code: Int) -> String {
        switch code {
        case 4: return "the document is empty"
        case 5: return "the file ends before the elements are closed"
        case 9: return "invalid character"
        case 23: return "'&' starts an entity reference that is not closed with ';' (write &amp; for a literal &)"
        case 26: return "undefined entity (only &lt; &gt; &amp; &quot; &apos; and character references are allowed)"
        case 38: return "'<' in attribute value (write &lt;)"
        case 39: return "attribute value without quotes"
        case 40, 41: return "attribute without a value or with an unterminated value"
        case 42: return "attribute specified twice"
        case 65: return "expected an attribute name or '>'"
        case 68: return "'<' must start a tag (write &lt; for a literal <)"
        case 73: return "expected '>'"
        case 76: return "closing tag does not match the open element"
        case 85: return "extra content after the document element"
        case 111: return "document too deep or too large"
        default: return "XML syntax error (libxml2 code \(code))"
        }
    }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    let text: SourceText
    var stack: [XMLNode] = []
    var root: XMLNode?
    var failure: (String, SourceLocation)?
    /// libxml2 may go on after an error and report more; the first is the one to fix.
    var firstError: (Int, SourceLocation)?
    var cursor = (line: 1, column: 1, offset: 0)

    init(text: SourceText) { self.text = text }

    func fail(_ parser: XMLParser, _ message: String) {
        if failure == nil {
            failure = (message, SourceLocation(line: max(parser.lineNumber, 1), column: max(parser.columnNumber, 1)))
        }
        parser.abortParsing()
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        guard failure == nil else { return }
        if stack.count >= XMLTree.maximumDepth {
            fail(parser, "elements nested deeper than \(XMLTree.maximumDepth) levels")
            return
        }
        let location = text.tagStart(name: name, reportedLine: parser.lineNumber, reportedColumn: parser.columnNumber,
                                     cursor: &cursor)
        let node = XMLNode(name: name, attributes: attributes, location: location)
        if let parent = stack.last { parent.children.append(node) } else { root = node }
        stack.append(node)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if !stack.isEmpty { stack.removeLast() }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        if firstError == nil {
            firstError = ((parseError as NSError).code,
                          SourceLocation(line: max(parser.lineNumber, 1), column: max(parser.columnNumber, 1)))
        }
        // Stop at the first error: libxml2's recovery goes on reporting
        // half-parsed constructs, the path Foundation handles worst.
        parser.abortParsing()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }

    func parser(_ parser: XMLParser, foundCDATA block: Data) {
        stack.last?.text += String(decoding: block, as: UTF8.self)
    }

    // Belt and braces: the prolog check refuses DTDs, but should a declaration
    // reach the parser anyway, stop.
    func parser(_ parser: XMLParser, foundInternalEntityDeclarationWithName name: String, value: String?) {
        fail(parser, "entity declarations are refused")
    }
    func parser(_ parser: XMLParser, foundExternalEntityDeclarationWithName name: String, publicID: String?, systemID: String?) {
        fail(parser, "external entities are refused")
    }
    func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? {
        fail(parser, "entity &\(name); is not defined: only &lt; &gt; &amp; &quot; &apos; and character references are allowed (write &amp; for a literal &)")
        return nil
    }
}

/// Line/column bookkeeping over the raw bytes of a file.
struct SourceText {
    let bytes: [UInt8]
    /// Byte offset where each line starts.
    let lineStarts: [Int]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == 0x0A { starts.append(i + 1) }
        lineStarts = starts
    }

    /// Line and character column of byte `offset`.
    func location(ofByte offset: Int) -> SourceLocation {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        var column = 1
        var i = lineStarts[lo]
        if lo == 0 && bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        while i < offset && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return SourceLocation(line: lo + 1, column: column)
    }

    /// Where a reported (line, character column) is, as a byte offset.
    /// `cursor` remembers the last answer: elements arrive in file order, so
    /// each walk continues from there instead of from the start of the line
    /// (a one-line file with a million elements stays linear).
    func offset(line: Int, column: Int, cursor: inout (line: Int, column: Int, offset: Int)) -> Int {
        if cursor.line != line || cursor.column > column {
            cursor = (line, 1, lineStarts[line - 1])
        }
        var (c, i) = (cursor.column, cursor.offset)
        while i < bytes.count && bytes[i] != 0x0A && c < column {
            i += 1
            while i < bytes.count && bytes[i] & 0xC0 == 0x80 { i += 1 }
            c += 1
        }
        cursor = (line, c, i)
        return i
    }

    /// libxml2 reports an element's position at the end of its start tag; walk
    /// back from there to the `<` that opens it, so diagnostics point at the tag.
    func tagStart(name: String, reportedLine: Int, reportedColumn: Int,
                  cursor: inout (line: Int, column: Int, offset: Int)) -> SourceLocation {
        let fallback = SourceLocation(line: max(reportedLine, 1), column: max(reportedColumn, 1))
        guard reportedLine >= 1, reportedLine <= lineStarts.count, !bytes.isEmpty else { return fallback }
        let end = min(offset(line: reportedLine, column: reportedColumn, cursor: &cursor), bytes.count - 1)
        let pattern = [UInt8(ascii: "<")] + Array(name.utf8)
        var j = end
        var newlines = 0
        var chars = 0
        let limit = max(0, end - 4096)
        while j >= limit {
            if bytes[j] == 0x3C, j + pattern.count <= bytes.count,
               bytes[j..<(j + pattern.count)].elementsEqual(pattern) {
                let after = j + pattern.count
                if after >= bytes.count || [0x20, 0x09, 0x0A, 0x0D, 0x3E, 0x2F].contains(bytes[after]) {
                    // Same line as the cursor: count characters back; else from its line start.
                    if newlines == 0 {
                        return SourceLocation(line: reportedLine, column: max(cursor.column - chars, 1))
                    }
                    return location(ofByte: j)
                }
            }
            if bytes[j] == 0x0A { newlines += 1 }
            if bytes[j] & 0xC0 != 0x80 { chars += 1 }
            j -= 1
        }
        return fallback
    }
}
