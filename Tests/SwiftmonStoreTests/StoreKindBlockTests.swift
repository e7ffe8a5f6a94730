import Foundation
import GRDB
import XCTest
@testable import SwiftmonStore
import SwiftmonCore

/// The kind blocks (``EventStore/kindBlockTable``) that replaced the per-row
/// EventID index in version 7: every row's kind is in its block whatever
/// wrote it (sink, import, a migration), `query --event` returns exactly what
/// a plain scan of the table returns (order and content) for every filter
/// combination, retention drops blocks wholly below the oldest row, and a
/// version-6 store is migrated with its answers unchanged.
final class StoreKindBlockTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "swiftmon-kindblock-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    static let base: Int64 = 1_700_000_000_000_000_000
    static let block: Int64 = 1 << EventStore.kindBlockShift

    /// Kinds in proportions a sensor sees (1, 3, 5 common; 6 rare; 11, 203,
    /// 255 — swiftmon's own, above 31 — now and then), keyed so that blocks
    /// hold from one to many rows and some rows share a time.
    static let kinds: [EventKind] = [.processCreate, .networkConnect, .processTerminate, .fileCreate, .fileRename, .error]

    static func event(_ n: Int, at time: Int64) -> Event {
        let kind: EventKind = n % 97 == 13 ? .driverLoad : kinds[(n * 7 + n / 5) % kinds.count]
        var e = Event(kind, time: EventTime(nanosecondsSinceEpoch: time))
        if kind.index(of: "ProcessGuid") != nil { e["ProcessGuid"] = "{P-\(n % 40)}" }
        if kind.index(of: "ProcessId") != nil { e["ProcessId"] = String(100 + n % 13) }
        if kind.index(of: "Image") != nil { e["Image"] = "/usr/bin/tool\(n % 5)" }
        if kind.index(of: "CommandLine") != nil { e["CommandLine"] = "tool --n \(n)" }
        if kind.index(of: "TargetFilename") != nil { e["TargetFilename"] = "/tmp/tool-\(n)" }
        if kind.index(of: "ImageLoaded") != nil { e["ImageLoaded"] = "/lib/modules/tool\(n).ko" }
        if kind.index(of: "Description") != nil { e["Description"] = "n \(n)" }
        return e
    }

    /// The time of event `n`: runs of rows a few µs apart (many per block),
    /// gaps of several blocks, and every 50th row at the time of the one before.
    static func time(_ n: Int) -> Int64 {
        base + Int64(n / 40) * 5 * block + Int64(n % 40) * 3_000 * Int64(n % 3 + 1) - (n % 50 == 49 ? 3_000 : 0)
    }

    /// Writes 1,500 events through the sink in small transactions, then 300
    /// older ones (times between the sink's, in blocks of their own and
    /// shared) and 100 repeated ones through an import.
    func makeStore(_ path: String) throws {
        var options = StoreSink.Options()
        options.batchSize = 97
        let sink = try StoreSink(path: path, options: options)
        for n in 0..<1500 { try sink.emit(Self.event(n, at: Self.time(n))) }
        try sink.flush()
        sink.close()
        let importer = try ImportStore(path: path)
        let imported = (0..<300).map { i in
            HostEvent(event: Self.event(5000 + i, at: Self.time(i * 5) + Self.block / 2 + Int64(i)), host: "far\(i % 2)", recordID: UInt64(i))
        }
        XCTAssertEqual(try importer.insert(Array(imported.reversed())).inserted, 300)
        XCTAssertEqual(try importer.insert(Array(imported.prefix(100))).duplicates, 100)
        try importer.close()
    }

    /// An event as a comparable text: kind, time and every value.
    static func signature(_ e: Event) -> String {
        "\(e.kind.id)@\(e.time.nanoseconds):" + (0..<e.kind.fields.count).map { e[$0] }.joined(separator: "|")
    }

    /// Every row in key order, read straight from the table.
    static func plainScan(_ path: String) throws -> [(id: Int64, eventID: Int, time: Int64, fields: Data, event: Event)] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT id, event_id, time, fields, raw FROM event NOT INDEXED ORDER BY id").map { row in
                let eventID: Int = row[1], time: Int64 = row[2], fields: Data = row[3]
                return (row[0], eventID, time, fields, try EventStore.decode(eventID: eventID, time: time, fields: fields, raw: row[4]))
            }
        }
    }

    /// Bits of the rows whose block lacks their kind (must be none), and the number of blocks.
    static func kindBlockState(_ path: String) throws -> (missing: Int, blocks: Int, belowOldest: Int) {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            let bit = "CASE WHEN e.event_id >= 0 AND e.event_id < 32 THEN 1 << e.event_id ELSE 1 << (32 + (e.event_id & 31)) END"
            let missing = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM event e WHERE NOT EXISTS
                    (SELECT 1 FROM event_kinds b WHERE b.block = e.id >> \(EventStore.kindBlockShift) AND b.kinds & \(bit) != 0)
                """) ?? -1
            let blocks = try Int.fetchOne(db, sql: "SELECT count(*) FROM event_kinds") ?? -1
            let below = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM event_kinds WHERE block < (SELECT min(id) FROM event) >> \(EventStore.kindBlockShift)
                """) ?? -1
            return (missing, blocks, below)
        }
    }

    func testEveryRowsKindIsInItsBlock() throws {
        let path = directory + "/blocks.db"
        try makeStore(path)
        let state = try Self.kindBlockState(path)
        XCTAssertEqual(state.missing, 0)
        let rows = try Self.plainScan(path)
        XCTAssertEqual(rows.count, 1800)
        XCTAssertEqual(state.blocks, Set(rows.map { EventStore.kindBlock(ofKey: $0.id) }).count, "a block per block of keys that holds rows")
        // No bit is set that no row of the block has (written in the rows' own transactions).
        var expected: [Int64: Int64] = [:]
        for row in rows { expected[EventStore.kindBlock(ofKey: row.id), default: 0] |= EventStore.kindBit(row.eventID) }
        let stored = try DatabaseQueue(path: path).read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT block, kinds FROM event_kinds").map { ($0[0] as Int64, $0[1] as Int64) })
        }
        XCTAssertEqual(stored, expected)
        XCTAssertEqual(Set(EventKind.all.map { EventStore.kindBit($0.id) }).count, EventKind.all.count,
                       "every kind swiftmon knows has a bit of its own")
    }

    /// `query` by EventID through the blocks returns what a plain scan of the
    /// table in key order returns, filtered in Swift: the same events in the
    /// same order, for every combination of kinds, time window, text, other
    /// filters, order and limit.
    func testQueriesByEventIDMatchAPlainScan() throws {
        let path = directory + "/compare.db"
        try makeStore(path)
        let rows = try Self.plainScan(path)
        let reader = try StoreReader(path: path)
        let first = rows.first!.time, last = rows.last!.time
        let kindSets: [[Int]] = [[1], [6], [3, 5], [203], [255], [6, 203], [2], [11, 1, 255], [1, 3, 5, 6, 11, 203, 255]]
        let windows: [(Int64?, Int64?)] = [
            (nil, nil), (first + 7 * Self.block, nil), (nil, last - 11 * Self.block),
            (Self.time(300), Self.time(700)), (Self.time(300) + 1, Self.time(300) + 2 * Self.block), (last + 1, nil),
        ]
        var compared = 0, nonEmpty = 0
        for kinds in kindSets {
            for (since, until) in windows {
                for contains in [nil, "TOOL-1", "--n 13"] as [String?] {
                    for limit in [nil, 1, 7, 1000] as [Int?] {
                        for newestFirst in [false, true] {
                            var filter = StoreFilter()
                            filter.eventIDs = kinds
                            filter.since = since.map(EventTime.init(nanosecondsSinceEpoch:))
                            filter.until = until.map(EventTime.init(nanosecondsSinceEpoch:))
                            filter.contains = contains
                            filter.limit = limit
                            filter.newestFirst = newestFirst
                            var expected = rows.filter { row in
                                kinds.contains(row.eventID) && since.map { row.time >= $0 } ?? true && until.map { row.time <= $0 } ?? true
                                    && contains.map { EventStore.fieldsContain(eventID: row.eventID, fields: row.fields, needle: Array($0.utf8)) } ?? true
                            }.map { Self.signature($0.event) }
                            if newestFirst { expected.reverse() }
                            if let limit { expected = Array(expected.prefix(limit)) }
                            let got = try reader.events(matching: filter).map(Self.signature)
                            XCTAssertEqual(got, expected, "\(filter)")
                            compared += 1
                            if !expected.isEmpty { nonEmpty += 1 }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(nonEmpty, compared / 3, "the comparisons are mostly of non-empty answers")

        // With an indexed filter beside the kinds: that index leads; the same answers.
        for kinds in kindSets {
            let changes: [(inout StoreFilter) -> Void] = [
                { $0.image = "tool3" }, { $0.processGuid = "{p-7}" }, { $0.processID = 104 }, { $0.host = "FAR1" },
            ]
            for change in changes {
                for newestFirst in [false, true] {
                    var filter = StoreFilter()
                    filter.eventIDs = kinds
                    filter.limit = 5
                    filter.newestFirst = newestFirst
                    change(&filter)
                    var all = filter
                    all.eventIDs = []
                    all.limit = nil
                    let expected = try reader.events(matching: all).filter { kinds.contains($0.kind.id) }.prefix(5).map(Self.signature)
                    XCTAssertEqual(try reader.events(matching: filter).map(Self.signature), expected, "\(filter)")
                }
            }
        }
    }

    /// Retention deletes rows; the blocks wholly below the oldest kept row go
    /// with them, and the answers still match a plain scan.
    func testRetentionDropsBlocksBelowTheOldestRow() throws {
        let path = directory + "/retention.db"
        let now = EventTime.now().nanoseconds
        var options = StoreSink.Options()
        options.batchSize = 50
        options.maxAge = 60
        options.retentionInterval = 3600  // only the call below
        let sink = try StoreSink(path: path, options: options)
        // 400 events two minutes old, 400 now: a block every 8 events.
        for n in 0..<800 {
            let time = (n < 400 ? now - 120_000_000_000 : now - 1_000_000_000) + Int64(n % 400 / 8) * Self.block + Int64(n % 8)
            try sink.emit(Self.event(n, at: time))
        }
        try sink.flush()
        XCTAssertEqual(try Self.kindBlockState(path).blocks, 100)
        try sink.writer.enforceRetention()
        sink.close()
        let state = try Self.kindBlockState(path)
        XCTAssertEqual(state.missing, 0)
        XCTAssertEqual(state.belowOldest, 0)
        XCTAssertEqual(state.blocks, 50)
        let rows = try Self.plainScan(path)
        XCTAssertEqual(rows.count, 400)
        var filter = StoreFilter()
        filter.eventIDs = [1, 6]
        filter.limit = nil
        XCTAssertEqual(try StoreReader(path: path).events(matching: filter).map(Self.signature),
                       rows.filter { [1, 6].contains($0.eventID) }.map { Self.signature($0.event) })
    }

    /// A version-6 store (the per-row EventID index) is migrated by the next
    /// writer's open: the index gone, the blocks filled from the table, every
    /// answer by EventID as before, and new rows entered as version 7 enters them.
    func testAVersionSixStoreIsMigratedWithItsAnswersUnchanged() throws {
        let path = directory + "/v6.db"
        let events = (0..<600).map { Self.event($0, at: Self.time($0)) }
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: PastStoreSchemas.versionSix)
                var key = Int64.min
                for event in events {
                    var fields: [UInt8] = []
                    EventStore.encodeFields(of: event, into: &fields)
                    key = max(key + 1, event.time.nanoseconds)
                    try db.execute(sql: """
                        INSERT INTO event (id, time, event_id, process_guid, process_id, image, fields)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [key, event.time.nanoseconds, event.kind.id, event["ProcessGuid"]?.lowercased(),
                                         event["ProcessId"].flatMap { Int($0) }, event["Image"], Data(fields)])
                }
                try db.execute(sql: "UPDATE pid_sealed SET through = (SELECT max(id) FROM event)")
                try db.execute(sql: "INSERT INTO event_pid (process_id, id) SELECT process_id, id FROM event WHERE process_id IS NOT NULL")
                try db.execute(sql: "PRAGMA user_version = 6")
            }
            try queue.close()
        }
        let kindSets: [[Int]] = [[1], [6], [3, 5], [203, 255], [2]]
        func answers() throws -> [[String]] {
            let reader = try StoreReader(path: path)
            return try kindSets.flatMap { kinds in
                try [false, true].map { newestFirst in
                    var filter = StoreFilter()
                    filter.eventIDs = kinds
                    filter.limit = 50
                    filter.newestFirst = newestFirst
                    filter.since = EventTime(nanosecondsSinceEpoch: Self.time(100))
                    return try reader.events(matching: filter).map(Self.signature)
                }
            }
        }
        let before = try answers()  // read as version 6, through its index
        XCTAssertGreaterThan(before.filter { !$0.isEmpty }.count, 6)

        let sink = try StoreSink(path: path)  // the migration
        sink.close()
        let queue = try DatabaseQueue(path: path)
        XCTAssertEqual(try queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") }, 7)
        let indexes = try queue.read {
            Set(try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event'"))
        }
        try queue.close()
        XCTAssertFalse(indexes.contains("event_by_event_id"))
        XCTAssertEqual(indexes, Set(EventStore.indexNames))
        XCTAssertEqual(try StoreReader(path: path).integrityCheck(), ["ok"])
        let state = try Self.kindBlockState(path)
        XCTAssertEqual(state.missing, 0)
        XCTAssertEqual(try answers(), before)

        // New rows, older and newer than the migrated ones, join their blocks.
        let again = try StoreSink(path: path)
        try again.emit(Self.event(13, at: Self.time(10) + 1))  // a driver load (6), among old rows
        try again.emit(Self.event(110, at: Self.time(700)))
        try again.flush()
        again.close()
        XCTAssertEqual(try Self.kindBlockState(path).missing, 0)
        var drivers = StoreFilter()
        drivers.eventIDs = [6]
        drivers.limit = nil
        XCTAssertEqual(try StoreReader(path: path).events(matching: drivers).map(Self.signature),
                       try Self.plainScan(path).filter { $0.eventID == 6 }.map { Self.signature($0.event) })
    }
}
