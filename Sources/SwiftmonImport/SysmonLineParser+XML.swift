#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonCore

/// Reading a line that holds one `<Event>` document (Sysmon for Linux, swiftmon --format xml).
extension SysmonLineParser {
    mutating func parseXML(_ bytes: UnsafeRawBufferPointer, syslogPrefix: UnsafeRawBufferPointer?) -> ParsedLine {
        var scanner = XMLScanner(bytes)
        arena.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        var eventID: Int?
        var systemTime: Int64?
        var computer: Span?
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
                    if depth == 0, !scanner.equals(name, "Event") {
                        return .malformed("the document is not an <Event>")
                    }
                    let isData = scanner.equals(name, "Data")
                    if selfClosing {
                        if isData {
                            guard let field = try scanner.attributeRange("Name", in: attributes) else {
                                return .malformed("a <Data> element without Name")
                            }
                            slots.append(Slot(name: Span(start: field.lowerBound, end: field.upperBound, decoded: false), value: .empty))
                        } else if scanner.equals(name, "TimeCreated"),
                                  let value = try scanner.attribute("SystemTime", in: attributes, into: &arena) {
                            systemTime = arena.withUnsafeBytes { TimeText.parse(UnsafeRawBufferPointer(rebasing: $0[value.start..<value.end])) }
                        }
                        continue
                    }
                    if isData {
                        guard let field = try scanner.attributeRange("Name", in: attributes) else {
                            return .malformed("a <Data> element without Name")
                        }
                        let value = try scanner.valueUntilClose(name, into: &arena)
                        slots.append(Slot(name: Span(start: field.lowerBound, end: field.upperBound, decoded: false), value: value))
                    } else if scanner.equals(name, "EventID") {
                        let text = try scanner.valueUntilClose(name, into: &arena)
                        guard let id = withText(text, bytes, SysmonLineParser.eventID), id >= 0 else {
                            return .malformed("EventID is not a number")
                        }
                        eventID = id
                    } else if scanner.equals(name, "EventRecordID") {
                        // The span first: `withText` must see the arena with the value in it.
                        let text = try scanner.valueUntilClose(name, into: &arena)
                        recordID = withText(text, bytes, SysmonLineParser.recordID)
                    } else if scanner.equals(name, "Computer") {
                        computer = try scanner.valueUntilClose(name, into: &arena)
                    } else {
                        depth += 1
                    }
                case .close:
                    depth -= 1
                    if depth == 0 { break loop }
                }
            }
        } catch let error as ImportSyntaxError {
            return .malformed(error.message)
        } catch {
            return .malformed("\(error)")
        }
        guard let eventID else { return .malformed("the <Event> has no EventID") }
        var host: String?
        if let computer {
            host = withText(computer, bytes) { hosts.name($0) }
        }
        if host == nil, let syslogPrefix { host = SyslogPrefix.host(syslogPrefix) }
        var parsed = build(eventID: eventID, line: bytes, systemTime: systemTime, host: host)
        if case .event(var imported) = parsed {
            imported.recordID = recordID
            parsed = .event(imported)
        }
        return parsed
    }

    /// Calls `body` with the bytes of `span` (in `line` or in the arena).
    func withText<T>(_ span: Span, _ line: UnsafeRawBufferPointer, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        if span.decoded {
            return arena.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[span.start..<span.end])) }
        }
        let base = line.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? XMLScanner.nothing
        return body(UnsafeBufferPointer(start: base + span.start, count: span.count))
    }
}
