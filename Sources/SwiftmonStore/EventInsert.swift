import GRDB
import GRDBSQLite
import SwiftmonCore

/// The keys of the rows one transaction inserts: each event's time in
/// nanoseconds, or the next free nanosecond above it when a row holds that
/// key already (see ``EventStore/table(named:)``).
///
/// Every key above the highest in the table is free, so an event later than
/// everything stored — the sensor's, nearly always — costs no lookup. An
/// earlier one probes the table by key (one B-tree descent) until it finds a
/// free key; a time met again in this transaction (imported events carry
/// milliseconds: many share one) resumes where the last probe of that time
/// stopped, so a burst of n events with one time costs n probes, not n².
/// Read anew per transaction, which holds the write lock (`BEGIN
/// IMMEDIATE`): another writer's rows are seen.
struct TimeKeys {
    /// No row has a key above this (an upper bound: a key handed out whose
    /// row was then not inserted only raises it).
    private var highest: Int64
    /// Time → the next key to try for it, for times that met a taken key.
    private var resume: [Int64: Int64] = [:]
    private let probe: OpaquePointer

    init(_ db: Database) throws {
        highest = try Int64.fetchOne(db, sql: "SELECT max(id) FROM event") ?? Int64.min
        probe = try db.cachedStatement(sql: "SELECT 1 FROM event WHERE id = ?").sqliteStatement
    }

    mutating func key(for time: Int64) -> Int64 {
        if time > highest {
            highest = time
            return time
        }
        var candidate = resume[time] ?? time
        while candidate <= highest, taken(candidate) { candidate &+= 1 }
        if resume.count >= 4096 { resume.removeAll(keepingCapacity: true) }
        resume[time] = candidate &+ 1
        if candidate > highest { highest = candidate }
        return candidate
    }

    private func taken(_ key: Int64) -> Bool {
        sqlite3_bind_int64(probe, 1, key)
        let found = sqlite3_step(probe) == SQLITE_ROW
        sqlite3_reset(probe)
        return found
    }
}

/// The values of an event that the store indexes, whatever the event kind
/// calls them (ProcessAccess spells `SourceProcessGUID`).
struct IndexedColumns {
    /// A GUID as the index holds it: ASCII lower case (no work when it already is).
    static func guidKey(_ guid: String) -> String {
        var text = guid
        let upper = text.withUTF8 { $0.contains { $0 &- 0x41 < 26 } }
        return upper ? guid.lowercased() : guid
    }

    /// Where each indexed value sits in a kind's fields, worked out once per kind.
    struct Positions {
        var processGuid: Int?
        var processID: Int?
        var parentProcessGuid: Int?
        var image: Int?
        var containerID: Int?

        init(_ kind: EventKind) {
            func first(_ names: String...) -> Int? { names.lazy.compactMap { kind.index(of: $0) }.first }
            processGuid = first("ProcessGuid", "SourceProcessGuid", "SourceProcessGUID")
            processID = first("ProcessId", "SourceProcessId")
            parentProcessGuid = first("ParentProcessGuid")
            image = first("Image", "SourceImage")
            containerID = kind.containerFieldsStart
        }

        /// Indexed by EventID (every id is below 256): an array read, not a
        /// dictionary's hashing, per stored event (measured: the hashing was
        /// 2.6 % of the store writer's CPU).
        static let byKind: [Positions?] = {
            var table = [Positions?](repeating: nil, count: 256)
            for kind in EventKind.all where kind.id >= 0 && kind.id < 256 { table[kind.id] = Positions(kind) }
            return table
        }()

        static func of(_ kind: EventKind) -> Positions {
            kind.id >= 0 && kind.id < byKind.count ? byKind[kind.id] ?? Positions(kind) : Positions(kind)
        }
    }
}

/// The store's insert statement bound through SQLite's C API: GRDB's
/// `StatementArguments` box every value, which costs more than the insert at
/// 100,000 events per second.
///
/// Hot path, so bytes: every byte a row binds — the encoded `fields`, `raw`,
/// the indexed text columns (GUIDs lower-cased while copied), the host — is
/// written into one buffer reused from row to row, and bound
/// `SQLITE_STATIC` (no copy, no malloc per value inside SQLite). That is sound
/// because the buffer is neither changed nor freed while the statement holds
/// the pointers: they are bound, stepped, and the bindings cleared on one
/// view of it (``RowBytes/bytes``) with no append in between (measured: the
/// per-value copies and their malloc/free were ~10 % of the writer's CPU).
struct EventInsert {
    let statement: OpaquePointer
    private let row = RowBytes()
    private var keys: TimeKeys
    /// The statement's parameter that takes the row's key (``TimeKeys``): its last.
    private let keyParameter: Int32
    /// ``EventStore/insertProcessIDSQL``: a stored row at or below the sealed
    /// key gets its process-id entry in the sealed level; nil: none (`bench
    /// store`'s floor).
    private let processIDStatement: OpaquePointer?
    /// ``EventStore/sealedProcessIDKey(_:)``, read per transaction (another
    /// writer may have sealed).
    private let sealedKey: Int64
    /// Rows this transaction stored above the sealed key: the open segment's
    /// (``ProcessIDSegment``).
    private(set) var openSegmentRows = 0
    /// Each stored row's EventID into its key block (``EventStore/kindBlockTable``);
    /// nil: none (`bench store`'s floor).
    private var kindBlocks: KindBlockMarker?

    /// For one transaction of `db` (the keys are read anew per transaction).
    init(_ statement: Statement, processIDs: Statement?, kindBlocks: Statement?, in db: Database) throws {
        self.statement = statement.sqliteStatement
        self.kindBlocks = kindBlocks.map(KindBlockMarker.init)
        processIDStatement = processIDs?.sqliteStatement
        sealedKey = processIDs == nil ? Int64.max : try EventStore.sealedProcessIDKey(db)
        keyParameter = sqlite3_bind_parameter_count(statement.sqliteStatement)
        keys = try TimeKeys(db)
    }

    /// SQLite reads the bytes in place; see the type's comment for why that is safe here.
    private static let staticBytes = unsafeBitCast(0, to: sqlite3_destructor_type.self)

    /// The import key of a row, from its encoded `fields` and `raw` bytes;
    /// nil: the row is not to be stored (the importer knows it is a duplicate).
    typealias KeyOfRow = (_ fields: UnsafeRawBufferPointer, _ raw: UnsafeRawBufferPointer?) -> Int64?

    /// What ``insert(_:host:importKey:)`` returns for a row its `importKey` skipped.
    static let skipped: Int32 = -1

    /// Binds and steps one row: columns 1–9 of ``EventStore/insertSQL`` (time,
    /// kind, the indexed columns, `fields`, `raw`, container id) and, for the
    /// importer's statement, 10 `host` and 11 `import_key`; the last, the
    /// row's key. Returns
    /// `sqlite3_step`'s result code, or ``skipped`` when `importKey` said
    /// nil; the statement is reset and its bindings cleared either way.
    mutating func insert(_ event: Event, host: String? = nil, importKey: KeyOfRow? = nil) -> Int32 {
        let positions = IndexedColumns.Positions.of(event.kind)
        // Values are read in place (a live event holds its long values as
        // bytes): no String is made of any of them here.
        func present(_ index: Int?) -> Int? {
            guard let index, !event.isAbsent(index) else { return nil }
            return index
        }
        row.removeAll()
        let fieldsStart = row.count
        EventStore.encodeFields(of: event, into: row)
        let fields = fieldsStart..<row.count
        var raw: Range<Int>?
        if !event.rawBytes.isEmpty {
            let rawStart = row.count
            var encoded: [UInt8] = []
            EventStore.encodeRaw(event.rawBytes, into: &encoded)
            row.append(encoded)
            raw = rawStart..<row.count
        }
        let guid = append(present(positions.processGuid), of: event, lowercased: true)
        let parentGuid = append(present(positions.parentProcessGuid), of: event, lowercased: true)
        let image = append(present(positions.image), of: event)
        let container = append(present(positions.containerID), of: event)
        let hostText = append(host)
        let processID = present(positions.processID).flatMap { i in event.withUTF8(i) { FieldText.integer($0, as: Int64.self) } }

        var key: Int64?
        if let importKey {
            let base = row.bytes
            func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: base[range]) }
            key = importKey(slice(fields), raw.map(slice))
            if key == nil { return EventInsert.skipped }
        }
        // Only for a row that is to be stored: a key handed out is taken.
        let rowKey = keys.key(for: event.time.nanoseconds)
        let keyParameter = self.keyParameter
        let rc = { (base: UnsafeRawBufferPointer) -> Int32 in
            // A zero-length value still needs a non-null pointer, or SQLite binds NULL.
            func pointer(_ range: Range<Int>) -> UnsafeRawPointer {
                base.baseAddress.map { $0 + range.lowerBound } ?? UnsafeRawPointer(bitPattern: 1)!
            }
            func text(_ index: Int32, _ range: Range<Int>?) {
                guard let range else { sqlite3_bind_null(statement, index); return }
                sqlite3_bind_text(statement, index, pointer(range).assumingMemoryBound(to: CChar.self),
                                  Int32(range.count), EventInsert.staticBytes)
            }
            func blob(_ index: Int32, _ range: Range<Int>?) {
                guard let range else { sqlite3_bind_null(statement, index); return }
                sqlite3_bind_blob(statement, index, pointer(range), Int32(range.count), EventInsert.staticBytes)
            }
            sqlite3_bind_int64(statement, keyParameter, rowKey)
            sqlite3_bind_int64(statement, 1, event.time.nanoseconds)
            sqlite3_bind_int64(statement, 2, Int64(event.kind.id))
            text(3, guid)
            if let processID { sqlite3_bind_int64(statement, 4, processID) } else { sqlite3_bind_null(statement, 4) }
            text(5, parentGuid)
            text(6, image)
            blob(7, fields)
            blob(8, raw)
            text(9, container)
            if importKey != nil || host != nil {
                text(10, hostText)
                if let key {
                    sqlite3_bind_int64(statement, 11, key)
                } else {
                    sqlite3_bind_null(statement, 11)
                }
            }
            let rc = sqlite3_step(statement)
            sqlite3_reset(statement)
            // No binding may outlive this view of `row` (the next row's appends may move it).
            sqlite3_clear_bindings(statement)
            return rc
        }(row.bytes)
        // Only a row that was stored (the importer's OR IGNORE may have
        // skipped it) counts: its kind's bit in its block, and above the
        // sealed key it is the open segment's, at or below it gets its
        // process-id entry now, in the same transaction.
        guard rc == SQLITE_DONE, kindBlocks != nil || processIDStatement != nil,
              sqlite3_changes(sqlite3_db_handle(statement)) > 0 else { return rc }
        if kindBlocks != nil {
            let marked = kindBlocks!.mark(eventID: event.kind.id, key: rowKey)
            guard marked == SQLITE_DONE else { return marked }
        }
        guard let processIDStatement else { return rc }
        guard rowKey <= sealedKey else {
            openSegmentRows += 1
            return rc
        }
        guard let processID else { return rc }
        sqlite3_bind_int64(processIDStatement, 1, processID)
        sqlite3_bind_int64(processIDStatement, 2, rowKey)
        let entry = sqlite3_step(processIDStatement)
        sqlite3_reset(processIDStatement)
        return entry
    }

    /// Copies `text`'s UTF-8 to the end of the row buffer (ASCII lower-cased
    /// when `lowercased`) and returns where it is.
    private mutating func append(_ text: String?) -> Range<Int>? {
        guard var text else { return nil }
        let start = row.count
        text.withUTF8 { row.append($0) }
        return start..<row.count
    }

    /// The value at `index` of `event` appended to the row; GUIDs lower-cased
    /// (ASCII) as queries look them up.
    private mutating func append(_ index: Int?, of event: Event, lowercased: Bool = false) -> Range<Int>? {
        guard let index else { return nil }
        let start = row.count
        event.withUTF8(index) { row.append($0) }
        guard lowercased else { return start..<row.count }
        let ascii = { (bytes: UnsafeMutableBufferPointer<UInt8>) -> Bool in
            for i in bytes.indices {
                let b = bytes[i]
                if b >= 0x80 { return false }
                if b &- 0x41 < 26 { bytes[i] = b | 0x20 }
            }
            return true
        }(row.mutableBytes(from: start))
        if !ascii {
            // Not ASCII (a hostile or odd value): exactly what queries look up.
            row.truncate(to: start)
            row.append(Array(IndexedColumns.guidKey(event[index]).utf8))
        }
        return start..<row.count
    }
}
