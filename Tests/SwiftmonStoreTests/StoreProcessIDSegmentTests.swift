import Foundation
import GRDB
import XCTest
@testable import SwiftmonStore
import SwiftmonCore

/// The process-id index in sealed segments (``EventStore/processIDTables``):
/// rows above the sealed key (the open segment) have no entries and are found
/// from the table's key range; a full segment is sealed into `event_pid`; a
/// row stored at or below the sealed key gets its entry at once; lookups see
/// both, from another connection too; retention forgets the entries of
/// deleted rows; version-4 and version-5 stores are migrated with no event lost.
final class StoreProcessIDSegmentTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "swiftmon-pidsegment-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    static let base: Int64 = 1_700_000_000_000_000_000

    /// ProcessCreate `n` with pid 100 + n % `pids` (pids recur across segments).
    func create(_ n: Int, pids: Int = 7, at time: Int64) -> Event {
        var e = Event(.processCreate, time: EventTime(nanosecondsSinceEpoch: time))
        e["ProcessGuid"] = "{P-\(n)}"
        e["ProcessId"] = String(100 + n % pids)
        e["Image"] = "/usr/bin/tool\(n % 5)"
        e["CommandLine"] = "tool --n \(n)"
        e["ParentProcessGuid"] = "{P-\(n / 4)}"
        return e
    }

    func terminate(_ n: Int, pids: Int = 7, at time: Int64) -> Event {
        var e = Event(.processTerminate, time: EventTime(nanosecondsSinceEpoch: time))
        e["ProcessGuid"] = "{P-\(n)}"
        e["ProcessId"] = String(100 + n % pids)
        e["Image"] = "/usr/bin/tool\(n % 5)"
        return e
    }

    func all(_ path: String, _ change: (inout StoreFilter) -> Void = { _ in }) throws -> [Event] {
        var filter = StoreFilter()
        filter.limit = nil
        change(&filter)
        return try StoreReader(path: path).events(matching: filter)
    }

    /// (rows in the open segment, entries sealed); and checks that the sealed
    /// entries are exactly the (process id, key) of the rows at or below the
    /// sealed key, no more, no less.
    static func processIDEntries(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> (open: Int, sealed: Int) {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            let through = "(SELECT through FROM pid_sealed)"
            let open = try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE id > \(through) AND process_id IS NOT NULL") ?? -1
            let sealed = try Int.fetchOne(db, sql: "SELECT count(*) FROM event_pid") ?? -1
            let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE id <= \(through) AND process_id IS NOT NULL") ?? -1
            let matched = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM event_pid p JOIN event e ON e.id = p.id AND e.process_id = p.process_id
                WHERE e.id <= \(through)
                """) ?? -1
            XCTAssertEqual(sealed, rows, "an entry per sealed row with a process id", file: file, line: line)
            XCTAssertEqual(matched, rows, "every entry names its row", file: file, line: line)
            return (open, sealed)
        }
    }

    /// 1,000 events through the sink with segments of 150 entries: most
    /// entries are sealed, the rest wait in the open segment, and `--pid` and
    /// `tree PID` find every event of a pid in time order, from both levels.
    func testEntriesSealIntoSegmentsAndLookupsSeeBothLevels() throws {
        let path = directory + "/segments.db"
        var options = StoreSink.Options()
        options.processIDSegmentRows = 150
        options.batchSize = 64
        let sink = try StoreSink(path: path, options: options)
        for n in 0..<1000 {
            try sink.emit(n % 2 == 0 ? create(n, at: Self.base + Int64(n) * 1000) : terminate(n - 1, at: Self.base + Int64(n) * 1000))
            if n % 64 == 63 { try sink.flush() }
        }
        try sink.flush()
        sink.close()
        XCTAssertEqual(sink.deliveryCounts.delivered, 1000)
        // While the writer is open, another connection finds the open segment's rows.
        XCTAssertEqual(try all(path) { $0.processID = 100 + 998 % 7; $0.newestFirst = true; $0.limit = 1 }.first?["ProcessGuid"], "{P-998}")
        let (open, sealed) = try Self.processIDEntries(path)
        XCTAssertGreaterThanOrEqual(sealed, 800, "segments were sealed")
        XCTAssertLessThan(open, 150 + 64, "the open segment stays below a segment and a transaction")
        XCTAssertGreaterThan(open, 0, "the newest entries are in the open segment: both levels are searched below")

        let stored = try all(path)
        XCTAssertEqual(stored.count, 1000)
        func name(_ e: Event) -> String { "\(e.kind.id) \(e["ProcessGuid"] ?? "")" }
        for pid in 100..<107 {
            let expected = stored.filter { $0["ProcessId"] == String(pid) }.map(name)
            XCTAssertGreaterThan(expected.count, 100)
            XCTAssertEqual(try all(path) { $0.processID = pid }.map(name), expected, "pid \(pid)")
            XCTAssertEqual(try all(path) { $0.processID = pid; $0.newestFirst = true; $0.limit = 3 }.count, 3)
        }
        XCTAssertEqual(try all(path) { $0.processID = 99 }.count, 0)
        // The newest process with pid 100 + 998 % 7 is the last ProcessCreate, whose entry is in the open segment.
        let tree = try StoreReader(path: path).processTree(of: .processID(100 + 998 % 7))
        XCTAssertEqual(tree.process.guid, "{P-998}")
        // With a time window too.
        XCTAssertEqual(try all(path) {
            $0.processID = 100
            $0.since = EventTime(nanosecondsSinceEpoch: Self.base + 100_000)
            $0.until = EventTime(nanosecondsSinceEpoch: Self.base + 199_000)
        }.count, stored[100..<200].filter { $0["ProcessId"] == "100" }.count)
    }

    /// The importer writes the entries too (and its count of stored rows is
    /// not disturbed by them); a re-import adds neither rows nor entries.
    func testImportWritesEntriesOnceAndCountsRowsExactly() throws {
        let path = directory + "/import.db"
        let events = (0..<500).map { HostEvent(event: create($0, at: Self.base + Int64($0) * 1_000_000), host: "far", recordID: UInt64($0)) }
        let store = try ImportStore(path: path)
        store.processIDSegmentRows = 128
        var inserted = 0
        for batch in stride(from: 0, to: events.count, by: 50) {
            inserted += try store.insert(Array(events[batch..<batch + 50])).inserted
        }
        try store.close()
        XCTAssertEqual(inserted, 500)
        let first = try Self.processIDEntries(path)
        XCTAssertEqual(first.open + first.sealed, 500)
        XCTAssertGreaterThanOrEqual(first.sealed, 384)

        let again = try ImportStore(path: path)
        let second = try again.insert(events)
        try again.close()
        XCTAssertEqual(second.inserted, 0)
        XCTAssertEqual(second.duplicates, 500)
        let after = try Self.processIDEntries(path)
        XCTAssertEqual(after.open + after.sealed, 500)
        XCTAssertEqual(try all(path) { $0.processID = 103 }.map { $0["CommandLine"] ?? "" },
                       stride(from: 3, to: 500, by: 7).map { "tool --n \($0)" })
    }

    /// A store written by the version-4 schema (per-row process-id index) is
    /// migrated by the next writer's open: every row with its values, the old
    /// index gone, an entry per row sealed, lookups by pid and the tree alike
    /// before and after, and new rows entered as version 5 enters them.
    func testAVersionFourStoreIsMigratedWithNoEventLost() throws {
        let path = directory + "/v4.db"
        let events = (0..<40).map { n in n % 3 == 2 ? terminate(n - 2, at: Self.base + Int64(n) * 1000) : create(n, at: Self.base + Int64(n) * 1000) }
        let imported = HostEvent(event: create(99, at: Self.base + 4_500), host: "far", recordID: 7)
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: PastStoreSchemas.versionFour)
                for event in events {
                    var fields: [UInt8] = []
                    EventStore.encodeFields(of: event, into: &fields)
                    try db.execute(sql: """
                        INSERT INTO event (id, time, event_id, process_guid, process_id, parent_process_guid, image, fields)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [event.time.nanoseconds, event.time.nanoseconds, event.kind.id,
                                         event["ProcessGuid"]!.lowercased(), Int(event["ProcessId"]!)!,
                                         event.kind.id == EventKind.processCreate.id ? event["ParentProcessGuid"]!.lowercased() : nil,
                                         event["Image"], Data(fields)])
                }
                try db.execute(sql: "PRAGMA user_version = 4")
            }
            try queue.close()
        }
        // Read as version 4 before any writer opens it.
        let before = try all(path)
        let beforeByPID = try (100..<107).map { pid in try all(path) { $0.processID = pid }.map { $0["CommandLine"] ?? $0["ProcessGuid"] ?? "" } }
        XCTAssertEqual(before.count, events.count)
        XCTAssertEqual(beforeByPID.map(\.count).reduce(0, +), events.count)

        let importer = try ImportStore(path: path)  // the migration
        XCTAssertEqual(try importer.insert([imported]).inserted, 1)
        try importer.close()

        let queue = try DatabaseQueue(path: path)
        XCTAssertEqual(try queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }, EventStore.schemaVersion)
        let indexes = try queue.read {
            Set(try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event'"))
        }
        try queue.close()
        XCTAssertEqual(indexes, Set(EventStore.indexNames))
        XCTAssertFalse(indexes.contains("event_by_process_id"))
        XCTAssertEqual(try StoreReader(path: path).integrityCheck(), ["ok"])
        let entries = try Self.processIDEntries(path)
        XCTAssertEqual(entries.sealed, events.count + 1,
                       "the migration seals every old row's entry; the import's older row gets its entry at once")
        XCTAssertEqual(entries.open, 0)

        let after = try all(path)
        XCTAssertEqual(after.count, events.count + 1)
        let withoutImported = after.filter { $0["CommandLine"] != "tool --n 99" }
        XCTAssertEqual(withoutImported.map(\.time), before.map(\.time))
        for (a, b) in zip(withoutImported, before) {
            XCTAssertEqual(a.kind.id, b.kind.id)
            for name in ["ProcessGuid", "ProcessId", "Image", "CommandLine", "ParentProcessGuid"] where a.kind.index(of: name) != nil {
                XCTAssertEqual(a[name], b[name], name)
            }
        }
        for (i, pid) in (100..<107).enumerated() {
            let now = try all(path) { $0.processID = pid }.map { $0["CommandLine"] ?? $0["ProcessGuid"] ?? "" }
            XCTAssertEqual(now.filter { $0 != "tool --n 99" }, beforeByPID[i], "pid \(pid)")
        }
        XCTAssertEqual(try all(path) { $0.processID = 100 + 99 % 7 }.filter { $0["CommandLine"] == "tool --n 99" }.count, 1)
        XCTAssertEqual(try StoreReader(path: path).processTree(of: .processID(100 + 39 % 7)).process.guid, "{P-39}")
    }

    /// A version-5 store (the open segment's entries in `event_pid_recent`)
    /// is migrated by the next writer's open: every entry sealed, the old
    /// table gone, lookups alike before and after, and new rows entered as
    /// version 6 enters them.
    func testAVersionFiveStoreIsMigratedWithNoEntryLost() throws {
        let path = directory + "/v5.db"
        XCTAssertFalse(PastStoreSchemas.versionFive.contains("event_by_process_id"), "version 5 had no per-row process-id index")
        let events = (0..<40).map { n in n % 3 == 2 ? terminate(n - 2, at: Self.base + Int64(n) * 1000) : create(n, at: Self.base + Int64(n) * 1000) }
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: PastStoreSchemas.versionFive)
                for (i, event) in events.enumerated() {
                    var fields: [UInt8] = []
                    EventStore.encodeFields(of: event, into: &fields)
                    let pid = Int(event["ProcessId"]!)!
                    try db.execute(sql: """
                        INSERT INTO event (id, time, event_id, process_guid, process_id, parent_process_guid, image, fields)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [event.time.nanoseconds, event.time.nanoseconds, event.kind.id,
                                         event["ProcessGuid"]!.lowercased(), pid,
                                         event.kind.id == EventKind.processCreate.id ? event["ParentProcessGuid"]!.lowercased() : nil,
                                         event["Image"], Data(fields)])
                    // The first 25 rows' entries sealed, the rest in the open segment.
                    try db.execute(sql: "INSERT INTO \(i < 25 ? "event_pid" : "event_pid_recent") (process_id, id) VALUES (?, ?)",
                                   arguments: [pid, event.time.nanoseconds])
                }
                try db.execute(sql: "PRAGMA user_version = 5")
            }
            try queue.close()
        }
        let before = try (100..<107).map { pid in try all(path) { $0.processID = pid }.map { $0["CommandLine"] ?? $0["ProcessGuid"] ?? "" } }
        XCTAssertEqual(before.map(\.count).reduce(0, +), events.count, "read as version 5")

        var options = StoreSink.Options()
        options.processIDSegmentRows = 1000
        let sink = try StoreSink(path: path, options: options)  // the migration
        try sink.emit(create(50, at: Self.base + 50_000))
        try sink.emit(create(51, at: Self.base + 10_500))  // older than the newest row: below the sealed key
        try sink.flush()
        sink.close()

        let queue = try DatabaseQueue(path: path)
        let tables = try queue.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
        XCTAssertEqual(try queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }, EventStore.schemaVersion)
        try queue.close()
        XCTAssertFalse(tables.contains("event_pid_recent"), "\(tables)")
        XCTAssertEqual(try StoreReader(path: path).integrityCheck(), ["ok"])
        let entries = try Self.processIDEntries(path)
        XCTAssertEqual(entries.sealed, events.count + 1, "every old row's entry sealed, and the older new row's")
        XCTAssertEqual(entries.open, 1, "the newest row is in the open segment")
        for (i, pid) in (100..<107).enumerated() {
            let now = try all(path) { $0.processID = pid }.map { $0["CommandLine"] ?? $0["ProcessGuid"] ?? "" }
            XCTAssertEqual(now.filter { $0 != "tool --n 50" && $0 != "tool --n 51" }, before[i], "pid \(pid)")
        }
        XCTAssertEqual(try all(path) { $0.processID = 100 + 50 % 7 }.filter { $0["CommandLine"] == "tool --n 50" }.count, 1)
        XCTAssertEqual(try all(path) { $0.processID = 100 + 51 % 7 }.filter { $0["CommandLine"] == "tool --n 51" }.count, 1)
        XCTAssertEqual(try StoreReader(path: path).processTree(of: .processID(100 + 50 % 7)).process.guid, "{P-50}")
    }

    /// A writer that reopens the store counts the open segment from the
    /// table (the count is not stored), and seals it once the rows it adds
    /// fill it; retention forgets sealed entries of the rows it deletes.
    func testReopenedWriterCountsTheOpenSegmentAndRetentionForgetsEntries() throws {
        let path = directory + "/reopen.db"
        var options = StoreSink.Options()
        options.processIDSegmentRows = 100
        options.batchSize = 30
        let now = EventTime.now().nanoseconds
        func emit(_ sink: StoreSink, _ range: Range<Int>) throws {
            // Ten seconds apart: the retention cut below falls five seconds from
            // the nearest row, whatever the load (one second apart, a slow run
            // moved the cut past a row).
            for n in range { try sink.emit(create(n, at: now - Int64(200 - n) * 10_000_000_000)) }
            try sink.flush()
        }
        let first = try StoreSink(path: path, options: options)
        try emit(first, 0..<60)
        first.close()
        XCTAssertEqual(try Self.processIDEntries(path).open, 60)
        let second = try StoreSink(path: path, options: options)
        try emit(second, 60..<100)
        second.close()
        XCTAssertEqual(try Self.processIDEntries(path).sealed, 100, "60 counted at open + 40 fill a segment of 100")

        options.maxAge = 1505  // rows 0..<50 are older
        let third = try StoreSink(path: path, options: options)
        try emit(third, 100..<110)
        try third.writer.enforceRetention()
        third.close()
        let entries = try Self.processIDEntries(path)  // checks every entry names its row
        XCTAssertEqual(entries.sealed + entries.open, 60)
        XCTAssertEqual(try all(path) { $0.processID = 100 }.count, (50..<110).filter { $0 % 7 == 0 }.count)
    }
}
