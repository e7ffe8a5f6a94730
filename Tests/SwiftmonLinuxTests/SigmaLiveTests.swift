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
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("sigma-broken")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rule = { (title: String, detection: String) in
            "title: \(title)\nid: \(title)\nlogsource:\n  product: linux\n  category: process_creation\ndetection:\n\(detection)\n"
        }
        try Data("title: broken\nlogsource: [\n".utf8).write(to: dir.appendingPathComponent("broken.yml"))
        try Data(rule("bogus", "  s:\n    Image|bogus: x\n  condition: s").utf8).write(to: dir.appendingPathComponent("bogus.yml"))
        try Data(rule("redos", "  s:\n    CommandLine|re: '(a+)+$'\n  condition: s").utf8).write(to: dir.appendingPathComponent("redos.yml"))
        // A back-reference cannot run in linear time: refused, not run.
        try Data(rule("backref", "  s:\n    CommandLine|re: '(a+)\\1+$'\n  condition: s").utf8)
            .write(to: dir.appendingPathComponent("backref.yml"))
        try Data(rule("marker", "  s:\n    CommandLine|contains: 'sigma-marker-\(getpid())'\n  condition: s").utf8)
            .write(to: dir.appendingPathComponent("marker.yml"))
        let sensor = try LiveSensor(arguments: ["--sigma", dir.path])
        // Hostile command lines for the (a+)+$ rule (a's then a non-a: exponential
        // for a backtracking matcher), one long and a storm of 200, then the marker.
        _ = try runToCompletion("/bin/echo", [String(repeating: "a", count: 4000) + "!"])
        let started = Date()
        let hostile = String(repeating: "a", count: 200) + "!"
        let storm = try runToCompletion(helper.path, ["storm", "200", hostile])
        XCTAssertEqual(storm.status, 0)
        let marker = try runToCompletion("/bin/echo", ["sigma-marker-\(getpid())"])
        let stormChildren = { (events: [[String: Any]]) in
            events.with(id: 1, "ParentProcessId", equalTo: String(storm.pid)).count
        }
        try sensor.waitFor(timeout: 20) { events in
            stormChildren(events) == 200
                && events.with(id: 210).contains { ($0["RuleId"] as? String) == "marker" && ($0["ProcessId"] as? String) == String(marker.pid) }
        }
        // Events kept flowing: the 200 hostile values cost the pipeline next to nothing.
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertLessThan(elapsed, 10, "200 hostile command lines and a marker took \(elapsed) s to come out")
        let events = sensor.stop()
        XCTAssertEqual(stormChildren(events), 200)
        XCTAssertFalse(events.with(id: 210).contains { ($0["RuleId"] as? String) == "redos" }, "no value ends in a's")
        XCTAssertTrue(sensor.stderrText.contains("broken.yml:3"), sensor.stderrText)
        XCTAssertTrue(sensor.stderrText.contains("bogus.yml:8: unknown modifier 'bogus'"), sensor.stderrText)
        XCTAssertTrue(sensor.stderrText.contains("backref.yml:8: regex (a+)\\1+$:"), sensor.stderrText)
        XCTAssertTrue(sensor.stderrText.contains("2 rules loaded, 3 not loaded"), sensor.stderrText)
        // The Pike VM never needs its step budget on these (linear in the value).
        XCTAssertTrue(sensor.stderrText.contains(", 0 regex evaluations stopped at the step budget"), sensor.stderrText)
    }

    /// A TCP listener on 127.0.0.2 (loopback) at the first free port of a
    /// suspicious list; returns the socket and the port.
    static func listenOnSuspiciousPort() throws -> (fd: Int32, port: UInt16) {
        for port: UInt16 in [4444, 2222, 6789, 8531, 50501, 51820] {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SensorTestError("socket: errno \(errno)") }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0002).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound == 0 && listen(fd, 8) == 0 { return (fd, port) }
            close(fd)
        }
        throw SensorTestError("no free suspicious port on 127.0.0.2")
    }

    /// bash opening /dev/tcp to a listener on a callback port: a connection
    /// rule written here (port list of SigmaHQ's callback-port rule, without its
    /// local-range filter) and SigmaHQ's own "bash connects out" rule both fire,
    /// on the NetworkConnect of bash, and the callback rule with the filter does not.
    func testConnectionToASuspiciousPortTripsNetworkConnectionRules() throws {
        try LiveSensor.requireLiveSensor()
        let corpusRules = Self.corpus + "/network_connection"
        guard FileManager.default.fileExists(atPath: corpusRules) else {
            try TestRequirement.unavailable("the Sigma corpus is not at \(corpusRules)")
        }
        let dir = try makeTestDirectory("sigma-net")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ruleID = "swiftmon-test-callback-port-\(getpid())"
        let rule = """
            title: Connection To A Callback Port (test)
            id: \(ruleID)
            status: experimental
            author: swiftmon tests
            tags:
                - attack.command-and-control
                - attack.t1571
            logsource:
                product: linux
                category: network_connection
            detection:
                selection:
                    Initiated: 'true'
                    DestinationPort: [888, 999, 2200, 2222, 4000, 4444, 6789, 8531, 50501, 51820]
                condition: selection
            level: high

            """
        try Data(rule.utf8).write(to: dir.appendingPathComponent("callback-port.yml"))
        let listener = try Self.listenOnSuspiciousPort()
        defer { close(listener.fd) }
        let sensor = try LiveSensor(arguments: ["--config", LiveEventConfig.everything.path,
                                                "--sigma", dir.path, "--sigma", corpusRules])
        // bash's own /dev/tcp: the connection completes against the listener's backlog.
        let bash = try runToCompletion("/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.2/\(listener.port)"])
        XCTAssertEqual(bash.status, 0)
        let pid = String(bash.pid)
        func alert(_ id: String) -> ([[String: Any]]) -> [String: Any]? {
            { $0.with(id: 210).first { ($0["RuleId"] as? String) == id && ($0["ProcessId"] as? String) == pid } }
        }
        let mine = alert(ruleID)
        let shellRule = alert("83dcd9f6-9ca8-4af7-a16e-a1c7a6b51871")
        try sensor.waitFor(timeout: 20) { mine($0) != nil && shellRule($0) != nil }
        usleep(300_000)
        let events = sensor.stop()
        let connect = try XCTUnwrap(events.with(id: 3, "ProcessId", equalTo: pid).first {
            ($0["Initiated"] as? String) == "true" && ($0["DestinationPort"] as? String) == String(listener.port)
        })
        XCTAssertEqual(connect["DestinationIp"] as? String, "127.0.0.2")
        let a = try XCTUnwrap(mine(events))
        XCTAssertEqual(a["EventName"] as? String, "SigmaMatch")
        XCTAssertEqual(a["RuleTitle"] as? String, "Connection To A Callback Port (test)")
        XCTAssertEqual(a["RuleLevel"] as? String, "high")
        XCTAssertEqual(a["RuleStatus"] as? String, "experimental")
        XCTAssertEqual(a["RuleTags"] as? String, "attack.command-and-control,attack.t1571")
        XCTAssertEqual(a["RuleAuthor"] as? String, "swiftmon tests")
        XCTAssertEqual(a["MatchedEventID"] as? String, "3")
        XCTAssertTrue((a["Image"] as? String)?.hasSuffix("/bin/bash") ?? false, "\(a)")
        XCTAssertEqual(a["ProcessGuid"] as? String, connect["ProcessGuid"] as? String)
        XCTAssertEqual(a["UtcTime"] as? String, connect["UtcTime"] as? String)
        XCTAssertEqual(events.with(id: 210).filter { ($0["RuleId"] as? String) == ruleID }.count, 1,
                       "one connection, one alert (the accepting side is not Initiated)")
        let s = try XCTUnwrap(shellRule(events))
        XCTAssertEqual(s["RuleLevel"] as? String, "critical")
        XCTAssertEqual(s["MatchedEventID"] as? String, "3")
        // SigmaHQ's callback-port rule leaves local ranges out: 127.0.0.2 is one.
        XCTAssertFalse(events.with(id: 210).contains { ($0["RuleId"] as? String) == "dbfc7c98-04ab-4ab7-aa94-c74d22aa7376" })
    }

    /// An event_count correlation grouped by parent, over two real exec
    /// storms: one alert per full window of 10 children of the same parent,
    /// none for the base rule (not `generate`), every child still logged.
    func testEventCountCorrelationOverAnExecStorm() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("sigma-storm")
        defer { try? FileManager.default.removeItem(at: dir) }
        let marker = "sigma-storm-\(getpid())"
        let rules = """
            title: Storm Child (test)
            id: \(marker)-child
            status: experimental
            logsource:
                product: linux
                category: process_creation
            detection:
                selection:
                    Image|endswith: '/true'
                    CommandLine|contains: '\(marker)-'
                condition: selection
            level: low
            ---
            title: Many Children Of One Parent (test)
            id: \(marker)-burst
            status: experimental
            correlation:
                type: event_count
                rules:
                    - \(marker)-child
                group-by:
                    - ParentProcessId
                timespan: 5m
                condition:
                    gte: 10
            level: medium

            """
        try Data(rules.utf8).write(to: dir.appendingPathComponent("storm.yml"))
        let sensor = try LiveSensor(arguments: ["--sigma", dir.path])
        let storms = [(run: try runToCompletion(helper.path, ["storm", "45", "\(marker)-a"]), children: 45),
                      (run: try runToCompletion(helper.path, ["storm", "23", "\(marker)-b"]), children: 23)]
        for s in storms { XCTAssertEqual(s.run.status, 0) }
        func children(_ events: [[String: Any]], of parent: Int32) -> [[String: Any]] {
            events.with(id: 1, "ParentProcessId", equalTo: String(parent)).filter {
                (($0["CommandLine"] as? String) ?? "").contains(marker)
            }
        }
        try sensor.waitFor(timeout: 30) { events in
            storms.allSatisfy { children(events, of: $0.run.pid).count == $0.children }
        }
        usleep(300_000)
        let events = sensor.stop()
        let alerts = events.with(id: 210)
        XCTAssertEqual(alerts.filter { ($0["RuleId"] as? String) == "\(marker)-child" }.count, 0,
                       "the base rule feeds the correlation and raises nothing of its own")
        let bursts = alerts.filter { ($0["RuleId"] as? String) == "\(marker)-burst" }
        XCTAssertEqual(bursts.count, 4 + 2, "45 children: 4 windows of 10; 23: 2")
        for s in storms {
            let kids = children(events, of: s.run.pid)
            XCTAssertEqual(kids.count, s.children)
            let pids = Set(kids.compactMap { $0["ProcessId"] as? String })
            let mine = bursts.filter { pids.contains(($0["ProcessId"] as? String) ?? "") }
            XCTAssertEqual(mine.count, s.children / 10, "parent \(s.run.pid)")
            for a in mine {
                XCTAssertEqual(a["RuleTitle"] as? String, "Many Children Of One Parent (test)")
                XCTAssertEqual(a["RuleLevel"] as? String, "medium")
                XCTAssertEqual(a["MatchedEventID"] as? String, "1")
                let correlated = (a["CorrelatedEvents"] as? String) ?? ""
                XCTAssertTrue(correlated.hasPrefix("10: "), correlated)
                // Every event it names ("1@date time guid pid image") is one of this parent's children.
                let named = correlated.dropFirst(4).split(separator: ";").map { $0.split(separator: " ") }
                XCTAssertEqual(named.count, 10)
                for n in named {
                    XCTAssertEqual(n.count, 5, "\(n)")
                    if n.count == 5 { XCTAssertTrue(pids.contains(String(n[3])), "\(n)") }
                }
            }
        }
        // What the correlation holds at the end: one open window per parent (5 and 3 events).
        XCTAssertTrue(sensor.stderrText.contains("2 correlation groups held"), sensor.stderrText)
    }
}
