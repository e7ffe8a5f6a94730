import XCTest
@testable import SwiftmonCore

/// After a burst, the arrays between the reader and the outputs and the
/// value arrays waiting for reuse go back to a bound (issue 10, item 5):
/// exact counts, no RSS (RSS figures are in scripts/bench-memory.sh).
final class BurstRoomTests: XCTestCase {
    func events(_ n: Int, _ tag: String) -> [Event] {
        (0..<n).map { i in
            var e = Event(.processCreate, time: .now())
            e["CommandLine"] = "\(tag) \(i)"
            return e
        }
    }

    /// Waits (at most 5 s) for the sink thread to have trimmed its batch.
    func waitForBatchRoom(_ pipeline: EventPipeline, atMost room: Int) -> Int {
        let deadline = Date().addingTimeInterval(5)
        while pipeline.reservedRoom.batch > room, Date() < deadline { usleep(1000) }
        return pipeline.reservedRoom.batch
    }

    func testAfterABurstThePipelineGivesBackItsRoomAndStillDeliversEverything() {
        let sink = CollectingSink()
        let pipeline = EventPipeline(sinks: [sink])
        pipeline.recycler = nil
        pipeline.start()
        // Two bursts of 20,000: the queue's array and the sink thread's both
        // end up with room for at least a burst.
        for burst in 0..<2 {
            var batch = events(20_000, "burst\(burst)")
            pipeline.submit(taking: &batch)
            pipeline.drain()
        }
        let bound = 2 * BurstRoom.keptEvents
        let before = pipeline.reservedRoom
        XCTAssertGreaterThanOrEqual(before.batch, 20_000, "the sink's array held a burst")
        XCTAssertGreaterThanOrEqual(before.queue, 20_000, "the queue's array held a burst")

        pipeline.trimAfterBurst()
        XCTAssertLessThanOrEqual(pipeline.reservedRoom.queue, bound)
        XCTAssertLessThanOrEqual(waitForBatchRoom(pipeline, atMost: bound), bound)
        XCTAssertGreaterThanOrEqual(pipeline.reservedRoom.queue, BurstRoom.keptEvents, "room for ordinary batches is kept")

        // Trimmed arrays: a second trim wakes nobody, and events still flow.
        pipeline.trimAfterBurst()
        var more = events(10, "after")
        pipeline.submit(taking: &more)
        pipeline.drain()
        pipeline.stop()
        XCTAssertEqual(sink.events.count, 40_010)
        XCTAssertEqual(sink.events.last?["CommandLine"], "after 9")
        XCTAssertEqual(pipeline.tally.dispatched, 40_010)
        XCTAssertEqual(pipeline.losses.snapshot().count, 0)
    }

    func testATrimWhileEventsWaitChangesNothing() {
        let sink = CollectingSink()
        let pipeline = EventPipeline(sinks: [sink])
        pipeline.recycler = nil
        // Not started: the queue holds them all.
        pipeline.submit(events(5000, "waiting"))
        let room = pipeline.reservedRoom.queue
        pipeline.trimAfterBurst()
        XCTAssertEqual(pipeline.reservedRoom.queue, room)
        XCTAssertEqual(pipeline.tally.queued, 5000)
        pipeline.start()
        pipeline.stop()
        XCTAssertEqual(sink.events.count, 5000)
    }

    func testTrimKeepsOnlyTheQuietNumberOfRecycledArrays() {
        let recycler = EventValueRecycler()
        var stash = EventValueStash(recycler: recycler)
        var made = (0..<1000).map { _ in Event(.processCreate, time: .now(), utcTime: "t", stash: &stash) }
        recycler.recycle(&made)
        XCTAssertEqual(recycler.count, 1000)
        XCTAssertEqual(recycler.trim(keeping: EventValueRecycler.quietKept), 1000 - EventValueRecycler.quietKept)
        XCTAssertEqual(recycler.count, EventValueRecycler.quietKept)
        XCTAssertEqual(recycler.trim(keeping: EventValueRecycler.quietKept), 0, "nothing more to free")
        // What is kept is still handed out.
        var fresh = EventValueStash(recycler: recycler)
        let e = Event(.processTerminate, time: .now(), utcTime: "u", stash: &fresh)
        XCTAssertEqual(e["UtcTime"], "u")
        XCTAssertEqual(recycler.count, EventValueRecycler.quietKept - EventValueStash.group)
    }

    func testBurstRoomTrimsOnlyEmptyArraysThatHoldABurst() {
        var small: [Event] = []
        small.reserveCapacity(BurstRoom.keptEvents)
        XCTAssertFalse(BurstRoom.trim(&small), "an array of the kept room stays as it is")
        var big: [Event] = []
        big.reserveCapacity(50_000)
        XCTAssertTrue(BurstRoom.trim(&big))
        XCTAssertFalse(BurstRoom.holdsBurstRoom(big.capacity))
        XCTAssertGreaterThanOrEqual(big.capacity, BurstRoom.keptEvents)
        var full = events(3000, "held")
        XCTAssertFalse(BurstRoom.trim(&full), "an array with events is never trimmed")
        XCTAssertEqual(full.count, 3000)
    }
}
