import Foundation
import SwiftmonTestSupport
import XCTest

/// Tamper events against the real kernel: swiftmon signalled, killed and
/// traced by a marked process (the test helper, whose pid each run returns),
/// asserting the sender and signal fields of SensorSignal (205) and
/// SensorAccess (206).
final class LiveTamperTests: XCTestCase {
    private var helper: String { LiveSensor.helper!.path }

    /// Sends `signal` to `pid` from the helper; returns the helper's pid.
    private func signal(_ pid: Int32, _ signal: Int32, marker: String) throws -> Int32 {
        let run = try runCapturing(helper, ["signal", String(pid), String(signal), marker])
        XCTAssertEqual(run.output.trimmingCharacters(in: .whitespacesAndNewlines), "0", "kill(\(pid), \(signal)) failed")
        return run.pid
    }

    private func assertSender(_ event: [String: Any], helperPID: Int32, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(event["ProcessId"] as? String, String(helperPID), file: file, line: line)
        XCTAssertEqual(event["Image"] as? String, URL(fileURLWithPath: helper).resolvingSymlinksInPath().path, file: file, line: line)
        XCTAssertEqual(event["User"] as? String, "root", file: file, line: line)
        let guid = event["ProcessGuid"] as? String ?? ""
        XCTAssertTrue(guid.hasSuffix(String(format: "%08X}", helperPID)) || guid.lowercased().hasSuffix(String(format: "%08x}", helperPID)),
                      "ProcessGuid \(guid) names pid \(helperPID)", file: file, line: line)
    }

    /// SIGHUP (reload), SIGUSR1 (reopen), SIGSTOP, SIGCONT and SIGTERM, each
    /// from its own helper process: one SensorSignal each, naming the helper,
    /// the signal and swiftmon; the run still stops cleanly on SIGTERM.
    func testSignalsFromAnotherProcessAreSensorSignalEvents() throws {
        try LiveSensor.requireLiveSensor()
        let sensor = try LiveSensor()
        let target = sensor.process.processIdentifier
        var senders: [(signal: Int32, name: String, pid: Int32)] = []
        for (number, name) in [(SIGHUP, "SIGHUP"), (SIGUSR1, "SIGUSR1"), (SIGSTOP, "SIGSTOP"), (SIGCONT, "SIGCONT")] {
            senders.append((number, name, try signal(target, number, marker: "tamper-\(name)")))
            usleep(200_000)
        }
        senders.append((SIGTERM, "SIGTERM", try signal(target, SIGTERM, marker: "tamper-SIGTERM")))
        sensor.process.waitUntilExit()
        XCTAssertEqual(sensor.process.terminationStatus, 0, "SIGTERM stops swiftmon cleanly: \(sensor.readStderr())")
        let events = sensor.readEvents()
        for sender in senders {
            let matching = events.with(id: 205, "ProcessId", equalTo: String(sender.pid))
            XCTAssertEqual(matching.count, 1, "one SensorSignal for \(sender.name) from \(sender.pid)")
            guard let e = matching.first else { continue }
            assertSender(e, helperPID: sender.pid)
            XCTAssertEqual(e["Signal"] as? String, sender.name)
            XCTAssertEqual(e["SignalNumber"] as? String, String(sender.signal))
            XCTAssertEqual(e["SignalCode"] as? String, "SI_USER")
            XCTAssertEqual(e["SentTo"] as? String, "process")
            // SIGCONT resumes the process as the kernel decides on it, then is
            // not queued (swiftmon has no handler): the kernel's verdict is "ignored".
            XCTAssertEqual(e["Result"] as? String, sender.signal == SIGCONT ? "ignored" : "delivered")
            XCTAssertEqual(e["TargetProcessId"] as? String, String(target))
            XCTAssertEqual(e["TargetThreadId"] as? String, String(target))
            XCTAssertEqual(e["Recovered"] as? String, "false")
            XCTAssertEqual(e["UnreadRecordBytes"] as? String, "-")
        }
        // The reload that SIGHUP asked for still happened, after it.
        XCTAssertFalse(events.with(id: 16).isEmpty)
    }

    /// SIGKILL cannot be caught: its record waits in the pinned kill ledger,
    /// and the next start reports it, at the time it happened. That start is
    /// then stopped by SIGINT from another helper, a live SensorSignal.
    func testSigkillIsReportedByTheNextStart() throws {
        try LiveSensor.requireLiveSensor()
        let first = try LiveSensor()
        let killedPID = first.process.processIdentifier
        let before = Date()
        let killer = try signal(killedPID, SIGKILL, marker: "tamper-SIGKILL")
        first.process.waitUntilExit()
        let after = Date()
        XCTAssertEqual(first.process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(first.process.terminationStatus, SIGKILL)

        var ledger = stat()
        XCTAssertEqual(lstat("/sys/fs/bpf/swiftmon/kill_ledger", &ledger), 0, "the kill ledger is pinned")
        XCTAssertEqual(ledger.st_mode & 0o777, 0o600)
        var directory = stat()
        XCTAssertEqual(lstat("/sys/fs/bpf/swiftmon", &directory), 0)
        XCTAssertEqual(directory.st_mode & 0o777, 0o700)

        let second = try LiveSensor()
        try second.waitFor(timeout: 20) { !$0.with(id: 205, "ProcessId", equalTo: String(killer)).isEmpty }
        let stopper = try signal(second.process.processIdentifier, SIGINT, marker: "tamper-SIGINT")
        second.process.waitUntilExit()
        let events = second.readEvents()

        let killed = events.with(id: 205, "ProcessId", equalTo: String(killer))
        XCTAssertEqual(killed.count, 1, "the SIGKILL is reported once")
        if let e = killed.first {
            assertSender(e, helperPID: killer)
            XCTAssertEqual(e["Signal"] as? String, "SIGKILL")
            XCTAssertEqual(e["SignalNumber"] as? String, "9")
            XCTAssertEqual(e["SignalCode"] as? String, "SI_USER")
            XCTAssertEqual(e["Result"] as? String, "delivered")
            XCTAssertEqual(e["TargetProcessId"] as? String, String(killedPID))
            XCTAssertEqual(e["Recovered"] as? String, "true")
            XCTAssertNotNil(UInt64(e["UnreadRecordBytes"] as? String ?? ""), "UnreadRecordBytes is a number")
            // UtcTime is when the kill happened, not when it was reported.
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
            formatter.timeZone = TimeZone(identifier: "UTC")
            let time = formatter.date(from: e["UtcTime"] as? String ?? "")
            XCTAssertNotNil(time)
            if let time {
                XCTAssertGreaterThanOrEqual(time.timeIntervalSince(before), -0.01, "killed after \(before): \(time)")
                XCTAssertLessThanOrEqual(time.timeIntervalSince(after), 0.01, "killed before \(after): \(time)")
            }
        }
        let interrupt = events.with(id: 205, "ProcessId", equalTo: String(stopper))
        XCTAssertEqual(interrupt.first?["Signal"] as? String, "SIGINT")
        XCTAssertEqual(interrupt.first?["Recovered"] as? String, "false")
        XCTAssertEqual(interrupt.first?["TargetProcessId"] as? String, String(second.process.processIdentifier))
        if let e = interrupt.first { assertSender(e, helperPID: stopper) }
    }

    /// PTRACE_SEIZE on swiftmon by root succeeds: a SensorAccess (and the
    /// ProcessAccess every granted access is); by an unprivileged user it
    /// fails (EPERM) and is still a SensorAccess.
    func testPtraceOnSwiftmonIsSensorAccessEvenWhenItFails() throws {
        try LiveSensor.requireLiveSensor()
        let sensor = try LiveSensor()
        let target = sensor.process.processIdentifier
        let granted = try runCapturing(helper, ["ptrace-seize", String(target), "tamper-ptrace"])
        XCTAssertEqual(granted.output.trimmingCharacters(in: .whitespacesAndNewlines), "0")
        let refused = try runCapturing("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                             helper, "ptrace-seize", String(target), "tamper-ptrace"])
        XCTAssertEqual(refused.output.trimmingCharacters(in: .whitespacesAndNewlines), String(EPERM))
        let refusedHelper = { (events: [[String: Any]]) in
            events.with(id: 1, "CommandLine", containing: "ptrace-seize").first { ($0["User"] as? String) != "root" }
        }
        try sensor.waitFor(timeout: 20) { events in
            !events.with(id: 206, "ProcessId", equalTo: String(granted.pid)).isEmpty
                && refusedHelper(events).map { p in !events.with(id: 206, "ProcessId", equalTo: p["ProcessId"] as? String ?? "").isEmpty } == true
        }
        let events = sensor.stop()
        let seize = events.with(id: 206, "ProcessId", equalTo: String(granted.pid))
        XCTAssertEqual(seize.count, 1)
        if let e = seize.first {
            assertSender(e, helperPID: granted.pid)
            XCTAssertEqual(e["Operation"] as? String, "PTRACE_SEIZE")
            XCTAssertEqual(e["Result"] as? String, "0")
            XCTAssertEqual(e["TargetProcessId"] as? String, String(target))
        }
        XCTAssertEqual(events.with(id: 10, "SourceProcessId", equalTo: String(granted.pid)).count, 1,
                       "a granted access is also a ProcessAccess")
        let refusedPID = refusedHelper(events)?["ProcessId"] as? String ?? "?"
        let denied = events.with(id: 206, "ProcessId", equalTo: refusedPID)
        XCTAssertEqual(denied.count, 1)
        XCTAssertEqual(denied.first?["Operation"] as? String, "PTRACE_SEIZE")
        XCTAssertEqual(denied.first?["Result"] as? String, "EPERM")
        XCTAssertEqual(denied.first?["User"] as? String, "nobody")
        XCTAssertTrue(events.with(id: 10, "SourceProcessId", equalTo: refusedPID).isEmpty, "a refused access is no ProcessAccess")
    }

    /// Why the README says another process cannot detach swiftmon's
    /// programs: every link swiftmon holds is a raw tracepoint link, and the
    /// kernel refuses BPF_LINK_DETACH on those (bpftool asks it, as another
    /// root process would); the sensor still sees what it saw.
    func testAnotherProcessCannotDetachSwiftmonsLinks() throws {
        try LiveSensor.requireLiveSensor()
        // Program ids only grow: those above the highest one before this
        // sensor started are this sensor's, not those of an earlier sensor
        // whose programs the kernel has not freed yet (their links are gone).
        func programIDs() throws -> [(id: Int, line: Substring)] {
            try runCapturing("/usr/sbin/bpftool", ["prog", "show"]).output.split(separator: "\n").compactMap { line in
                guard let colon = line.firstIndex(of: ":"), let id = Int(line[..<colon]) else { return nil }
                return (id, line)
            }
        }
        let before = try programIDs().map(\.id).max() ?? 0
        let sensor = try LiveSensor()
        let links = try runCapturing("/usr/sbin/bpftool", ["link", "show"])
        // "ID: raw_tracepoint  prog N" then "\ttp 'NAME'": the links of swiftmon's programs.
        let programs = try programIDs()
        let ids = Set(programs.compactMap { program -> String? in
            let line = program.line
            guard program.id > before, line.contains("tamper_signal") || line.contains("sys_exit_dispatch")
                    || line.contains("sched_process_") else { return nil }
            return String(program.id)
        })
        XCTAssertFalse(ids.isEmpty, programs.map(\.line).joined(separator: "\n"))
        var detached = 0
        for line in links.output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let prog = fields.firstIndex(of: "prog"), prog + 1 < fields.count,
                  ids.contains(String(fields[prog + 1])) else { continue }
            XCTAssertEqual(fields[1], "raw_tracepoint", String(line))
            let id = String(fields[0].dropLast())
            let attempt = try runForErrors("/usr/sbin/bpftool", ["link", "detach", "id", id])
            XCTAssertNotEqual(attempt.status, 0, "link \(id) detached")
            XCTAssertTrue(attempt.stderr.contains("Operation not supported"), attempt.stderr)
            detached += 1
        }
        XCTAssertGreaterThanOrEqual(detached, ids.count, links.output)
        let after = try runCapturing(helper, ["signal", String(sensor.process.processIdentifier), String(SIGUSR1), "after-detach"])
        try sensor.waitFor(timeout: 20) { !$0.with(id: 205, "ProcessId", equalTo: String(after.pid)).isEmpty }
        sensor.stop()
    }

    /// A ledger pinned by a swiftmon of another layout (an upgrade that
    /// changed it) would stop the load: it is replaced, event 4 says so,
    /// and the new one is pinned in its place.
    func testAPinnedLedgerOfAnotherLayoutIsReplacedAndSaidSo() throws {
        try LiveSensor.requireLiveSensor()
        let path = "/sys/fs/bpf/swiftmon/kill_ledger_lost"
        try? FileManager.default.createDirectory(atPath: "/sys/fs/bpf/swiftmon", withIntermediateDirectories: true)
        unlink(path)
        let made = try runForErrors("/usr/sbin/bpftool", ["map", "create", path, "type", "array", "key", "4", "value", "4",
                                                         "entries", "1", "name", "older_layout"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let sensor = try LiveSensor()
        let started = sensor.readEvents().with(id: 4).first
        XCTAssertTrue((started?["Sources"] as? String ?? "").contains("kill-ledger(removed \(path) (a map of another layout)"),
                      "\(started ?? [:])")
        let pinned = try runCapturing("/usr/sbin/bpftool", ["map", "show", "pinned", path])
        XCTAssertTrue(pinned.output.contains("value 8B"), pinned.output)
        sensor.stop()
        XCTAssertEqual(sensor.process.terminationStatus, 0)
    }
}
