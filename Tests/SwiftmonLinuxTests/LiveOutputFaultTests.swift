import Foundation
import XCTest

/// Faults in each kind of output, under a real exec storm: a full device, a
/// file system that fills mid-storm, a pipe whose reader goes away, a dead
/// collector, a store on a full file system, a queue of one event. Every test
/// asserts the promise exactly: for each output, written + lost = accepted,
/// and what the output holds is what it says it wrote.
final class LiveOutputFaultTests: XCTestCase {
    /// One output's line in `--stats`: "output NAME: A accepted, W written, L lost (CAUSE n, …)".
    struct OutputFigures {
        var accepted: UInt64
        var written: UInt64
        var lost: UInt64
        /// Accepted, neither written nor lost: kept in the disk spool for the next run.
        var pending: UInt64 = 0
        var causes: [String: UInt64]
    }

    static func figures(of output: String, in stats: String) -> OutputFigures? {
        guard let line = stats.split(separator: "\n").first(where: { $0.contains("output \(output): ") }) else { return nil }
        let text = String(line[line.range(of: "output \(output): ")!.upperBound...])
        func number(before word: String) -> UInt64? {
            guard let r = text.range(of: " " + word) else { return nil }
            return UInt64(text[..<r.lowerBound].split(separator: " ").last ?? "")
        }
        guard let accepted = number(before: "accepted"), let written = number(before: "written"),
              let lost = number(before: "lost") else { return nil }
        var causes: [String: UInt64] = [:]
        if let open = text.range(of: " lost ("), let close = text[open.upperBound...].firstIndex(of: ")") {
            for part in text[open.upperBound..<close].split(separator: ",") {
                let words = part.split(separator: " ")
                if words.count == 2, let n = UInt64(words[1]) { causes[String(words[0])] = n }
            }
        }
        return OutputFigures(accepted: accepted, written: written, lost: lost,
                             pending: number(before: "pending") ?? 0, causes: causes)
    }

    /// swiftmon run with `arguments`, its stdout where the test says, stderr
    /// kept; started once it has attached its probes.
    final class Run {
        let process = Process()
        let stderrURL: URL

        init(_ arguments: [String], standardOutput: Any = FileHandle.nullDevice) throws {
            stderrURL = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("swiftmon-fault-\(UUID().uuidString).txt")
            FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
            process.executableURL = LiveSensor.binary
            process.arguments = ["run", "--stats", "-v"] + arguments
            process.standardError = try FileHandle(forWritingTo: stderrURL)
            process.standardOutput = standardOutput
            try process.run()
            let deadline = Date().addingTimeInterval(60)
            while !stderr.contains("attached"), Date() < deadline, process.isRunning { usleep(50_000) }
            guard process.isRunning else { throw SensorTestError("swiftmon exited early: \(stderr)") }
            usleep(300_000)  // the event loop starts right after the probes are attached
        }

        var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

        /// SIGTERM and the statistics it prints.
        func stop() -> String {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            return stderr
        }

        deinit {
            if process.isRunning { process.terminate() }
            try? FileManager.default.removeItem(at: stderrURL)
        }
    }

    func storm(_ count: Int) throws -> String {
        let helper = try XCTUnwrap(LiveSensor.helper)
        let mark = "fault-\(UUID().uuidString.prefix(8))"
        let (_, status) = try runToCompletion(helper.path, ["storm", String(count), mark])
        XCTAssertEqual(status, 0)
        return mark
    }

    /// A tmpfs of `size` mounted on a new directory; unmounted by the returned closure.
    func tinyFileSystem(_ size: String) throws -> (URL, () -> Void) {
        let dir = try makeTestDirectory("tinyfs")
        let (_, status) = try runToCompletion("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size),mode=700", "tmpfs", dir.path])
        guard status == 0 else { throw SensorTestError("mount tmpfs failed (\(status))") }
        return (dir, {
            _ = try? runToCompletion("/bin/umount", [dir.path])
            try? FileManager.default.removeItem(at: dir)
        })
    }

    /// Whole JSON lines in a file.
    func wholeLines(_ url: URL) -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any]
        }
    }

    func testOutputToDevFullWritesNothingAndCountsEveryEventLost() throws {
        try LiveSensor.requireLiveSensor()
        let run = try Run(["--format", "json", "--output", "/dev/full"])
        _ = try storm(500)
        let stats = run.stop()
        XCTAssertEqual(run.process.terminationStatus, 0, stats)
        let f = try XCTUnwrap(Self.figures(of: "json /dev/full", in: stats), stats)
        XCTAssertGreaterThanOrEqual(f.accepted, 1000, "500 creates and 500 exits at least: \(stats)")
        XCTAssertEqual(f.written, 0, stats)
        XCTAssertEqual(f.lost, f.accepted, stats)
        XCTAssertEqual(f.causes["ENOSPC"], f.lost, stats)
        XCTAssertFalse(stats.contains("events lost:          0"), stats)
    }

    func testFileSystemFillingMidStormWrittenPlusLostIsAccepted() throws {
        try LiveSensor.requireLiveSensor()
        let (dir, unmount) = try tinyFileSystem("96k")
        defer { unmount() }
        let file = dir.appendingPathComponent("events.jsonl")
        let run = try Run(["--format", "json", "--output", file.path])
        _ = try storm(2_000)
        let stats = run.stop()
        let f = try XCTUnwrap(Self.figures(of: "json \(file.path)", in: stats), stats)
        let lines = wholeLines(file)
        XCTAssertGreaterThan(f.written, 0, stats)
        XCTAssertGreaterThan(f.lost, 0, "96 KiB cannot hold 4,000 events: \(stats)")
        XCTAssertEqual(f.written + f.lost, f.accepted, stats)
        XCTAssertEqual(UInt64(lines.count), f.written, "the file holds exactly what the output says it wrote: \(stats)")
        XCTAssertEqual(f.causes["ENOSPC"], f.lost, stats)
    }

    func testClosedPipeEndsTheRunCleanlyWithTheCount() throws {
        try LiveSensor.requireLiveSensor()
        let pipe = Pipe()
        let run = try Run(["--format", "json"], standardOutput: pipe)
        // `swiftmon run | head -1`: read one line, then the reader goes.
        _ = try storm(50)
        var first = Data()
        while !first.contains(UInt8(ascii: "\n")) { first += pipe.fileHandleForReading.availableData }
        try pipe.fileHandleForReading.close()
        try pipe.fileHandleForWriting.close()
        _ = try storm(300)
        let deadline = Date().addingTimeInterval(20)
        while run.process.isRunning, Date() < deadline { usleep(50_000) }
        XCTAssertFalse(run.process.isRunning, "swiftmon must end by itself when its output's reader has gone")
        let stats = run.stop()
        XCTAssertEqual(run.process.terminationStatus, 0, stats)
        let f = try XCTUnwrap(Self.figures(of: "json standard output", in: stats), stats)
        XCTAssertGreaterThan(f.written, 0, stats)
        XCTAssertGreaterThan(f.causes["EPIPE"] ?? 0, 0, stats)
        XCTAssertEqual(f.written + f.lost, f.accepted, stats)
    }

    func testDeadCollectorCountsEveryEventItNeverTook() throws {
        try LiveSensor.requireLiveSensor()
        let dir = try makeTestDirectory("deadcollector")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("events.jsonl")
        // Port 9 on loopback: nothing listens, every connect is refused. With a
        // state folder (as the service runs) remote syslog goes through the
        // disk spool: a dead collector loses nothing, its events wait there.
        let run = try Run(["--format", "json", "--output", file.path, "--syslog", "tcp://127.0.0.1:9",
                           "--state-dir", dir.path])
        _ = try storm(300)
        let stats = run.stop()
        let syslog = try XCTUnwrap(Self.figures(of: "syslog tcp://127.0.0.1:9", in: stats), stats)
        XCTAssertEqual(syslog.written, 0, stats)
        XCTAssertGreaterThanOrEqual(syslog.accepted, 600, stats)
        XCTAssertEqual(syslog.lost, 0, stats)
        XCTAssertEqual(syslog.pending, syslog.accepted, "the collector never came: every event waits in the spool: \(stats)")
        let spool = dir.appendingPathComponent("spool")
        let spoolFiles = try FileManager.default.subpathsOfDirectory(atPath: spool.path)
        XCTAssertFalse(spoolFiles.isEmpty, "the spool holds the events for the next run")
        let json = try XCTUnwrap(Self.figures(of: "json \(file.path)", in: stats), stats)
        XCTAssertEqual(json.lost, 0, "a dead collector costs only its own output: \(stats)")
        XCTAssertEqual(json.written, json.accepted, stats)
        XCTAssertEqual(UInt64(wholeLines(file).count), json.written, stats)
    }

    func testStoreOnAFullFileSystemCountsWhatItCouldNotCommit() throws {
        try LiveSensor.requireLiveSensor()
        let (dir, unmount) = try tinyFileSystem("320k")
        defer { unmount() }
        let store = dir.appendingPathComponent("events.db")
        let run = try Run(["--format", "json", "--output", "/dev/null", "--store", store.path])
        _ = try storm(3_000)
        let stats = run.stop()
        let f = try XCTUnwrap(Self.figures(of: "store \(store.path)", in: stats), stats)
        XCTAssertGreaterThan(f.lost, 0, "320 KiB cannot hold 6,000 events: \(stats)")
        XCTAssertEqual(f.written + f.lost, f.accepted, stats)
    }

    func testQueueOfOneUnderAStormCountsItsOverflow() throws {
        try LiveSensor.requireLiveSensor()
        let dir = try makeTestDirectory("queue1")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("events.jsonl")
        let run = try Run(["--format", "json", "--output", file.path, "--queue-size", "1"])
        let mark = try storm(2_000)
        let stats = run.stop()
        let f = try XCTUnwrap(Self.figures(of: "json \(file.path)", in: stats), stats)
        let lines = wholeLines(file)
        XCTAssertEqual(f.written + f.lost, f.accepted, stats)
        XCTAssertEqual(UInt64(lines.count), f.written, stats)
        XCTAssertTrue(stats.contains("event queue full"), "a queue of one overflows in a storm: \(stats)")
        // Every marked process start is either in the file or counted lost in the queue.
        let creates = lines.with(id: 1, "CommandLine", containing: "\(mark)-").count
        let queueLost = Self.queueLoss(of: "ProcessCreate", in: stats)
        XCTAssertGreaterThanOrEqual(creates + queueLost, 2_000, stats)
    }

    /// "event queue full: ProcessCreate=12 ProcessTerminate=3" → 12.
    static func queueLoss(of kind: String, in stats: String) -> Int {
        guard let section = stats.range(of: "event queue full: ") else { return 0 }
        let rest = stats[section.upperBound...].prefix { $0 != ";" && $0 != ")" && $0 != "\n" }
        for part in rest.split(separator: " ") where part.hasPrefix(kind + "=") {
            return Int(part.dropFirst(kind.count + 1)) ?? 0
        }
        return 0
    }
}
