import GRDBSQLite
import SwiftmonCore

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
/// the pointers: they are bound, stepped, and the bindings cleared inside one
/// `withUnsafeBytes` of it (measured: the per-value copies and their
/// malloc/free were ~10 % of the writer's CPU).
struct EventInsert {
    let statement: OpaquePointer
    private var row: [UInt8] = []

    init(_ statement: OpaquePointer) {
        self.statement = statement
        row.reserveCapacity(8192)
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
    /// importer's statement, 10 `host` and 11 `import_key`. Returns
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
        row.removeAll(keepingCapacity: true)
        let fieldsStart = row.count
        EventStore.encodeFields(of: event, into: &row)
        let fields = fieldsStart..<row.count
        var raw: Range<Int>?
        if !event.rawBytes.isEmpty {
            let rawStart = row.count
            EventStore.encodeRaw(event.rawBytes, into: &row)
            raw = rawStart..<row.count
        }
        let guid = append(present(positions.processGuid), of: event, lowercased: true)
        let parentGuid = append(present(positions.parentProcessGuid), of: event, lowercased: true)
        let image = append(present(positions.image), of: event)
        let container = append(present(positions.containerID), of: event)
        let hostText = append(host)
        let processID = present(positions.processID).flatMap { i in event.withUTF8(i) { Int64(String(decoding: $0, as: UTF8.self)) } }

        return row.withUnsafeBytes { base -> Int32 in
            func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: base[range]) }
            var key: Int64?
            if let importKey {
                key = importKey(slice(fields), raw.map(slice))
                if key == nil { return EventInsert.skipped }
            }
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
            // No binding may outlive this closure's view of `row`.
            sqlite3_clear_bindings(statement)
            return rc
        }
    }

    /// Copies `text`'s UTF-8 to the end of the row buffer (ASCII lower-cased
    /// when `lowercased`) and returns where it is.
    private mutating func append(_ text: String?) -> Range<Int>? {
        guard var text else { return nil }
        let start = row.count
        text.withUTF8 { row.append(contentsOf: $0) }
        return start..<row.count
    }

    /// The value at `index` of `event` appended to the row; GUIDs lower-cased
    /// (ASCII) as queries look them up.
    private mutating func append(_ index: Int?, of event: Event, lowercased: Bool = false) -> Range<Int>? {
        guard let index else { return nil }
        let start = row.count
        event.withUTF8(index) { row.append(contentsOf: $0) }
        guard lowercased else { return start..<row.count }
        let ascii = row.withUnsafeMutableBufferPointer { bytes -> Bool in
            for i in start..<bytes.count {
                let b = bytes[i]
                if b >= 0x80 { return false }
                if b &- 0x41 < 26 { bytes[i] = b | 0x20 }
            }
            return true
        }
        if !ascii {
            // Not ASCII (a hostile or odd value): exactly what queries look up.
            row.removeSubrange(start...)
            row.append(contentsOf: IndexedColumns.guidKey(event[index]).utf8)
        }
        return start..<row.count
    }
}
