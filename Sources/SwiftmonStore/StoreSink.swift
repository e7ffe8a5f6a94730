#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import GRDB
import GRDBSQLite
import SwiftmonCore
import SwiftmonSystem

/// `--store PATH`: every event into the embedded SQLite store.
///
/// `emit` appends to a bounded in-memory batch; one writer thread commits a
/// transaction every ``Options/commitInterval`` or ``Options/batchSize``
/// events, whichever comes first, and enforces retention (``Options/maxAge``,
/// ``Options/maxSize``) while running. A write that fails (disk full, I/O
/// error) costs that batch — counted as `writeError` — and the writer carries
/// on; the sensor and its other sinks never wait on the disk.
public final class StoreSink: EventSink, DeliveryReporting, Sendable {
    public struct Options: Sendable {
        /// Most events per transaction. Large, because a transaction writes every
        /// index page it touched to the WAL once: with scattered keys (pids,
        /// GUIDs) that is a page per few events in small transactions.
        public var batchSize: Int = 65536
        /// Longest an event waits before its transaction commits (seconds).
        public var commitInterval: Double = 0.25
        /// Events waiting for the writer beyond this are dropped (`backlog`).
        public var maxPending: Int = 500_000
        /// Largest the store may grow to, in bytes (database plus WAL); `nil`: no limit.
        public var maxSize: Int64? = nil
        /// Events older than this (seconds) are deleted; `nil`: kept for ever.
        public var maxAge: Double? = nil
        /// How often retention is checked (seconds).
        public var retentionInterval: Double = 1
        /// Process-id entries per sealed segment (see ``EventStore/processIDTables``).
        public var processIDSegmentRows: Int = EventStore.processIDSegmentRows

        public init() {}
    }

    public enum DropReason: String, Sendable, CaseIterable {
        /// The writer fell more than ``Options/maxPending`` events behind.
        case backlog
        /// The transaction holding the event failed (disk full, I/O error).
        case writeError
        /// Emitted after ``close()``.
        case closed
    }

    /// Opens or creates the store. Throws ``StoreError`` with the path and the
    /// reason when it cannot (directory missing, permission, not a store).
    /// `onCommit` is called on the writer thread after each commit with the
    /// number of events committed so far.
    public init(path: String, options: Options = Options(), onCommit: (@Sendable (UInt64) -> Void)? = nil) throws {
        writer = try StoreSinkWriter(path: path, options: options, onCommit: onCommit)
        writer.start()
    }

    deinit { writer.close() }

    let writer: StoreSinkWriter
    public var path: String { writer.path }
    public var options: Options { writer.options }
    public var deliveryName: String { "store \(path)" }

    public func emit(_ event: Event) throws { try writer.emit(event) }
    /// Commits everything emitted so far before returning.
    public func flush() throws { try writer.flush() }
    /// Commits what is pending and stops the writer. Later events are dropped (`closed`).
    public func close() { writer.close() }
    public var deliveryCounts: SinkDeliveryCounts { writer.deliveryCounts }

    public struct Status: Sendable {
        public var pending: Int
        public var deletedByRetention: UInt64
        public var lastError: String?
    }

    public var status: Status { writer.status }

    /// Bytes on disk: database file plus WAL.
    public func currentSize() throws -> Int64 { try writer.currentSize() }
}

/// The state and thread behind a ``StoreSink``.
final class StoreSinkWriter: @unchecked Sendable {  // the vars below `condition` are guarded by it
    typealias Options = StoreSink.Options
    typealias DropReason = StoreSink.DropReason
    typealias Status = StoreSink.Status

    public let path: String
    public let options: Options

    /// Called on the writer thread after each commit with the total committed so far.
    let onCommit: (@Sendable (UInt64) -> Void)?

    private let queue: DatabaseQueue
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var pending: [Event] = []
    private var accepted: UInt64 = 0
    private var committed: UInt64 = 0
    private var dropped: [DropReason: UInt64] = [:]
    private var deletedByRetention: UInt64 = 0
    private var lastErrorText: String?
    private var writing = false
    private var stopping = false
    private var writerDone = false

    init(path: String, options: Options, onCommit: (@Sendable (UInt64) -> Void)?) throws {
        self.onCommit = onCommit
        self.path = path
        self.options = options
        self.queue = try EventStore.openForWriting(path: path)
        // Checkpoints copy every page the WAL holds; a larger WAL between them
        // copies a hot index page once instead of once per few transactions.
        let budget = options.maxSize.map(StoreSinkWriter.walBudget) ?? StoreSinkWriter.defaultWALBudget
        do {
            try queue.writeWithoutTransaction { db in
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA journal_size_limit = \(budget)")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(max(16, budget / pageSize))")
            }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "configure", message: error.message ?? "\(error)")
        }
        do {
            processIDs = try queue.read { try ProcessIDSegment($0) }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "open", message: error.message ?? "\(error)")
        }
        pending.reserveCapacity(options.batchSize)
    }

    /// The writer thread's count of the open segment's rows.
    private var processIDs: ProcessIDSegment?

    /// The thread holds the writer, not the sink: releasing the sink closes it.
    func start() {
        let thread = Thread { self.writerLoop() }
        thread.name = "swiftmon-store"
        thread.start()
    }

    public func emit(_ event: Event) throws {
        condition.lock()
        defer { condition.unlock() }
        accepted += 1
        if stopping {
            dropped[.closed, default: 0] += 1
            return
        }
        if pending.count >= options.maxPending {
            dropped[.backlog, default: 0] += 1
            return
        }
        pending.append(event)
        if pending.count >= options.batchSize { condition.signal() }
    }

    /// Commits everything emitted so far before returning.
    public func flush() throws {
        condition.lock()
        defer { condition.unlock() }
        let target = accepted
        condition.broadcast()
        while !writerDone, committed + droppedTotalLocked < target { condition.wait() }
    }

    /// Commits what is pending and stops the writer. Later events are dropped (`closed`).
    public func close() {
        condition.lock()
        if !stopping {
            stopping = true
            condition.broadcast()
        }
        while !writerDone { condition.wait() }
        condition.unlock()
    }

    public var deliveryCounts: SinkDeliveryCounts {
        condition.lock()
        defer { condition.unlock() }
        return SinkDeliveryCounts(accepted: accepted, delivered: committed, droppedBy: dropped)
    }


    public var status: Status {
        condition.lock()
        defer { condition.unlock() }
        return Status(pending: pending.count, deletedByRetention: deletedByRetention, lastError: lastErrorText)
    }

    private var droppedTotalLocked: UInt64 { dropped.values.reduce(0, +) }

    // MARK: Writer thread

    private func writerLoop() {
        Syscalls.nameCurrentThread("swiftmon-store")
        var batch: [Event] = []
        batch.reserveCapacity(options.batchSize)
        var nextRetention = Date(timeIntervalSinceNow: options.retentionInterval)
        var failures = 0
        while true {
            condition.lock()
            let deadline = Date(timeIntervalSinceNow: options.commitInterval)
            while pending.count < options.batchSize, !stopping {
                if !condition.wait(until: deadline) { break }
            }
            swap(&batch, &pending)
            let finishing = stopping
            condition.unlock()

            var start = 0
            while start < batch.count {
                let end = min(start + options.batchSize, batch.count)
                do {
                    try insert(batch[start..<end])
                    failures = 0
                    condition.lock()
                    committed += UInt64(end - start)
                    let total = committed
                    condition.broadcast()
                    condition.unlock()
                    onCommit?(total)
                } catch {
                    failures += 1
                    condition.lock()
                    dropped[.writeError, default: 0] += UInt64(end - start)
                    lastErrorText = "\(error)"
                    condition.broadcast()
                    condition.unlock()
                }
                start = end
            }
            batch.removeAll(keepingCapacity: true)

            if (options.maxAge != nil || options.maxSize != nil), Date() >= nextRetention {
                do {
                    try enforceRetention()
                } catch {
                    condition.lock()
                    lastErrorText = "retention: \(error)"
                    condition.unlock()
                }
                nextRetention = Date(timeIntervalSinceNow: options.retentionInterval)
            }
            if finishing {
                try? queue.writeWithoutTransaction { db in
                    // Statistics for the query planner, as SQLite recommends at close.
                    try db.execute(sql: "PRAGMA optimize")
                    try db.checkpoint(.passive)
                }
                // Closing the last connection folds the WAL into the file and removes it.
                try? queue.close()
                condition.lock()
                writerDone = true
                condition.broadcast()
                condition.unlock()
                return
            }
            if failures > 0 {
                // A failing disk: do not spin; events keep queueing (bounded) meanwhile.
                Thread.sleep(forTimeInterval: min(0.05 * Double(failures), 1))
            }
        }
    }

    private func insert(_ events: ArraySlice<Event>) throws {
        try StoreSinkWriter.insert(events, into: queue, path: path, processIDs: &processIDs,
                                   segmentRows: options.processIDSegmentRows)
    }

    /// One transaction of `events` through the cached insert statement (the
    /// sink's writer, and `bench store`'s floor, which passes nil for
    /// `processIDs` and false for `kindBlocks`: no process-id entries, no
    /// kind blocks). `processIDs` changes only when the transaction commits.
    static func insert(_ events: ArraySlice<Event>, into queue: DatabaseQueue, path: String,
                       processIDs: inout ProcessIDSegment?, segmentRows: Int = EventStore.processIDSegmentRows,
                       kindBlocks: Bool = true) throws {
        var segment = processIDs
        do {
            // IMMEDIATE: the write lock before the keys are read (``TimeKeys``).
            try queue.inTransaction(.immediate) { db in
                let entries = try segment.map { _ in try db.cachedStatement(sql: EventStore.insertProcessIDSQL) }
                let kinds = kindBlocks ? try db.cachedStatement(sql: EventStore.markKindSQL) : nil
                var insert = try EventInsert(try db.cachedStatement(sql: EventStore.insertSQL), processIDs: entries,
                                             kindBlocks: kinds, in: db)
                for event in events {
                    let rc = insert.insert(event)
                    guard rc == SQLITE_DONE else {
                        throw DatabaseError(resultCode: ResultCode(rawValue: rc),
                                            message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                    }
                }
                try segment?.add(insert.openSegmentRows, segmentRows: segmentRows, db)
                return .commit
            }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "insert", message: error.message ?? "\(error)")
        }
        processIDs = segment
    }

    // MARK: Retention

    /// Deletes events older than `maxAge` and, while the store is larger than
    /// `maxSize`, the oldest rows (by count: enough to come 10 % under it); then
    /// gives freed pages back.
    func enforceRetention() throws {
        var deleted = 0
        if let maxAge = options.maxAge {
            let cutoff = EventTime.now().nanoseconds - Int64(maxAge * 1_000_000_000)
            // A key range (rows are keyed by time: ``EventStore/table(named:)``;
            // a row whose key lies above its time goes a little later), in
            // slices, so readers and the next batch never wait long.
            while true {
                let n = try queue.write { db -> Int in
                    // The slice's process-id entries first, found from its rows.
                    try EventStore.forgetProcessIDs(ofRowsBelow: cutoff, limit: 50000, db)
                    try db.execute(sql: """
                        DELETE FROM event WHERE id IN (SELECT id FROM event WHERE id < ? ORDER BY id LIMIT 50000)
                        """, arguments: [cutoff])
                    return db.changesCount
                }
                deleted += n
                if n < 50000 { break }
            }
        }
        if let maxSize = options.maxSize {
            // The WAL gets its own slice of the budget (see `walBudget`); the
            // live pages of the database get the rest.
            let dataLimit = maxSize - StoreSinkWriter.walBudget(maxSize)
            for _ in 0..<10 {
                let live = try liveBytes()
                guard live > dataLimit else { break }
                let n = try queue.write { db -> Int in
                    // The oldest rows by count, not the oldest part of the time
                    // span: times have gaps (a host switched off for a week, a
                    // clock step), and a fraction of a span with a gap in it can
                    // take every row but the newest.
                    // Aim 10 % below the limit so deletion is not needed on every check.
                    let fraction = min(0.5, max(0.01, 1 - Double(dataLimit) * 0.9 / Double(live)))
                    let rows = try Int64.fetchOne(db, sql: "SELECT count(*) FROM event") ?? 0
                    guard rows > 0 else { return 0 }
                    let count = max(1, Int64(Double(rows) * fraction))
                    // Keys are unique, so the key `count` rows in is where the kept rows start.
                    let cutoff = try Int64.fetchOne(
                        db, sql: "SELECT id FROM event ORDER BY id LIMIT 1 OFFSET ?", arguments: [count]) ?? Int64.max
                    try EventStore.forgetProcessIDs(ofRowsBelow: cutoff, db)
                    try db.execute(sql: "DELETE FROM event WHERE id < ?", arguments: [cutoff])
                    return db.changesCount
                }
                deleted += n
                try reclaimSpace()
                if n == 0 { break }
            }
        }
        if deleted > 0 {
            try queue.write { try EventStore.forgetKindBlocksBelowOldestRow($0) }
            if options.maxSize == nil { try reclaimSpace() }
            condition.lock()
            deletedByRetention += UInt64(deleted)
            condition.unlock()
        }
    }

    private func reclaimSpace() throws {
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA incremental_vacuum")
            // Moves the WAL into the database file so the freed pages are cut off the file.
            _ = try? db.checkpoint(.truncate)
        }
    }

    /// The part of `maxSize` left to the WAL: SQLite checkpoints when the WAL
    /// reaches it and truncates the file back to it afterwards.
    static func walBudget(_ maxSize: Int64) -> Int64 { min(defaultWALBudget, max(64 << 10, maxSize / 8)) }
    static let defaultWALBudget: Int64 = 64 << 20

    /// Bytes of the database's pages that hold data (not free pages).
    func liveBytes() throws -> Int64 {
        try queue.read { db -> Int64 in
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            return (pages - free) * pageSize
        }
    }

    /// Bytes on disk: database file plus WAL.
    func currentSize() throws -> Int64 {
        func fileSize(_ p: String) -> Int64 {
            var info = stat()
            return stat(p, &info) == 0 ? Int64(info.st_size) : 0
        }
        let logical = try liveBytes()
        return max(logical, fileSize(path)) + fileSize(path + "-wal")
    }
}
