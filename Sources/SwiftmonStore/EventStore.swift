#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import GRDB
import SwiftmonCore
import SwiftmonSystem

/// The on-disk layout of a swiftmon event store and the one place that opens it.
///
/// One table, `event`: a row per event with the columns the queries filter on
/// (time, EventID, process GUID and id, parent GUID, image, container id) and every field value, encoded
/// compactly in `fields` (length-prefixed UTF-8 in schema order; bytes that are
/// not UTF-8 kept exactly in `raw`). The GUID columns hold the GUID in lower
/// case (the values in `fields` keep the event's own spelling), so lookups
/// compare bytes, not case-folded text. Storing the values rather than a column per
/// Sysmon field keeps one table for every event kind and lets the schema grow
/// new fields without migrations.
enum EventStore {
    /// 2 added `container_id`, 3 `host` and `import_key` (`swiftmon import`; see
    /// ``hostColumns``), 4 keys rows by time (see ``table(named:)``), 5 moves
    /// the process-id index out of the row's insert into sealed segments (see
    /// ``processIDTables``), 6 leaves the open segment's rows without entries
    /// (found from the table above the sealed key), 7 replaces the per-row
    /// EventID index by kind blocks (see ``kindBlockTable``). An older store is
    /// upgraded when a writer opens it (``migrate(_:from:)``), and read as it is.
    static let schemaVersion = 7
    static let readableVersions = 1...7

    /// 8 KiB pages: rows of ~800 bytes fit without overflow pages, and a
    /// transaction still writes few bytes per scattered index key to the WAL
    /// (measured: 4 KiB and 16 KiB pages cost ~15 % more CPU per event, 2 KiB 50 %).
    static let pageSize = 8192

    /// The event table. Rows are clustered by time: `id`, the table's B-tree
    /// key, is the event's time in nanoseconds since the epoch, or — when
    /// another row holds that key already — the next free nanosecond above it
    /// (see ``TimeKeys``). So the table itself is the time index: `ORDER BY
    /// id` is time order, `--since`/`--until` are key ranges, retention
    /// deletes a key range, and the sensor's rows, which arrive in time order,
    /// are appended at the end of the B-tree. An index on (x) then lists each
    /// x's rows in time order without holding the time (SQLite keys every
    /// index entry by the row's key). Key order differs from time order only
    /// among events that share a nanosecond or lie a few nanoseconds apart.
    static func table(named name: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(name) (
            id INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            event_id INTEGER NOT NULL,
            process_guid TEXT,
            process_id INTEGER,
            parent_process_guid TEXT,
            image TEXT,
            fields BLOB NOT NULL,
            raw BLOB,
            container_id TEXT,
            host TEXT,
            import_key INTEGER
        );
        """
    }

    /// How far above its time an event's key may lie: a key moves up one
    /// nanosecond per row already holding the next one, so this many rows
    /// would have to share one second. Bounds `--until` as a key range.
    static let maxKeyShift: Int64 = 1_000_000_000

    static let schema = table(named: "event") + kindBlockTable + """
        CREATE INDEX IF NOT EXISTS event_by_process_guid ON event(process_guid, event_id);
        CREATE INDEX IF NOT EXISTS event_by_parent_process_guid ON event(parent_process_guid, event_id)
            WHERE parent_process_guid IS NOT NULL;
        CREATE INDEX IF NOT EXISTS event_by_image ON event(image);
        """ + containerIndex + hostIndexes + processIDTables

    /// Rewrites a version 1–3 store's table as version 4's: every row, keyed
    /// by time in (time, old id) order — the k-th row's key is the least value
    /// ≥ its time above the previous row's key, worked out by SQL window
    /// functions (k + max over the rows so far of time − k) — then the
    /// indexes. One transaction: a store is either migrated whole or not at
    /// all. Copies the table once (needs that much free disk; the old pages are
    /// freed at the end).
    ///
    /// Version 4 (and a rewritten older one) then gets the process-id level
    /// filled from the table in one sorted pass (``rebuildProcessIDs(_:)``);
    /// version 5's open segment (`event_pid_recent`) is merged into it.
    /// Either way every row then has its entry: the sealed key is the highest.
    /// Version 7: the EventID index dropped, the kind blocks filled (``rebuildKindBlocks(_:)``).
    static func migrate(_ db: Database, from version: Int) throws {
        if version < 4 { try rewriteKeyedByTime(db) }
        try db.execute(sql: "DROP INDEX IF EXISTS event_by_process_id")
        try db.execute(sql: "DROP INDEX IF EXISTS event_by_event_id")
        try createImportKeyIndex(db)
        if version == 5 {
            try db.execute(sql: """
                INSERT OR IGNORE INTO event_pid (process_id, id) SELECT process_id, id FROM event_pid_recent;
                """)
        }
        try db.execute(sql: "DROP TABLE IF EXISTS event_pid_recent")
        try db.execute(sql: schema)
        if version < 5 { try rebuildProcessIDs(db) }
        try rebuildKindBlocks(db)
        try db.execute(sql: "UPDATE pid_sealed SET through = coalesce((SELECT max(id) FROM event), through)")
        try db.execute(sql: "PRAGMA user_version = \(schemaVersion)")
    }

    private static func rewriteKeyedByTime(_ db: Database) throws {
        let columns = Set(try Row.fetchAll(db, sql: "PRAGMA table_info(event)").map { $0["name"] as String })
        func column(_ name: String) -> String { columns.contains(name) ? name : "NULL" }
        try db.execute(sql: "DROP TABLE IF EXISTS event_v4")
        try db.execute(sql: table(named: "event_v4"))
        try db.execute(sql: """
            INSERT INTO event_v4 (id, time, event_id, process_guid, process_id, parent_process_guid, image, fields, raw,
                                  container_id, host, import_key)
            SELECT seq + max(time - seq) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING),
                   time, event_id, process_guid, process_id, parent_process_guid, image, fields, raw,
                   \(column("container_id")), \(column("host")), \(column("import_key"))
            FROM (SELECT row_number() OVER (ORDER BY time, id) AS seq, * FROM event)
            ORDER BY seq
            """)
        try db.execute(sql: "DROP TABLE event")
        try db.execute(sql: "ALTER TABLE event_v4 RENAME TO event")
    }

    /// Imported events (`swiftmon import`) carry the host that produced them
    /// (`Computer`) and a key of their content, unique per host and EventID, so
    /// importing a file again stores nothing twice. A sensor's own rows have
    /// neither (they are this machine's): partial indexes cost them nothing.
    static let hostIndexes = """
        CREATE INDEX IF NOT EXISTS event_by_host ON event(host COLLATE NOCASE) WHERE host IS NOT NULL;
        """ + importKeyIndex

    /// What makes a re-import skip what is stored already.
    static let importKeyIndex = """
        CREATE UNIQUE INDEX IF NOT EXISTS event_by_import_key ON event(import_key, host, event_id)
            WHERE import_key IS NOT NULL;
        """

    /// Builds the import-key index when it is missing (an import into an
    /// empty store defers it, see ``ImportStore``). Should rows with one key
    /// have got in meanwhile (two imports into one new store at once), the
    /// later copies are deleted first; returns how many.
    @discardableResult
    static func createImportKeyIndex(_ db: Database) throws -> Int {
        do {
            try db.execute(sql: importKeyIndex)
            return 0
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            try db.execute(sql: """
                DELETE FROM event WHERE import_key IS NOT NULL AND id NOT IN
                    (SELECT min(id) FROM event WHERE import_key IS NOT NULL GROUP BY import_key, host, event_id)
                """)
            let removed = db.changesCount
            try db.execute(sql: importKeyIndex)
            return removed
        }
    }

    /// Host events have no container id: a partial index costs them nothing.
    static let containerIndex = """
        CREATE INDEX IF NOT EXISTS event_by_container_id ON event(container_id)
            WHERE container_id IS NOT NULL;
        """

    /// Every index of the current schema.
    static let indexNames = [
        "event_by_process_guid", "event_by_parent_process_guid",
        "event_by_image", "event_by_container_id", "event_by_host", "event_by_import_key",
    ]

    /// The indexes only queries need.
    static let queryIndexNames = indexNames.filter { $0 != "event_by_import_key" }

    /// Whether an index of the schema is missing (an interrupted import's).
    static func missingIndexes(_ db: Database) throws -> Bool {
        let present = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event'")
        return !Set(indexNames).isSubset(of: Set(present))
    }

    /// The row's key (``TimeKeys``) is the last parameter, as in the importer's statement.
    static let insertSQL = """
        INSERT INTO event (time, event_id, process_guid, process_id, parent_process_guid, image, fields, raw,
                           container_id, id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Fields searched by `--contains`: command lines and paths.
    static let searchedFields: Set<String> = [
        "CommandLine", "ParentCommandLine", "Image", "ParentImage", "CurrentDirectory", "TargetFilename",
        "ImageLoaded", "SourceImage", "TargetImage", "SourceFilename", "ServiceFile", "Device", "TargetObject",
    ]

    /// Opens (creating when missing) the store for writing: file mode 0600,
    /// WAL, incremental auto-vacuum so retention can give space back.
    static func openForWriting(path: String) throws -> DatabaseQueue {
        try createIfMissing(path)
        try prepareFile(path)
        let config = writerConfiguration()
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            try queue.writeWithoutTransaction { db in
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                if version == 0 {
                    // Never move into someone else's database.
                    let objects = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
                    guard objects == 0 else { throw StoreError.unsupportedSchema(path: path, version: version) }
                    try initialize(db)
                } else if (1..<schemaVersion).contains(version) {
                    try db.inTransaction(.immediate) {
                        try migrate(db, from: version)
                        return .commit
                    }
                    // The old table's pages are free now: give them back.
                    try db.execute(sql: "PRAGMA incremental_vacuum")
                } else if version != schemaVersion {
                    throw StoreError.unsupportedSchema(path: path, version: version)
                } else if try missingIndexes(db) {
                    // An import that deferred its indexes (see ``ImportStore``)
                    // was interrupted: build what it did not.
                    try db.inTransaction {
                        try createImportKeyIndex(db)
                        try db.execute(sql: schema)
                        return .commit
                    }
                }
            }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "open", message: error.message ?? "\(error)")
        }
        tightenSidecarModes(path)
        return queue
    }

    static func writerConfiguration() -> Configuration {
        var config = Configuration()
        config.journalMode = .wal
        config.busyMode = .timeout(10)
        config.label = "swiftmon-store"
        config.prepareDatabase { db in
            // Process crash (kill -9) safety needs only WAL; NORMAL skips an
            // fsync per commit, which a power cut may cost the last commits of.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // Index pages stay cached across batches instead of being re-read.
            try db.execute(sql: "PRAGMA cache_size = -65536")
        }
        return config
    }

    /// Page size, auto-vacuum, WAL, the schema: on an empty database.
    private static func initialize(_ db: Database) throws {
        // Page size and auto_vacuum can only change outside WAL mode,
        // before the first table exists; VACUUM applies them.
        try db.execute(sql: "PRAGMA journal_mode = DELETE")
        try db.execute(sql: "PRAGMA page_size = \(pageSize)")
        try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
        try db.execute(sql: "VACUUM")
        try db.execute(sql: "PRAGMA journal_mode = WAL")
        try db.inTransaction {
            try db.execute(sql: schema)
            try db.execute(sql: "PRAGMA user_version = \(schemaVersion)")
            return .commit
        }
    }

    /// A new store is made complete under a private name and renamed into
    /// place: a reader (`query`, `tree`) that opens `path` meanwhile finds no
    /// file, never a half-made one whose journal-mode switch it would block
    /// ("database is locked" for the writer).
    private static func createIfMissing(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) != 0 else { return }
        let scratch = path + ".creating-\(getpid())"
        _ = unlink(scratch)
        do {
            try prepareFile(scratch)
        } catch StoreError.cannotOpen(_, let reason) {
            throw StoreError.cannotOpen(path: path, reason: reason)  // the store's name, not the scratch's
        }
        do {
            var config = writerConfiguration()
            config.journalMode = .default
            let queue = try DatabaseQueue(path: scratch, configuration: config)
            try queue.writeWithoutTransaction { try initialize($0) }
            try queue.close()
        } catch let error as DatabaseError {
            for suffix in ["", "-wal", "-shm", "-journal"] { _ = unlink(scratch + suffix) }
            throw StoreError.sqlite(path: path, operation: "create", message: error.message ?? "\(error)")
        }
        do {
            try Syscalls.rename(scratch, path)
        } catch let error as SystemCallError {
            for suffix in ["", "-wal", "-shm", "-journal"] { _ = unlink(scratch + suffix) }
            throw StoreError.cannotOpen(path: path, reason: String(cString: strerror(error.errno)) + " (\(error.errnoName))")
        }
    }

    /// Opens an existing store for reading while a writer may be writing.
    static func openForReading(path: String) throws -> DatabaseQueue {
        try openForReadingWithVersion(path: path).queue
    }

    static func openForReadingWithVersion(path: String) throws -> (queue: DatabaseQueue, version: Int) {
        guard access(path, F_OK) == 0 else {
            throw StoreError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        var config = Configuration()
        config.readonly = true
        config.prepareDatabase { db in db.add(function: EventStore.containsFunction) }
        config.busyMode = .timeout(10)
        config.label = "swiftmon-store-reader"
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            let version = try queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") ?? 0 }
            guard readableVersions.contains(version) else {
                throw StoreError.unsupportedSchema(path: path, version: version)
            }
            return (queue, version)
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "open", message: error.message ?? "\(error)")
        }
    }

    /// Creates the file 0600 before SQLite does (SQLite gives its -wal and -shm
    /// files the mode of the database file), and tightens an existing one.
    static func prepareFile(_ path: String) throws {
        do {
            let fd = try Syscalls.open(path, O_RDWR | O_CREAT | O_NOFOLLOW)
            defer { Syscalls.close(fd) }
            let info = try Syscalls.fstat(fd, path)
            if info.st_mode & 0o077 != 0 { try Syscalls.fchmod(fd, 0o600, path) }
        } catch let error as SystemCallError {
            throw StoreError.cannotOpen(path: path, reason: String(cString: strerror(error.errno)) + " (\(error.errnoName))")
        }
    }

    static func tightenSidecarModes(_ path: String) {
        for suffix in ["-wal", "-shm"] { _ = chmod(path + suffix, 0o600) }
    }

    /// `swiftmon_contains(event_id, fields, needle)`: whether a command line or
    /// path of the event contains `needle`, ASCII case ignored. Works on the
    /// encoded values directly, without building strings.
    static let containsFunction = DatabaseFunction("swiftmon_contains", argumentCount: 3, pure: true) { values in
        guard let eventID = Int.fromDatabaseValue(values[0]), let fields = Data.fromDatabaseValue(values[1]),
              let needle = String.fromDatabaseValue(values[2]) else { return false }
        return EventStore.fieldsContain(eventID: eventID, fields: fields, needle: Array(needle.utf8))
    }

    static let searchedPositions: [Int: Set<Int>] = Dictionary(uniqueKeysWithValues: EventKind.all.map { kind in
        (kind.id, Set(kind.fields.indices.filter { searchedFields.contains(kind.fields[$0]) }))
    })

    static func fieldsContain(eventID: Int, fields: Data, needle: [UInt8]) -> Bool {
        guard let positions = searchedPositions[eventID] else { return false }
        if needle.isEmpty { return true }
        @inline(__always) func fold(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        let folded = needle.map(fold)
        return fields.withUnsafeBytes { bytes -> Bool in
            var i = 0
            var index = 0
            while i < bytes.count {
                guard let length = readVarint(bytes, &i), length <= UInt64(bytes.count - i) else { return false }
                let end = i + Int(length)
                if positions.contains(index), end - i >= folded.count {
                    var start = i
                    while start + folded.count <= end {
                        var k = 0
                        while k < folded.count, fold(bytes[start + k]) == folded[k] { k += 1 }
                        if k == folded.count { return true }
                        start += 1
                    }
                }
                i = end
                index += 1
            }
            return false
        }
    }

    // MARK: Field codec

    /// Length-prefixed (LEB128) UTF-8 values in schema order, appended to `out`.
    /// The same for the values of `event`, read in place.
    static func encodeFields(of event: Event, into out: inout [UInt8]) {
        for i in 0..<event.kind.fields.count {
            event.withUTF8(i) { utf8 in
                appendVarint(UInt64(utf8.count), to: &out)
                out.append(contentsOf: utf8)
            }
        }
    }

    static func encodeFields(_ values: [String], into out: inout [UInt8]) {
        for var value in values {
            // The String's own UTF-8 bytes, copied once (no per-byte UTF8View walk).
            value.withUTF8 { utf8 in
                appendVarint(UInt64(utf8.count), to: &out)
                out.append(contentsOf: utf8)
            }
        }
    }

    static func encodeRaw(_ raw: [Int: [UInt8]]) -> [UInt8]? {
        guard !raw.isEmpty else { return nil }
        var out: [UInt8] = []
        encodeRaw(raw, into: &out)
        return out
    }

    /// (position, length, bytes) per field whose value is not UTF-8, by position.
    static func encodeRaw(_ raw: [Int: [UInt8]], into out: inout [UInt8]) {
        for (index, bytes) in raw.sorted(by: { $0.key < $1.key }) {
            appendVarint(UInt64(index), to: &out)
            appendVarint(UInt64(bytes.count), to: &out)
            out += bytes
        }
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Reads a varint at `i`, or `nil` when the data ends or is malformed.
    static func readVarint(_ bytes: UnsafeRawBufferPointer, _ i: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count, shift < 64 {
            let b = bytes[i]
            i += 1
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return value }
            shift += 7
        }
        return nil
    }

    /// Rebuilds an event from a stored row. A store written by a newer swiftmon
    /// may have more fields: extra values are ignored, missing ones are `-`.
    static func decode(eventID: Int, time: Int64, fields: Data, raw: Data?) throws -> Event {
        guard let kind = EventKind.withID(eventID) else { throw StoreError.corruptRow(reason: "unknown EventID \(eventID)") }
        var event = Event(kind, time: EventTime(nanosecondsSinceEpoch: time))
        try fields.withUnsafeBytes { bytes in
            var i = 0
            var index = 0
            while i < bytes.count {
                guard let length = readVarint(bytes, &i), length <= UInt64(bytes.count - i) else {
                    throw StoreError.corruptRow(reason: "field \(index) of EventID \(eventID) is cut short")
                }
                let end = i + Int(length)
                if index < kind.fields.count {
                    event[index] = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[i..<end]), as: UTF8.self)
                }
                i = end
                index += 1
            }
        }
        if let raw {
            try raw.withUnsafeBytes { bytes in
                var i = 0
                while i < bytes.count {
                    guard let index = readVarint(bytes, &i), let length = readVarint(bytes, &i),
                          length <= UInt64(bytes.count - i)
                    else { throw StoreError.corruptRow(reason: "raw bytes of EventID \(eventID) are cut short") }
                    let end = i + Int(length)
                    if index < UInt64(kind.fields.count) {
                        event.set(kind.fields[Int(index)], bytes: Array(bytes[i..<end]))
                    }
                    i = end
                }
            }
        }
        return event
    }
}

/// What went wrong with a store, in words a user can act on.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case unsupportedSchema(path: String, version: Int)
    case sqlite(path: String, operation: String, message: String)
    case corruptRow(reason: String)
    case notFound(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open store \(path): \(reason)"
        case .unsupportedSchema(let path, let version):
            return "\(path) is not a swiftmon store this version can use (schema version \(version), expected \(EventStore.schemaVersion))"
        case .sqlite(let path, let operation, let message): return "store \(path): \(operation) failed: \(message)"
        case .corruptRow(let reason): return "corrupt store row: \(reason)"
        case .notFound(let what): return what
        }
    }
}
