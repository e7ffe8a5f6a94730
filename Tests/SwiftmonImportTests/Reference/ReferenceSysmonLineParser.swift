// The line parser as it was before it was rewritten for speed (commit ceb6aae),
// kept unchanged but for its names as the oracle of ParserDifferentialTests:
// the new parser must produce field-for-field the same events, hosts, record
// ids, times and malformed reasons. Not used by swiftmon itself.
import SwiftmonCore
@testable import SwiftmonImport

/// One event read from a line, with the host that produced it.
struct ReferenceImportedEvent: Sendable {
    var event: Event
    /// `Computer` of the XML, a `Computer`/`Host` key of a JSON object, or the
    /// host name of the syslog prefix; nil when the line names none.
    var host: String?
    /// The XML's EventRecordID, when it has one.
    var recordID: UInt64? = nil
}

/// What one line holds.
enum ReferenceParsedLine: Sendable {
    case event(ReferenceImportedEvent)
    /// Empty, or another program's syslog message (a collector's file holds them too).
    case other
    case malformed(String)
}

/// Reads one line of a Sysmon event stream, in any of the forms collectors and
/// sensors write:
///
/// - a syslog line, whatever its prefix — RFC 3164 (`Mmm dd hh:mm:ss host tag[pid]: `),
///   RFC 5424 (`<pri>1 timestamp host app procid msgid sd `), rsyslog's file
///   formats (`2024-01-31T23:59:59.123456+00:00 host tag: `), with or without
///   `<pri>` — followed by one `<Event>…</Event>` document (Sysmon for Linux,
///   swiftmon's `--syslog`, any tag and Provider);
/// - a bare `<Event>` document (`--format xml`, Windows' rendered XML);
/// - a JSON object as swiftmon's `--format json` writes it.
///
/// Field values are matched to the EventID's fields by name (`Data Name=`,
/// JSON key), so the order in the line does not matter and missing fields are
/// `-`. A field the EventID does not have is counted in ``unknownFields``.
/// Works on bytes with no intermediate strings but the values themselves: it
/// runs once per event of a collector's file (see `swiftmon bench import`).
struct ReferenceLineParser {
    /// Longest line taken; longer lines are malformed (a line of a collector is a few KiB).
    static let defaultMaxLineBytes = 1 << 20

    /// Fields seen that the event's kind does not have (dropped), with the first one's name.
    private(set) var unknownFields = 0
    private(set) var firstUnknownField: String?

    init() {}

    mutating func parse(_ line: UnsafeRawBufferPointer) -> ReferenceParsedLine {
        var end = line.count
        while end > 0, line[end - 1] == 0x0A || line[end - 1] == 0x0D || line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        var start = 0
        while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
        if start == end { return .other }
        let bytes = UnsafeRawBufferPointer(rebasing: line[start..<end])
        if bytes[0] == UInt8(ascii: "{") { return parseJSON(bytes, syslogHost: nil) }
        if bytes.starts(with: ReferenceLineParser.xmlDeclaration) { return parseXML(bytes, syslogHost: nil) }
        if let at = ReferenceLineParser.find(Array("<Event".utf8), in: bytes) {
            let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<at])
            let host = at > 0 ? SyslogPrefix.host(prefix) : nil
            if at > 0, host == nil, !SyslogPrefix.isPlausible(prefix) {
                return .malformed("text before <Event> is not a syslog prefix")
            }
            return parseXML(UnsafeRawBufferPointer(rebasing: bytes[at...]), syslogHost: host)
        }
        if let message = SyslogPrefix.messageStart(bytes) {
            // A syslog line: JSON after the prefix is an event, anything else another program's message.
            if message < bytes.count, bytes[message] == UInt8(ascii: "{") {
                return parseJSON(UnsafeRawBufferPointer(rebasing: bytes[message...]),
                                 syslogHost: SyslogPrefix.host(UnsafeRawBufferPointer(rebasing: bytes[0..<message])))
            }
            return .other
        }
        return .malformed("neither an <Event> document, a JSON object nor a syslog line")
    }

    static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= needle.count, let first = needle.first else { return nil }
        var i = 0
        let last = bytes.count - needle.count
        while i <= last {
            if bytes[i] == first {
                var k = 1
                while k < needle.count, bytes[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    // MARK: Building the event

    /// Field names of each kind as bytes, for matching without strings.
    static let fieldNames: [Int: [[UInt8]]] = Dictionary(
        uniqueKeysWithValues: EventKind.all.map { ($0.id, $0.fields.map { Array($0.utf8) }) })

    /// A name or value: where it sits in the line (nothing to decode), or its decoded bytes.
    enum Piece {
        case range(Range<Int>)
        case bytes([UInt8])
    }

    /// Collects the names and values of one event before its kind is known.
    struct Fields {
        var source: UnsafeRawBufferPointer
        var names: [Piece] = []
        var values: [Piece] = []

        init(_ source: UnsafeRawBufferPointer) {
            self.source = source
            names.reserveCapacity(40)
            values.reserveCapacity(40)
        }

        func equals(_ piece: Piece, _ name: [UInt8]) -> Bool {
            switch piece {
            case .bytes(let b): return b == name
            case .range(let r):
                guard r.count == name.count else { return false }
                var k = 0
                for j in r {
                    if source[j] != name[k] { return false }
                    k += 1
                }
                return true
            }
        }

        func text(_ piece: Piece) -> String {
            switch piece {
            case .bytes(let b): return String(decoding: b, as: UTF8.self)
            case .range(let r): return String(decoding: UnsafeRawBufferPointer(rebasing: source[r]), as: UTF8.self)
            }
        }

        func time(_ piece: Piece) -> Int64? {
            switch piece {
            case .bytes(let b): return b.withUnsafeBytes { TimeText.parse($0) }
            case .range(let r): return TimeText.parse(UnsafeRawBufferPointer(rebasing: source[r]))
            }
        }

        /// Sets field `index` of `event`: text when valid UTF-8, else the exact bytes.
        func set(_ piece: Piece, _ index: Int, in event: inout Event) {
            switch piece {
            case .bytes(let b): event.set(index, bytes: b)
            case .range(let r):
                let slice = UnsafeRawBufferPointer(rebasing: source[r])
                if let text = String(validating: slice, as: UTF8.self) {
                    event[index] = text
                } else {
                    event.set(index, bytes: Array(slice))
                }
            }
        }
    }

    mutating func build(eventID: Int, fields: Fields, systemTime: Int64?, host: String?) -> ReferenceParsedLine {
        guard let kind = EventKind.withID(eventID) else {
            return .malformed("EventID \(eventID) is not one swiftmon knows")
        }
        let names = ReferenceLineParser.fieldNames[kind.id] ?? kind.fields.map { Array($0.utf8) }
        var positions = [Int](repeating: -1, count: fields.names.count)
        var next = 0
        var utcTime: Int64?
        for (k, name) in fields.names.enumerated() {
            // Fields almost always come in schema order: try the next position first.
            var index = -1
            if next < names.count, fields.equals(name, names[next]) {
                index = next
            } else if let i = names.firstIndex(where: { fields.equals(name, $0) }) {
                index = i
            }
            if index < 0 {
                unknownFields += 1
                if firstUnknownField == nil { firstUnknownField = fields.text(name) }
                continue
            }
            positions[k] = index
            next = index + 1
            if utcTime == nil, names[index] == ReferenceLineParser.utcTimeName {
                utcTime = fields.time(fields.values[k])
            }
        }
        // The event's own time (UtcTime, milliseconds), refined by TimeCreated
        // when that falls in the same millisecond (swiftmon stamps the event's
        // time there; Sysmon for Linux the moment it formatted the event).
        var time = utcTime ?? systemTime
        if let u = utcTime, let s = systemTime, s / 1_000_000 == u / 1_000_000 { time = s }
        guard let nanoseconds = time else { return .malformed("EventID \(eventID) has neither UtcTime nor TimeCreated") }
        var event = Event(kind, time: EventTime(nanosecondsSinceEpoch: nanoseconds))
        for (k, index) in positions.enumerated() where index >= 0 {
            fields.set(fields.values[k], index, in: &event)
        }
        return .event(ReferenceImportedEvent(event: event, host: host))
    }

    static let utcTimeName = Array("UtcTime".utf8)
    static let xmlDeclaration = Array("<?xml".utf8)

    // MARK: XML

    mutating func parseXML(_ bytes: UnsafeRawBufferPointer, syslogHost: String?) -> ReferenceParsedLine {
        var scanner = ReferenceXMLScanner(bytes)
        var fields = Fields(bytes)
        var eventID: Int?
        var systemTime: Int64?
        var computer: String?
        var recordID: UInt64?
        var depth = 0
        do {
            loop: while true {
                switch try scanner.next() {
                case .end:
                    return .malformed(depth == 0 ? "no <Event> element" : "the <Event> document is cut short (no </Event>)")
                case .text:
                    continue
                case .open(let name, let attributes, let selfClosing):
                    if depth == 0, !scanner.equals(name, ReferenceXMLScanner.eventTag) {
                        return .malformed("the document is not an <Event>")
                    }
                    if selfClosing {
                        if scanner.equals(name, ReferenceXMLScanner.dataTag) {
                            guard let field = try scanner.attributeRange(ReferenceXMLScanner.nameAttribute, in: attributes) else {
                                return .malformed("a <Data> element without Name")
                            }
                            fields.names.append(.range(field))
                            fields.values.append(.bytes([]))
                        } else if scanner.equals(name, ReferenceXMLScanner.timeCreatedTag),
                                  let value = try scanner.attribute(ReferenceXMLScanner.systemTimeAttribute, in: attributes) {
                            systemTime = value.withUnsafeBytes { TimeText.parse($0) }
                        }
                        continue
                    }
                    if scanner.equals(name, ReferenceXMLScanner.dataTag) {
                        guard let field = try scanner.attributeRange(ReferenceXMLScanner.nameAttribute, in: attributes) else {
                            return .malformed("a <Data> element without Name")
                        }
                        fields.names.append(.range(field))
                        fields.values.append(try scanner.valueUntilClose(name))
                    } else if scanner.equals(name, ReferenceXMLScanner.eventIDTag) {
                        let text = try scanner.textUntilClose(name)
                        guard let id = Int(String(decoding: text, as: UTF8.self).referenceTrimmingSpaces), id >= 0 else {
                            return .malformed("EventID is not a number")
                        }
                        eventID = id
                    } else if scanner.equals(name, ReferenceXMLScanner.recordIDTag) {
                        recordID = UInt64(String(decoding: try scanner.textUntilClose(name), as: UTF8.self).referenceTrimmingSpaces)
                    } else if scanner.equals(name, ReferenceXMLScanner.computerTag) {
                        computer = String(decoding: try scanner.textUntilClose(name), as: UTF8.self)
                    } else {
                        depth += 1
                    }
                case .close:
                    depth -= 1
                    if depth == 0 { break loop }
                }
            }
        } catch let error as ReferenceSyntaxError {
            return .malformed(error.message)
        } catch {
            return .malformed("\(error)")
        }
        guard let eventID else { return .malformed("the <Event> has no EventID") }
        let host = computer.map { $0.referenceTrimmingSpaces }.flatMap { $0.isEmpty ? nil : $0 } ?? syslogHost
        var parsed = build(eventID: eventID, fields: fields, systemTime: systemTime, host: host)
        if case .event(var imported) = parsed {
            imported.recordID = recordID
            parsed = .event(imported)
        }
        return parsed
    }

    // MARK: JSON

    mutating func parseJSON(_ bytes: UnsafeRawBufferPointer, syslogHost: String?) -> ReferenceParsedLine {
        var scanner = ReferenceJSONScanner(bytes)
        var fields = Fields(bytes)
        var eventID: Int?
        var host: String?
        var computer: [UInt8]?
        do {
            try scanner.begin()
            while let key = try scanner.nextKey() {
                let value = try scanner.value()
                switch key {
                case ReferenceJSONScanner.eventIDKey:
                    guard let id = Int(String(decoding: value, as: UTF8.self)), id >= 0 else {
                        return .malformed("EventID is not a number")
                    }
                    // Changed on purpose after ceb6aae (the generic Windows event's
                    // own EventID became WindowsEventID): a second EventID key is
                    // that field in a WindowsEvent line written before, else an error.
                    if let first = eventID {
                        guard first == 211 else { return .malformed("EventID appears twice") }
                        fields.names.append(.bytes(Array("WindowsEventID".utf8)))
                        fields.values.append(.bytes(value))
                    } else {
                        eventID = id
                    }
                case ReferenceJSONScanner.eventNameKey:
                    continue
                case ReferenceJSONScanner.computerKey:
                    // Changed on purpose too: Computer is also a field of the kinds that have one; Host wins.
                    computer = value
                case ReferenceJSONScanner.hostKey:
                    host = String(decoding: value, as: UTF8.self)
                default:
                    fields.names.append(.bytes(key))
                    fields.values.append(.bytes(value))
                }
            }
            try scanner.finish()
        } catch let error as ReferenceSyntaxError {
            return .malformed(error.message)
        } catch {
            return .malformed("\(error)")
        }
        guard let eventID else { return .malformed("the JSON object has no EventID") }
        if let computer {
            if host == nil { host = String(decoding: computer, as: UTF8.self) }
            if EventKind.withID(eventID)?.fields.contains("Computer") == true {
                fields.names.append(.bytes(Array(ReferenceJSONScanner.computerKey)))
                fields.values.append(.bytes(computer))
            }
        }
        return build(eventID: eventID, fields: fields, systemTime: nil, host: host ?? syslogHost)
    }
}

struct ReferenceSyntaxError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

extension String {
    var referenceTrimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s.removeLast() }
        return String(s)
    }
}
