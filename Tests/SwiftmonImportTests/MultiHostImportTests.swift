import Foundation
import XCTest
import SwiftmonTestSupport

/// Several hosts on one machine: two swiftmon sensors, each in its own network
/// namespace (veth pair to the host) and UTS namespace (its own host name, so
/// its own `Computer`), send Sysmon XML over syslog TCP to one real rsyslogd on
/// the host, which writes them to one file in its default file format. That
/// file imported into one store is separated again by `query --host`.
final class MultiHostImportTests: XCTestCase {
    var directory = ""
    var namespaces: [String] = []
    var processes: [Process] = []

    override func setUpWithError() throws {
        guard getuid() == 0 else { try TestRequirement.unavailable("needs root (network namespaces, the sensor)") }
        for tool in ["/usr/sbin/ip", "/usr/bin/unshare", "/usr/sbin/rsyslogd"] where !FileManager.default.isExecutableFile(atPath: tool) {
            try TestRequirement.unavailable("\(tool) is missing (make test-deps installs rsyslog)")
        }
        directory = NSTemporaryDirectory() + "swiftmon-multihost-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for p in processes where p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        for ns in namespaces { _ = try? Command.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "delete", ns]) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    @discardableResult
    func ip(_ arguments: [String]) throws -> CommandResult {
        let r = try Command.run(URL(fileURLWithPath: "/usr/sbin/ip"), arguments, timeout: 20)
        guard r.status == 0 else { throw SetupError(message: "ip \(arguments.joined(separator: " ")): \(r.stderrText)") }
        return r
    }

    struct SetupError: Error { let message: String }

    func start(_ executable: String, _ arguments: [String], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        processes.append(p)
        return p
    }

    func testTwoHostsThroughOneRsyslogSeparatedByHost() throws {
        let swiftmon = try BuiltBinary.requireSwiftmon()
        let port = 20_000 + Int(getpid() % 20_000)
        let collected = directory + "/central.log"
        // rsyslog's own default file format for what it receives (RSYSLOG_FileFormat).
        try """
            $MaxMessageSize 1m
            global(workDirectory="\(directory)")
            module(load="imtcp")
            input(type="imtcp" port="\(port)" ruleset="central")
            ruleset(name="central") { action(type="omfile" file="\(collected)") }

            """.write(toFile: directory + "/rsyslog.conf", atomically: true, encoding: .utf8)
        let rsyslog = try start("/usr/sbin/rsyslogd", ["-n", "-f", directory + "/rsyslog.conf", "-i", directory + "/rsyslog.pid"],
                                log: directory + "/rsyslogd.stderr")
        let tag = getpid() % 1000
        var hosts: [String] = []
        for (n, letter) in ["a", "b"].enumerated() {
            let ns = "smimp\(tag)\(letter)"
            let hostEnd = "smi\(tag)\(letter)0", nsEnd = "smi\(tag)\(letter)1"
            let prefix = "10.\(200 + n).\(tag % 250)"
            let hostIP = prefix + ".1", nsIP = prefix + ".2"
            try ip(["netns", "add", ns])
            namespaces.append(ns)
            try ip(["link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd])
            try ip(["link", "set", nsEnd, "netns", ns])
            try ip(["addr", "add", hostIP + "/24", "dev", hostEnd])
            try ip(["link", "set", hostEnd, "up"])
            try ip(["-n", ns, "addr", "add", nsIP + "/24", "dev", nsEnd])
            try ip(["-n", ns, "link", "set", nsEnd, "up"])
            try ip(["-n", ns, "link", "set", "lo", "up"])
            let host = "smhost-\(letter)-\(tag)"
            hosts.append(host)
            let state = directory + "/state-\(letter)"
            // Own network and UTS namespaces: `hostname` there names this host only.
            _ = try start("/usr/sbin/ip", ["netns", "exec", ns, "/usr/bin/unshare", "--uts", "/bin/sh", "-c",
                                           "hostname \"$0\" && exec \"$1\" run --syslog \"tcp://$2:\(port)\" --state-dir \"$3\" --output /dev/null --status-interval 0",
                                           host, swiftmon.path, hostIP, state],
                          log: directory + "/sensor-\(letter).stderr")
        }
        // Each sensor's start (event 4, Started) reaches the collector; then real processes in both.
        let deadline = Date(timeIntervalSinceNow: 40)
        var text = ""
        while Date() < deadline {
            text = (try? String(contentsOfFile: collected, encoding: .utf8)) ?? ""
            if hosts.allSatisfy({ text.contains("<Computer>\($0)</Computer>") }) { break }
            XCTAssertTrue(rsyslog.isRunning, "rsyslogd stopped: \((try? String(contentsOfFile: directory + "/rsyslogd.stderr", encoding: .utf8)) ?? "")")
            Thread.sleep(forTimeInterval: 0.2)
        }
        for (i, host) in hosts.enumerated() where !text.contains("<Computer>\(host)</Computer>") {
            let stderr = (try? String(contentsOfFile: directory + "/sensor-\(["a", "b"][i]).stderr", encoding: .utf8)) ?? ""
            return XCTFail("nothing from \(host) reached rsyslog; its sensor said: \(stderr.suffix(2000))")
        }
        for p in processes.dropFirst() { p.terminate(); p.waitUntilExit() }  // sensors stop: Stopped events, flushed
        Thread.sleep(forTimeInterval: 1)
        rsyslog.terminate()
        rsyslog.waitUntilExit()

        let store = directory + "/central.db"
        let imported = try BuiltBinary.runSwiftmon(["import", "--store", store, "--summary-json", collected])
        XCTAssertEqual(imported.status, 0, imported.stderrText)
        let lines = try String(contentsOfFile: collected, encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(lines.first?.contains(" \(hosts[0]) ") == true || lines.first?.contains(" \(hosts[1]) ") == true,
                      "rsyslog's file format names the host: \(lines.first ?? "")")
        var perHost: [String: Int] = [:]
        for host in hosts {
            let q = try BuiltBinary.runSwiftmon(["query", "--store", store, "--host", host, "--limit", "0", "--format", "xml"])
            XCTAssertEqual(q.status, 0, q.stderrText)
            let events = q.stdoutText.split(separator: "\n")
            perHost[host] = events.count
            XCTAssertGreaterThan(events.count, 0, host)
            let expected = lines.filter { $0.contains("<Computer>\(host)</Computer>") }.count
            XCTAssertEqual(events.count, expected, "\(host): every line of this host, and only those")
            let started = try BuiltBinary.runSwiftmon(["query", "--store", store, "--host", host, "--event", "4", "--format", "json"])
            XCTAssertTrue(started.stdoutText.contains("\"State\":\"Started\""), started.stdoutText)
        }
        let all = try BuiltBinary.runSwiftmon(["query", "--store", store, "--limit", "0", "--format", "json"])
        XCTAssertEqual(all.stdoutText.split(separator: "\n").count, perHost.values.reduce(0, +))
        XCTAssertEqual(perHost.values.reduce(0, +), lines.count)
    }
}
