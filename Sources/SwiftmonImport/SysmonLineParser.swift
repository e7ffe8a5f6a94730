#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonCore

/// One event read from a line, with the host that produced it.
public struct ImportedEvent: Sendable {
    public var event: Event
    /// `Computer` of the XML, a `Computer`/`Host` key of a JSON object, or the
    /// host name of the syslog prefix; nil when the line names none.
    public var host: String?
    /// The XML's EventRecordID, when it has one.
    public var recordID: UInt64? = nil
}

/// What one line holds.
public enum ParsedLine: Sendable {
    case event(ImportedEvent)
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
/// runs once per event of a collector's file (see `swiftmon bench import`,
/// which reports it per format). Per line it allocates the event and the
/// values' strings, nothing else: names and values are ``Span``s of the line,
/// text with references is decoded into one reused arena, field names are
/// matched to schema positions by `memcmp` against one byte table per kind,
/// and hosts are kept as strings across lines.
public struct SysmonLineParser {
    /// Longest line taken; longer lines are malformed (a line of a collector is a few KiB).
    public static let defaultMaxLineBytes = 1 << 20

    /// Fields seen that the event's kind does not have (dropped), with the first one's name.
    public private(set) var unknownFields = 0
    public private(set) var firstUnknownField: String?

    /// Decoded names and values of the line being parsed (reused).
    var arena: [UInt8] = []
    /// Names and values of the line being parsed, before its kind is known (reused).
    var slots: [Slot] = []
    /// Host names seen lately, so a host costs no new string per event.
    var hosts = HostNames()

    struct Slot {
        var name: Span
        var value: Span
    }

    public init() {
        arena.reserveCapacity(4096)
        slots.reserveCapacity(64)
    }

    public mutating func parse(_ line: UnsafeRawBufferPointer) -> ParsedLine {
        var end = line.count
        while end > 0, line[end - 1] == 0x0A || line[end - 1] == 0x0D || line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        var start = 0
        while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
        if start == end { return .other }
        let bytes = UnsafeRawBufferPointer(rebasing: line[start..<end])
        if bytes[0] == UInt8(ascii: "{") { return parseJSON(bytes, syslogHost: nil) }
        if bytes.count >= 5, memcmp(bytes.baseAddress!, SysmonLineParser.xmlDeclaration.utf8Start, 5) == 0 {
            return parseXML(bytes, syslogPrefix: nil)
        }
        if let at = XMLScanner.find(SysmonLineParser.eventOpen, in: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, from: 0) {
            let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<at])
            // The host of the prefix is needed only when the text is not a
            // tagged message (`… tag: `) or the event names no Computer.
            if at > 0, !SyslogPrefix.isPlausible(prefix), SyslogPrefix.host(prefix) == nil {
                return .malformed("text before <Event> is not a syslog prefix")
            }
            return parseXML(UnsafeRawBufferPointer(rebasing: bytes[at...]), syslogPrefix: at > 0 ? prefix : nil)
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

    static let xmlDeclaration: StaticString = "<?xml"
    static let eventOpen: StaticString = "<Event"

    // MARK: Building the event

    /// The field names of one kind as one byte table, for `memcmp` against the line.
    struct FieldTable {
        let kind: EventKind
        let bytes: [UInt8]
        /// Where name k starts in ``bytes``; k + 1 where it ends.
        let offsets: [Int]

        init(_ kind: EventKind) {
            self.kind = kind
            var bytes: [UInt8] = []
            var offsets = [0]
            for name in kind.fields {
                bytes += Array(name.utf8)
                offsets.append(bytes.count)
            }
            self.bytes = bytes
            self.offsets = offsets
        }
    }

    /// Tables by EventID for IDs below 256 (all of Sysmon's and swiftmon's), else by dictionary.
    static let smallTables: [FieldTable?] = {
        var tables = [FieldTable?](repeating: nil, count: 256)
        for kind in EventKind.all where kind.id >= 0 && kind.id < 256 { tables[kind.id] = FieldTable(kind) }
        return tables
    }()
    static let largeTables: [Int: FieldTable] = Dictionary(
        uniqueKeysWithValues: EventKind.all.filter { $0.id >= 256 }.map { ($0.id, FieldTable($0)) })

    static func table(_ id: Int) -> FieldTable? {
        id >= 0 && id < 256 ? smallTables[id] : largeTables[id]
    }

    mutating func build(eventID: Int, line: UnsafeRawBufferPointer, systemTime: Int64?, host: String?) -> ParsedLine {
        guard let table = SysmonLineParser.table(eventID) else {
            return .malformed("EventID \(eventID) is not one swiftmon knows")
        }
        let built = arena.withUnsafeBufferPointer { arena in
            SysmonLineParser.makeEvent(table, slots, line: line, arena: arena, systemTime: systemTime)
        }
        if built.unknown > 0 {
            unknownFields += built.unknown
            if firstUnknownField == nil { firstUnknownField = built.firstUnknown }
        }
        guard let event = built.event else { return .malformed("EventID \(eventID) has neither UtcTime nor TimeCreated") }
        return .event(ImportedEvent(event: event, host: host))
    }

    /// The event of `slots`: names matched to the kind's fields (in schema
    /// order nearly always: the next position is tried first), values set as
    /// text when valid UTF-8, else as exact bytes.
    static func makeEvent(_ table: FieldTable, _ slots: [Slot], line: UnsafeRawBufferPointer,
                          arena: UnsafeBufferPointer<UInt8>, systemTime: Int64?)
        -> (event: Event?, unknown: Int, firstUnknown: String?) {
        let linePointer = line.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? XMLScanner.nothing
        let arenaPointer = arena.baseAddress ?? XMLScanner.nothing
        @inline(__always) func pointer(_ span: Span) -> UnsafePointer<UInt8> {
            (span.decoded ? arenaPointer : linePointer) + span.start
        }
        let kind = table.kind
        let fieldCount = table.offsets.count - 1
        let utcTimeIndex = kind.utcTimeIndex ?? -1
        var unknown = 0
        var firstUnknown: String?
        var next = 0
        var utcTime: Int64?
        var hasUtcTimeField = false
        // Positions on the stack for the usual count of fields; a line with more uses the heap.
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: max(1, slots.count)) { positions in
            table.bytes.withUnsafeBufferPointer { names in
                let namesPointer = names.baseAddress ?? XMLScanner.nothing
                table.offsets.withUnsafeBufferPointer { offsets in
                    @inline(__always) func matches(_ span: Span, _ k: Int) -> Bool {
                        let length = offsets[k + 1] - offsets[k]
                        return span.count == length && memcmp(pointer(span), namesPointer + offsets[k], length) == 0
                    }
                    for (k, slot) in slots.enumerated() {
                        var index = -1
                        if next < fieldCount, matches(slot.name, next) {
                            index = next
                        } else {
                            for f in 0..<fieldCount where matches(slot.name, f) { index = f; break }
                        }
                        positions[k] = index
                        if index < 0 {
                            unknown += 1
                            if firstUnknown == nil {
                                firstUnknown = String(decoding: UnsafeBufferPointer(start: pointer(slot.name), count: slot.name.count), as: UTF8.self)
                            }
                            continue
                        }
                        next = index + 1
                        if index == utcTimeIndex {
                            hasUtcTimeField = true
                            if utcTime == nil {
                                utcTime = TimeText.parse(UnsafeRawBufferPointer(start: pointer(slot.value), count: slot.value.count))
                            }
                        }
                    }
                }
            }
            // The event's own time (UtcTime, milliseconds), refined by TimeCreated
            // when that falls in the same millisecond (swiftmon stamps the event's
            // time there; Sysmon for Linux the moment it formatted the event).
            var time = utcTime ?? systemTime
            if let u = utcTime, let s = systemTime, s / 1_000_000 == u / 1_000_000 { time = s }
            guard let nanoseconds = time else { return (nil, unknown, firstUnknown) }
            // UtcTime's text comes from the line when it has one (set below): no need to format it.
            var event = hasUtcTimeField
                ? Event(kind, time: EventTime(nanosecondsSinceEpoch: nanoseconds), utcTime: Event.absent)
                : Event(kind, time: EventTime(nanosecondsSinceEpoch: nanoseconds))
            for (k, slot) in slots.enumerated() where positions[k] >= 0 {
                let value = UnsafeBufferPointer(start: pointer(slot.value), count: slot.value.count)
                if let text = SysmonLineParser.text(value) {
                    event[positions[k]] = text
                } else {
                    event.set(positions[k], bytes: Array(value))
                }
            }
            return (event, unknown, firstUnknown)
        }
    }

    /// `bytes` as a string when they are valid UTF-8; ASCII (nearly every
    /// value) is checked eight bytes at a time.
    @inline(__always)
    static func text(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        if isASCII(bytes) { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }

    @inline(__always)
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let raw = UnsafeRawPointer(base)
        var i = 0
        var bits: UInt64 = 0
        while i + 8 <= bytes.count {
            bits |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < bytes.count { bits |= UInt64(base[i]); i += 1 }
        return bits & 0x8080_8080_8080_8080 == 0
    }

    // MARK: Numbers and names as the text of an element

    /// The text with spaces, tabs, CRs and LFs trimmed from both ends, as
    /// `trimmingSpaces` trims Characters; nil when only a string can say (a
    /// non-ASCII byte, or CR LF, which is one Character).
    static func trimmedASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        guard isASCII(bytes) else { return nil }
        var prior: UInt8 = 0
        for b in bytes {
            if prior == 0x0D, b == 0x0A { return nil }
            prior = b
        }
        var start = 0
        var end = bytes.count
        while start < end, XMLScanner.isSpace(bytes[start]) { start += 1 }
        while end > start, XMLScanner.isSpace(bytes[end - 1]) { end -= 1 }
        return UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    /// The EventID of an element's text: `Int(text.trimmingSpaces)`, from bytes.
    static func eventID(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        if let trimmed = trimmedASCII(bytes) { return FieldText.integer(trimmed) }
        return Int(String(decoding: bytes, as: UTF8.self).trimmingSpaces)
    }

    /// The EventRecordID of an element's text: `UInt64(text.trimmingSpaces)`, from bytes.
    static func recordID(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        if let trimmed = trimmedASCII(bytes) { return FieldText.integer(trimmed, as: UInt64.self) }
        return UInt64(String(decoding: bytes, as: UTF8.self).trimmingSpaces)
    }
}

/// The host names of the lines read lately (a collector's file interleaves a
/// few hosts): the same `Computer` bytes give the same string, made once.
struct HostNames {
    private var entries: [(bytes: [UInt8], name: String)] = []
    private var nextVictim = 0
    static let capacity = 16

    /// `Computer`'s text trimmed of spaces, nil when that leaves nothing.
    mutating func name(_ text: UnsafeBufferPointer<UInt8>) -> String? {
        guard let trimmed = SysmonLineParser.trimmedASCII(text) else {
            let name = String(decoding: text, as: UTF8.self).trimmingSpaces
            return name.isEmpty ? nil : name
        }
        if trimmed.isEmpty { return nil }
        for entry in entries where entry.bytes.count == trimmed.count {
            if entry.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, trimmed.baseAddress!, trimmed.count) }) == 0 {
                return entry.name
            }
        }
        let name = String(decoding: trimmed, as: UTF8.self)
        if entries.count < HostNames.capacity {
            entries.append((Array(trimmed), name))
        } else {
            entries[nextVictim] = (Array(trimmed), name)
            nextVictim = (nextVictim + 1) % HostNames.capacity
        }
        return name
    }
}

struct ImportSyntaxError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s.removeLast() }
        return String(s)
    }
}
