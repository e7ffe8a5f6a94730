import GRDB

extension EventStore {
    /// The process-id index in sealed segments. Process ids are scattered
    /// (pid_max is 4,194,304 and pids wrap), so an index on
    /// `event(process_id)` put each row's entry on a page of its own: every
    /// transaction dirtied (and wrote to the WAL) a page per few rows, and
    /// that one index cost as much as the other four together (measured with
    /// SQLite alone: 4.3 µs of 8 µs per row).
    ///
    /// So the rows are indexed in segments. `pid_sealed.through` is the
    /// sealed key: every row at or below it has its (process id, key) entry in
    /// `event_pid`; the rows above it — the open segment, at most
    /// ``processIDSegmentRows`` plus a transaction per writer — have none, and
    /// a lookup reads them from the table's key range above the sealed key
    /// (``processIDMatch(schemaVersion:)``): a range of the table's own
    /// B-tree, which any reader sees as committed, the writer's process or
    /// another. When a writer's open segment is full, its entries are made
    /// from that key range in one pass in (process id, key) order
    /// (``sealProcessIDs(_:)``), which touches each page of the large tree
    /// once per segment rather than once per few rows, and the sealed key
    /// moves to the highest row. A row stored at or below the sealed key (an
    /// imported event older than what is stored, a clock stepped back) gets
    /// its entry in `event_pid` straight away (``insertProcessIDSQL``). Both
    /// happen in the transaction that writes the rows: a crash loses none.
    ///
    /// Version 5 wrote the open segment's entries per row into a small table
    /// (`event_pid_recent`); version 6 writes none (measured: see docs/SINKS.md).
    static let processIDTables = """
        CREATE TABLE IF NOT EXISTS event_pid (
            process_id INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (process_id, id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS pid_sealed (through INTEGER NOT NULL);
        INSERT INTO pid_sealed (through) SELECT -9223372036854775808
            WHERE NOT EXISTS (SELECT 1 FROM pid_sealed);
        """

    /// Rows in the open segment that seal it: 65,536 rows. Smaller segments
    /// make a lookup's scan of the open segment shorter and touch the large
    /// tree more often.
    static let processIDSegmentRows = 65_536

    /// The entry of a row stored at or below the sealed key (parameters:
    /// process id, the row's key). OR REPLACE: one change whether or not a
    /// stale entry of a deleted row with this key was still there.
    static let insertProcessIDSQL = "INSERT OR REPLACE INTO event_pid (process_id, id) VALUES (?, ?)"

    /// The sealed key (see ``processIDTables``).
    static func sealedProcessIDKey(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT through FROM pid_sealed") ?? Int64.min
    }

    /// Seals the open segment: the entries of the rows above the sealed key,
    /// in key order of `event_pid`, and the sealed key moved to the highest
    /// row. Call inside the writing transaction.
    static func sealProcessIDs(_ db: Database) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO event_pid (process_id, id)
                SELECT process_id, id FROM event WHERE id > (SELECT through FROM pid_sealed) AND process_id IS NOT NULL
                ORDER BY process_id, id;
            UPDATE pid_sealed SET through = max(through, coalesce((SELECT max(id) FROM event), through));
            """)
    }

    /// Rows with this process id (the id bound three times): the sealed
    /// level's entries, and the rows above the sealed key (a key range of the
    /// table); the row's own column decides. Version 5 had the open
    /// segment's entries in `event_pid_recent`.
    static func processIDMatch(schemaVersion: Int) -> String {
        schemaVersion == 5 ? """
            process_id = ? AND id IN (SELECT id FROM event_pid WHERE process_id = ? \
            UNION ALL SELECT id FROM event_pid_recent WHERE process_id = ?)
            """ : """
            process_id = ? AND id IN (SELECT id FROM event_pid WHERE process_id = ? \
            UNION ALL SELECT id FROM event WHERE id > (SELECT through FROM pid_sealed) AND process_id = ?)
            """
    }

    /// Deletes the process-id entries of the rows below `key` — of the
    /// first `limit` of them when given — which retention is about to delete
    /// (call before the rows go, in the same transaction). Each entry is
    /// found by its primary key from its row's values, so the cost follows
    /// the rows deleted, not the size of the store (a `WHERE id < ?` on
    /// this table, keyed by process id first, would read it whole).
    static func forgetProcessIDs(ofRowsBelow key: Int64, limit: Int? = nil, _ db: Database) throws {
        let rows = try Row.fetchCursor(db, sql: """
            SELECT process_id, id FROM (SELECT id, process_id FROM event WHERE id < ? ORDER BY id LIMIT ?)
            WHERE process_id IS NOT NULL AND id <= (SELECT through FROM pid_sealed)
            """, arguments: [key, limit ?? -1])
        let sealed = try db.makeStatement(sql: "DELETE FROM event_pid WHERE process_id = ? AND id = ?")
        while let row = try rows.next() {
            try sealed.execute(arguments: [row[0] as Int64, row[1] as Int64])
        }
    }

    /// Fills the sealed level from the table (a migration): one sorted pass;
    /// every row is then sealed.
    static func rebuildProcessIDs(_ db: Database) throws {
        try db.execute(sql: """
            DELETE FROM event_pid;
            INSERT INTO event_pid (process_id, id)
                SELECT process_id, id FROM event WHERE process_id IS NOT NULL ORDER BY process_id, id;
            UPDATE pid_sealed SET through = coalesce((SELECT max(id) FROM event), through);
            """)
    }
}

/// A writer's count of the rows it stored in the open segment (see
/// ``EventStore/processIDTables``): kept in memory rather than counted per
/// transaction. Read once from the table when the writer opens the store.
/// Another writer's rows are not in it, nor are rows retention deleted: the
/// count bounds when this writer seals, not what is sealed.
struct ProcessIDSegment {
    private(set) var openRows: Int

    /// The rows above the sealed key now (one range count, at open).
    init(_ db: Database) throws {
        openRows = try Int.fetchOne(db, sql: """
            SELECT count(*) FROM event WHERE id > (SELECT through FROM pid_sealed)
            """) ?? 0
    }

    /// Adds the transaction's rows in the open segment and seals when they
    /// reach `segmentRows` (nil: never, e.g. an import that builds everything
    /// at its close). Call inside the writing transaction, on a copy that
    /// replaces the writer's only when the transaction commits.
    mutating func add(_ rows: Int, segmentRows: Int?, _ db: Database) throws {
        openRows += rows
        guard let segmentRows, openRows >= segmentRows else { return }
        try EventStore.sealProcessIDs(db)
        openRows = 0
    }
}
