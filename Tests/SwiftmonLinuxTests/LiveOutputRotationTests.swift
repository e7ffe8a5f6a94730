import Foundation
import XCTest

/// `--output` files rotated by size and reopened on SIGUSR1 under a live
/// storm: every event written once, in one of the files, nothing lost.
final class LiveOutputRotationTests: XCTestCase {
    func lines(_ url: URL) -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any]
        }
    }

    func storm(_ count: Int, _ mark: String) throws {
        let helper = try XCTUnwrap(LiveSensor.helper)
        XCTAssertEqual(try runToCompletion(helper.path, ["storm", String(count), mark]).status, 0)
    }

    func marked(_ events: [[String: Any]], _ mark: String) -> [String] {
        events.with(id: 1, "CommandLine", containing: "\(mark)-").compactMap { $0["CommandLine"] as? String }
    }

    func testSizeRotationAndSIGUSR1ReopenKeepEveryEventOnce() throws {
        try LiveSensor.requireLiveSensor()
        let dir = try makeTestDirectory("rotation")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("events.jsonl")
        let run = try LiveOutputFaultTests.Run(["--format", "json", "--output", file.path,
                                                "--output-max-size", "64K", "--output-keep", "400"])
        let mark = "rot-\(UUID().uuidString.prefix(8))"
        try storm(1_000, mark + "a")
        usleep(500_000)
        // logrotate: move the file away, then SIGUSR1.
        let moved = dir.appendingPathComponent("events.jsonl.moved")
        try FileManager.default.moveItem(at: file, to: moved)
        kill(run.process.processIdentifier, SIGUSR1)
        // The reopen happens before the next write: once FILE is back, every
        // later event goes there. Execs until it is (other processes' events
        // may get there first, on a busy host), so storm b starts after it.
        let helper = try XCTUnwrap(LiveSensor.helper)
        let reopened = Date(timeIntervalSinceNow: 20)
        while !FileManager.default.fileExists(atPath: file.path), Date() < reopened {
            _ = try runToCompletion(helper.path, ["exec", "/bin/true", mark + "c"])
            usleep(50_000)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "SIGUSR1 reopened FILE")
        try storm(1_000, mark + "b")
        let stats = run.stop()
        XCTAssertEqual(run.process.terminationStatus, 0, stats)

        // Room for every event (400 × 64 KiB, ten times what the storms write even
        // with long paths): a rotated file that --output-keep deletes is gone by request.
        let rotated = (1...400).map { URL(fileURLWithPath: file.path + ".\($0)") }
            .filter { FileManager.default.fileExists(atPath: $0.path) }
        XCTAssertFalse(rotated.isEmpty, "2,000 processes' events do not fit in 64 KiB: \(stats)")
        let all = ([moved, file] + rotated).flatMap(lines)
        let f = try XCTUnwrap(LiveOutputFaultTests.figures(of: "json \(file.path)", in: stats), stats)
        XCTAssertEqual(f.lost, 0, stats)
        XCTAssertEqual(f.written, f.accepted, stats)
        XCTAssertEqual(UInt64(all.count), f.written, "every written event is in exactly one file: \(stats)")
        for part in ["a", "b"] {
            let creates = marked(all, mark + part)
            XCTAssertEqual(creates.count, 1_000, "storm \(part)")
            XCTAssertEqual(Set(creates).count, 1_000, "no event written twice")
        }
        // What the moved file holds is what was written before SIGUSR1: the
        // newest events then (storm a's, or on a busy host other processes'),
        // and nothing of storm b.
        XCTAssertFalse(lines(moved).isEmpty, "the moved file keeps what was written before SIGUSR1")
        XCTAssertTrue(marked(lines(moved), mark + "b").isEmpty, "nothing written after the reopen goes to the moved file")
        for url in [file] + rotated {
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber).intValue
            XCTAssertLessThanOrEqual(size, 64 << 10, url.path)
        }
    }
}
