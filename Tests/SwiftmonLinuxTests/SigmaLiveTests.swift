import Foundation
import SwiftmonTestSupport
import XCTest

/// SigmaHQ rules (../shared/corpus/sigma, DRL 1.1, read in place) on the live
/// sensor: real processes trip them and the SigmaMatch events carry the rule
/// and the process.
final class SigmaLiveTests: XCTestCase {
    static let corpus = BuiltBinary.repositoryRoot.deletingLastPathComponent().path + "/shared/corpus/sigma/rules/linux"

    func testRealProcessesTripSigmaHQRules() throws {
        try LiveSensor.requireLiveSensor()
        guard FileManager.default.fileExists(atPath: Self.corpus) else {
            try TestRequirement.unavailable("the Sigma corpus is not at \(Self.corpus)")
        }
        for tool in ["/usr/bin/base64", "/usr/bin/rm", "/usr/bin/wget"] where !FileManager.default.fileExists(atPath: tool) {
            try TestRequirement.unavailable("\(tool) is not installed")
        }
        let sensor = try LiveSensor(arguments: ["--sigma", Self.corpus + "/process_creation",
                                                "--sigma", Self.corpus + "/file_event"])
        let dir = try makeTestDirectory("sigma")
        defer { try? FileManager.default.removeItem(at: dir) }
        let encoded = dir.appendingPathComponent("payload.b64")
        try Data("aWQK\n".utf8).write(to: encoded)
        let decode = try runCapturing("/usr/bin/base64", ["-d", encoded.path])
        let history = dir.appendingPathComponent(".bash_history")
        try Data("ls\n".utf8).write(to: history)
        let remove = try runToCompletion("/usr/bin/rm", [history.path])
        // wget writing into /tmp; the URL goes nowhere (port 9, discard, closed).
        let wget = try runToCompletion("/usr/bin/wget", ["-q", "-t", "1", "-T", "2", "-O", "/tmp/swiftmon-sigma-\(getpid())",
                                                         "http://127.0.0.1:9/x"])
        try? FileManager.default.removeItem(atPath: "/tmp/swiftmon-sigma-\(getpid())")

        func alert(_ ruleID: String, pid: Int32) -> (([[String: Any]]) -> [String: Any]?) {
            { events in events.with(id: 210).first { ($0["RuleId"] as? String) == ruleID && ($0["ProcessId"] as? String) == String(pid) } }
        }
        let base64Rule = alert("e2072cab-8c9a-459b-b63c-40ae79e27031", pid: decode.pid)
        let historyRule = alert("1182f3b3-e716-4efa-99ab-d2685d04360f", pid: remove.pid)
        let wgetRule = alert("cf610c15-ed71-46e1-bdf8-2bd1a99de6c4", pid: wget.pid)
        try sensor.waitFor(timeout: 20) { base64Rule($0) != nil && historyRule($0) != nil && wgetRule($0) != nil }
        let events = sensor.stop()
        let a = try XCTUnwrap(base64Rule(events))
        XCTAssertEqual(a["EventName"] as? String, "SigmaMatch")
        XCTAssertEqual(a["RuleTitle"] as? String, "Decode Base64 Encoded Text")
        XCTAssertEqual(a["RuleLevel"] as? String, "low")
        XCTAssertEqual(a["RuleStatus"] as? String, "test")
        XCTAssertTrue((a["RuleTags"] as? String)?.contains("attack.t1027") ?? false, "\(a)")
        XCTAssertNotEqual(a["RuleAuthor"] as? String, "-", "the DRL asks alerts to keep the author")
        XCTAssertEqual(a["MatchedEventID"] as? String, "1")
        XCTAssertEqual(a["Image"] as? String, "/usr/bin/base64")
        // The alert names the process and time of its ProcessCreate.
        let create = try XCTUnwrap(events.with(id: 1, "ProcessId", equalTo: String(decode.pid)).first)
        XCTAssertEqual(a["ProcessGuid"] as? String, create["ProcessGuid"] as? String)
        XCTAssertEqual(a["UtcTime"] as? String, create["UtcTime"] as? String)
        let h = try XCTUnwrap(historyRule(events))
        XCTAssertEqual(h["RuleLevel"] as? String, "high")
        XCTAssertEqual(h["Image"] as? String, "/usr/bin/rm")
        XCTAssertEqual(try XCTUnwrap(wgetRule(events))["Image"] as? String, "/usr/bin/wget")
        // Nothing else ran that should have tripped those rules.
        XCTAssertEqual(events.with(id: 210).filter { ($0["RuleId"] as? String) == "e2072cab-8c9a-459b-b63c-40ae79e27031" }.count, 1)
        XCTAssertTrue(sensor.stderrText.contains("rules loaded"), sensor.stderrText)
    }

    func testBrokenRulesAreReportedAndTheSensorStillRuns() throws {
        try LiveSensor.requireLiveSensor()
        let dir = try makeTestDirectory("sigma-broken")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rule = { (title: String, detection: String) in
            "title: \(title)\nid: \(title)\nlogsource:\n  product: linux\n  category: process_creation\ndetection:\n\(detection)\n"
        }
        try Data("title: broken\nlogsource: [\n".utf8).write(to: dir.appendingPathComponent("broken.yml"))
        try Data(rule("bogus", "  s:\n    Image|bogus: x\n  condition: s").utf8).write(to: dir.appendingPathComponent("bogus.yml"))
        try Data(rule("redos", "  s:\n    CommandLine|re: '(a+)+$'\n  condition: s").utf8).write(to: dir.appendingPathComponent("redos.yml"))
        try Data(rule("marker", "  s:\n    CommandLine|contains: 'sigma-marker-\(getpid())'\n  condition: s").utf8)
            .write(to: dir.appendingPathComponent("marker.yml"))
        let sensor = try LiveSensor(arguments: ["--sigma", dir.path])
        // A hostile command line for the (a+)+$ rule, then the marker.
        _ = try runToCompletion("/bin/echo", [String(repeating: "a", count: 4000) + "!"])
        let marker = try runToCompletion("/bin/echo", ["sigma-marker-\(getpid())"])
        try sensor.waitFor(timeout: 20) { events in
            events.with(id: 210).contains { ($0["RuleId"] as? String) == "marker" && ($0["ProcessId"] as? String) == String(marker.pid) }
        }
        sensor.stop()
        XCTAssertTrue(sensor.stderrText.contains("broken.yml:3"), sensor.stderrText)
        XCTAssertTrue(sensor.stderrText.contains("bogus.yml:8: unknown modifier 'bogus'"), sensor.stderrText)
        XCTAssertTrue(sensor.stderrText.contains("2 rules loaded, 2 not loaded"), sensor.stderrText)
    }
}
