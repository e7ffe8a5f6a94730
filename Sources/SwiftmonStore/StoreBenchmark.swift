#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import GRDB
import SwiftmonCore

/// Workloads for `swiftmon bench store` and the crash test's writer child.
public enum StoreBenchmark {
    /// A ProcessCreate shaped like a real one (full paths, a 60–120 byte command
    /// line, hashes), numbered by `sequence` in ProcessId and the command line.
    public static func processCreate(sequence: Int, time: EventTime) -> Event {
        var e = Event(.processCreate, time: time)
        let parent = sequence / 8
        e["ProcessGuid"] = guid(sequence)
        e["ProcessId"] = String(sequence)
        e["Image"] = sequence % 3 == 0 ? "/usr/bin/bash" : "/usr/bin/true"
        e["CommandLine"] = "/usr/bin/true --storm \(sequence) --payload abcdefghijklmnopqrstuvwxyz0123456789 --dir /var/tmp/work/\(sequence % 97)"
        e["CurrentDirectory"] = "/var/tmp/work"
        e["User"] = "root"
        e["LogonGuid"] = "{00000000-0000-0000-0000-000000000000}"
        e["LogonId"] = "0"
        e["TerminalSessionId"] = "0"
        e["IntegrityLevel"] = "no level"
        e["Hashes"] = "SHA256=9E6FBB5D2F1A0E8C43B7A65D0C8E1F2A3B4C5D6E7F8091A2B3C4D5E6F708192A"
        e["ParentProcessGuid"] = guid(parent)
        e["ParentProcessId"] = String(parent)
        e["ParentImage"] = "/usr/bin/bash"
        e["ParentCommandLine"] = "bash -c storm"
        e["ParentUser"] = "root"
        e["Architecture"] = "x86_64"
        return e
    }

    static func guid(_ n: Int) -> String {
        let hex = String(n, radix: 16)
        return "{5f3c8d2e-0000-0000-0000-" + String(repeating: "0", count: max(0, 12 - hex.count)) + hex + "}"
    }

    static func scatteredPID(_ n: Int) -> Int { 300 + (n * 2_654_435_761) % 4_194_000 }

    public struct Figures: Sendable {
        public var events: Int
        public var seconds: Double
        /// User plus system CPU time of the whole process over the run: the
        /// figure that does not depend on what else the machine is doing.
        public var cpuSeconds: Double
        public var eventsPerSecond: Double { Double(events) / seconds }
        public var cpuMicrosecondsPerEvent: Double { cpuSeconds * 1e6 / Double(events) }
        public var fileBytes: Int64
    }

    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Emits `events` ProcessCreates into a fresh store at `path` as fast as the
    /// sink takes them and times until the last one is committed.
    public static func insertThroughput(path: String, events: Int, options: StoreSink.Options = .init(),
                                        heldAsBytes: Bool = true) throws -> Figures {
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        // Built before the clock starts: the figure is the store's, not the generator's.
        let prepared = benchmarkEvents(events, heldAsBytes: heldAsBytes)
        var options = options
        // The generator outruns any disk: let the backlog hold the whole run so
        // the figure is the writer's sustained rate, not a count of drops.
        options.maxPending = max(options.maxPending, events)
        let sink = try StoreSink(path: path, options: options)
        let start = DispatchTime.now().uptimeNanoseconds
        let cpuStart = processCPUSeconds()
        for event in prepared { try sink.emit(event) }
        try sink.flush()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let cpuSeconds = processCPUSeconds() - cpuStart
        let counts = sink.deliveryCounts
        sink.close()
        guard counts.delivered == UInt64(events) else {
            throw StoreError.sqlite(path: path, operation: "benchmark",
                                    message: "only \(counts.delivered) of \(events) committed; dropped \(counts.dropped)")
        }
        var info = stat()
        let size = stat(path, &info) == 0 ? Int64(info.st_size) : 0
        return Figures(events: events, seconds: seconds, cpuSeconds: cpuSeconds, fileBytes: size)
    }

    /// The fields the live sensor's ProcessCreate holds as bytes in the
    /// event's arena rather than as Strings (SwiftmonLinux's
    /// ProcessEventBuilder: the GUIDs, paths and command lines).
    static let fieldsHeldAsBytes = ["ProcessGuid", "Image", "CommandLine", "CurrentDirectory",
                                    "ParentProcessGuid", "ParentImage", "ParentCommandLine"]

    /// `count` ProcessCreates 1 µs apart from now, with scattered pids.
    /// `heldAsBytes`: the GUIDs, paths and command lines held as bytes, as
    /// the live sensor holds them (``fieldsHeldAsBytes``); false keeps every
    /// value a String, as events read from text (imports) are.
    static func benchmarkEvents(_ count: Int, heldAsBytes: Bool = true) -> [Event] {
        let base = EventTime.now().nanoseconds
        let byteFields = heldAsBytes ? fieldsHeldAsBytes.compactMap { EventKind.processCreate.index(of: $0) } : []
        return (0..<count).map { n -> Event in
            var event = processCreate(sequence: n, time: EventTime(nanosecondsSinceEpoch: base + Int64(n) * 1000))
            // Real pids wrap and scatter (pid_max 4194304); sequential ones would flatter the pid index.
            event["ProcessId"] = String(scatteredPID(n))
            for i in byteFields {
                event.setUTF8(i, Array(event[i].utf8))
            }
            return event
        }
    }

    /// The floor beside ``insertThroughput(path:events:options:)``: the same
    /// events, bound by the same ``EventInsert`` in transactions of
    /// `batchSize` with the sink's WAL settings, into the same table with
    /// only the indexes named in `keeping` (none by default). On one thread,
    /// so without the sink's hand-off between producer and writer.
    ///
    /// CPU per event on a shared machine moves by a third from one hour to the
    /// next (cache contention with other processes, not the code); the
    /// difference between the two figures of one run, and their ratio, move
    /// much less, and say what the indexes cost. `keeping` measures one index
    /// at a time.
    public static func floorThroughput(path: String, events: Int, batchSize: Int, keeping: Set<String> = []) throws -> Figures {
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        // `event_pid`: the process-id entries (``EventStore/processIDTables``), `event_kinds` the kind
        // blocks (``EventStore/kindBlockTable``): tables rather than indexes.
        let names = EventStore.indexNames + ["event_pid", "event_kinds"]
        let unknown = keeping.subtracting(names)
        guard unknown.isEmpty else {
            throw StoreError.notFound("no index named \(unknown.sorted().joined(separator: ", ")); the store's: \(names.joined(separator: ", "))")
        }
        let prepared = benchmarkEvents(events)
        let queue = try EventStore.openForWriting(path: path)
        var closed = false
        defer { if !closed { try? queue.close() } }
        do {
            try queue.writeWithoutTransaction { db in
                for name in EventStore.indexNames where !keeping.contains(name) {
                    try db.execute(sql: "DROP INDEX IF EXISTS \(name)")
                }
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA journal_size_limit = \(StoreSinkWriter.defaultWALBudget)")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(max(16, StoreSinkWriter.defaultWALBudget / pageSize))")
            }
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "configure", message: error.message ?? "\(error)")
        }
        var processIDs = keeping.contains("event_pid") ? try queue.read { try ProcessIDSegment($0) } : nil
        let start = DispatchTime.now().uptimeNanoseconds
        let cpuStart = processCPUSeconds()
        var first = 0
        while first < prepared.count {
            let last = min(first + max(1, batchSize), prepared.count)
            try StoreSinkWriter.insert(prepared[first..<last], into: queue, path: path, processIDs: &processIDs,
                                       kindBlocks: keeping.contains("event_kinds"))
            first = last
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let cpuSeconds = processCPUSeconds() - cpuStart
        let count = try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM event") ?? 0 }
        guard count == events else {
            throw StoreError.sqlite(path: path, operation: "benchmark", message: "only \(count) of \(events) stored")
        }
        // As the sink's close: the WAL folded into the file, whose size is then the store's.
        closed = true
        do {
            try queue.close()
        } catch let error as DatabaseError {
            throw StoreError.sqlite(path: path, operation: "close", message: error.message ?? "\(error)")
        }
        var info = stat()
        let size = stat(path, &info) == 0 ? Int64(info.st_size) : 0
        return Figures(events: events, seconds: seconds, cpuSeconds: cpuSeconds, fileBytes: size)
    }

    /// How long the CLI's typical questions take on the store `insertThroughput`
    /// left behind: (question, milliseconds, events or nodes returned).
    public static func queryLatencies(path: String, events: Int) throws -> [(String, Double, Int)] {
        let reader = try StoreReader(path: path)
        let middle = events / 2
        func time(_ name: String, _ body: () throws -> Int) rethrows -> (String, Double, Int) {
            let start = DispatchTime.now().uptimeNanoseconds
            let n = try body()
            return (name, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, n)
        }
        func filter(_ configure: (inout StoreFilter) -> Void) -> StoreFilter {
            var f = StoreFilter()
            configure(&f)
            return f
        }
        let base = try reader.events(matching: filter { $0.limit = 1 }).first?.time.nanoseconds ?? 0
        return try [
            time("--guid (one process)") { try reader.events(matching: filter { $0.processGuid = guid(middle) }).count },
            time("--pid") { try reader.events(matching: filter { $0.processID = scatteredPID(middle) }).count },
            time("--event 1 --since/--until (1 ms window)") {
                try reader.events(matching: filter {
                    $0.eventIDs = [1]
                    $0.since = EventTime(nanosecondsSinceEpoch: base + Int64(middle) * 1000)
                    $0.until = EventTime(nanosecondsSinceEpoch: base + Int64(middle) * 1000 + 1_000_000)
                }).count
            },
            time("--image /usr/bin/bash --limit 1000") { try reader.events(matching: filter { $0.image = "/usr/bin/bash" }).count },
            time("--image bash --limit 1000") { try reader.events(matching: filter { $0.image = "bash" }).count },
            time("--contains (full scan) --limit 10") {
                try reader.events(matching: filter { $0.contains = "--STORM \(events - 1) "; $0.limit = 10 }).count
            },
            time("tree (ancestors + 200 descendants)") {
                try reader.processTree(of: .guid(guid(middle / 64)), maxNodes: 200).descendantCount
            },
        ]
    }

    /// Writes ProcessCreates numbered 0, 1, 2 … until `events` (or for ever
    /// when nil), and after every commit writes the number committed so far to
    /// `progressFile` (replaced atomically). Every event numbered below that
    /// count is then known to be in the store, whatever happens next.
    public static func writeStorm(path: String, progressFile: String, events: Int?) throws {
        var options = StoreSink.Options()
        options.commitInterval = 0.02
        options.batchSize = 2000
        let sink = try StoreSink(path: path, options: options) { committed in
            let temporary = progressFile + ".tmp"
            let text = "\(committed)\n"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
            rename(temporary, progressFile)
        }
        var sequence = 0
        let base = EventTime.now().nanoseconds
        while events.map({ sequence < $0 }) ?? true {
            try sink.emit(processCreate(sequence: sequence, time: EventTime(nanosecondsSinceEpoch: base + Int64(sequence))))
            sequence += 1
            // Stay under the backlog limit so every event is committed, not dropped.
            if sequence % 50_000 == 0 { try sink.flush() }
        }
        sink.close()
    }
}
