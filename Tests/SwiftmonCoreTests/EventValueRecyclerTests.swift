import XCTest
@testable import SwiftmonCore

final class EventValueRecyclerTests: XCTestCase {
    func address(_ values: [String]) -> UnsafeRawPointer? {
        values.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    func testAStashReusesTheArraysOfEventsHandedBack() {
        let recycler = EventValueRecycler(limit: 8)
        var stash = EventValueStash(recycler: recycler)
        var events = [Event(.processCreate, time: .now(), utcTime: "t", stash: &stash),
                      Event(.processTerminate, time: .now(), utcTime: "t", stash: &stash)]
        events[0]["CommandLine"] = String(repeating: "long command line ", count: 4)
        let used = Set(events.map { address($0.values) })
        recycler.recycle(&events)
        XCTAssertEqual(recycler.count, 2)
        XCTAssertTrue(events.allSatisfy { $0.values.isEmpty }, "the events gave their arrays up")

        // A new event of another kind gets one of those arrays, all absent again.
        let next = Event(.fileCreate, time: .now(), utcTime: "u", stash: &stash)
        XCTAssertTrue(used.contains(address(next.values)))
        XCTAssertEqual(next.values.count, EventKind.fileCreate.fields.count)
        XCTAssertEqual(next["UtcTime"], "u")
        XCTAssertEqual(next.values.filter { $0 != Event.absent }, ["u"])
        XCTAssertEqual(recycler.count, 0, "the stash took both at once (one is left in it)")
    }

    func testAnEventSomeoneStillHoldsKeepsItsValues() {
        let recycler = EventValueRecycler()
        var stash = EventValueStash(recycler: recycler)
        var e = Event(.processCreate, time: .now(), utcTime: "t", stash: &stash)
        e["CommandLine"] = "/bin/kept --for-later"
        let kept = e  // a sink that keeps the event (a store's batch, a backlog)
        var events = [e]
        e = Event(.error, time: .now())
        recycler.recycle(&events)
        XCTAssertEqual(kept["CommandLine"], "/bin/kept --for-later")
        let reused = Event(.processCreate, time: .now(), utcTime: "t", stash: &stash)
        XCTAssertEqual(reused["CommandLine"], Event.absent)
        XCTAssertEqual(kept["CommandLine"], "/bin/kept --for-later")
        XCTAssertNotEqual(address(reused.values), address(kept.values))
    }

    func testTheRecyclerHoldsAtMostItsLimit() {
        let recycler = EventValueRecycler(limit: 3)
        var stash = EventValueStash(recycler: recycler)
        var events = (0..<10).map { _ in Event(.processCreate, time: .now(), utcTime: "t", stash: &stash) }
        recycler.recycle(&events)
        XCTAssertEqual(recycler.count, 3)
        // Arrays too small for every kind (events made without a stash) are not kept.
        var plain = [Event(.error, time: .now())]
        let small = EventValueRecycler(limit: 3)
        small.recycle(&plain)
        XCTAssertEqual(small.count, 0)
    }

    func testThePipelineHandsBackWhatItWroteAndTheSinksKeepTheirCopies() {
        let recycler = EventValueRecycler()
        let sink = CollectingSink()
        let pipeline = EventPipeline(sinks: [sink], filter: EventPipelineTests.OnlyCommandLine())
        pipeline.recycler = recycler
        pipeline.start()
        var stash = EventValueStash(recycler: recycler)
        var batch: [Event] = []
        for i in 0..<6 {
            var e = Event(.processCreate, time: .now(), utcTime: "t", stash: &stash)
            e["CommandLine"] = i % 2 == 0 ? "keep \(i) and a long tail" : "drop \(i)"
            batch.append(e)
        }
        pipeline.submit(taking: &batch)
        XCTAssertTrue(batch.isEmpty)
        XCTAssertGreaterThan(batch.capacity, 0, "the batch keeps its room for the next read")
        pipeline.drain()
        pipeline.stop()
        XCTAssertEqual(sink.events.map { $0["CommandLine"] }, ["keep 0 and a long tail", "keep 2 and a long tail",
                                                              "keep 4 and a long tail"])
        XCTAssertEqual(sink.events.map { $0["RuleName"] }, ["kept", "kept", "kept"])
        XCTAssertEqual(recycler.count, 6, "three dropped by the filter, three written")
        XCTAssertEqual(pipeline.tally.filteredOut, 3)
        XCTAssertEqual(pipeline.tally.accepted, 3)
    }
}
