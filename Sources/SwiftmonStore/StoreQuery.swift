import Foundation
import GRDB
import SwiftmonCore

/// Which events to read back from a store. Every filter given must hold.
public struct StoreFilter: Sendable, Equatable {
    /// EventIDs to keep; empty: all.
    public var eventIDs: [Int] = []
    /// The process image: a full path matches exactly, a bare name matches the last path component.
    public var image: String?
    /// The ProcessGuid (braces and case optional).
    public var processGuid: String?
    public var processID: Int?
    public var since: EventTime?
    public var until: EventTime?
    /// Text that must occur in a command line or path of the event (ASCII case ignored).
    public var contains: String?
    /// The start of a ContainerId (`docker ps` shows 12 characters), or a whole
    /// container name (lxc, systemd-nspawn).
    public var containerID: String?
    /// The host that produced the event (`Computer`), ASCII case ignored:
    /// imported events (`swiftmon import`) carry it.
    public var host: String?
    /// Most events returned; `nil`: all.
    public var limit: Int? = 1000
    /// Newest first instead of oldest first.
    public var newestFirst = false

    public init() {}
}

/// Reads a store, also while a sensor is writing to it (WAL readers see the
/// last committed state and never block the writer).
public final class StoreReader: Sendable {
    public let path: String
    let queue: DatabaseQueue
    let schemaVersion: Int

    public init(path: String) throws {
        self.path = path
        let opened = try EventStore.openForReadingWithVersion(path: path)
        queue = opened.queue
        schemaVersion = opened.version
    }

    /// The events matching `filter`, in time order (the store's key order:
    /// see ``EventStore/table(named:)``).
    public func events(matching filter: StoreFilter) throws -> [Event] {
        var out: [Event] = []
        try forEachEvent(matching: filter) { out.append($0) }
        return out
    }

    /// Calls `body` for each matching event without holding them all in memory.
    public func forEachEvent(matching filter: StoreFilter, _ body: (Event) throws -> Void) throws {
        guard let (sql, arguments) = try selection(filter) else { return }
        try read { db in
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                try body(try StoreReader.event(from: row))
            }
        }
    }

    /// The SELECT that answers `filter`, or `nil` when nothing can match.
    func selection(_ filter: StoreFilter) throws -> (String, StatementArguments)? {
        var clauses: [String] = []
        var arguments: [DatabaseValueConvertible?] = []
        // By EventID alone (with a time window or `--contains` at most):
        // through the kind blocks (version 7, ``EventStore/kindBlockTable``).
        // With an indexed filter beside it, that filter's index leads and the
        // EventID is checked per row.
        let byKindBlocks = schemaVersion >= 7 && !filter.eventIDs.isEmpty && filter.image == nil
            && filter.processGuid == nil && filter.processID == nil && filter.containerID == nil && filter.host == nil
        if byKindBlocks {
            arguments.append(filter.eventIDs.reduce(Int64(0)) { $0 | EventStore.kindBit($1) })
        }
        if !filter.eventIDs.isEmpty {
            clauses.append("event_id IN (" + filter.eventIDs.map { _ in "?" }.joined(separator: ",") + ")")
            arguments += filter.eventIDs.map { $0 as DatabaseValueConvertible? }
        }
        if let image = filter.image {
            if image.contains("/") {
                clauses.append("image = ?")
                arguments.append(image)
            } else {
                // A bare name: find the full paths it names among the distinct
                // images (few), then look those up through the image index.
                let paths = try distinctImages().filter { $0 == image || $0.hasSuffix("/" + image) }
                if paths.isEmpty { return nil }
                clauses.append("image IN (" + paths.map { _ in "?" }.joined(separator: ",") + ")")
                arguments += paths.map { $0 as DatabaseValueConvertible? }
            }
        }
        if let guid = filter.processGuid {
            clauses.append("process_guid = ?")
            arguments.append(StoreReader.normalizedGuid(guid))
        }
        if let pid = filter.processID {
            if schemaVersion >= 5 {
                // The sealed segments' entries and the open segment (``EventStore/processIDTables``).
                clauses.append(EventStore.processIDMatch(schemaVersion: schemaVersion))
                arguments += [pid, pid, pid]
            } else {
                clauses.append("process_id = ?")
                arguments.append(pid)
            }
        }
        // Rows keyed by time (version 4: ``EventStore/table(named:)``): a time
        // window is a key range; a key lies at or at most
        // ``EventStore/maxKeyShift`` above its time, and `time` itself decides.
        let keyedByTime = schemaVersion >= 4
        // Through the kind blocks the key bounds are checked per row (`+id`):
        // as the table's key range SQLite would read the whole window once per
        // block (measured: 1 s for a 1 s window of a 1,000,000-row store);
        // each block's own key range is the one to read, bounded by `b.block`.
        let key = byKindBlocks ? "+id" : "id"
        if let since = filter.since {
            clauses.append("time >= ?")
            arguments.append(since.nanoseconds)
            if keyedByTime {
                clauses.append("\(key) >= ?")
                arguments.append(since.nanoseconds)
            }
            if byKindBlocks {
                clauses.append("b.block >= ?")
                arguments.append(EventStore.kindBlock(ofKey: since.nanoseconds))
            }
        }
        if let until = filter.until {
            clauses.append("time <= ?")
            arguments.append(until.nanoseconds)
            if keyedByTime {
                clauses.append("\(key) <= ?")
                let (bound, overflow) = until.nanoseconds.addingReportingOverflow(EventStore.maxKeyShift)
                arguments.append(overflow ? Int64.max : bound)
                if byKindBlocks {
                    clauses.append("b.block <= ?")
                    arguments.append(EventStore.kindBlock(ofKey: overflow ? Int64.max : bound))
                }
            }
        }
        if let prefix = filter.containerID {
            guard schemaVersion >= 2 else {
                throw StoreError.sqlite(path: path, operation: "query by container",
                                        message: "this store was written before containers were recorded (schema version \(schemaVersion))")
            }
            // A prefix through the index: GLOB is case-sensitive, as ids are,
            // so SQLite turns it into a range on event_by_container_id.
            clauses.append("container_id IS NOT NULL AND container_id GLOB ?")
            arguments.append(StoreReader.globPrefix(prefix))
        }
        if let host = filter.host {
            guard schemaVersion >= 3 else {
                throw StoreError.sqlite(path: path, operation: "query by host",
                                        message: "this store was written before hosts were recorded (schema version \(schemaVersion))")
            }
            clauses.append("host = ? COLLATE NOCASE")
            arguments.append(host)
        }
        if let text = filter.contains {
            clauses.append("swiftmon_contains(event_id, fields, ?)")
            arguments.append(text)
        }
        var sql: String
        if byKindBlocks {
            // Unqualified columns are the event's: `event_kinds` has only `block` and `kinds`.
            sql = EventStore.kindBlockSelection + " AND " + clauses.joined(separator: " AND ")
            // Blocks are disjoint key ranges: (block, key) order is key order.
            sql += filter.newestFirst ? " ORDER BY b.block DESC, e.id DESC" : " ORDER BY b.block, e.id"
        } else {
            sql = "SELECT event_id, time, fields, raw FROM event"
            if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
            if keyedByTime {
                sql += filter.newestFirst ? " ORDER BY id DESC" : " ORDER BY id"
            } else {
                sql += filter.newestFirst ? " ORDER BY time DESC, id DESC" : " ORDER BY time, id"
            }
        }
        if let limit = filter.limit {
            sql += " LIMIT ?"
            arguments.append(max(0, limit))
        }
        return (sql, StatementArguments(arguments))
    }

    /// `text` matched literally at the start: GLOB's special characters are
    /// bracketed.
    static func globPrefix(_ text: String) -> String {
        var out = ""
        for c in text { out += "*?[]".contains(c) ? "[\(c)]" : String(c) }
        return out + "*"
    }

    /// Every distinct image, by skipping through the image index (one probe per
    /// image rather than a scan of every event).
    public func distinctImages() throws -> [String] {
        try read { db in
            try String.fetchAll(db, sql: """
                WITH RECURSIVE images(image) AS (
                    SELECT min(image) FROM event
                    UNION ALL
                    SELECT (SELECT min(image) FROM event WHERE image > images.image) FROM images
                    WHERE images.image IS NOT NULL
                )
                SELECT image FROM images WHERE image IS NOT NULL
                """)
        }
    }

    /// Number of events in the store.
    public func count() throws -> Int {
        try read { try Int.fetchOne($0, sql: "SELECT count(*) FROM event") ?? 0 }
    }

    /// Runs `PRAGMA integrity_check`; returns its lines ("ok" when sound).
    public func integrityCheck() throws -> [String] {
        try read { try String.fetchAll($0, sql: "PRAGMA integrity_check") }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.read(body)
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "read", message: error.message ?? "\(error)")
        }
    }

    static func event(from row: Row) throws -> Event {
        let eventID: Int = row[0]
        let time: Int64 = row[1]
        let fields: Data = row[2]
        let raw: Data? = row[3]
        return try EventStore.decode(eventID: eventID, time: time, fields: fields, raw: raw)
    }

    /// A GUID given with or without braces, in any case, as the store's
    /// GUID columns hold it: `{…}`, lower case.
    public static func normalizedGuid(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return IndexedColumns.guidKey(trimmed.hasPrefix("{") ? trimmed : "{" + trimmed + "}")
    }
}

/// Parses the time and size expressions the CLI accepts.
public enum StoreExpression {
    /// `2024-01-31 23:59:59.123`, `2024-01-31T23:59:59Z`, `2024-01-31` (UTC),
    /// a Unix time in seconds (`@1706745599`), or an age: `90s`, `15m`, `2h`, `7d`.
    public static func time(_ text: String, now: EventTime = .now()) throws -> EventTime {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let seconds = duration(t) {
            return EventTime(nanosecondsSinceEpoch: now.nanoseconds - Int64(seconds * 1_000_000_000))
        }
        if t.hasPrefix("@"), let seconds = Double(t.dropFirst()) {
            return EventTime(nanosecondsSinceEpoch: Int64(seconds * 1_000_000_000))
        }
        if let parsed = calendarTime(t) { return parsed }
        throw StoreExpressionError(text: text, expected: "a UTC time like 2024-01-31 23:59:59.123, @UNIXSECONDS, or an age like 15m, 2h, 7d")
    }

    /// `90s`, `15m`, `2h`, `7d`, `1w` → seconds.
    public static func duration(_ text: String) -> Double? {
        guard let unit = text.last, let number = Double(text.dropLast()), number >= 0 else { return nil }
        switch unit {
        case "s": return number
        case "m": return number * 60
        case "h": return number * 3600
        case "d": return number * 86400
        case "w": return number * 7 * 86400
        default: return nil
        }
    }

    /// `500M`, `2G`, `100K`, `1048576` → bytes.
    public static func size(_ text: String) throws -> Int64 {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        var digits = Substring(t)
        var factor: Int64 = 1
        if digits.hasSuffix("IB") { digits = digits.dropLast(2) } else if digits.hasSuffix("B") { digits = digits.dropLast() }
        switch digits.last {
        case "K": factor = 1 << 10; digits = digits.dropLast()
        case "M": factor = 1 << 20; digits = digits.dropLast()
        case "G": factor = 1 << 30; digits = digits.dropLast()
        case "T": factor = 1 << 40; digits = digits.dropLast()
        default: break
        }
        guard let value = Double(digits), value > 0, value * Double(factor) < 9e18 else {
            throw StoreExpressionError(text: text, expected: "a size like 500M, 2G or a number of bytes")
        }
        return Int64(value * Double(factor))
    }

    static func calendarTime(_ text: String) -> EventTime? {
        // YYYY-MM-DD[( |T)hh:mm[:ss[.fraction]]][Z]
        var s = Substring(text)
        if s.hasSuffix("Z") { s = s.dropLast() }
        let parts = s.split(omittingEmptySubsequences: false) { $0 == " " || $0 == "T" }
        guard parts.count == 1 || parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard date.count == 3, let year = date[0], let month = date[1], let day = date[2],
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0
        var nanos: Int64 = 0
        if parts.count == 2 {
            let clock = parts[1].split(separator: ":", omittingEmptySubsequences: false)
            guard clock.count == 2 || clock.count == 3, let h = Int(clock[0]), let m = Int(clock[1]),
                  (0...23).contains(h), (0...59).contains(m) else { return nil }
            hour = h
            minute = m
            if clock.count == 3 {
                let sec = clock[2].split(separator: ".", omittingEmptySubsequences: false)
                guard let sv = Int(sec[0]), (0...60).contains(sv), sec.count <= 2 else { return nil }
                second = sv
                if sec.count == 2 {
                    let digits = sec[1].prefix(9)
                    guard !digits.isEmpty, let f = Int64(digits) else { return nil }
                    nanos = f * Int64(pow(10, Double(9 - digits.count)))
                }
            }
        }
        let days = EventTime.daysSinceEpoch(year: Int64(year), month: Int64(month), day: Int64(day))
        let seconds = days * 86400 + Int64(hour * 3600 + minute * 60 + second)
        return EventTime(nanosecondsSinceEpoch: seconds * 1_000_000_000 + nanos)
    }
}

public struct StoreExpressionError: Error, CustomStringConvertible {
    public let text: String
    public let expected: String
    public var description: String { "\"\(text)\": expected \(expected)" }
}
