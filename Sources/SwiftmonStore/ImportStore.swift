import Foundation
import GRDB
import GRDBSQLite
import SwiftmonCore

/// One imported event and the host that produced it.
public struct HostEvent: Sendable {
    public var event: Event
    public var host: String
    /// The stream's EventRecordID, when the source has one (XML).
    public var recordID: UInt64?
    public init(event: Event, host: String, recordID: UInt64? = nil) {
        self.event = event
        self.host = host
        self.recordID = recordID
    }
}

/// The writer `swiftmon import` uses: rows with their host and an import key,
/// inserted so that an event already in the store is skipped and counted as a
/// duplicate (by the unique import-key index, or while that is deferred, by
/// the identities this import stored). One transaction per batch, on the
/// caller's thread: an import wants back-pressure, not a queue that drops.
///
/// The key is a 64-bit hash of the event's content (every field value, UtcTime
/// included, in schema order), unique together with the host and the EventID.
/// Not the EventRecordID: that counts per output stream (swiftmon keeps one per
/// output) or restarts (Sysmon for Linux), so the same event read from two
/// streams of one host has two ids but one content, and two hosts' ids collide.
/// Events of one host and EventID that agree in every field, time to the
/// millisecond included, do happen (Sysmon logs a pipe connection twice in one
/// millisecond), and a forwarder that resends after a crash repeats events.
/// So where the line carries an EventRecordID (XML: Sysmon for Linux,
/// swiftmon's syslog and XML outputs) it joins the key: a resent event is the
/// same event, two identical events are two. Where it does not (JSON lines,
/// .evtx/.etl through their decoders), the k-th event of one content read in
/// one import gets the key mixed with k: each is kept, and reading the same
/// events again — in the same or another record-id-less format — yields the
/// same keys. Two different events share a key with probability about
/// n² / 2⁶⁵ (n events of that host and EventID).
public final class ImportStore {
    public let path: String
    private let queue: DatabaseQueue
    /// How often each (host, EventID, content) was seen in this import; bounded.
    private var occurrences: [UInt64: UInt32] = [:]
    static let maxTrackedContents = 1 << 20

    static let insertSQL = """
        INSERT OR IGNORE INTO event (time, event_id, process_guid, process_id, parent_process_guid, image, fields, raw,
                                     container_id, host, import_key, id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Whether the indexes were dropped for this import (the store was
    /// empty) and are to be built by ``close()``.
    public private(set) var deferredIndexes = false

    /// While the import-key index is deferred: the identity (import key,
    /// host, EventID, hashed to 64 bits) of every row this import stored,
    /// which is every row of the store. A row whose identity is here is a
    /// duplicate. Bounded by ``maxTrackedIdentities``: past it the index is
    /// built (a sort of what is stored) and the rest of the import inserts
    /// through it, as into a store that held events.
    private var identities: Set<UInt64>?
    /// 3 M identities ≈ 32 MiB (a `Set<UInt64>` of 4 M buckets), the rows of a
    /// ~3.3 GiB collector file.
    public static let maxTrackedIdentities = 3_000_000
    var maxIdentities = ImportStore.maxTrackedIdentities
    /// Process-id entries per sealed segment (``EventStore/processIDTables``).
    var processIDSegmentRows = EventStore.processIDSegmentRows

    /// `deferIndexes`: into an empty store, insert without any index and
    /// build them once at ``close()`` (a sort instead of a B-tree insert per
    /// row and index; the import key's, whose keys are random, cost a page
    /// write per few rows per transaction), telling duplicates by
    /// ``identities`` meanwhile. An import that never closes leaves a store
    /// that reads (by scanning) and that the next writer's open completes.
    public init(path: String, deferIndexes: Bool = true) throws {
        self.path = path
        queue = try EventStore.openForWriting(path: path)
        do {
            deferredIndexes = try queue.writeWithoutTransaction { db -> Bool in
                try db.execute(sql: "PRAGMA journal_size_limit = \(StoreSinkWriter.defaultWALBudget)")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 8192")
                guard deferIndexes else { return false }
                var dropped = false
                try db.inTransaction {
                    // Only an empty store: rebuilding another's indexes would cost more than it saves.
                    if try Bool.fetchOne(db, sql: "SELECT NOT EXISTS (SELECT 1 FROM event)") ?? false {
                        for name in EventStore.indexNames { try db.execute(sql: "DROP INDEX IF EXISTS \(name)") }
                        dropped = true
                    }
                    return .commit
                }
                return dropped
            }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "configure", message: error.message ?? "\(error)")
        }
        if deferredIndexes { identities = [] }
        do {
            processIDs = try queue.read { try ProcessIDSegment($0) }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "open", message: error.message ?? "\(error)")
        }
    }

    /// The open segment's rows (``EventStore/processIDTables``). While the
    /// indexes are deferred nothing is sealed: ``close()`` seals the whole
    /// import in one sorted pass, with the other index builds.
    private var processIDs: ProcessIDSegment?

    /// Rows another import had stored too, deleted when the import-key index
    /// was built at the bound; ``close()`` reports them with its own.
    private var removedAtBound = 0

    /// Builds the import-key index now and stops tracking identities.
    func buildImportKeyIndex() throws {
        var removed = 0
        try queue.inTransaction { db in
            removed = try EventStore.createImportKeyIndex(db)
            return .commit
        }
        removedAtBound += removed
        identities = nil
    }

    /// The identity of a row while the import-key index is deferred: what
    /// that index's uniqueness is over, in 64 bits.
    static func identity(key: Int64, host: String, eventID: Int) -> UInt64 {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 + host.utf8.count)
        withUnsafeBytes(of: key.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: Int64(eventID).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: host.utf8)
        return hash(bytes, seed: 0x5EED_1D00_0000_0001)
    }

    /// Inserts `events` in one transaction; returns how many were new and how
    /// many were in the store already. Throws ``StoreError`` when the
    /// transaction fails (then none of the batch is stored).
    public func insert(_ events: [HostEvent]) throws -> (inserted: Int, duplicates: Int) {
        var inserted = 0
        // Identities this transaction added: forgotten again if it fails.
        var added: [UInt64] = []
        var segment = processIDs
        do {
            if let identities, identities.count + events.count > maxIdentities { try buildImportKeyIndex() }
            // IMMEDIATE: the write lock before the keys are read (``TimeKeys``);
            // a key is free, so OR IGNORE skips only what the import key finds.
            try queue.inTransaction(.immediate) { db in
                var insert = try EventInsert(try db.cachedStatement(sql: ImportStore.insertSQL),
                                             processIDs: try db.cachedStatement(sql: EventStore.insertProcessIDSQL),
                                             kindBlocks: try db.cachedStatement(sql: EventStore.markKindSQL), in: db)
                for item in events {
                    let rc = insert.insert(item.event, host: item.host) { fields, raw -> Int64? in
                        let content = ImportStore.key(fields: fields, raw: raw)
                        let key = item.recordID.map { ImportStore.key(content, recordID: $0) }
                            ?? self.occurrenceKey(content, host: item.host, eventID: item.event.kind.id)
                        guard self.identities != nil else { return key }
                        let identity = ImportStore.identity(key: key, host: item.host, eventID: item.event.kind.id)
                        guard self.identities!.insert(identity).inserted else { return nil }
                        added.append(identity)
                        return key
                    }
                    if rc == EventInsert.skipped { continue }
                    guard rc == SQLITE_DONE else {
                        throw DatabaseError(resultCode: ResultCode(rawValue: rc),
                                            message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                    }
                    inserted += Int(sqlite3_changes(db.sqliteConnection))
                }
                try segment?.add(insert.openSegmentRows, segmentRows: deferredIndexes ? nil : processIDSegmentRows, db)
                return .commit
            }
        } catch let error as DatabaseError {
            if identities != nil { for identity in added { identities!.remove(identity) } }
            throw StoreError.sqlite(path: path, operation: "insert", message: error.message ?? "\(error)")
        }
        processIDs = segment
        return (inserted, events.count - inserted)
    }

    static func key(_ content: Int64, recordID: UInt64) -> Int64 {
        var bytes: [UInt8] = [0xFF]
        EventStore.appendVarint(recordID, to: &bytes)
        return Int64(bitPattern: hash(bytes, seed: UInt64(bitPattern: content)))
    }

    /// The key of the k-th event with this content (k from 0) in this import.
    /// Identical events share a millisecond, so forgetting old contents (when
    /// the table is full) costs nothing in practice.
    func occurrenceKey(_ key: Int64, host: String, eventID: Int) -> Int64 {
        let identity = ImportStore.hash(Array(host.utf8), seed: UInt64(bitPattern: key) ^ UInt64(eventID))
        if occurrences.count >= ImportStore.maxTrackedContents { occurrences.removeAll(keepingCapacity: true) }
        let seen = occurrences[identity, default: 0]
        occurrences[identity] = seen + 1
        guard seen > 0 else { return key }
        var ordinal: [UInt8] = []
        EventStore.appendVarint(UInt64(seen), to: &ordinal)
        return Int64(bitPattern: ImportStore.hash(ordinal, seed: UInt64(bitPattern: key)))
    }

    /// Builds what was deferred, folds the WAL into the file and lets go of
    /// it. Returns how many stored rows turned out to be duplicates when the
    /// import-key index was built (0 unless another import wrote into the
    /// same new store at the same time); they are deleted.
    @discardableResult
    public func close() throws -> Int {
        var removed = 0
        do {
            try queue.writeWithoutTransaction { db in
                if deferredIndexes {
                    // Each build sorts the whole import: let the sorter spill
                    // to a temporary file rather than hold it all in memory.
                    try db.execute(sql: "PRAGMA temp_store = FILE")
                    try db.inTransaction {
                        removed = try EventStore.createImportKeyIndex(db)
                        try db.execute(sql: EventStore.schema)
                        try EventStore.sealProcessIDs(db)
                        return .commit
                    }
                    try db.execute(sql: "PRAGMA temp_store = MEMORY")
                    identities = nil
                }
                try db.execute(sql: "PRAGMA optimize")
                try db.checkpoint(.passive)
            }
            try queue.close()
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "close", message: error.message ?? "\(error)")
        }
        EventStore.tightenSidecarModes(path)
        defer { removedAtBound = 0 }
        return removed + removedAtBound
    }

    /// The import key of an event's encoded fields (and exact bytes): a 64-bit
    /// hash (xxHash64's single-lane rounds and avalanche), the same on every
    /// machine and run, as a signed SQLite integer.
    static func key(fields: [UInt8], raw: [UInt8]?) -> Int64 {
        fields.withUnsafeBytes { f in
            guard let raw else { return key(fields: f, raw: nil) }
            return raw.withUnsafeBytes { key(fields: f, raw: $0) }
        }
    }

    static func key(fields: UnsafeRawBufferPointer, raw: UnsafeRawBufferPointer?) -> Int64 {
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
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    static func hash(_ b: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
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
