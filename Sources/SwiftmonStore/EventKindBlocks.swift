import GRDB
import GRDBSQLite

extension EventStore {
    /// Which EventIDs occur in each block of keys, instead of a per-row index
    /// on `event(event_id)`. That index cost ≈ 1.0 µs per row (an entry in a
    /// B-tree per event, measured with `bench store --floor-keep
    /// event_by_event_id`); a block is 2^22 keys (≈ 4.2 ms of event time,
    /// see ``EventStore/table(named:)``) and gets a row, and its bits, once
    /// per EventID it holds, whatever the number of its events.
    ///
    /// `kinds` is a bit set: bit k for EventID k below 32 (Sysmon's), bit 32
    /// + k mod 32 for the others (swiftmon's own, 200–255, get bits of their
    /// own too; a shared bit may over-state, never under-state). The
    /// invariant: every row of `event` has its EventID's bit set in the block
    /// of its key — the writer sets it in the transaction that stores the row
    /// (``KindBlockMarker``). Deleting rows leaves bits set (an over-statement:
    /// the block is read and yields nothing); retention drops the blocks wholly
    /// below the oldest row (``forgetKindBlocksBelowOldestRow(_:)``).
    ///
    /// `--event ID` reads the blocks whose bits match in key order and, in
    /// each, the table's key range (``kindBlockSelection``): a key belongs to
    /// exactly one block, so this is the table's rows in key order, each once.
    static let kindBlockTable = """
        CREATE TABLE IF NOT EXISTS event_kinds (block INTEGER PRIMARY KEY, kinds INTEGER NOT NULL);
        """

    /// Keys per block: 2^22 ns (≈ 4.2 ms). A sensor writing 8,000 events/s
    /// puts ≈ 34 events in a block, one writing 100,000 ≈ 420: a lookup reads
    /// every row of each block that holds one of its kinds (measured on
    /// 1,000,000 rows 10 µs apart, 100 of kind 6 each in a block of its own:
    /// 54 ms with 2^24-key blocks, against 0.1 ms through the per-row index).
    static let kindBlockShift: Int64 = 22

    /// The bit of `eventID` in a block's `kinds`.
    @inline(__always)
    static func kindBit(_ eventID: Int) -> Int64 {
        eventID >= 0 && eventID < 32 ? Int64(1) << Int64(eventID) : Int64(1) << Int64(32 + (eventID & 31))
    }

    /// The block of a row's key (an arithmetic shift, as SQLite's `>>`).
    @inline(__always)
    static func kindBlock(ofKey key: Int64) -> Int64 { key >> kindBlockShift }

    /// Sets bits in a block (parameters: block, bits).
    static let markKindSQL = """
        INSERT INTO event_kinds (block, kinds) VALUES (?, ?)
            ON CONFLICT (block) DO UPDATE SET kinds = kinds | excluded.kinds
        """

    /// Fills `event_kinds` from the table (a migration): one pass; the sum of
    /// a block's distinct bits is their union.
    static func rebuildKindBlocks(_ db: Database) throws {
        try db.execute(sql: """
            DELETE FROM event_kinds;
            INSERT INTO event_kinds (block, kinds)
                SELECT block, sum(bit) FROM (
                    SELECT DISTINCT id >> \(kindBlockShift) AS block,
                           CASE WHEN event_id >= 0 AND event_id < 32 THEN 1 << event_id ELSE 1 << (32 + (event_id & 31)) END AS bit
                    FROM event)
                GROUP BY block;
            """)
    }

    /// Drops the blocks that lie wholly below the oldest row (all of them when
    /// the table is empty). Call after retention deleted rows.
    static func forgetKindBlocksBelowOldestRow(_ db: Database) throws {
        try db.execute(sql: """
            DELETE FROM event_kinds WHERE block < coalesce((SELECT min(id) FROM event) >> \(kindBlockShift), 9223372036854775807)
            """)
    }

    /// The FROM clause and leading WHERE terms of a query by EventID through
    /// the blocks (parameter: the union of the kinds' bits), and its ORDER BY.
    /// `CROSS JOIN` keeps the blocks the outer loop; ordered by the block, a
    /// unique key, then the row's key, SQLite reads both in key order with no
    /// sort, and stops at the limit. `NOT INDEXED`: the table only by its key
    /// — without statistics SQLite would otherwise build an automatic index on
    /// `event_id` per query and sort (seen in `EXPLAIN QUERY PLAN`).
    static let kindBlockSelection = """
        SELECT e.event_id, e.time, e.fields, e.raw FROM event_kinds AS b CROSS JOIN event AS e NOT INDEXED
            ON e.id >= b.block * \(1 << kindBlockShift) AND e.id <= b.block * \(1 << kindBlockShift) + \((1 << kindBlockShift) - 1)
        WHERE b.kinds & ? != 0
        """
}

/// A transaction's writer of ``EventStore/kindBlockTable``: sets a block's bit
/// for a kind once per transaction and block, not per row (rows arrive in key
/// order, so the block changes rarely). Made anew per transaction: what it
/// remembers is only true of this transaction's writes, which a rollback undoes.
struct KindBlockMarker {
    private let statement: OpaquePointer
    private var block = Int64.min
    /// Bits set in `block` by this transaction.
    private var marked: Int64 = 0

    init(_ statement: Statement) { self.statement = statement.sqliteStatement }

    /// Sets the bit of `eventID` in the block of `key`; returns `sqlite3_step`'s
    /// result (`SQLITE_DONE` when nothing needed writing).
    mutating func mark(eventID: Int, key: Int64) -> Int32 {
        let bit = EventStore.kindBit(eventID)
        let block = EventStore.kindBlock(ofKey: key)
        if block == self.block {
            if marked & bit != 0 { return SQLITE_DONE }
        } else {
            self.block = block
            marked = 0
        }
        sqlite3_bind_int64(statement, 1, block)
        sqlite3_bind_int64(statement, 2, bit)
        let rc = sqlite3_step(statement)
        sqlite3_reset(statement)
        if rc == SQLITE_DONE { marked |= bit }
        return rc
    }
}
