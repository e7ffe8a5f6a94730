import ArgumentParser
import Foundation
import SwiftmonCore
import SwiftmonSinks
import SwiftmonStore

/// `swiftmon query --store PATH …`: events from a store, also while a sensor writes to it.
struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Read events from a swiftmon store.",
        discussion: """
            Times are UTC: "2024-01-31 23:59:59.123", "2024-01-31T23:59:59Z", "2024-01-31", \
            @UNIXSECONDS, or an age such as 15m, 2h, 7d. Every filter given must match.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, xml }

    @Option(help: "The store file.") var store: String
    @Option(name: .customLong("event"), help: "Only this EventID (repeatable).") var eventIDs: [Int] = []
    @Option(help: "Only this image: a full path, or a file name matching the last path component.") var image: String?
    @Option(help: "Only events of this ProcessGuid.") var guid: String?
    @Option(help: "Only events of this process id.") var pid: Int?
    @Option(help: "Only events at or after this time.") var since: String?
    @Option(help: "Only events at or before this time.") var until: String?
    @Option(help: "Only events whose command lines or paths contain this text (ASCII case ignored).") var contains: String?
    @Option(help: "At most this many events (0: no limit).") var limit = 1000
    @Flag(help: "Newest events first.") var newestFirst = false
    @Option(help: "Output format: text, json or xml.") var format: Format = .text

    func run() throws {
        var filter = StoreFilter()
        filter.eventIDs = eventIDs
        filter.image = image
        filter.processGuid = guid
        filter.processID = pid
        filter.since = try since.map { try StoreExpression.time($0) }
        filter.until = try until.map { try StoreExpression.time($0) }
        filter.contains = contains
        filter.limit = limit == 0 ? nil : limit
        filter.newestFirst = newestFirst
        let reader = try StoreReader(path: store)
        let out = FileHandle.standardOutput
        var buffer = ""
        // XML from a store: record ids count the query's results (the sensor's ids are not stored).
        let renderer = SysmonXMLRenderer()
        var recordID: UInt64 = 1
        try reader.forEachEvent(matching: filter) { event in
            switch format {
            case .xml:
                buffer += renderer.render(event, recordID: recordID) + "\n"
                recordID += 1
            case .json: buffer += TemporaryQueryRendering.json(event) + "\n"
            case .text: buffer += TemporaryQueryRendering.text(event) + "\n"
            }
            if buffer.utf8.count > 1 << 16 {
                out.write(Data(buffer.utf8))
                buffer = ""
            }
        }
        out.write(Data(buffer.utf8))
    }
}

/// TEMPORARY: stands in for the lead's text and JSON-lines sinks (SwiftmonSinks
/// on main) until the branches merge; replace both functions with those
/// renderers then, so `query` prints exactly what `run` prints.
enum TemporaryQueryRendering {
    static func text(_ event: Event) -> String {
        var out = "\(event.kind.name) (EventID \(event.kind.id)):\n"
        for (name, value) in event.fields { out += "\(name): \(visible(value))\n" }
        return out
    }

    static func json(_ event: Event) -> String {
        var out = "{\"EventID\":\(event.kind.id),\"EventName\":" + quoted(event.kind.name)
        for (name, value) in event.fields { out += "," + quoted(name) + ":" + quoted(value) }
        return out + "}"
    }

    static func visible(_ text: String) -> String {
        var out = ""
        for s in text.unicodeScalars {
            if s == "\n" { out += "\\n" } else if s.value < 0x20 || s.value == 0x7F {
                out += "\\x" + (s.value < 16 ? "0" : "") + String(s.value, radix: 16)
            } else { out.unicodeScalars.append(s) }
        }
        return out
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for s in text.unicodeScalars {
            switch s {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where s.value < 0x20 || s.value == 0x7F || s.value == 0x2028 || s.value == 0x2029:
                out += String(format: "\\u%04x", s.value)
            default: out.unicodeScalars.append(s)
            }
        }
        return out + "\""
    }
}
