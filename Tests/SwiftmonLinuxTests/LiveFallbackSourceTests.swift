import Foundation
import XCTest

/// `swiftmon run --source netlink`: without BPF, processes come from the
/// netlink process connector and files from fanotify.
final class LiveFallbackSourceTests: XCTestCase {
    func testNetlinkSourceDeliversProcessAndFileEvents() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("fallback")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sensor = try LiveSensor(arguments: ["--config", LiveEventConfig.everything.path, "--source", "netlink"])
        let mark = "fallback-\(UUID().uuidString.prefix(8))"
        // Lives long enough for /proc to be read: the fallback's limit.
        let (shellPid, status) = try runToCompletion("/bin/sh", ["-c", "sleep 0.3; exit 3", mark])
        XCTAssertEqual(status, 3)
        let file = dir.appendingPathComponent("made by \(mark)").path
        let create = try runCapturing(helper.path, ["create", file])
        XCTAssertEqual(create.status, 0)
        try sensor.waitFor(timeout: 20) {
            !$0.with(id: 11, "TargetFilename", equalTo: file).isEmpty
                && !$0.with(id: 5, "ProcessId", equalTo: String(shellPid)).isEmpty
        }
        let events = sensor.stop()
        let started = try XCTUnwrap(events.with(id: 4, "State", equalTo: "Started").first)
        XCTAssertTrue(((started["Sources"] as? String) ?? "").hasPrefix("netlink(proc connector) fanotify("), "\(started)")

        let shell = try XCTUnwrap(events.with(id: 1, "ProcessId", equalTo: String(shellPid)).first)
        XCTAssertEqual(shell["CommandLine"] as? String, "/bin/sh -c sleep 0.3; exit 3 \(mark)")
        XCTAssertEqual(shell["Image"] as? String, URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path)
        XCTAssertEqual(shell["ParentProcessId"] as? String, String(getpid()))
        XCTAssertEqual(shell["User"] as? String, "root")
        let terminate = try XCTUnwrap(events.with(id: 5, "ProcessId", equalTo: String(shellPid)).first)
        XCTAssertEqual(terminate["ExitCode"] as? String, "3")
        XCTAssertEqual(terminate["ProcessGuid"] as? String, shell["ProcessGuid"] as? String)

        let fileCreate = try XCTUnwrap(events.with(id: 11, "TargetFilename", equalTo: file).first)
        XCTAssertEqual(fileCreate["ProcessId"] as? String, String(create.pid))
        // No BPF program of swiftmon's is loaded in this mode.
        XCTAssertTrue(events.with(id: 200).isEmpty, "thread events need the eBPF sensor")
    }

    /// `--source auto` (the default) on a host that refuses BPF: a root
    /// swiftmon whose capability set lacks CAP_BPF, CAP_PERFMON and
    /// CAP_SYS_ADMIN (as in a locked-down container) says why and falls back;
    /// `--source ebpf` stops with the reason instead.
    func testAutoFallsBackWhenTheKernelRefusesBPF() throws {
        try LiveSensor.requireLiveSensor()
        let dir = try makeTestDirectory("auto-fallback")
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("events.jsonl").path
        let errors = dir.appendingPathComponent("stderr.txt")
        FileManager.default.createFile(atPath: errors.path, contents: nil)
        let dropBPF = ["--bounding-set=-bpf,-sys_admin,-perfmon", "--inh-caps=-bpf,-sys_admin,-perfmon"]

        let sensor = Process()
        sensor.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        sensor.arguments = dropBPF + [LiveSensor.binary!.path, "run", "--format", "json", "--output", output]
        sensor.standardError = try FileHandle(forWritingTo: errors)
        sensor.standardOutput = FileHandle.nullDevice
        try sensor.run()
        defer { if sensor.isRunning { sensor.terminate() } }
        func events() -> [[String: Any]] {
            (FileManager.default.contents(atPath: output) ?? Data()).split(separator: UInt8(ascii: "\n")).compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any]
            }
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, events().with(id: 4).isEmpty, sensor.isRunning { usleep(100_000) }
        let mark = "autofallback-\(UUID().uuidString.prefix(8))"
        let (shellPid, status) = try runToCompletion("/bin/sh", ["-c", "sleep 0.3; exit 5", mark])
        XCTAssertEqual(status, 5)
        let seen = Date().addingTimeInterval(20)
        while Date() < seen, events().with(id: 5, "ProcessId", equalTo: String(shellPid)).isEmpty { usleep(100_000) }
        kill(sensor.processIdentifier, SIGINT)
        sensor.waitUntilExit()
        XCTAssertEqual(sensor.terminationStatus, 0)

        let all = events()
        let started = try XCTUnwrap(all.with(id: 4, "State", equalTo: "Started").first)
        let sources = (started["Sources"] as? String) ?? ""
        XCTAssertTrue(sources.hasPrefix("netlink(proc connector)"), sources)
        XCTAssertTrue(sources.contains("eBPF sensor failed"), "event 4 says why: \(sources)")
        let stderrText = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        XCTAssertTrue(stderrText.contains("using the netlink"), stderrText)
        let shell = try XCTUnwrap(all.with(id: 1, "ProcessId", equalTo: String(shellPid)).first)
        XCTAssertEqual(shell["CommandLine"] as? String, "/bin/sh -c sleep 0.3; exit 5 \(mark)")
        XCTAssertEqual(all.with(id: 5, "ProcessId", equalTo: String(shellPid)).first?["ExitCode"] as? String, "5")

        let strict = try runForErrors("/usr/bin/setpriv", dropBPF + [LiveSensor.binary!.path, "run", "--source", "ebpf"])
        XCTAssertNotEqual(strict.status, 0, "--source ebpf does not fall back")
        XCTAssertTrue(strict.stderr.contains("Operation not permitted"), strict.stderr)
    }

    func testSourcesListsWhatThisMachineSupports() throws {
        try LiveSensor.requireLiveSensor()
        let run = try runCapturing(LiveSensor.binary!.path, ["sources"])
        XCTAssertEqual(run.status, 0)
        let lines = run.output.split(separator: "\n").map(String.init)
        for probe in ["sched_process_exec", "sys_exit_dispatch", "file_sys_exit", "inet_sock_set_state"] {
            XCTAssertTrue(lines.contains { $0.hasPrefix("yes  ebpf \(probe) ") }, "\(probe) in \(run.output)")
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("yes  netlink proc connector") }, run.output)
        XCTAssertTrue(lines.contains { $0.hasPrefix("yes  fanotify") && $0.contains(" /") }, run.output)
    }

    func testAnUnknownSourceIsRefused() throws {
        try LiveSensor.requireLiveSensor()
        let run = try runForErrors(LiveSensor.binary!.path, ["run", "--source", "carrier-pigeon"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("auto, ebpf, netlink"), run.stderr)
    }
}
