#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonCore

/// Reading a line that holds one JSON object (swiftmon --format json).
extension SysmonLineParser {
    mutating func parseJSON(_ bytes: UnsafeRawBufferPointer, syslogHost: String?) -> ParsedLine {
        var scanner = JSONObjectScanner(bytes)
        arena.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        var eventID: Int?
        var host: String?
        var computer: (key: Span, value: Span)?
        do {
            try scanner.begin()
            while let key = try scanner.nextKey(into: &arena) {
                let value = try scanner.value(into: &arena)
                switch withText(key, bytes, JSONKey.init) {
                case .eventID:
                    guard let id = withText(value, bytes, { FieldText.integer($0) }), id >= 0 else {
                        return .malformed("EventID is not a number")
                    }
                    guard let first = eventID else {
                        eventID = id
                        continue
                    }
                    // swiftmon before WindowsEventID wrote a generic Windows
                    // event's own EventID as a second "EventID" key.
                    guard first == EventKind.windowsEvent.id else { return .malformed("EventID appears twice") }
                    slots.append(Slot(name: arenaSpan(SysmonLineParser.windowsEventIDName), value: value))
                case .eventName:
                    continue
                case .host:
                    host = withText(value, bytes) { String(decoding: $0, as: UTF8.self) }
                case .computer:
                    computer = (key, value)
                case .field:
                    slots.append(Slot(name: key, value: value))
                }
            }
            try scanner.finish()
        } catch let error as ImportSyntaxError {
            return .malformed(error.message)
        } catch {
            return .malformed("\(error)")
        }
        guard let eventID else { return .malformed("the JSON object has no EventID") }
        if let computer {
            // The host, unless a "Host" key names it; a field only of the kinds that have one.
            if host == nil { host = withText(computer.value, bytes) { String(decoding: $0, as: UTF8.self) } }
            if SysmonLineParser.kindsWithComputer.contains(eventID) { slots.append(Slot(name: computer.key, value: computer.value)) }
        }
        return build(eventID: eventID, line: bytes, systemTime: nil, host: host ?? syslogHost)
    }

    static let windowsEventIDName = Array("WindowsEventID".utf8)
    static let kindsWithComputer = Set(EventKind.all.filter { $0.fields.contains("Computer") }.map(\.id))

    /// A span of the arena holding `text`.
    mutating func arenaSpan(_ text: [UInt8]) -> Span {
        let start = arena.count
        arena.append(contentsOf: text)
        return Span(start: start, end: arena.count, decoded: true)
    }

    /// What a key of swiftmon's JSON object is.
    enum JSONKey {
        case eventID, eventName, host, computer, field

        init(_ key: UnsafeBufferPointer<UInt8>) {
            func equals(_ name: StaticString) -> Bool {
                key.count == name.utf8CodeUnitCount && memcmp(key.baseAddress ?? XMLScanner.nothing, name.utf8Start, key.count) == 0
            }
            if equals("EventID") { self = .eventID }
            else if equals("EventName") { self = .eventName }
            else if equals("Host") { self = .host }
            else if equals("Computer") { self = .computer }
            else { self = .field }
        }
    }
}
