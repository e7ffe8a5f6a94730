import Foundation
import Glibc
import SwiftmonSystem
import SwiftmonTestSupport
import XCTest
@testable import SwiftmonService

/// The control socket of the real sensor (`swiftmon run --control-socket`),
/// asked by the real CLI: `service status`, `config update`; a user other
/// than root is refused; and `service install`/`uninstall` on this machine.
final class LiveControlSocketTests: XCTestCase {
    static func config(_ kinds: [String]) -> String {
        let groups = kinds.map { "<RuleGroup name=\"\" groupRelation=\"or\"><\($0) onmatch=\"exclude\"/></RuleGroup>" }
        return "<Sysmon schemaversion=\"4.90\"><EventFiltering>\(groups.joined())</EventFiltering></Sysmon>\n"
    }

    func requireRootAndBinary() throws -> URL {
        if geteuid() != 0 { try TestRequirement.unavailable("the live sensor needs root") }
        if !FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") { try TestRequirement.unavailable("no kernel BTF") }
        return try BuiltBinary.requireSwiftmon()
    }

    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-live-ctl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }

    /// `swiftmon service status --json` decoded, retried until the sensor answers.
    func status(_ binary: URL, socket: String, timeout: TimeInterval = 60) throws -> SensorStatus {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            let r = try Command.run(binary, ["service", "status", "--json", "--control-socket", socket], timeout: 30)
            if r.status == 0 {
                let response = try ControlResponse.decode(Array(r.stdout))
                return try XCTUnwrap(response.status)
            }
            last = r.stderrText
            usleep(200_000)
        }
        throw SensorNeverAnswered(description: "the sensor never answered on \(socket): \(last)")
    }

    func events(_ path: String) -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any]
        }
    }

    func testStatusAndConfigUpdateThroughTheRunningSensor() throws {
        let binary = try requireRootAndBinary()
        let dir = try temporaryDirectory()
        let configPath = dir + "/config.xml"
        let socket = dir + "/run/control.sock"
        let output = dir + "/events.jsonl"
        try Data(Self.config(["ProcessCreate"]).utf8).write(to: URL(fileURLWithPath: configPath))
        let sensor = Process()
        sensor.executableURL = binary
        sensor.arguments = ["run", "--config", configPath, "--control-socket", socket, "--format", "json",
                            "--output", output, "--state-dir", dir + "/state"]
        sensor.standardError = FileHandle.nullDevice
        sensor.standardOutput = FileHandle.nullDevice
        try sensor.run()
        defer { if sensor.isRunning { kill(sensor.processIdentifier, SIGKILL); sensor.waitUntilExit() } }

        var status = try status(binary, socket: socket)
        XCTAssertEqual(status.pid, sensor.processIdentifier)
        XCTAssertEqual(try XCTUnwrap(Syscalls.linkStatus(dir + "/run")).st_mode & 0o777, 0o700)
        XCTAssertEqual(try XCTUnwrap(Syscalls.linkStatus(socket)).st_mode & 0o777, 0o600)
        XCTAssertEqual(status.configuration?.path, configPath)
        let announced = events(output).filter { ($0["EventID"] as? Int) == 16 }
        XCTAssertEqual(status.configuration?.sha256, announced.last?["ConfigurationFileHash"] as? String)
        XCTAssertTrue(status.sources.contains("ebpf") || status.sources.contains("netlink"), status.sources)
        XCTAssertEqual(status.queueCapacity, 262_144)
        XCTAssertTrue(status.outputs.contains { $0.name.contains("events.jsonl") }, "\(status.outputs)")

        // Processes started now are counted per kind.
        for _ in 0..<5 { _ = try Command.run(URL(fileURLWithPath: "/bin/true"), []) }
        let deadline = Date().addingTimeInterval(20)
        repeat {
            usleep(300_000)
            status = try self.status(binary, socket: socket)
        } while (status.eventsByKind["ProcessCreate"] ?? 0) < 5 && Date() < deadline
        XCTAssertGreaterThanOrEqual(status.eventsByKind["ProcessCreate"] ?? 0, 5, "\(status.eventsByKind)")
        XCTAssertGreaterThan(status.uptimeSeconds, 0)
        XCTAssertGreaterThanOrEqual(status.events, 5)

        // The human-readable form names the same things.
        let text = try Command.run(binary, ["service", "status", "--control-socket", socket])
        XCTAssertEqual(text.status, 0, text.stderrText)
        XCTAssertTrue(text.stdoutText.contains("configuration: \(configPath) (SHA256="), text.stdoutText)
        XCTAssertTrue(text.stdoutText.contains("queue: "), text.stdoutText)

        // config update: a valid file is installed and loaded, with its hash reported.
        let newConfig = dir + "/new.xml"
        try Data(Self.config(["ProcessCreate", "ProcessTerminate"]).utf8).write(to: URL(fileURLWithPath: newConfig))
        let update = try Command.run(binary, ["config", "update", newConfig, "--to", configPath, "--control-socket", socket])
        XCTAssertEqual(update.status, 0, update.stderrText + update.stdoutText)
        XCTAssertEqual(FileManager.default.contents(atPath: configPath), FileManager.default.contents(atPath: newConfig))
        XCTAssertEqual(try XCTUnwrap(Syscalls.linkStatus(configPath)).st_mode & 0o777, 0o600)
        status = try self.status(binary, socket: socket)
        let newHash = try XCTUnwrap(status.configuration?.sha256)
        XCTAssertNotEqual(newHash, announced.last?["ConfigurationFileHash"] as? String)
        XCTAssertTrue(update.stdoutText.contains("the sensor reloaded it: \(newHash)"), update.stdoutText)
        let reloadDeadline = Date().addingTimeInterval(10)
        while events(output).filter({ ($0["ConfigurationFileHash"] as? String) == newHash }).isEmpty && Date() < reloadDeadline {
            usleep(100_000)
        }
        XCTAssertEqual(events(output).filter { ($0["EventID"] as? Int) == 16 }.last?["ConfigurationFileHash"] as? String, newHash,
                       "event 16 announces the configuration the update installed")

        // An invalid file is refused with its location, and nothing changes.
        let bad = dir + "/bad.xml"
        try Data("<Sysmon schemaversion=\"4.90\">\n<EventFiltering>\n<ProcessCreate onmatch=\"sometimes\"/>\n</EventFiltering></Sysmon>\n".utf8)
            .write(to: URL(fileURLWithPath: bad))
        let refused = try Command.run(binary, ["config", "update", bad, "--to", configPath, "--control-socket", socket])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderrText.contains("\(bad):3:"), refused.stderrText)
        XCTAssertTrue(refused.stderrText.contains("\(configPath) not changed"), refused.stderrText)
        XCTAssertEqual(FileManager.default.contents(atPath: configPath), FileManager.default.contents(atPath: newConfig))
        XCTAssertEqual(try self.status(binary, socket: socket).configuration?.sha256, newHash)

        // Another user cannot even connect (the socket is 0600, its folder 0700).
        let nobody = try Command.run(URL(fileURLWithPath: "/usr/bin/setpriv"),
                                     ["--reuid=65534", "--regid=65534", "--clear-groups", binary.path,
                                      "service", "status", "--control-socket", socket])
        if nobody.status == 126 || nobody.stderrText.hasPrefix("setpriv") {
            // The binary itself is out of nobody's reach (a build under a private home):
            // the modes asserted above are what keeps it out of the socket.
        } else {
            XCTAssertEqual(nobody.status, 4, nobody.stderrText)
            XCTAssertTrue(nobody.stderrText.contains("permission denied (EACCES): only root may use"), nobody.stderrText)
        }

        // Stopped, the sensor removes its socket, and status says no sensor runs.
        kill(sensor.processIdentifier, SIGTERM)
        sensor.waitUntilExit()
        XCTAssertEqual(sensor.terminationStatus, 0)
        XCTAssertFalse(ServiceFiles.exists(socket))
        let none = try Command.run(binary, ["service", "status", "--control-socket", socket])
        XCTAssertEqual(none.status, 3)
        XCTAssertTrue(none.stderrText.contains("no swiftmon sensor is running"), none.stderrText)
    }

    /// `service install` and `uninstall --purge` on this machine's / (CI runs
    /// as root without systemd as PID 1). Refuses to run where swiftmon is
    /// already installed, and removes everything it made.
    func testServiceInstallAndUninstallOnThisMachine() throws {
        let binary = try requireRootAndBinary()
        let ours = ["/etc/swiftmon", "/var/lib/swiftmon", "/var/log/swiftmon", "/etc/systemd/system/swiftmon.service",
                    "/usr/local/bin/swiftmon", "/lib/systemd/system/swiftmon.service"]
        if let present = ours.first(where: ServiceFiles.exists) {
            try TestRequirement.unavailable("\(present) exists: swiftmon is installed on this machine; not touching it")
        }
        if ServiceInstaller.systemdIsRunning() {
            try TestRequirement.unavailable("systemd runs here: install would start a real service")
        }
        addTeardownBlock {
            _ = try? Command.run(binary, ["service", "uninstall", "--purge"])
            for path in ours where ServiceFiles.exists(path) { try? ServiceFiles.removeTree(path) }
        }
        let dir = try temporaryDirectory()
        try Data(Self.config(["ProcessCreate"]).utf8).write(to: URL(fileURLWithPath: dir + "/my.xml"))

        let install = try Command.run(binary, ["service", "install", "--config", dir + "/my.xml"])
        XCTAssertEqual(install.status, 0, install.stderrText)
        XCTAssertTrue(install.stdoutText.contains("systemd is not running here"), install.stdoutText)
        XCTAssertEqual(FileManager.default.contents(atPath: "/etc/swiftmon/config.xml"),
                       FileManager.default.contents(atPath: dir + "/my.xml"))
        for (path, mode) in [("/etc/swiftmon/config.xml", 0o600), ("/etc/swiftmon", 0o700), ("/var/lib/swiftmon", 0o700),
                             ("/var/log/swiftmon", 0o700), ("/etc/systemd/system/swiftmon.service", 0o644),
                             ("/usr/local/bin/swiftmon", 0o755)] as [(String, mode_t)] {
            let st = try XCTUnwrap(Syscalls.linkStatus(path), path)
            XCTAssertEqual(st.st_mode & 0o7777, mode, path)
            XCTAssertEqual(st.st_uid, 0, path)
        }
        // The unit it wrote is the one `service unit` prints for that program, and systemd accepts it.
        let printed = try Command.run(binary, ["service", "unit", "--executable", "/usr/local/bin/swiftmon"])
        XCTAssertEqual(FileManager.default.contents(atPath: "/etc/systemd/system/swiftmon.service"), printed.stdout)
        if let analyze = ServiceUnitTests.systemdAnalyze {
            let verify = try Command.run(URL(fileURLWithPath: analyze), ["verify", "--man=no", "/etc/systemd/system/swiftmon.service"])
            XCTAssertEqual(verify.status, 0, verify.stderrText)
        }
        // A configuration with errors is refused and nothing changes.
        try Data("<Sysmon>".utf8).write(to: URL(fileURLWithPath: dir + "/bad.xml"))
        let refused = try Command.run(binary, ["service", "install", "--config", dir + "/bad.xml"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderrText.contains("nothing installed"), refused.stderrText)
        XCTAssertEqual(FileManager.default.contents(atPath: "/etc/swiftmon/config.xml"),
                       FileManager.default.contents(atPath: dir + "/my.xml"))

        let remove = try Command.run(binary, ["service", "uninstall"])
        XCTAssertEqual(remove.status, 0, remove.stderrText)
        XCTAssertFalse(ServiceFiles.exists("/etc/systemd/system/swiftmon.service"))
        XCTAssertFalse(ServiceFiles.exists("/usr/local/bin/swiftmon"))
        XCTAssertTrue(ServiceFiles.exists("/etc/swiftmon/config.xml"), "uninstall keeps the configuration")
        XCTAssertTrue(ServiceFiles.exists("/var/lib/swiftmon"))
        let purge = try Command.run(binary, ["service", "uninstall", "--purge"])
        XCTAssertEqual(purge.status, 0, purge.stderrText)
        for path in ours { XCTAssertFalse(ServiceFiles.exists(path), path) }
    }
}

struct SensorNeverAnswered: Error, CustomStringConvertible {
    let description: String
}
