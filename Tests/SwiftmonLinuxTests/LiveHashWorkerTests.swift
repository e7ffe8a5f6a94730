import Foundation
import SwiftmonTestSupport
import XCTest

/// Hashing runs beside the event stream, not in it: the first exec of a
/// 1 GiB binary must not hold back the events of other processes, its
/// ProcessCreate goes out without the hash (counted), and a later exec of
/// the same file carries the hash the worker computed meanwhile.
final class LiveHashWorkerTests: XCTestCase {
    func testTheFirstExecOfAHugeBinaryDelaysNoOtherEvent() throws {
        try LiveSensor.requireLiveSensor()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-hash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = dir.appendingPathComponent("big-true")
        try Self.writeHugeExecutable(at: big, copying: "/bin/true", size: 1 << 30)

        // Two algorithms: a 1 GiB file takes seconds to hash here, far
        // longer than any delay the events below may show.
        let sensor = try LiveSensor(arguments: ["--hash", "sha256,md5"])
        let mark = "swiftmon-hashmark-\(UUID().uuidString.prefix(8))"
        XCTAssertEqual(try runToCompletion(big.path, ["first-\(mark)"]).status, 0)

        // Other processes, exec'd while the worker reads the big file: each
        // ProcessCreate must reach the output promptly.
        var latencies: [Double] = []
        for i in 0..<10 {
            let tag = "other\(i)-\(mark)"
            let started = Date()
            XCTAssertEqual(try runToCompletion("/bin/true", [tag]).status, 0)
            latencies.append(try Self.secondsUntil(sensor, contains: tag, since: started, timeout: 30))
            usleep(20_000)
        }
        let firstCreate = try XCTUnwrap(sensor.readEvents().with(id: 1, "CommandLine", containing: "first-\(mark)").first)
        XCTAssertEqual(firstCreate["Hashes"] as? String, "-", "a 1 GiB file cannot be hashed within the wait bound")

        // Later execs of the same file carry its hash once the worker is done.
        var hashes: String?
        var attempt = 0
        let deadline = Date().addingTimeInterval(90)
        while hashes == nil, Date() < deadline {
            attempt += 1
            let tag = "again\(attempt)-\(mark)"
            XCTAssertEqual(try runToCompletion(big.path, [tag]).status, 0)
            _ = try Self.secondsUntil(sensor, contains: tag, since: Date(), timeout: 30)
            let create = sensor.readEvents().with(id: 1, "CommandLine", containing: tag).first
            if let h = create?["Hashes"] as? String, h != "-" { hashes = h } else { usleep(300_000) }
        }
        sensor.stop()
        let expected = try Command.run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [big.path]).stdoutText
            .split(separator: " ").first.map { $0.uppercased() }
        let got = try XCTUnwrap(hashes, "no later exec carried the hash; stderr: \(sensor.stderrText)")
        XCTAssertTrue(got.contains("SHA256=\(try XCTUnwrap(expected)),"), got)
        XCTAssertTrue(got.contains(",MD5="), got)

        let sorted = latencies.sorted()
        print("ProcessCreate latencies while hashing, s: \(sorted)")
        let median = sorted[sorted.count / 2]
        XCTAssertLessThan(median, 0.1, "events of other processes waited for the hashing: \(sorted)")
        XCTAssertLessThan(sorted.last!, 0.25, "events of other processes waited for the hashing: \(sorted)")

        // The miss is counted, and the hashing's cost shows.
        let stats = sensor.stderrText
        let late = try XCTUnwrap(Self.counter("hash late (event without Hashes)", in: stats), stats)
        XCTAssertGreaterThanOrEqual(late, 1, stats)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(Self.counter("hash bytes read", in: stats)), 1 << 30, stats)
        let cpu = try XCTUnwrap(Self.counter("hash CPU µs", in: stats))
        print("hashing: \(cpu) µs CPU; \(late) events without their hash")
        // The test means something only if the hashing takes far longer than the bound above.
        XCTAssertGreaterThan(cpu, 1_000_000, "hashing 1 GiB took only \(cpu) µs: the test cannot tell a wait from none")
    }

    /// `source` with its ELF bytes, then a non-repeating, non-sparse pattern
    /// up to `size` bytes: the kernel maps only the program's segments, so it
    /// still runs, and every byte is on disk for the hasher to read.
    static func writeHugeExecutable(at url: URL, copying source: String, size: Int) throws {
        let program = try Data(contentsOf: URL(fileURLWithPath: source))
        FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o700])
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.write(contentsOf: program)
        var written = program.count
        var chunk = [UInt8](repeating: 0, count: 4 << 20)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var block = 0
        while written < size {
            block += 1
            chunk.withUnsafeMutableBytes { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for i in words.indices {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    words[i] = state ^ UInt64(block)
                }
            }
            let n = min(chunk.count, size - written)
            try handle.write(contentsOf: chunk[0..<n])
            written += n
        }
    }

    /// Seconds from `since` until the sensor's output holds `text`, polled
    /// every 2 ms.
    static func secondsUntil(_ sensor: LiveSensor, contains text: String, since: Date, timeout: TimeInterval) throws -> Double {
        let needle = Data(text.utf8)
        let deadline = since.addingTimeInterval(timeout)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: sensor.outputURL.path), data.range(of: needle) != nil {
                return Date().timeIntervalSince(since)
            }
            usleep(2_000)
        }
        throw SensorTestError("no event with \(text) within \(timeout) s; stderr: \(sensor.readStderr())")
    }

    /// `name=N` from the `source:` line of --stats.
    static func counter(_ name: String, in stats: String) -> UInt64? {
        guard let range = stats.range(of: name + "=") else { return nil }
        return UInt64(stats[range.upperBound...].prefix { $0.isNumber })
    }
}
