import Foundation
import SwiftmonCore
@testable import SwiftmonSinks
import XCTest

/// Strict consumers of Sysmon for Linux's output (sysmonLogView indexes its
/// table by EventID and crashes on an ID Sysmon does not define) must never
/// meet swiftmon's own IDs under Sysmon's tag or provider.
final class SysmonStreamTests: XCTestCase {
    /// The IDs Sysmon for Linux's manifest defines (schema 4.90): 1–29 and 255.
    static let sysmonIDs = Set(1...29).union([255])

    /// One event of every kind swiftmon knows.
    static func everyKind() -> [Event] {
        EventKind.all.map { kind in
            var event = Event(kind, time: .now())
            if kind.index(of: "Image") != nil { event["Image"] = "/usr/bin/kind-\(kind.id)" }
            return event
        }
    }

    func testOwnIDsAreExactlyTheOnesSysmonLacks() {
        let own = EventKind.all.filter { !SysmonStream.defines($0) }.map(\.id)
        XCTAssertTrue(own.contains(200) && own.contains(205) && own.contains(210) && own.contains(211) && own.contains(100))
        XCTAssertTrue(own.allSatisfy { !Self.sysmonIDs.contains($0) })
        XCTAssertTrue(EventKind.all.filter { SysmonStream.defines($0) }.allSatisfy { Self.sysmonIDs.contains($0.id) })
    }

    /// A real rsyslog receiving the default syslog stream: the messages tagged
    /// `sysmon` carry only Sysmon's IDs under Linux-Sysmon; every other event
    /// arrives tagged `swiftmon` under swiftmon's provider. Nothing is lost.
    func testDefaultSyslogStreamTaggedSysmonHoldsOnlySysmonIDs() throws {
        let collector = try TaggedRsyslogCollector(certificates: nil)
        try collector.start()
        defer { collector.stop() }
        let sink = SyslogSink(destination: .tcp(host: "127.0.0.1", port: collector.port),
                              recordIDs: EventRecordCounter(startingAt: 1))
        defer { sink.close(timeout: 0) }
        let events = Self.everyKind()
        for event in events { try sink.emit(event) }
        XCTAssertTrue(sink.drain(timeout: 20))
        XCTAssertEqual(sink.deliveryCounts.delivered, UInt64(events.count))
        let messages = collector.waitForMessages(count: events.count)
        XCTAssertEqual(messages.count, events.count)
        var byTag: [String: Set<Int>] = [:]
        for message in messages {
            let tag = String(message.prefix { $0 != " " })
            let start = try XCTUnwrap(message.range(of: "<Event>"), message)
            let parsed = try XCTUnwrap(ParsedSysmonEvent(xml: String(message[start.lowerBound...])), message)
            let id = try XCTUnwrap(Int(parsed.system["EventID"] ?? ""))
            byTag[tag, default: []].insert(id)
            if tag == "sysmon" {
                XCTAssertEqual(parsed.system["Provider.Name"], "Linux-Sysmon")
                XCTAssertEqual(parsed.system["Provider.Guid"], SysmonXMLHeader.sysmonForLinuxProviderGuid)
                XCTAssertEqual(parsed.system["Channel"], "Linux-Sysmon/Operational")
            } else {
                XCTAssertEqual(tag, "swiftmon", "\(id)")
                XCTAssertEqual(parsed.system["Provider.Name"], "swiftmon")
                XCTAssertEqual(parsed.system["Provider.Guid"], SysmonXMLHeader.swiftmonProviderGuid)
                XCTAssertEqual(parsed.system["Channel"], "swiftmon/Operational")
            }
        }
        XCTAssertEqual(byTag["sysmon"], Set(EventKind.all.map(\.id)).intersection(Self.sysmonIDs))
        XCTAssertTrue(byTag["sysmon", default: []].isSubset(of: Self.sysmonIDs), "\(byTag)")
        XCTAssertEqual(byTag["swiftmon"], Set(EventKind.all.map(\.id)).subtracting(Self.sysmonIDs))
    }

    /// `--sysmon-only`: swiftmon's own events never reach the collector and are
    /// counted as left out — not accepted, not lost.
    func testSysmonOnlyLeavesOwnEventsOutOfSyslog() throws {
        let collector = try TaggedRsyslogCollector(certificates: nil)
        try collector.start()
        defer { collector.stop() }
        let sink = SysmonOnlySink(SyslogSink(destination: .tcp(host: "127.0.0.1", port: collector.port),
                                             recordIDs: EventRecordCounter(startingAt: 1)))
        defer { sink.close() }
        let events = Self.everyKind()
        let sysmonCount = events.filter { Self.sysmonIDs.contains($0.kind.id) }.count
        for event in events { try sink.emit(event) }
        XCTAssertTrue((sink.inner as! SyslogSink).drain(timeout: 20))
        let counts = sink.deliveryCounts
        XCTAssertEqual(counts.accepted, UInt64(sysmonCount))
        XCTAssertEqual(counts.delivered, UInt64(sysmonCount))
        XCTAssertEqual(counts.droppedTotal, 0)
        XCTAssertEqual(counts.filtered, UInt64(events.count - sysmonCount))
        XCTAssertTrue(counts.summary(name: sink.deliveryName).hasSuffix(", \(events.count - sysmonCount) left out (--sysmon-only)"))
        let messages = collector.waitForMessages(count: sysmonCount)
        XCTAssertEqual(messages.count, sysmonCount)
        for message in messages {
            XCTAssertTrue(message.hasPrefix("sysmon <Event>"), message)
            let start = try XCTUnwrap(message.range(of: "<Event>"))
            let parsed = try XCTUnwrap(ParsedSysmonEvent(xml: String(message[start.lowerBound...])))
            XCTAssertTrue(Self.sysmonIDs.contains(Int(parsed.system["EventID"] ?? "") ?? -1), message)
        }
    }

    /// The XML stream: own IDs under swiftmon's provider by default; with
    /// `--sysmon-only` left out, and the EventRecordIDs stay without gaps.
    func testXMLStreamProvidersAndSysmonOnly() throws {
        let directory = try temporaryDirectory()
        let events = Self.everyKind()
        let plain = XMLSink(output: try FileOutput(path: directory + "/all.xml"), recordIDs: EventRecordCounter(startingAt: 1))
        let strict = SysmonOnlySink(XMLSink(output: try FileOutput(path: directory + "/strict.xml"),
                                            recordIDs: EventRecordCounter(startingAt: 1)))
        for event in events {
            try plain.emit(event)
            try strict.emit(event)
        }
        try plain.flush()
        try strict.flush()
        func parse(_ file: String) throws -> [ParsedSysmonEvent] {
            try String(contentsOfFile: directory + "/" + file, encoding: .utf8).split(separator: "\n").map {
                try XCTUnwrap(ParsedSysmonEvent(xml: String($0)))
            }
        }
        let all = try parse("all.xml")
        XCTAssertEqual(all.count, events.count)
        for e in all {
            let id = Int(e.system["EventID"] ?? "") ?? -1
            XCTAssertEqual(e.system["Provider.Name"], Self.sysmonIDs.contains(id) ? "Linux-Sysmon" : "swiftmon", "\(id)")
        }
        let kept = try parse("strict.xml")
        XCTAssertEqual(kept.map { Int($0.system["EventID"] ?? "") ?? -1 },
                       EventKind.all.map(\.id).filter { Self.sysmonIDs.contains($0) })
        XCTAssertEqual(kept.map { $0.system["EventRecordID"] ?? "" }, (1...kept.count).map { String($0) })
        XCTAssertEqual(strict.deliveryCounts.filtered, UInt64(events.count - kept.count))
        XCTAssertEqual(strict.deliveryCounts.delivered, UInt64(kept.count))

        // --xml-provider swiftmon: every event under swiftmon's provider.
        let renderer = SysmonXMLRenderer(header: .swiftmon())
        XCTAssertEqual(renderer.ownHeader, renderer.header)
    }
}
