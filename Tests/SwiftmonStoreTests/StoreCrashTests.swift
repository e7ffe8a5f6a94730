import Foundation
import GRDB
import SwiftmonCore
@testable import SwiftmonStore
import SwiftmonTestSupport
import XCTest

final class StoreCrashTests: XCTestCase {
    /// kill -9 in the middle of a storm: the store opens, passes
    /// `PRAGMA integrity_check`, and holds every event the writer had reported
    /// committed — events 0 ..< N, N read from its progress file after the kill.
    func testKillNineMidStormLosesNothingCommitted() throws {
        let directory = NSTemporaryDirectory() + "swiftmon-crash-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = directory + "/events.db"
        let progress = directory + "/committed"

        for round in 0..<3 {
            let child = Process()
            child.executableURL = try BuiltBinary.requireSwiftmon()
            child.arguments = ["bench", "store-writer", "--store", store, "--progress", progress]
            try child.run()
            // Let it commit a good amount, then kill it without warning mid-transaction.
            let target = 20_000 * (round + 1)
            let deadline = Date(timeIntervalSinceNow: 60)
            while Date() < deadline, child.isRunning, Self.committed(progress) < target {
                Thread.sleep(forTimeInterval: 0.01)
            }
            XCTAssertTrue(child.isRunning, "the writer exited early (status \(child.terminationStatus))")
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            XCTAssertEqual(child.terminationReason, .uncaughtSignal)
            let committed = Self.committed(progress)
            XCTAssertGreaterThanOrEqual(committed, target)

            let reader = try StoreReader(path: store)
            XCTAssertEqual(try reader.integrityCheck(), ["ok"], "round \(round)")
            // Each round starts numbering at 0 again; the newest run's events 0..<committed must all be there.
            let present = try reader.read { db in
                try Int.fetchOne(db, sql: """
                    SELECT count(DISTINCT process_id) FROM event WHERE event_id = 1 AND process_id < ?
                    """, arguments: [committed]) ?? 0
            }
            XCTAssertEqual(present, committed, "round \(round): committed events missing after kill -9")
            // The kind blocks are written in the rows' transactions: after the
            // kill every row still has its EventID's bit (else `query --event`
            // would miss it).
            let uncovered = try reader.read { db in
                try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM event AS e LEFT JOIN event_kinds AS b ON b.block = e.id >> \(EventStore.kindBlockShift)
                    WHERE b.kinds IS NULL OR b.kinds & (1 << e.event_id) = 0
                    """) ?? -1
            }
            XCTAssertEqual(uncovered, 0, "round \(round): rows without their kind bit after kill -9")
            try FileManager.default.removeItem(atPath: progress)
        }
        // And the store is still writable by the next run.
        let sink = try StoreSink(path: store)
        try sink.emit(StoreBenchmark.processCreate(sequence: 1, time: .now()))
        try sink.flush()
        XCTAssertEqual(sink.deliveryCounts.delivered, 1)
        sink.close()
    }

    static func committed(_ progress: String) -> Int {
        guard let text = try? String(contentsOfFile: progress, encoding: .utf8) else { return 0 }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// A full disk (a 1 MiB tmpfs): writes fail, the failure is counted as
    /// `writeError`, nothing crashes, what was committed stays readable, and
    /// once space is back the running sink commits again.
    func testFullDiskIsCountedAndSurvived() throws {
        guard getuid() == 0 else {
            try TestRequirement.unavailable("needs root to mount a tmpfs")
        }
        let mountPoint = NSTemporaryDirectory() + "swiftmon-full-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        guard Self.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint]) == 0 else {
            try TestRequirement.unavailable("cannot mount a tmpfs here")
        }
        defer { _ = Self.run("/usr/bin/umount", ["-l", mountPoint]) }
        // Ballast to remove later, so the test can give space back.
        let ballast = mountPoint + "/ballast"
        FileManager.default.createFile(atPath: ballast, contents: Data(repeating: 0x42, count: 400 * 1024))
        let path = mountPoint + "/events.db"
        var options = StoreSink.Options()
        options.batchSize = 500
        let sink = try StoreSink(path: path, options: options)
        let filler = String(repeating: "f", count: 2000)
        for n in 0..<3000 {  // ≈ 6+ MB into 1 MiB
            var e = StoreBenchmark.processCreate(sequence: n, time: .now())
            e["ParentCommandLine"] = filler
            try sink.emit(e)
            if n % 500 == 499 { try sink.flush() }
        }
        try sink.flush()
        let counts = sink.deliveryCounts
        XCTAssertGreaterThan(counts.dropped["writeError"] ?? 0, 0, "\(counts)")
        XCTAssertEqual(counts.delivered + counts.droppedTotal, 3000)
        let status = sink.status
        XCTAssertTrue(status.lastError?.contains("full") ?? false, status.lastError ?? "no error recorded")
        let reader = try StoreReader(path: path)
        XCTAssertEqual(try reader.integrityCheck(), ["ok"])
        XCTAssertEqual(try reader.count(), Int(counts.delivered))

        // Space comes back: the same sink, still running, commits again.
        try FileManager.default.removeItem(atPath: ballast)
        for n in 0..<20 { try sink.emit(StoreBenchmark.processCreate(sequence: 100_000 + n, time: .now())) }
        try sink.flush()
        XCTAssertEqual(sink.deliveryCounts.delivered, counts.delivered + 20, "\(sink.deliveryCounts)")
        XCTAssertEqual(try reader.count(), Int(counts.delivered) + 20)
        XCTAssertEqual(try reader.integrityCheck(), ["ok"])
        sink.close()
    }

    static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        (try? Command.run(URL(fileURLWithPath: tool), arguments).status) ?? -1
    }
}
