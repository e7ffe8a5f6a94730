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
        let p = Process()
        p.executableURL = LiveSensor.binary
        p.arguments = ["run", "--source", "carrier-pigeon"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("auto, ebpf, netlink"), text)
    }
}
