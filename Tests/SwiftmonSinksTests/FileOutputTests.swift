import Foundation
import XCTest
@testable import SwiftmonCore
@testable import SwiftmonSinks

/// The file output's account: an event is written only when the kernel took
/// all of its bytes; everything else is counted lost under the errno's name.
final class FileOutputTests: XCTestCase {
    func event(_ n: Int) -> Event {
        var e = Event(.processCreate, time: .now())
        e["CommandLine"] = "cmd \(n)"
        return e
    }

    func testAFullDeviceLosesEveryEventAsENOSPCAndNothingIsCountedWritten() throws {
        let sink = JSONLinesSink(output: try FileOutput(path: "/dev/full"))
        for i in 0..<100 { try? sink.emit(event(i)) }  // the failure is in the counts below
        XCTAssertThrowsError(try sink.flush())
        sink.close()
        XCTAssertEqual(sink.deliveryCounts, SinkDeliveryCounts(accepted: 100, delivered: 0, dropped: ["ENOSPC": 100]))
    }

    func testBufferedEventsAreNotWrittenUntilFlushed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("e.jsonl").path
        let sink = JSONLinesSink(output: try FileOutput(path: path))
        for i in 0..<10 { try sink.emit(event(i)) }
        XCTAssertEqual(sink.deliveryCounts.delivered, 0)
        XCTAssertEqual(sink.deliveryCounts.pending, 10)
        try sink.flush()
        XCTAssertEqual(sink.deliveryCounts, SinkDeliveryCounts(accepted: 10, delivered: 10))
        sink.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 10)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    }

    func testAPipeWhoseReaderHasGoneClosesTheOutputAndCountsEPIPE() throws {
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let output = FileOutput(descriptor: fds[1], name: "pipe")
        let sink = TextSink(output: output)
        try sink.emit(event(0))
        try sink.flush()
        var buffer = [UInt8](repeating: 0, count: 4096)
        XCTAssertGreaterThan(read(fds[0], &buffer, buffer.count), 0)
        close(fds[0])
        for i in 1...5 { try sink.emit(event(i)) }
        XCTAssertThrowsError(try sink.flush())
        XCTAssertTrue(sink.destinationClosed)
        for i in 6...8 { try sink.emit(event(i)) }  // counted at once, not buffered
        sink.close()
        close(fds[1])
        XCTAssertEqual(sink.deliveryCounts, SinkDeliveryCounts(accepted: 9, delivered: 1, dropped: ["EPIPE": 8]))
    }

    func testAFanOutKeepsEachOutputsAccount() throws {
        let good = CollectingSink()
        let full = JSONLinesSink(output: try FileOutput(path: "/dev/full"))
        let fanOut = FanOutSink(sinks: [good, full])
        for i in 0..<20 { try fanOut.emit(event(i)) }
        fanOut.close()
        XCTAssertEqual(good.events.count, 20)
        XCTAssertEqual(fanOut.outputReports.map(\.counts), [
            SinkDeliveryCounts(accepted: 20, delivered: 20),
            SinkDeliveryCounts(accepted: 20, delivered: 0, dropped: ["ENOSPC": 20]),
        ])
        XCTAssertEqual(fanOut.failures, 20)
    }

    func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func commandNumbers(_ path: String) throws -> [Int] {
        try lines(path).map { line in
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let cmd = try XCTUnwrap(object["CommandLine"] as? String)
            return try XCTUnwrap(Int(cmd.dropFirst(4)))
        }
    }

    func testRotationBySizeKeepsWholeEventsInOrderAndTheNewestFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("e.jsonl").path
        let output = try FileOutput(path: path, rotation: .init(maxBytes: 4_000, keep: 2))
        let sink = JSONLinesSink(output: output)
        for i in 0..<300 {
            try sink.emit(event(i))
            if i % 5 == 4 { try sink.flush() }
        }
        sink.close()
        XCTAssertEqual(sink.deliveryCounts, SinkDeliveryCounts(accepted: 300, delivered: 300))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".3"))
        // The three files, oldest first, hold the newest events: whole, in order, none twice.
        let numbers = try commandNumbers(path + ".2") + commandNumbers(path + ".1") + commandNumbers(path)
        XCTAssertEqual(numbers.last, 299)
        XCTAssertEqual(numbers, Array((300 - numbers.count)..<300))
        for file in [path, path + ".1", path + ".2"] {
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber).intValue
            XCTAssertLessThanOrEqual(size, 4_000, file)
            let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)
            XCTAssertEqual(mode.intValue, 0o600, file)
        }
    }

    func testReopenAfterTheFileWasMovedLosesAndRepeatsNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reopen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("e.jsonl").path
        let sink = JSONLinesSink(output: try FileOutput(path: path))
        for i in 0..<10 { try sink.emit(event(i)) }
        try sink.flush()
        XCTAssertEqual(rename(path, path + ".moved"), 0)  // logrotate
        for i in 10..<15 { try sink.emit(event(i)) }
        sink.reopen()  // SIGUSR1, with events still in the buffer
        for i in 15..<20 { try sink.emit(event(i)) }
        sink.close()
        XCTAssertEqual(try commandNumbers(path + ".moved"), Array(0..<10))
        XCTAssertEqual(try commandNumbers(path), Array(10..<20))
        XCTAssertEqual(sink.deliveryCounts, SinkDeliveryCounts(accepted: 20, delivered: 20))
    }
}
