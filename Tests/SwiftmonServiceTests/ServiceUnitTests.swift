import Foundation
import SwiftmonTestSupport
import XCTest
@testable import SwiftmonService

/// The unit: systemd itself (systemd-analyze) reads it without a complaint,
/// its hardening scores where it was measured, and ExecStart= carries every
/// argument unchanged.
final class ServiceUnitTests: XCTestCase {
    static let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The unit in a fresh folder, its ExecStart= naming a program that
    /// exists (verify checks that it does).
    func writeUnit(_ unit: ServiceUnit) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent(ServiceLayout.unitName)
        try Data(unit.text(version: "test").utf8).write(to: file)
        return file
    }

    func requireSystemdAnalyze() throws -> URL {
        guard let path = Self.systemdAnalyze else {
            try TestRequirement.unavailable("systemd-analyze not installed (Debian package systemd)")
        }
        return URL(fileURLWithPath: path)
    }

    func testSystemdAnalyzeVerifyAcceptsTheUnitWithoutAWarning() throws {
        let analyze = try requireSystemdAnalyze()
        let binary = try BuiltBinary.requireSwiftmon()
        let file = try writeUnit(ServiceUnit(executable: binary.path,
                                             arguments: ServiceUnit.runArguments(outputArguments: [])))
        // --man=no: the man page is installed by the package, not here (the
        // package test verifies the installed unit with it).
        let result = try Command.run(analyze, ["verify", "--man=no", file.path], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderrText)
        XCTAssertEqual(result.stderrText, "", "systemd-analyze verify printed warnings (unknown or misspelled settings?)")
    }

    func testVerifyRejectsAUnitWhoseProgramIsMissing() throws {
        // The check above means something: verify does read ExecStart=.
        let analyze = try requireSystemdAnalyze()
        let file = try writeUnit(ServiceUnit(executable: "/nonexistent/swiftmon", arguments: ["run"]))
        let result = try Command.run(analyze, ["verify", "--man=no", file.path], timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderrText.contains("/nonexistent/swiftmon"), result.stderrText)
    }

    func testSecurityExposureStaysWhereItWasMeasured() throws {
        let analyze = try requireSystemdAnalyze()
        let file = try writeUnit(ServiceUnit(executable: "/bin/true", arguments: ["run"]))
        let result = try Command.run(analyze, ["security", "--offline=yes", "--no-pager", file.path], timeout: 60)
        let text = result.stdoutText + result.stderrText
        // "→ Overall exposure level for swiftmon.service: 3.1 OK"
        guard let range = text.range(of: "Overall exposure level for swiftmon.service: ") else {
            return XCTFail("no exposure level in: \(text.suffix(500))")
        }
        let score = Double(text[range.upperBound...].prefix { $0.isNumber || $0 == "." })
        XCTAssertNotNil(score, text)
        XCTAssertLessThanOrEqual(score ?? 10, 3.1, "the unit lost some of its hardening")
    }

    func testTheUnitIsANotifyServiceWithWatchdogAndOnlyTheMeasuredCapabilities() throws {
        let text = try ServiceUnit(executable: "/usr/bin/swiftmon", arguments: ServiceUnit.runArguments(outputArguments: []))
            .text(version: "1.2.3")
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in ["Type=notify", "NotifyAccess=main", "Restart=on-failure", "WatchdogSec=30",
                         "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=read-only", "PrivateTmp=yes",
                         "StateDirectory=swiftmon", "StateDirectoryMode=0700", "LogsDirectory=swiftmon",
                         "RuntimeDirectory=swiftmon", "RuntimeDirectoryMode=0700", "SystemCallArchitectures=native",
                         "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6", "MemoryDenyWriteExecute=yes",
                         "LockPersonality=yes", "WantedBy=multi-user.target",
                         "CapabilityBoundingSet=" + ServiceUnit.capabilities.joined(separator: " ")] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected)")
        }
        XCTAssertFalse(ServiceUnit.capabilities.contains("CAP_SYS_ADMIN"))
        let exec = try XCTUnwrap(lines.first { $0.hasPrefix("ExecStart=") })
        XCTAssertEqual(exec, "ExecStart=/usr/bin/swiftmon run --config /etc/swiftmon/config.xml --control-socket "
                       + "/run/swiftmon/control.sock --state-dir /var/lib/swiftmon --status-interval 0 --syslog /dev/log "
                       + "--store /var/lib/swiftmon/events.db --store-max-size 1G --store-max-age 30d --format json "
                       + "--output /var/log/swiftmon/events.jsonl --output-max-size 100M --output-keep 5")
    }

    func testExecStartCarriesEveryArgumentUnchanged() throws {
        XCTAssertEqual(try ServiceUnit.quoted("--syslog"), "--syslog")
        XCTAssertEqual(try ServiceUnit.quoted("a b"), "\"a b\"")
        XCTAssertEqual(try ServiceUnit.quoted("100%"), "100%%")
        XCTAssertEqual(try ServiceUnit.quoted("$HOME"), "$$HOME")
        XCTAssertEqual(try ServiceUnit.quoted("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"")
        XCTAssertEqual(try ServiceUnit.quoted(""), "\"\"")
        XCTAssertEqual(try ServiceUnit.quoted("café"), "\"café\"")
        XCTAssertThrowsError(try ServiceUnit.quoted("a\nExecStartPre=/bin/evil")) { error in
            XCTAssertTrue("\(error)".contains("\\xa"), "\(error)")
        }
    }

    func testSystemdAcceptsAUnitWithHostileArguments() throws {
        // systemd's own parser judges the quoting: spaces, specifiers,
        // variables, quotes and backslashes in arguments give no warning.
        let analyze = try requireSystemdAnalyze()
        let arguments = ["run", "--output", "/var/log/my events/%h $USER.jsonl", "--syslog", "tcp://[::1]:514", "say \"x\"\\"]
        let file = try writeUnit(ServiceUnit(executable: "/bin/true", arguments: arguments))
        let result = try Command.run(analyze, ["verify", "--man=no", file.path], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderrText)
        XCTAssertEqual(result.stderrText, "")
    }
}
