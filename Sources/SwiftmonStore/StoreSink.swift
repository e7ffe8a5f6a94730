#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import GRDB
import SwiftmonCore

/// `--store PATH`: every event into the embedded SQLite store.
///
/// `emit` appends to a bounded in-memory batch; one writer thread commits a
/// transaction every ``Options/commitInterval`` or ``Options/batchSize``
/// events, whichever comes first, and enforces retention (``Options/maxAge``,
/// ``Options/maxSize``) while running. A write that fails (disk full, I/O
/// error) costs that batch — counted as `writeError` — and the writer carries
/// on; the sensor and its other sinks never wait on the disk.
public final class StoreSink: EventSink, DeliveryReporting, @unchecked Sendable {
    public struct Options: Sendable {
        /// Most events per transaction.
        public var batchSize: Int = 8192
        /// Longest an event waits before its transaction commits (seconds).
        public var commitInterval: Double = 0.1
        /// Events waiting for the writer beyond this are dropped (`backlog`).
        public var maxPending: Int = 500_000
        /// Largest the store may grow to, in bytes (database plus WAL); `nil`: no limit.
        public var maxSize: Int64? = nil
        /// Events older than this (seconds) are deleted; `nil`: kept for ever.
        public var maxAge: Double? = nil
        /// How often retention is checked (seconds).
        public var retentionInterval: Double = 1

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

    public let path: String
    public let options: Options
    public var deliveryName: String { "store \(path)" }

    /// Called on the writer thread after each commit with the total committed so far.
    public var onCommit: (@Sendable (UInt64) -> Void)?

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

    /// Opens or creates the store. Throws ``StoreError`` with the path and the
    /// reason when it cannot (directory missing, permission, not a store).
    public init(path: String, options: Options = Options()) throws {
        self.path = path
        self.options = options
        self.queue = try EventStore.openForWriting(path: path)
        if let maxSize = options.maxSize {
            let budget = StoreSink.walBudget(maxSize)
            try? queue.writeWithoutTransaction { db in
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA journal_size_limit = \(budget)")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(max(16, budget / pageSize))")
            }
        }
        pending.reserveCapacity(options.batchSize)
        let thread = Thread { [unowned self] in self.writerLoop() }
        thread.name = "swiftmon-store"
        thread.start()
    }

    deinit { close() }

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
        return SinkDeliveryCounts(
            accepted: accepted, delivered: committed,
            dropped: Dictionary(uniqueKeysWithValues: dropped.map { ($0.key.rawValue, $0.value) }))
    }

    public struct Status: Sendable {
        public var pending: Int
        public var deletedByRetention: UInt64
        public var lastError: String?
    }

    public var status: Status {
        condition.lock()
        defer { condition.unlock() }
        return Status(pending: pending.count, deletedByRetention: deletedByRetention, lastError: lastErrorText)
    }

    private var droppedTotalLocked: UInt64 { dropped.values.reduce(0, +) }

    // MARK: Writer thread

    private func writerLoop() {
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
                try? queue.writeWithoutTransaction { try $0.checkpoint(.passive) }
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
        do {
            try queue.inTransaction { db in
                let statement = try db.cachedStatement(sql: EventStore.insertSQL)
                var fields: [UInt8] = []
                fields.reserveCapacity(4096)
                for event in events {
                    fields.removeAll(keepingCapacity: true)
                    EventStore.encodeFields(event.values, into: &fields)
                    let columns = IndexedColumns(event)
                    let raw = EventStore.encodeRaw(event.rawBytes).map { Data($0) }
                    statement.setUncheckedArguments([
                        event.time.nanoseconds, event.kind.id, columns.processGuid, columns.processID,
                        columns.parentProcessGuid, columns.image, columns.search, Data(fields), raw,
                    ])
                    try statement.execute()
                }
                return .commit
            }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "insert", message: error.message ?? "\(error)")
        }
    }

    // MARK: Retention

    /// Deletes events older than `maxAge` and, while the store is larger than
    /// `maxSize`, the oldest tenth of what remains; then gives freed pages back.
    func enforceRetention() throws {
        var deleted = 0
        if let maxAge = options.maxAge {
            let cutoff = EventTime.now().nanoseconds - Int64(maxAge * 1_000_000_000)
            // In slices, so readers and the next batch never wait long.
            while true {
                let n = try queue.write { db -> Int in
                    try db.execute(sql: """
                        DELETE FROM event WHERE id IN (SELECT id FROM event WHERE time < ? ORDER BY time LIMIT 50000)
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
            let dataLimit = maxSize - StoreSink.walBudget(maxSize)
            for _ in 0..<10 {
                let live = try liveBytes()
                guard live > dataLimit else { break }
                let n = try queue.write { db -> Int in
                    guard let low = try Int64.fetchOne(db, sql: "SELECT min(id) FROM event"),
                          let high = try Int64.fetchOne(db, sql: "SELECT max(id) FROM event")
                    else { return 0 }
                    // Aim 10 % below the limit so deletion is not needed on every check.
                    let fraction = min(0.5, max(0.01, 1 - Double(dataLimit) * 0.9 / Double(live)))
                    let count = max(1, Int64(Double(high - low + 1) * fraction))
                    try db.execute(sql: "DELETE FROM event WHERE id < ?", arguments: [low + count])
                    return db.changesCount
                }
                deleted += n
                try reclaimSpace()
                if n == 0 { break }
            }
        }
        if deleted > 0 {
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
    static func walBudget(_ maxSize: Int64) -> Int64 { min(64 << 20, max(64 << 10, maxSize / 8)) }

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

/// The values of an event that the store indexes, whatever the event kind
/// calls them (ProcessAccess spells `SourceProcessGUID`).
struct IndexedColumns {
    var processGuid: String?
    var processID: Int?
    var parentProcessGuid: String?
    var image: String?
    var search: String

    /// Where each indexed value sits in a kind's fields, worked out once per kind.
    struct Positions {
        var processGuid: Int?
        var processID: Int?
        var parentProcessGuid: Int?
        var image: Int?
        var searched: [Int]

        init(_ kind: EventKind) {
            func first(_ names: String...) -> Int? { names.lazy.compactMap { kind.index(of: $0) }.first }
            processGuid = first("ProcessGuid", "SourceProcessGuid", "SourceProcessGUID")
            processID = first("ProcessId", "SourceProcessId")
            parentProcessGuid = first("ParentProcessGuid")
            image = first("Image", "SourceImage")
            searched = kind.fields.indices.filter { EventStore.searchedFields.contains(kind.fields[$0]) }
        }

        static let byKind: [Int: Positions] = Dictionary(
            uniqueKeysWithValues: EventKind.all.map { ($0.id, Positions($0)) })
    }

    init(_ event: Event) {
        let positions = Positions.byKind[event.kind.id] ?? Positions(event.kind)
        let values = event.values
        func value(_ index: Int?) -> String? {
            guard let index, values[index] != Event.absent else { return nil }
            return values[index]
        }
        processGuid = value(positions.processGuid)
        processID = value(positions.processID).flatMap { Int($0) }
        parentProcessGuid = value(positions.parentProcessGuid)
        image = value(positions.image)
        var search = ""
        for index in positions.searched where values[index] != Event.absent {
            if !search.isEmpty { search += "\n" }
            search += values[index]
        }
        self.search = search
    }
}
