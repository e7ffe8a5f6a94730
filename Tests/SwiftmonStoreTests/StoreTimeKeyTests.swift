import Foundation
import GRDB
import XCTest
@testable import SwiftmonStore
import SwiftmonCore

/// Rows keyed by time (schema version 4): the migration of a store written
/// by the version-3 schema, and keys of events that share a time or arrive late.
final class StoreTimeKeyTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "swiftmon-timekey-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    static let base: Int64 = 1_700_000_000_000_000_000

    func create(_ n: Int, at time: Int64) -> Event {
        var e = Event(.processCreate, time: EventTime(nanosecondsSinceEpoch: time))
        e["ProcessGuid"] = "{P-\(n)}"
        e["ProcessId"] = String(1000 + n)
        e["Image"] = "/usr/bin/tool\(n % 5)"
        e["CommandLine"] = "tool --n \(n)"
        e["ParentProcessGuid"] = "{p-\(n / 4)}"
        return e
    }

    func indexes(_ path: String) throws -> Set<String> {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event'"))
        }
    }

    func all(_ path: String, _ change: (inout StoreFilter) -> Void = { _ in }) throws -> [Event] {
        var filter = StoreFilter()
        filter.limit = nil
        change(&filter)
        return try StoreReader(path: path).events(matching: filter)
    }

    /// A store written by the version-3 schema — rows in insertion order, not
    /// time order, two sharing a time, a sensor's rows and imported ones with
    /// their host and import key — is rewritten by the next writer's open:
    /// every row is there with its values, in time order (equal times in
    /// their old order), the keys at or just above the times, the old time
    /// indexes gone, and a re-import still finds what was imported.
    func testAVersionThreeStoreIsMigratedWithNoEventLost() throws {
        let path = directory + "/v3.db"
        // Times out of insertion order; rows 3 and 4 share one, 5 lies 1 ns after it.
        let offsets: [Int64] = [5_000, 1_000, 9_000, 3_000, 3_000, 3_001, 7_000, 2_000]
        let events = offsets.enumerated().map { create($0.offset, at: Self.base + $0.element) }
        let imported = HostEvent(event: create(99, at: Self.base + 4_000), host: "far", recordID: 7)
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: PastStoreSchemas.versionThree)
                for (i, event) in events.enumerated() {
                    var fields: [UInt8] = []
                    EventStore.encodeFields(of: event, into: &fields)
                    try db.execute(sql: """
                        INSERT INTO event (id, time, event_id, process_guid, process_id, parent_process_guid, image, fields)
                        VALUES (?, ?, 1, ?, ?, ?, ?, ?)
                        """, arguments: [i + 1, event.time.nanoseconds, event["ProcessGuid"]!.lowercased(),
                                         Int(event["ProcessId"]!)!, event["ParentProcessGuid"]!.lowercased(),
                                         event["Image"], Data(fields)])
                }
                try db.execute(sql: "PRAGMA user_version = 3")
            }
            try queue.close()
        }
        // Read as it is before any writer opens it.
        XCTAssertEqual(try all(path).count, events.count)
        let importer = try ImportStore(path: path)  // the migration
        XCTAssertEqual(try importer.insert([imported]).inserted, 1)
        try importer.close()

        let queue = try DatabaseQueue(path: path)
        XCTAssertEqual(try queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }, EventStore.schemaVersion)
        let keys = try queue.read { try Row.fetchAll($0, sql: "SELECT id, time FROM event ORDER BY id") }
        try queue.close()
        XCTAssertEqual(try indexes(path), Set(EventStore.indexNames))
        XCTAssertEqual(try StoreReader(path: path).integrityCheck(), ["ok"])
        XCTAssertEqual(keys.map { $0["id"] as Int64 - Self.base }, [1_000, 2_000, 3_000, 3_001, 3_002, 4_000, 5_000, 7_000, 9_000])
        XCTAssertEqual(keys.map { $0["time"] as Int64 - Self.base }, [1_000, 2_000, 3_000, 3_000, 3_001, 4_000, 5_000, 7_000, 9_000])

        let stored = try all(path)
        XCTAssertEqual(stored.map { $0["CommandLine"]! },
                       [1, 7, 3, 4, 5, 99, 0, 6, 2].map { "tool --n \($0)" })
        for event in stored {
            let n = Int(event["CommandLine"]!.split(separator: " ").last!)!
            let original = n == 99 ? imported.event : events[n]
            XCTAssertEqual(event.time, original.time)
            for name in ["ProcessGuid", "ProcessId", "Image", "ParentProcessGuid"] { XCTAssertEqual(event[name], original[name]) }
        }
        XCTAssertEqual(try all(path) { $0.newestFirst = true }.map { $0["CommandLine"]! }, stored.reversed().map { $0["CommandLine"]! })
        XCTAssertEqual(try all(path) { $0.processGuid = "{p-4}" }.map { $0["ProcessId"] }, ["1004"])
        XCTAssertEqual(try all(path) { $0.host = "FAR" }.count, 1)
        XCTAssertEqual(try StoreReader(path: path).processTree(of: .guid("{p-1}")).process.children.map(\.guid),
                       ["{P-7}", "{P-4}", "{P-5}", "{P-6}"])
        // The window [3000, 3001] holds rows 3, 4 and 5 (this one's key is 3002).
        XCTAssertEqual(try all(path) {
            $0.since = EventTime(nanosecondsSinceEpoch: Self.base + 3_000)
            $0.until = EventTime(nanosecondsSinceEpoch: Self.base + 3_001)
        }.map { $0["CommandLine"]! }, ["tool --n 3", "tool --n 4", "tool --n 5"])

        let again = try ImportStore(path: path)
        XCTAssertEqual(try again.insert([imported]).duplicates, 1)
        try again.close()
        XCTAssertEqual(try StoreReader(path: path).count(), events.count + 1)
    }

    /// The sensor's writer keys a late event, and events that share a time,
    /// by the next free nanosecond: each is stored once with its own time, a
    /// time window finds exactly the events whose time lies in it, and time
    /// order holds but among events a few nanoseconds apart.
    func testEventsSharingATimeOrArrivingLateAreEachStoredWithTheirTime() throws {
        let path = directory + "/sink.db"
        let sink = try StoreSink(path: path)
        for (n, offset) in [(0, 100), (1, 100), (2, 100), (3, 50), (4, 101), (5, 200)] {
            try sink.emit(create(n, at: Self.base + Int64(offset)))
        }
        try sink.flush()
        // A later transaction: 100 again (its keys 100–103 are taken), and a late 150.
        try sink.emit(create(6, at: Self.base + 100))
        try sink.emit(create(7, at: Self.base + 150))
        try sink.flush()
        sink.close()

        let stored = try all(path)
        XCTAssertEqual(stored.map { $0["CommandLine"]! }, [3, 0, 1, 2, 4, 6, 7, 5].map { "tool --n \($0)" })
        XCTAssertEqual(stored.map { $0.time.nanoseconds - Self.base }, [50, 100, 100, 100, 101, 100, 150, 200])
        XCTAssertEqual(Set(try all(path) { $0.until = EventTime(nanosecondsSinceEpoch: Self.base + 100) }.map { $0["CommandLine"]! }),
                       Set([3, 0, 1, 2, 6].map { "tool --n \($0)" }))
        XCTAssertEqual(try all(path) { $0.since = EventTime(nanosecondsSinceEpoch: Self.base + 101) }.map { $0["CommandLine"]! },
                       [4, 7, 5].map { "tool --n \($0)" })
    }

    /// An import of events that carry milliseconds (many share one) stores
    /// each once, and finds each again as a duplicate, also into a store
    /// that holds later events already.
    func testImportedEventsSharingAMillisecondAreEachStoredOnce() throws {
        let path = directory + "/burst.db"
        let sink = try StoreSink(path: path)
        try sink.emit(create(-1, at: Self.base + 10_000_000))
        try sink.flush()
        sink.close()
        let burst = (0..<3000).map { HostEvent(event: create($0, at: Self.base + ($0 < 2000 ? 0 : 1_000_000)), host: "h", recordID: UInt64($0)) }
        let store = try ImportStore(path: path)
        XCTAssertFalse(store.deferredIndexes)
        XCTAssertEqual(try store.insert(burst).inserted, 3000)
        XCTAssertEqual(try store.insert(burst).duplicates, 3000)
        try store.close()
        let stored = try all(path)
        XCTAssertEqual(stored.count, 3001)
        XCTAssertEqual(stored.map { $0["CommandLine"]! }, ((0..<3000).map { "tool --n \($0)" }) + ["tool --n -1"])
        XCTAssertEqual(try all(path) { $0.until = EventTime(nanosecondsSinceEpoch: Self.base) }.count, 2000)
        XCTAssertEqual(try StoreReader(path: path).integrityCheck(), ["ok"])
    }
}
