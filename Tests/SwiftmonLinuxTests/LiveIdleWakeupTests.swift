import Foundation
import SwiftmonTestSupport
import XCTest

/// Idle, the real sensor sleeps: no thread wakes on a timer of its own but
/// the reader's one tick a second (issue 10, item 5). Counted from /proc
/// (voluntary context switches: each one a sleep, so each wake-up after it),
/// per thread, over a window in which the sensor logs nothing. Other work on
/// the machine still starts processes, whose fork and exit records the
/// reader reads (for its cache): each may wake it once, and records that
/// come close together make it pause once (LinuxEventLoop: a pause after a
/// drain that follows another within the pause, or reads two or more). A
/// pause in which more records came replaces their wake-up; only the last
/// pause of a run of records costs one more, and a run has at least two
/// records: its bound is its ticks plus the records it read plus half as many
/// pauses, all counted exactly.
final class LiveIdleWakeupTests: XCTestCase {
    struct ThreadSample {
        var name: String
        var voluntary: Int
    }

    static func threads(of pid: Int32) throws -> [Int: ThreadSample] {
        var out: [Int: ThreadSample] = [:]
        for tid in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").compactMap(Int.init) {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8) else { continue }
            var sample = ThreadSample(name: "?", voluntary: 0)
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "\t", maxSplits: 1)
                guard parts.count == 2 else { continue }
                if parts[0] == "Name:" { sample.name = String(parts[1]) }
                if parts[0] == "voluntary_ctxt_switches:" { sample.voluntary = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0 }
            }
            out[tid] = sample
        }
        return out
    }

    /// Kernel records the sensor has read, in all (its control socket).
    static func recordsRead(_ binary: URL, socket: String) throws -> Int {
        let r = try Command.run(binary, ["service", "status", "--json", "--control-socket", socket], timeout: 30)
        guard r.status == 0,
              let object = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any],
              let status = object["status"] as? [String: Any] else {
            throw SensorTestError("service status failed (\(r.status)): \(r.stderrText)")
        }
        let records = status["kernelRecords"] as? [String: [String: Any]] ?? [:]
        return records.values.reduce(0) { $0 + (($1["read"] as? NSNumber)?.intValue ?? 0) }
    }

    func testIdleThreadsWakeOnlyForTheTickAndTheRecordsTheyRead() throws {
        try LiveSensor.requireLiveSensor()
        let binary = try XCTUnwrap(LiveSensor.binary)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-idle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Logs no process event (an include rule with no condition matches
        // nothing); the kernel still hands the reader forks and exits.
        let config = dir.appendingPathComponent("quiet.xml")
        try Data("""
            <Sysmon schemaversion="4.90"><EventFiltering>
            <RuleGroup name="" groupRelation="or"><ProcessCreate onmatch="include"/></RuleGroup>
            <RuleGroup name="" groupRelation="or"><ProcessTerminate onmatch="include"/></RuleGroup>
            </EventFiltering></Sysmon>
            """.utf8).write(to: config)
        let socket = dir.appendingPathComponent("control/sock").path
        let sensor = try LiveSensor(arguments: ["--config", config.path, "--control-socket", socket])
        defer { sensor.stop() }
        let pid = sensor.process.processIdentifier
        // Start-up done: the first ticks gave back the queue's first room.
        sleep(3)

        let window: UInt32 = 5
        let records0 = try Self.recordsRead(binary, socket: socket)
        let before = try Self.threads(of: pid)
        sleep(window)
        let after = try Self.threads(of: pid)
        let records1 = try Self.recordsRead(binary, socket: socket)
        let records = records1 - records0

        var report: [String] = []
        for (tid, now) in after.sorted(by: { $0.key < $1.key }) {
            let woke = now.voluntary - (before[tid]?.voluntary ?? 0)
            report.append("\(tid == Int(pid) ? "reader" : now.name)(\(tid)): \(woke)")
            if tid == Int(pid) {
                // A tick a second (one more at the window's edges), each record
                // read at most once, a closing pause per two records at most,
                // and the second status query: its connection and its command
                // (two wake-ups at most).
                XCTAssertLessThanOrEqual(woke, Int(window) + 1 + records + records / 2 + 2,
                                         "the reader woke more than its ticks and records (\(records) read)")
            } else {
                // Nothing logged: the outputs' thread has nothing to write; no
                // other thread has a timer.
                XCTAssertLessThanOrEqual(woke, 1, "thread \(now.name) (\(tid)) woke \(woke) times in \(window) s idle")
            }
        }
        print("idle wake-ups over \(window) s, \(records) kernel records read: " + report.joined(separator: ", "))
    }
}
