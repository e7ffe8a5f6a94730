import GRDBSQLite
import SwiftmonCore

/// The values of an event that the store indexes, whatever the event kind
/// calls them (ProcessAccess spells `SourceProcessGUID`).
struct IndexedColumns {
    var processGuid: String?
    var processID: Int?
    var parentProcessGuid: String?
    var image: String?
    var containerID: String?

    /// A GUID as the index holds it: ASCII lower case (no work when it already is).
    static func guidKey(_ guid: String) -> String {
        guid.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? guid.lowercased() : guid
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
        processGuid = value(positions.processGuid).map(IndexedColumns.guidKey)
        processID = value(positions.processID).flatMap { Int($0) }
        parentProcessGuid = value(positions.parentProcessGuid).map(IndexedColumns.guidKey)
        image = value(positions.image)
        containerID = value(positions.containerID)
    }
}

/// The store's insert statement bound through SQLite's C API: GRDB's
/// `StatementArguments` box every value, which costs more than the insert at
/// 100,000 events per second.
struct EventInsert {
    let statement: OpaquePointer
    /// SQLite copies the bytes before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ statement: OpaquePointer) { self.statement = statement }

    /// Binds the columns every stored event has (1–9 of ``EventStore/insertSQL``):
    /// time, kind, the indexed columns, `fields` (already encoded) and `raw`.
    func bindEvent(_ event: Event, fields: [UInt8], raw: [UInt8]?) {
        let columns = IndexedColumns(event)
        bind(1, event.time.nanoseconds)
        bind(2, Int64(event.kind.id))
        bind(3, columns.processGuid)
        bind(4, columns.processID.map(Int64.init))
        bind(5, columns.parentProcessGuid)
        bind(6, columns.image)
        bind(7, blob: fields)
        bind(8, blob: raw)
        bind(9, columns.containerID)
    }

    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(statement, index, value) } else { sqlite3_bind_null(statement, index) }
    }

    func bind(_ index: Int32, _ value: String?) {
        guard var text = value else { sqlite3_bind_null(statement, index); return }
        text.withUTF8 { utf8 in
            _ = sqlite3_bind_text(statement, index, UnsafeRawPointer(utf8.baseAddress)?.assumingMemoryBound(to: CChar.self),
                                  Int32(utf8.count), EventInsert.transient)
        }
    }

    func bind(_ index: Int32, blob: [UInt8]?) {
        guard let blob else { sqlite3_bind_null(statement, index); return }
        blob.withUnsafeBytes { raw in
            // A zero-length blob still needs a non-null pointer to be a blob, not NULL.
            _ = sqlite3_bind_blob(statement, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count),
                                  EventInsert.transient)
        }
    }
}
