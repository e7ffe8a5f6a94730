import Foundation
import Glibc
import SwiftmonSystem
import XCTest
@testable import SwiftmonService

/// `service install` / `uninstall` into a temporary root: what is written,
/// with which modes, what is kept, what --purge removes, and what systemctl
/// is asked (when systemd runs).
final class ServiceInstallerTests: XCTestCase {
    var root = ""
    var notes: [String] = []

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-root-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        notes = []
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    func mode(_ path: String) throws -> mode_t { try XCTUnwrap(Syscalls.linkStatus(root + path)).st_mode & 0o7777 }
    func contents(_ path: String) -> String? { FileManager.default.contents(atPath: root + path).map { String(decoding: $0, as: UTF8.self) } }

    func request(config: String? = nil, outputs: [String] = []) throws -> ServiceInstaller.Request {
        // A stand-in program to copy: any file does.
        let program = root + "/build/swiftmon"
        try FileManager.default.createDirectory(atPath: root + "/build", withIntermediateDirectories: true)
        try Data("#!program\n".utf8).write(to: URL(fileURLWithPath: program))
        return ServiceInstaller.Request(configuration: config.map { Array($0.utf8) }, defaultConfiguration: Array("<Sysmon default/>".utf8),
                                        currentBinary: program, outputArguments: outputs, version: "1.0")
    }

    func installer(systemd: Bool = false, calls: CallLog = CallLog()) -> ServiceInstaller {
        ServiceInstaller(layout: ServiceLayout(root: root), systemdRunning: systemd,
                         runProgram: { program, arguments in calls.append([program] + arguments); return 0 },
                         report: { [unowned self] in self.notes.append($0) })
    }

    func testInstallWritesConfigurationUnitAndFoldersWithTheirModes() throws {
        try installer().install(request(config: "<Sysmon mine/>"))
        XCTAssertEqual(contents("/etc/swiftmon/config.xml"), "<Sysmon mine/>")
        XCTAssertEqual(try mode("/etc/swiftmon/config.xml"), 0o600)
        XCTAssertEqual(try mode("/etc/swiftmon"), 0o700)
        XCTAssertEqual(try mode("/var/lib/swiftmon"), 0o700)
        XCTAssertEqual(try mode("/var/log/swiftmon"), 0o700)
        XCTAssertEqual(contents("/usr/local/bin/swiftmon"), "#!program\n", "the binary is copied where the unit runs it")
        XCTAssertEqual(try mode("/usr/local/bin/swiftmon"), 0o755)
        let unit = try XCTUnwrap(contents("/etc/systemd/system/swiftmon.service"))
        XCTAssertTrue(unit.contains("\nExecStart=/usr/local/bin/swiftmon run --config /etc/swiftmon/config.xml "), unit)
        XCTAssertEqual(try mode("/etc/systemd/system/swiftmon.service"), 0o644)
        XCTAssertTrue(notes.last?.hasPrefix("systemd is not running here (no /run/systemd/system)") == true, "\(notes)")
        XCTAssertTrue(notes.last?.contains("/usr/local/bin/swiftmon run --config /etc/swiftmon/config.xml") == true)
        // No temporary file is left beside what was written.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/etc/swiftmon"), ["config.xml"])
    }

    func testReinstallWithoutConfigurationKeepsTheInstalledOneAndAFirstInstallGetsTheDefault() throws {
        try installer().install(request())
        XCTAssertEqual(contents("/etc/swiftmon/config.xml"), "<Sysmon default/>")
        try installer().install(request(config: "<Sysmon mine/>"))
        try installer().install(request(outputs: ["--syslog", "relp://siem:2514"]))
        XCTAssertEqual(contents("/etc/swiftmon/config.xml"), "<Sysmon mine/>")
        let unit = try XCTUnwrap(contents("/etc/systemd/system/swiftmon.service"))
        XCTAssertTrue(unit.contains("--status-interval 0 --syslog relp://siem:2514\n"), "run options replace the default outputs: \(unit)")
    }

    func testTheInstalledPackageBinaryIsUsedWhereItIs() throws {
        var r = try request()
        r.currentBinary = ServiceInstaller.packagedBinary
        let unit = try installer().install(r)
        XCTAssertEqual(unit.executable, "/usr/bin/swiftmon")
        XCTAssertFalse(ServiceFiles.exists(root + "/usr/local/bin/swiftmon"))
    }

    func testWithSystemdTheUnitIsEnabledAndStartedThenStoppedAndDisabled() throws {
        let calls = CallLog()
        try installer(systemd: true, calls: calls).install(request())
        let systemctl = ServiceInstaller.systemctlPath
        XCTAssertEqual(calls.all, [[systemctl, "daemon-reload"], [systemctl, "enable", "swiftmon.service"],
                                   [systemctl, "restart", "swiftmon.service"]])
        try installer(systemd: true, calls: calls).uninstall(purge: false)
        XCTAssertEqual(calls.all.suffix(2), [[systemctl, "disable", "--now", "swiftmon.service"], [systemctl, "daemon-reload"]])
    }

    func testUninstallKeepsConfigurationAndStatePurgeRemovesThem() throws {
        try installer().install(request(config: "<Sysmon mine/>"))
        try ServiceFiles.writeAtomically(Array("4097\n".utf8), to: root + "/var/lib/swiftmon/xml-stdout.record-id")
        try installer().uninstall(purge: false)
        XCTAssertFalse(ServiceFiles.exists(root + "/etc/systemd/system/swiftmon.service"))
        XCTAssertFalse(ServiceFiles.exists(root + "/usr/local/bin/swiftmon"), "the copy install made goes too")
        XCTAssertEqual(contents("/etc/swiftmon/config.xml"), "<Sysmon mine/>")
        XCTAssertEqual(contents("/var/lib/swiftmon/xml-stdout.record-id"), "4097\n")
        try installer().uninstall(purge: true)
        for gone in ["/etc/swiftmon", "/var/lib/swiftmon", "/var/log/swiftmon"] {
            XCTAssertFalse(ServiceFiles.exists(root + gone), gone)
        }
        XCTAssertTrue(ServiceFiles.exists(root + "/etc"), "only swiftmon's folders are removed")
    }

    func testPurgeRemovesLinksWithoutFollowingThem() throws {
        let outside = root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: outside + "/precious"))
        try installer().install(request())
        try FileManager.default.createSymbolicLink(atPath: root + "/var/lib/swiftmon/link", withDestinationPath: outside)
        try installer().uninstall(purge: true)
        XCTAssertEqual(contents("/outside/precious"), "keep")
        XCTAssertFalse(ServiceFiles.exists(root + "/var/lib/swiftmon"))
    }

    func testARunArgumentTheUnitCannotCarryWritesNothing() throws {
        XCTAssertThrowsError(try installer().install(request(outputs: ["--output", "a\nb"])))
        XCTAssertFalse(ServiceFiles.exists(root + "/etc/swiftmon"))
    }
}

final class CallLog: @unchecked Sendable {  // `calls` is guarded by `lock`
    private let lock = NSLock()
    private var calls: [[String]] = []
    func append(_ call: [String]) { lock.withLock { calls.append(call) } }
    var all: [[String]] { lock.withLock { calls } }
}
