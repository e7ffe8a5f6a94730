import XCTest
@testable import SwiftmonCore

/// The session with an in-memory source: what it announces, how it reloads,
/// how every loss reaches event 255 and the statistics, and how an output
/// whose reader has gone ends the run.
final class MonitorSessionTests: XCTestCase {
    final class ScriptedSource: EventSource {
        var ready: [Event] = []
        var lost: [LossCause: [String: UInt64]] = [:]
        var logged: [Set<Int>?] = []
        var stopped = false
        var sourceDescription: String { "scripted" }
        func read(into events: inout [Event]) throws {
            events += ready
            ready.removeAll()
        }
        var recordsRead: UInt64 = 0
        func sourceLosses() -> [LossCause: [String: UInt64]] { lost }
        func updateLoggedKinds(_ ids: Set<Int>?) { logged.append(ids) }
        func stop() { stopped = true }
    }

    final class Configuration: FilterConfiguration {
        var fails = false
        var loads = 0
        var canReload: Bool { true }
        func load() throws -> LoadedConfiguration {
            loads += 1
            if fails { throw Refused() }
            return LoadedConfiguration(filter: LogEverything(), name: "/etc/c.xml", hash: "SHA256=\(loads)", loggedEventIDs: [1])
        }
        struct Refused: Error, CustomStringConvertible { var description: String { "c.xml:3:1: bad" } }
    }

    /// An output that writes the first `capacity` events, then its reader goes.
    final class ClosingOutput: EventSink, DeliveryReporting {
        let capacity: Int
        var counts = SinkDeliveryCounts()
        init(capacity: Int) { self.capacity = capacity }
        func emit(_ event: Event) throws {
            counts.accepted += 1
            if counts.accepted <= UInt64(capacity) { counts.delivered += 1 } else { counts.drop(1, cause: "EPIPE") }
        }
        var deliveryName: String { "closing" }
        var deliveryCounts: SinkDeliveryCounts { counts }
        var destinationClosed: Bool { counts.dropped["EPIPE"] != nil }
    }

    func event(_ n: Int) -> Event {
        var e = Event(.processCreate, time: .now())
        e["CommandLine"] = "cmd \(n)"
        return e
    }

    func session(_ source: ScriptedSource, _ sinks: [EventSink], _ configuration: Configuration = Configuration()) throws -> MonitorSession {
        let initial = try configuration.load()
        let session = MonitorSession(source: source, pipeline: EventPipeline(sinks: sinks), configuration: configuration,
                                     initial: initial, options: MonitorSession.Options())
        session.diagnostics = { _ in }
        return session
    }

    func testStartAnnouncesTheMonitorAndItsConfigurationThenEventsFollow() throws {
        let source = ScriptedSource()
        let sink = CollectingSink()
        let s = try session(source, [sink])
        s.start()
        source.ready = [event(1), event(2)]
        try s.readSource()
        let stats = try s.stop(cpuMicroseconds: 0, wallSeconds: 1)
        XCTAssertEqual(sink.events.map(\.kind.id), [4, 16, 1, 1, 4])
        XCTAssertEqual(sink.events[1]["ConfigurationFileHash"], "SHA256=1")
        XCTAssertEqual(sink.events.last?["State"], "Stopped")
        XCTAssertEqual(source.logged.first, [1])
        XCTAssertTrue(source.stopped)
        XCTAssertEqual(stats.outputs.first?.counts, SinkDeliveryCounts(accepted: 5, delivered: 5))
    }

    func testReloadTakesAGoodConfigurationAndRefusesABadOne() throws {
        let source = ScriptedSource()
        let sink = CollectingSink()
        let configuration = Configuration()
        let s = try session(source, [sink], configuration)
        s.start()
        try s.reload()
        configuration.fails = true
        try s.reload()
        _ = try s.stop(cpuMicroseconds: 0, wallSeconds: 1)
        XCTAssertEqual(sink.events.map(\.kind.id), [4, 16, 16, 255, 4])
        XCTAssertEqual(sink.events[2]["ConfigurationFileHash"], "SHA256=2")
        XCTAssertEqual(sink.events[3]["ID"], "2")
        XCTAssertTrue(sink.events[3]["Description"]?.contains("c.xml:3:1: bad") == true)
    }

    func testEveryLossCauseReachesEvent255AndTheStatistics() throws {
        let source = ScriptedSource()
        let sink = CollectingSink()
        let closing = ClosingOutput(capacity: 3)
        let s = try session(source, [sink, closing])
        s.start()
        source.ready = (0..<4).map(event)
        try s.readSource()
        s.pipeline.drain()
        source.lost = [.kernelBufferFull: ["exec": 7], .malformedRecord: ["kernel record": 2]]
        s.reportLosses()
        s.pipeline.drain()
        let report = try XCTUnwrap(sink.events.last { $0.kind.id == 255 })
        let text = try XCTUnwrap(report["Description"])
        XCTAssertTrue(text.hasPrefix("12 events lost: "), text)  // 7 + 2 + the 3 the closing output refused
        XCTAssertTrue(text.contains("kernel ring buffer full: exec=7"), text)
        XCTAssertTrue(text.contains("malformed record: kernel record=2"), text)
        XCTAssertTrue(text.contains("output: closing EPIPE=3"), text)
        XCTAssertTrue(s.stopRequested, "an output whose reader has gone asks the loop to stop")
        let stats = try s.stop(cpuMicroseconds: 0, wallSeconds: 1)
        let closingReport = try XCTUnwrap(stats.outputs.last)
        XCTAssertEqual(closingReport.counts.delivered + closingReport.counts.droppedTotal, closingReport.counts.accepted)
        XCTAssertTrue(stats.report.contains("output closing: \(closingReport.counts.accepted) accepted, 3 written"), stats.report)
        XCTAssertEqual(stats.totalLost, 9 + closingReport.counts.droppedTotal)
    }

    func testNoLossNoReport() throws {
        let source = ScriptedSource()
        let sink = CollectingSink()
        let s = try session(source, [sink])
        s.start()
        s.reportLosses()
        _ = try s.stop(cpuMicroseconds: 0, wallSeconds: 1)
        XCTAssertFalse(sink.events.contains { $0.kind.id == 255 })
    }
}
