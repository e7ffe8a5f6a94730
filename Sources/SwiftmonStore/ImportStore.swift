import Foundation
import GRDB
import GRDBSQLite
import SwiftmonCore

/// One imported event and the host that produced it.
public struct HostEvent: Sendable {
    public var event: Event
    public var host: String
    public init(event: Event, host: String) {
        self.event = event
        self.host = host
    }
}

/// The writer `swiftmon import` uses: rows with their host and an import key,
/// inserted so that an event already in the store is skipped and counted as a
/// duplicate. One transaction per batch, on the caller's thread: an import
/// wants back-pressure, not a queue that drops.
///
/// The key is a 64-bit hash of the event's content (every field value, UtcTime
/// included, in schema order), unique together with the host and the EventID.
/// Not the EventRecordID: that counts per output stream (swiftmon keeps one per
/// output) or restarts (Sysmon for Linux), so the same event read from two
/// streams of one host has two ids but one content, and two hosts' ids collide.
/// Two events of one host and EventID that agree in every field, time to the
/// millisecond included, are one event; two different events share a key with
/// probability about n² / 2⁶⁵ (n events of that host and EventID).
public final class ImportStore {
    public let path: String
    private let queue: DatabaseQueue

    static let insertSQL = """
        INSERT OR IGNORE INTO event (time, event_id, process_guid, process_id, parent_process_guid, image, fields, raw,
                                     container_id, host, import_key)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    public init(path: String) throws {
        self.path = path
        queue = try EventStore.openForWriting(path: path)
        do {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_size_limit = \(StoreSinkWriter.defaultWALBudget)")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 8192")
            }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "configure", message: error.message ?? "\(error)")
        }
    }

    /// Inserts `events` in one transaction; returns how many were new and how
    /// many were in the store already. Throws ``StoreError`` when the
    /// transaction fails (then none of the batch is stored).
    public func insert(_ events: [HostEvent]) throws -> (inserted: Int, duplicates: Int) {
        var inserted = 0
        do {
            try queue.inTransaction { db in
                let statement = try db.cachedStatement(sql: ImportStore.insertSQL)
                let insert = EventInsert(statement.sqliteStatement)
                var fields: [UInt8] = []
                fields.reserveCapacity(4096)
                for item in events {
                    let event = item.event
                    fields.removeAll(keepingCapacity: true)
                    EventStore.encodeFields(event.values, into: &fields)
                    let raw = EventStore.encodeRaw(event.rawBytes)
                    let columns = IndexedColumns(event)
                    insert.bind(1, event.time.nanoseconds)
                    insert.bind(2, Int64(event.kind.id))
                    insert.bind(3, columns.processGuid)
                    insert.bind(4, columns.processID.map(Int64.init))
                    insert.bind(5, columns.parentProcessGuid)
                    insert.bind(6, columns.image)
                    insert.bind(7, blob: fields)
                    insert.bind(8, blob: raw)
                    insert.bind(9, columns.containerID)
                    insert.bind(10, item.host)
                    insert.bind(11, ImportStore.key(fields: fields, raw: raw))
                    let rc = sqlite3_step(insert.statement)
                    sqlite3_reset(insert.statement)
                    guard rc == SQLITE_DONE else {
                        throw DatabaseError(resultCode: ResultCode(rawValue: rc),
                                            message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                    }
                    inserted += Int(sqlite3_changes(db.sqliteConnection))
                }
                sqlite3_clear_bindings(insert.statement)
                return .commit
            }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "insert", message: error.message ?? "\(error)")
        }
        return (inserted, events.count - inserted)
    }

    /// Folds the WAL into the file and lets go of it.
    public func close() throws {
        do {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA optimize")
                try db.checkpoint(.passive)
            }
            try queue.close()
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "close", message: error.message ?? "\(error)")
        }
        EventStore.tightenSidecarModes(path)
    }

    /// The import key of an event's encoded fields (and exact bytes): a 64-bit
    /// hash (xxHash64's single-lane rounds and avalanche), the same on every
    /// machine and run, as a signed SQLite integer.
    static func key(fields: [UInt8], raw: [UInt8]?) -> Int64 {
        var h = hash(fields, seed: 0x9E37_79B1_85EB_CA87)
        if let raw { h = hash(raw, seed: h) }
        return Int64(bitPattern: h)
    }

    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    static func hash(_ bytes: [UInt8], seed: UInt64) -> UInt64 {
        bytes.withUnsafeBytes { b -> UInt64 in
            var h = seed &+ p5 &+ UInt64(b.count)
            var i = 0
            while i + 8 <= b.count {
                var k = b.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
                k = k &* p2
                k = (k << 31) | (k >> 33)
                k = k &* p1
                h ^= k
                h = ((h << 27) | (h >> 37)) &* p1 &+ p4
                i += 8
            }
            while i < b.count {
                h ^= UInt64(b[i]) &* p5
                h = ((h << 11) | (h >> 53)) &* p1
                i += 1
            }
            h ^= h >> 33
            h = h &* p2
            h ^= h >> 29
            h = h &* p3
            h ^= h >> 32
            return h
        }
    }
}
