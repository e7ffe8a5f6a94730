import Foundation
import SwiftmonTestSupport
import XCTest

/// Every event a Sigma rule matches gets its alert on the live path, written
/// right behind the event while the sensor runs (not held back until more
/// traffic or the stop): lone execs with quiet between them, and execs inside
/// a storm. Behaviour only; how fast is `make bench` (bench-sigma-latency.py).
final class SigmaAlertDeliveryTests: XCTestCase {
    func testEveryMarkedExecIsWrittenWithItsAlertWhileTheSensorRuns() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("sigma-delivery")
        defer { try? FileManager.default.removeItem(at: dir) }
        let marker = "sigma-delivery-\(getpid())"
        let rule = """
            title: Delivery Marker (test)
            id: \(marker)
            status: experimental
            logsource:
                product: linux
                category: process_creation
            detection:
                selection:
                    CommandLine|contains: '\(marker)-'
                condition: selection
            level: high

            """
        try Data(rule.utf8).write(to: dir.appendingPathComponent("marker.yml"))
        var arguments = ["--sigma", dir.path]
        // With SigmaHQ's Linux rules beside it when the corpus is here (as in make bench).
        if FileManager.default.fileExists(atPath: SigmaLiveTests.corpus) { arguments += ["--sigma", SigmaLiveTests.corpus] }
        let sensor = try LiveSensor(arguments: arguments)

        // Lone execs, quiet between them: each is the last thing that happens
        // for a while, so nothing later pushes its alert out.
        var lone: [Int32] = []
        for i in 0..<20 {
            let run = try runToCompletion("/bin/true", ["\(marker)-lone-\(i)"])
            XCTAssertEqual(run.status, 0)
            lone.append(run.pid)
            usleep(UInt32(5_000 + (i % 4) * 7_000))
        }
        // A storm of 300 children of one parent, every one marked.
        let storm = try runToCompletion(helper.path, ["storm", "300", "\(marker)-storm"])
        XCTAssertEqual(storm.status, 0)
        // The very last exec, with nothing after it.
        let last = try runToCompletion("/bin/true", ["\(marker)-last"])

        func created(_ events: [[String: Any]]) -> [[String: Any]] {
            events.with(id: 1).filter { (($0["CommandLine"] as? String) ?? "").contains("\(marker)-") }
        }
        func alerts(_ events: [[String: Any]]) -> [[String: Any]] {
            events.with(id: 210).filter { ($0["RuleId"] as? String) == marker }
        }
        // The storm's parent carries the marker in its own command line too.
        let expected = lone.count + 1 + 300 + 1
        // While the sensor still runs: every alert is already in the output.
        try sensor.waitFor(timeout: 30) { alerts($0).count >= expected && created($0).count >= expected }
        let live = sensor.readEvents()
        XCTAssertTrue(alerts(live).contains { ($0["ProcessId"] as? String) == String(last.pid) },
                      "the last marked exec's alert is written before anything else happens")
        let events = sensor.stop()

        let creates = created(events)
        XCTAssertEqual(creates.count, expected)
        XCTAssertEqual(alerts(events).count, expected, "one alert per marked exec, none lost, none doubled")
        XCTAssertEqual(creates.filter { ($0["ParentProcessId"] as? String) == String(storm.pid) }.count, 300)
        for pid in lone + [storm.pid, last.pid] {
            XCTAssertEqual(creates.filter { ($0["ProcessId"] as? String) == String(pid) }.count, 1, "pid \(pid)")
        }
        // Each alert follows its own ProcessCreate, with only that event's
        // other alerts between them, and names it.
        var index: [String: Int] = [:]
        for (i, e) in events.enumerated() where (e["EventID"] as? Int) == 1 {
            if let guid = e["ProcessGuid"] as? String { index[guid] = i }
        }
        for (i, e) in events.enumerated() where (e["EventID"] as? Int) == 210 && (e["RuleId"] as? String) == marker {
            let guid = (e["ProcessGuid"] as? String) ?? ""
            guard let at = index[guid] else {
                XCTFail("alert without its ProcessCreate: \(e)")
                continue
            }
            let create = events[at]
            XCTAssertEqual(e["MatchedEventID"] as? String, "1")
            XCTAssertEqual(e["UtcTime"] as? String, create["UtcTime"] as? String)
            XCTAssertEqual(e["ProcessId"] as? String, create["ProcessId"] as? String)
            XCTAssertEqual(e["Image"] as? String, create["Image"] as? String)
            XCTAssertLessThan(at, i)
            for between in events[(at + 1)..<i] {
                XCTAssertEqual(between["EventID"] as? Int, 210, "only alerts between an event and its alert")
                XCTAssertEqual(between["ProcessGuid"] as? String, guid)
            }
        }
        XCTAssertTrue(sensor.stderrText.contains("rules loaded"), sensor.stderrText)
    }
}
