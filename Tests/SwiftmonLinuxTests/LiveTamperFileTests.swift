import Foundation
import SwiftmonTestSupport
import XCTest

/// SensorFileChange (207) against the real kernel: a sensor started from a
/// copy of the binary with a configuration in a test folder; marked processes
/// (cp, mv, chmod, touch, rm — each its own process, whose pid the test
/// knows) change the configuration and the binary, and each change is one
/// event naming the writer, the file and what was done. `config update`
/// through the control socket is reported too, with WriterIsSwiftmon=true.
final class LiveTamperFileTests: XCTestCase {
    private static let minimalConfig = "<Sysmon schemaversion=\"4.90\"><EventFiltering></EventFiltering></Sysmon>\n"

    private func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let r = try Command.run(URL(fileURLWithPath: tool), arguments)
        XCTAssertEqual(r.status, 0, "\(tool) \(arguments): \(r.stderrText)")
        return r.pid
    }

    private func changes(_ events: [[String: Any]], by pid: Int32) -> [[String: Any]] {
        events.with(id: 207, "ProcessId", equalTo: String(pid))
    }

    private func assertChange(_ events: [[String: Any]], by pid: Int32, image: String, target: String, role: String,
                              operations: Set<String>, outcome: String, writerIsSwiftmon: Bool = false,
                              file: StaticString = #filePath, line: UInt = #line) {
        let found = changes(events, by: pid)
        XCTAssertFalse(found.isEmpty, "a SensorFileChange by \(image) (\(pid))", file: file, line: line)
        for e in found {
            XCTAssertEqual(e["Image"] as? String, image, file: file, line: line)
            XCTAssertEqual(e["User"] as? String, "root", file: file, line: line)
            let guid = (e["ProcessGuid"] as? String ?? "").uppercased()
            XCTAssertTrue(guid.hasSuffix(String(format: "%08X}", pid)), "ProcessGuid \(guid) names pid \(pid)", file: file, line: line)
            XCTAssertEqual(e["TargetFilename"] as? String, target, file: file, line: line)
            XCTAssertEqual(e["FileRole"] as? String, role, file: file, line: line)
            XCTAssertTrue(operations.contains(e["Operation"] as? String ?? ""), "Operation \(e["Operation"] ?? "nil") in \(operations)",
                          file: file, line: line)
            XCTAssertNotEqual(e["Syscall"] as? String, "-", file: file, line: line)
            XCTAssertEqual(e["Outcome"] as? String, outcome, file: file, line: line)
            XCTAssertEqual(e["WriterIsSwiftmon"] as? String, writerIsSwiftmon ? "true" : "false", file: file, line: line)
        }
    }

    func testChangesToTheConfigurationAndTheBinaryAreSensorFileChanges() throws {
        try LiveSensor.requireLiveSensor()
        let dir = try makeTestDirectory("tamper-files")
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = dir.appendingPathComponent("swiftmon")
        try FileManager.default.copyItem(at: LiveSensor.binary!, to: binary)
        let config = dir.appendingPathComponent("config.xml").path
        let staged = dir.appendingPathComponent("staged.xml").path
        let other = dir.appendingPathComponent("other.xml").path
        try Data(Self.minimalConfig.utf8).write(to: URL(fileURLWithPath: config))
        try Data(Self.minimalConfig.utf8).write(to: URL(fileURLWithPath: other))
        let socket = dir.appendingPathComponent("run/control.sock").path
        let sensor = try LiveSensor(arguments: ["--config", config, "--control-socket", socket], executable: binary)

        // A write into the file (cp opens it with O_TRUNC, then writes).
        let cp = try run("/usr/bin/cp", [other, config])
        // Another file renamed over it: the path names a new file, which is watched from then on.
        try Data(Self.minimalConfig.utf8).write(to: URL(fileURLWithPath: staged))
        let mv = try run("/usr/bin/mv", [staged, config])
        try sensor.waitFor(timeout: 20) { !self.changes($0, by: mv).isEmpty }
        let chmod = try run("/usr/bin/chmod", ["600", config])
        // The running binary: touch changes its times.
        let touch = try run("/usr/bin/touch", [binary.path])
        // Removed, then created again (seen through the watched folder).
        let rm = try run("/usr/bin/rm", [config])
        try sensor.waitFor(timeout: 20) { !self.changes($0, by: rm).isEmpty }
        let create = try run("/usr/bin/cp", [other, config])
        try sensor.waitFor(timeout: 20) { !self.changes($0, by: create).isEmpty && !self.changes($0, by: touch).isEmpty }

        // swiftmon's own administrative path: `config update` replaces the
        // file atomically and the sensor reloads it.
        let update = try Command.run(binary, ["config", "update", other, "--to", config, "--control-socket", socket])
        XCTAssertEqual(update.status, 0, update.stderrText)
        try sensor.waitFor(timeout: 20) { !self.changes($0, by: update.pid).isEmpty }
        // Still watched after the reload: the file config update installed.
        let chmodAfterUpdate = try run("/usr/bin/chmod", ["644", config])
        try sensor.waitFor(timeout: 20) { !self.changes($0, by: chmodAfterUpdate).isEmpty }
        let events = sensor.stop()

        assertChange(events, by: cp, image: "/usr/bin/cp", target: config, role: "configuration",
                     operations: ["truncate", "write"], outcome: "modified")
        assertChange(events, by: mv, image: "/usr/bin/mv", target: config, role: "configuration",
                     operations: ["rename"], outcome: "replaced")
        XCTAssertEqual(changes(events, by: mv).count, 1, "one rename, one event: \(changes(events, by: mv))")
        assertChange(events, by: chmod, image: "/usr/bin/chmod", target: config, role: "configuration",
                     operations: ["chmod"], outcome: "modified")
        assertChange(events, by: touch, image: "/usr/bin/touch", target: binary.path, role: "binary",
                     operations: ["set times"], outcome: "modified")
        assertChange(events, by: rm, image: "/usr/bin/rm", target: config, role: "configuration",
                     operations: ["unlink"], outcome: "removed")
        assertChange(events, by: create, image: "/usr/bin/cp", target: config, role: "configuration",
                     operations: ["create"], outcome: "created")
        assertChange(events, by: update.pid, image: binary.path, target: config, role: "configuration",
                     operations: ["rename"], outcome: "replaced", writerIsSwiftmon: true)
        assertChange(events, by: chmodAfterUpdate, image: "/usr/bin/chmod", target: config, role: "configuration",
                     operations: ["chmod"], outcome: "modified")
        // The sensor's own reads of its files change nothing; its writes are not reported.
        XCTAssertTrue(events.with(id: 207, "ProcessId", equalTo: String(sensor.process.processIdentifier)).isEmpty)
        // The other files in the folder are not protected.
        XCTAssertTrue(events.with(id: 207).allSatisfy { [config, binary.path].contains($0["TargetFilename"] as? String ?? "") })
    }
}
