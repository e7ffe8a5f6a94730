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

    /// Texts refilled in place (absent, count kept) serve events of the same
    /// kind as they are and of kinds with more or fewer fields, all absent
    /// but UtcTime; an event someone still holds keeps its values.
    func testRefilledTextsServeEveryKindAndLeaveKeptEventsAlone() {
        let recycler = EventValueRecycler(limit: 8)
        var stash = EventValueStash(recycler: recycler)
        var events = [Event(.processCreate, time: .now(), utcTime: "t", stash: &stash),
                      Event(.processCreate, time: .now(), utcTime: "t", stash: &stash),
                      Event(.windowsEvent, time: .now(), utcTime: "t", stash: &stash)]
        for i in events.indices { events[i][3] = "value \(i) long enough to be allocated" }
        let kept = events[1]
        recycler.recycle(&events, refillingTexts: true)
        XCTAssertEqual(recycler.count, 3)
        XCTAssertTrue(events.allSatisfy { $0.values.isEmpty }, "the events gave their arrays up")
        XCTAssertEqual(kept[3], "value 1 long enough to be allocated")
        var stash2 = EventValueStash(recycler: recycler)
        for kind in [EventKind.processCreate, .error, .windowsEvent] {
            let e = Event(kind, time: .now(), utcTime: "u", stash: &stash2)
            XCTAssertEqual(e.values.count, kind.fields.count, kind.name)
            XCTAssertEqual(e.values.filter { $0 != Event.absent }, kind.utcTimeIndex == nil ? [] : ["u"], kind.name)
        }
        XCTAssertEqual(kept[3], "value 1 long enough to be allocated")
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
