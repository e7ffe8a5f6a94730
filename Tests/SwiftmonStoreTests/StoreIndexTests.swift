import Foundation
import GRDB
import XCTest
@testable import SwiftmonStore
import SwiftmonCore

/// Which indexes the store keeps, that each query finds one, and the import's
/// deferred index build (built at close; an interrupted import's store reads
/// and is completed by the next writer's open).
final class StoreIndexTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "swiftmon-storeindex-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    static let base: Int64 = 1_700_000_000_000_000_000

    /// A mix of kinds, hosts, images and a process tree: `n` events, 1 in 4 a ProcessCreate.
    func events(_ n: Int) -> [HostEvent] {
        (0..<n).map { i in
            let time = EventTime(nanosecondsSinceEpoch: Self.base + Int64(i) * 1_000_000)
            var e: Event
            switch i % 4 {
            case 0:
                e = Event(.processCreate, time: time)
                e["ParentProcessGuid"] = i == 0 ? "{root}" : "{p-\(4 * (i / 16))}"
                e["ParentProcessId"] = String(i / 16)
                e["CommandLine"] = "run --item \(i)"
            case 1:
                e = Event(.networkConnect, time: time)
                e["DestinationIp"] = "10.0.0.\(i % 250)"
            case 2:
                e = Event(.fileCreate, time: time)
                e["TargetFilename"] = "/tmp/file-\(i)"
            default:
                e = Event(.processTerminate, time: time)
            }
            e["ProcessGuid"] = i % 4 == 0 ? "{p-\(i)}" : "{p-\(i - i % 4)}"
            e["ProcessId"] = String(i - i % 4)
            e["Image"] = "/usr/bin/tool\(i % 37)"
            return HostEvent(event: e, host: "host\(i / 100 % 3)")
        }
    }

    /// The same events as a stream with EventRecordIDs (0, 1, …) gives them:
    /// sent again, each is the same event.
    func resent(_ events: [HostEvent]) -> [HostEvent] {
        events.enumerated().map { HostEvent(event: $0.element.event, host: $0.element.host, recordID: UInt64($0.offset)) }
    }

    func indexes(_ path: String) throws -> Set<String> {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event'"))
        }
    }

    /// `EXPLAIN QUERY PLAN`'s steps for `sql`.
    func plan(_ reader: StoreReader, _ sql: String, _ arguments: StatementArguments) throws -> [String] {
        try reader.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
        }
    }

    /// Each query the CLI asks (`query`'s options, `sigma hunt`'s, `tree`'s
    /// descent) reads `event` through an index, never a full table scan.
    func testEveryQueryReadsThroughAnIndex() throws {
        let path = directory + "/plans.db"
        let store = try ImportStore(path: path)
        _ = try store.insert(events(4000))
        try store.close()
        XCTAssertEqual(try indexes(path), Set(EventStore.indexNames))

        let reader = try StoreReader(path: path)
        var filters: [(String, StoreFilter, [String])] = []
        func add(_ name: String, _ index: String..., change: (inout StoreFilter) -> Void) {
            var f = StoreFilter()
            change(&f)
            filters.append((name, f, index))
        }
        // Time order is the table's own key order (rows keyed by time): no
        // index, and no sort; a time window is a range of that key.
        let byKey = "SCAN event"
        add("newest", byKey) { $0.newestFirst = true }
        add("oldest", byKey) { _ in }
        add("since/until", "INTEGER PRIMARY KEY (rowid>? AND rowid<?)") {
            $0.since = EventTime(nanosecondsSinceEpoch: Self.base)
            $0.until = EventTime(nanosecondsSinceEpoch: Self.base + 1_000_000_000)
        }
        // EventIDs: the kind blocks in key order, each a key range of the table
        // (EventStore.kindBlockTable); a time window bounds the blocks too.
        add("event id", "SCAN b") { $0.eventIDs = [1] }
        add("sigma hunt", "SEARCH b USING INTEGER PRIMARY KEY (rowid>?)") {
            $0.eventIDs = [1, 3, 11]
            $0.since = EventTime(nanosecondsSinceEpoch: Self.base)
            $0.limit = nil
        }
        add("image path", "INDEX event_by_image") { $0.image = "/usr/bin/tool5" }
        add("image name", "INDEX event_by_image") { $0.image = "tool5" }
        add("process guid", "INDEX event_by_process_guid") { $0.processGuid = "{p-8}" }
        // The sealed segments' entries, and the open segment as a key range (EventStore.processIDTables).
        add("pid", "SEARCH event_pid USING PRIMARY KEY (process_id=?)") { $0.processID = 8 }
        add("pid, open segment", "SEARCH event USING INTEGER PRIMARY KEY (rowid>?)") { $0.processID = 8 }
        add("container", "INDEX event_by_container_id") { $0.containerID = "abc" }
        add("host", "INDEX event_by_host") { $0.host = "HOST1" }
        add("contains", byKey) { $0.contains = "item 9" }
        let timeOrdered: Set = ["newest", "oldest", "since/until", "event id", "sigma hunt", "image path", "host", "contains"]
        for (name, filter, index) in filters {
            let (sql, arguments) = try XCTUnwrap(try reader.selection(filter), name)
            let steps = try plan(reader, sql, arguments)
            XCTAssertTrue(steps.contains { step in index.contains { step.contains($0) } }, "\(name): \(steps)")
            // A full scan only where the answer is the table in key order
            // (stopping at the limit), never a scan then a sort.
            XCTAssertFalse(steps.contains { $0.hasPrefix("SCAN event") && !$0.contains("INDEX") && !timeOrdered.contains(name) },
                           "\(name): \(steps)")
            if timeOrdered.contains(name) {
                XCTAssertFalse(steps.contains { $0.contains("TEMP B-TREE") }, "\(name): \(steps)")
            }
            if name == "event id" || name == "sigma hunt" {
                XCTAssertTrue(steps.contains { $0.contains("SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)") }, "\(name): \(steps)")
            }
        }
        let children = StoreReader.childrenSQL(indexed: true, scope: .init(clause: " AND host IS ? COLLATE NOCASE", arguments: ["host0"]))
        let steps = try plan(reader, children, ["{p-0}", "host0"])
        XCTAssertTrue(steps.contains { $0.contains("INDEX event_by_parent_process_guid (parent_process_guid=?") }, "\(steps)")
        XCTAssertFalse(steps.contains { $0.contains("TEMP B-TREE") }, "children in the index's (time) order: \(steps)")
        XCTAssertEqual(try reader.processTree(of: .guid("{p-0}")).process.children.count, 3)  // {p-4}, {p-8}, {p-12}
    }

    /// An import into an empty store inserts without the query indexes and
    /// builds them at close; into a store that holds events, it keeps them.
    func testImportDefersQueryIndexesOnlyIntoAnEmptyStore() throws {
        let path = directory + "/deferred.db"
        let store = try ImportStore(path: path)
        XCTAssertTrue(store.deferredIndexes)
        XCTAssertEqual(try indexes(path), [])
        XCTAssertEqual(try store.insert(events(200)).inserted, 200)
        // Without the import-key index, what this import stored is still
        // known: events resent with their EventRecordID are skipped.
        XCTAssertEqual(try store.insert(resent(events(50))).inserted, 50)
        let repeated = try store.insert(resent(events(60)))
        XCTAssertEqual(repeated.inserted, 10)
        XCTAssertEqual(repeated.duplicates, 50)
        XCTAssertEqual(try store.close(), 0)
        XCTAssertEqual(try indexes(path), Set(EventStore.indexNames))
        XCTAssertEqual(try StoreReader(path: path).count(), 260)

        let again = try ImportStore(path: path)
        XCTAssertFalse(again.deferredIndexes)
        XCTAssertEqual(try indexes(path), Set(EventStore.indexNames))
        let counts = try again.insert(events(300))
        XCTAssertEqual(counts.inserted, 100)
        XCTAssertEqual(counts.duplicates, 200)
        try again.close()
        XCTAssertEqual(try StoreReader(path: path).count(), 360)
        XCTAssertEqual(try StoreReader(path: path).integrityCheck(), ["ok"])
    }

    /// An import that never reaches close (killed, say) leaves its committed
    /// events in a store without query indexes: `query` and `tree` still
    /// answer (by scanning), a re-import still finds the duplicates, and the
    /// next writer's open builds the missing indexes.
    func testInterruptedImportIsReadableAndRepairedByTheNextOpen() throws {
        let path = directory + "/interrupted.db"
        do {
            let store = try ImportStore(path: path)
            XCTAssertTrue(store.deferredIndexes)
            XCTAssertEqual(try store.insert(events(400)).inserted, 400)
            // No close(): the object goes away as a killed process's would.
        }
        XCTAssertEqual(try indexes(path), [])

        let reader = try StoreReader(path: path)
        XCTAssertEqual(try reader.count(), 400)
        var byGuid = StoreFilter()
        byGuid.processGuid = "{P-8}"
        XCTAssertEqual(try reader.events(matching: byGuid).count, 4)
        var byImage = StoreFilter()
        byImage.image = "tool5"
        XCTAssertEqual(try reader.events(matching: byImage).count, 11)  // 5, 42, …, 375
        let tree = try reader.processTree(of: .guid("{p-0}"))
        XCTAssertEqual(tree.process.children.map(\.guid), ["{p-4}", "{p-8}", "{p-12}"])
        var newest = StoreFilter()
        newest.newestFirst = true
        newest.limit = 1
        XCTAssertEqual(try reader.events(matching: newest).first?.time.nanoseconds, Self.base + 399 * 1_000_000)

        // The next writer (here a sensor's) completes the store; its rows join.
        let sink = try StoreSink(path: path)
        XCTAssertEqual(try indexes(path), Set(EventStore.indexNames))
        try sink.emit(StoreBenchmark.processCreate(sequence: 1, time: .now()))
        try sink.flush()
        sink.close()
        let repaired = try StoreReader(path: path)
        XCTAssertEqual(try repaired.count(), 401)
        XCTAssertEqual(try repaired.integrityCheck(), ["ok"])
        let (sql, arguments) = try XCTUnwrap(try repaired.selection(byGuid))
        XCTAssertTrue(try plan(repaired, sql, arguments).contains { $0.contains("INDEX event_by_process_guid") })

        // And importing the same events again stores nothing twice.
        let store = try ImportStore(path: path)
        XCTAssertFalse(store.deferredIndexes)
        XCTAssertEqual(try store.insert(events(400)).duplicates, 400)
        try store.close()
    }

    /// An import too large to remember what it stored builds the import-key
    /// index when it reaches its bound and goes on through it: the
    /// duplicates on either side of that moment are still found.
    func testDeferredImportPastItsIdentityBoundBuildsTheKeyIndexAndGoesOn() throws {
        let path = directory + "/bound.db"
        let store = try ImportStore(path: path)
        store.maxIdentities = 300
        XCTAssertEqual(try store.insert(resent(events(200))).inserted, 200)
        XCTAssertEqual(try indexes(path), [])
        let more = try store.insert(resent(events(400)))  // 600 > 300: the index first
        XCTAssertEqual(try indexes(path), ["event_by_import_key"])
        XCTAssertEqual(more.inserted, 200)
        XCTAssertEqual(more.duplicates, 200)
        let last = try store.insert(resent(events(450)))
        XCTAssertEqual(last.inserted, 50)
        XCTAssertEqual(last.duplicates, 400)
        XCTAssertEqual(try store.close(), 0)
        XCTAssertEqual(try indexes(path), Set(EventStore.indexNames))
        XCTAssertEqual(try StoreReader(path: path).count(), 450)
    }

    /// Two imports into one new store at once each defer the import-key
    /// index and each remember only their own rows: the first close finds
    /// the rows both stored, keeps the first copy and says how many it
    /// deleted, so the counts add up to what the store holds.
    func testTwoImportsIntoOneNewStoreKeepEachEventOnce() throws {
        let path = directory + "/two.db"
        let a = try ImportStore(path: path)
        let b = try ImportStore(path: path)
        XCTAssertTrue(a.deferredIndexes)
        XCTAssertTrue(b.deferredIndexes)
        XCTAssertEqual(try a.insert(events(100)).inserted, 100)
        XCTAssertEqual(try b.insert(events(150)).inserted, 150)
        XCTAssertEqual(try a.close(), 100)
        XCTAssertEqual(try b.close(), 0)
        let reader = try StoreReader(path: path)
        XCTAssertEqual(try reader.count(), 150)
        XCTAssertEqual(try reader.integrityCheck(), ["ok"])
        XCTAssertEqual(try indexes(path), Set(EventStore.indexNames))
        // Each event once, the earlier copy kept: oldest first is 0, 1, 2 …
        var all = StoreFilter()
        all.limit = nil
        XCTAssertEqual(try reader.events(matching: all).map(\.time.nanoseconds), (0..<150).map { Self.base + Int64($0) * 1_000_000 })

        // The same when the index is built at the bound rather than at close.
        let bounded = directory + "/two-bounded.db"
        let c = try ImportStore(path: bounded)
        let d = try ImportStore(path: bounded)
        c.maxIdentities = 120
        XCTAssertEqual(try c.insert(events(100)).inserted, 100)
        XCTAssertEqual(try d.insert(events(150)).inserted, 150)
        XCTAssertEqual(try c.insert(events(30)).inserted, 30)  // 130 > 120: the index first, deleting d's 100 copies
        XCTAssertEqual(try d.close(), 0)
        XCTAssertEqual(try c.close(), 100)
        XCTAssertEqual(try StoreReader(path: bounded).count(), 180)
    }

    /// `bench store`'s floor stores every event, each one whole, through the
    /// sink's insert, with only the indexes it is told to keep; a name that is
    /// not one of the store's is refused, naming the store's indexes.
    func testBenchmarkFloorStoresEveryEventWithOnlyTheKeptIndexes() throws {
        let path = directory + "/floor.db"
        let figures = try StoreBenchmark.floorThroughput(path: path, events: 2500, batchSize: 1000)
        XCTAssertEqual(figures.events, 2500)
        XCTAssertGreaterThan(figures.cpuSeconds, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"))  // closed: the size is the store's
        XCTAssertGreaterThan(figures.fileBytes, 2500 * 300)
        XCTAssertEqual(try indexes(path), [])
        let reader = try StoreReader(path: path)
        XCTAssertEqual(try reader.count(), 2500)
        var filter = StoreFilter()
        filter.limit = nil
        let stored = try reader.events(matching: filter)
        XCTAssertEqual(stored.count, 2500)
        XCTAssertEqual(stored[1234]["CommandLine"], StoreBenchmark.processCreate(sequence: 1234, time: .now())["CommandLine"])
        XCTAssertEqual(stored[1234]["ProcessId"], String(StoreBenchmark.scatteredPID(1234)))

        _ = try StoreBenchmark.floorThroughput(path: path, events: 300, batchSize: 64, keeping: ["event_by_image"])
        XCTAssertEqual(try indexes(path), ["event_by_image"])
        let entries = try DatabaseQueue(path: path).read {
            try Int.fetchOne($0, sql: "SELECT count(*) FROM event_pid")
        }
        XCTAssertEqual(entries, 0, "the floor enters no process ids")
        func kindBlocks() throws -> Int? { try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM event_kinds") } }
        XCTAssertEqual(try kindBlocks(), 0, "nor kind blocks")
        _ = try StoreBenchmark.floorThroughput(path: path, events: 300, batchSize: 64, keeping: ["event_kinds"])
        XCTAssertGreaterThan(try kindBlocks() ?? 0, 0)
        _ = try StoreBenchmark.floorThroughput(path: path, events: 300, batchSize: 64, keeping: ["event_pid"])
        XCTAssertEqual(try indexes(path), [])
        XCTAssertEqual(try StoreProcessIDSegmentTests.processIDEntries(path).open, 300)
        XCTAssertEqual(try StoreReader(path: path).count(), 300)  // the file is made anew

        XCTAssertThrowsError(try StoreBenchmark.floorThroughput(path: path, events: 10, batchSize: 10, keeping: ["event_by_nothing"])) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("event_by_nothing") && text.contains("event_by_process_guid"), text)
        }
    }
}
