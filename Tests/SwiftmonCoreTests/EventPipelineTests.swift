import XCTest
@testable import SwiftmonCore

final class EventPipelineTests: XCTestCase {
    final class FailingSink: EventSink {
        struct Failure: Error {}
        func emit(_ event: Event) throws { throw Failure() }
    }

    final class GatedSink: EventSink {
        let gate = Lock()
        var count = 0
        func emit(_ event: Event) throws { gate.withLock { count += 1 } }
    }

    struct OnlyCommandLine: EventFilter {
        func evaluate(_ event: inout Event) -> Bool {
            guard event["CommandLine"]?.contains("keep") == true else { return false }
            event["RuleName"] = "kept"
            return true
        }
    }

    func event(_ cmd: String) -> Event {
        var e = Event(.processCreate, time: .now())
        e["CommandLine"] = cmd
        return e
    }

    func testAFailingSinkDoesNotStopTheOthersAndIsCounted() {
        let good = CollectingSink()
        let pipeline = EventPipeline(sinks: [FailingSink(), good])
        pipeline.start()
        pipeline.submit((0..<10).map { event("keep \($0)") })
        pipeline.drain()
        pipeline.stop()
        XCTAssertEqual(good.events.count, 10)
        let reports = pipeline.outputReports
        XCTAssertEqual(reports[0].counts, SinkDeliveryCounts(accepted: 10, delivered: 0, dropped: ["Failure": 10]))
        XCTAssertEqual(reports[1].counts, SinkDeliveryCounts(accepted: 10, delivered: 10))
        XCTAssertEqual(pipeline.tally.dispatched, 10)
    }

    func testAFullQueueCountsWhatItDrops() {
        let sink = CollectingSink()
        let pipeline = EventPipeline(sinks: [sink], capacity: 5)
        // Not started: nothing drains, so the queue holds exactly five.
        pipeline.submit((0..<8).map { event("keep \($0)") })
        XCTAssertEqual(pipeline.losses.snapshot()[.queueFull]?["ProcessCreate"], 3)
        pipeline.start()
        pipeline.stop()
        XCTAssertEqual(sink.events.count, 5)
        XCTAssertEqual(sink.events.map { $0["CommandLine"] }, (0..<5).map { "keep \($0)" })
    }

    func testFilterAppliesAndSetsRuleNameButStateEventsPass() {
        let sink = CollectingSink()
        let pipeline = EventPipeline(sinks: [sink], filter: OnlyCommandLine())
        pipeline.start()
        pipeline.submit([event("keep me"), event("drop me")])
        var state = Event(.serviceStateChange, time: .now())
        state["State"] = "Started"
        pipeline.submit(state)
        pipeline.stop()
        XCTAssertEqual(sink.events.map { $0.kind.id }, [1, 4])
        XCTAssertEqual(sink.events.first?["RuleName"], "kept")
        XCTAssertEqual(pipeline.tally.filteredOut, 1)
    }

    func testReplacingTheFilterTakesEffectForLaterEvents() {
        let sink = CollectingSink()
        let pipeline = EventPipeline(sinks: [sink], filter: OnlyCommandLine())
        pipeline.start()
        pipeline.submit(event("drop 1"))
        pipeline.replaceFilter(LogEverything())
        pipeline.submit(event("drop 2"))
        pipeline.stop()
        XCTAssertEqual(sink.events.compactMap { $0["CommandLine"] }, ["drop 2"])
    }

    func testLossDescription() {
        let losses = LossCounters()
        losses.add(3, cause: .kernelBufferFull, kind: "exec")
        losses.set(5, cause: .kernelBufferFull, kind: "exec")
        losses.add(2, cause: .queueFull, kind: "ProcessCreate")
        XCTAssertEqual(losses.total, 7)
        let before = losses.snapshot()
        losses.add(1, cause: .queueFull, kind: "ProcessCreate")
        XCTAssertEqual(LossCounters.describe(LossCounters.delta(losses.snapshot(), since: before)),
                       "event queue full: ProcessCreate=1")
    }
}
