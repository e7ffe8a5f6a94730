import Foundation
import Glibc
import SwiftmonSystem
import SwiftmonTestSupport
import XCTest
@testable import SwiftmonService

/// The Debian package, built from the tested binary by scripts/make-deb.sh
/// and handled by the real dpkg: lintian without errors, install, upgrade
/// (configuration and state kept, EventRecordIDs continue), remove (keeps
/// configuration and data), purge (removes them). Everything it installs is
/// removed at the end.
final class DebianPackageTests: XCTestCase {
    static let repository = BuiltBinary.repositoryRoot

    func tool(_ name: String) throws -> URL {
        for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return URL(fileURLWithPath: "\(dir)/\(name)")
        }
        try TestRequirement.unavailable("\(name) is not installed (make test installs it)")
    }

    @discardableResult
    func run(_ program: URL, _ arguments: [String], environment: [String: String] = [:], expect status: Int32? = 0,
             file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let result = try Command.run(program, arguments, environment: environment,
                                     currentDirectory: Self.repository, timeout: 600)
        if let status {
            XCTAssertEqual(result.status, status, "\(program.lastPathComponent) \(arguments): \(result.stderrText)\(result.stdoutText.suffix(2000))",
                           file: file, line: line)
        }
        return result
    }

    /// A package of the tested binary with `version`, into `out`.
    func buildPackage(version: String, out: String) throws -> String {
        let binary = try BuiltBinary.requireSwiftmon()
        let manual = Self.repository.appendingPathComponent("build/tools/release/generate-manual").path
        guard FileManager.default.isExecutableFile(atPath: manual) else {
            try TestRequirement.unavailable("generate-manual not built (make deb builds it into build/tools)")
        }
        let result = try run(URL(fileURLWithPath: "/bin/bash"), ["scripts/make-deb.sh"],
                             environment: ["BINARY": binary.path, "DEB_VERSION": version, "OUT": out, "GENERATE_MANUAL": manual])
        return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let bootLink = "/etc/systemd/system/multi-user.target.wants/swiftmon.service"
    static let ours = ["/etc/swiftmon", "/var/lib/swiftmon", "/var/log/swiftmon", "/usr/bin/swiftmon",
                       "/lib/systemd/system/swiftmon.service", "/etc/systemd/system/swiftmon.service", bootLink]

    /// Runs the installed sensor until it has announced itself, writing Sysmon
    /// XML to `output`; returns the EventRecordIDs it wrote this time.
    func runInstalledSensor(output: String) throws -> [UInt64] {
        let before = recordIDs(output).count
        let sensor = Process()
        sensor.executableURL = URL(fileURLWithPath: "/usr/bin/swiftmon")
        sensor.arguments = ["run", "--config", "/etc/swiftmon/config.xml", "--format", "xml", "--output", output,
                            "--state-dir", "/var/lib/swiftmon"]
        sensor.standardError = FileHandle.nullDevice
        sensor.standardOutput = FileHandle.nullDevice
        try sensor.run()
        let deadline = Date().addingTimeInterval(60)
        while recordIDs(output).count < before + 2 && Date() < deadline && sensor.isRunning { usleep(100_000) }
        kill(sensor.processIdentifier, SIGINT)
        sensor.waitUntilExit()
        XCTAssertEqual(sensor.terminationStatus, 0)
        return Array(recordIDs(output).dropFirst(before))
    }

    func recordIDs(_ path: String) -> [UInt64] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let text = String(decoding: data, as: UTF8.self)
        return text.components(separatedBy: "<EventRecordID>").dropFirst().compactMap { UInt64($0.prefix { $0.isNumber }) }
    }

    func mode(_ path: String) throws -> mode_t { try XCTUnwrap(Syscalls.linkStatus(path), path).st_mode & 0o7777 }

    func testLintInstallUpgradeRemoveAndPurgeWithTheRealDpkg() throws {
        if geteuid() != 0 { try TestRequirement.unavailable("dpkg -i needs root") }
        let dpkg = try tool("dpkg"), dpkgDeb = try tool("dpkg-deb"), lintian = try tool("lintian")
        _ = try tool("dpkg-shlibdeps")
        let installed = try run(try tool("dpkg-query"), ["-W", "-f", "${Status}", "swiftmon"], expect: nil)
        if installed.stdoutText.contains("installed") || Self.ours.contains(where: ServiceFiles.exists) {
            try TestRequirement.unavailable("swiftmon is already installed on this machine; not touching it")
        }
        addTeardownBlock {
            _ = try? Command.run(dpkg, ["--purge", "swiftmon"], timeout: 120)
            for path in Self.ours { try? ServiceFiles.removeTree(path) }
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-deb-\(UUID().uuidString.prefix(8))").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: out) }
        let binary = try BuiltBinary.requireSwiftmon()
        let version = try run(binary, ["--version"]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let first = try buildPackage(version: version, out: out)
        let second = try buildPackage(version: version + "+upgrade1", out: out)
        XCTAssertTrue(first.hasSuffix("/swiftmon_\(version)_\(try run(dpkg, ["--print-architecture"]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)).deb"), first)

        // What is in it, and what it needs.
        let contents = try run(dpkgDeb, ["--contents", first]).stdoutText
        for path in ["./usr/bin/swiftmon", "./lib/systemd/system/swiftmon.service", "./usr/share/swiftmon/config.xml",
                     "./usr/share/man/man1/swiftmon.1.gz", "./usr/share/bash-completion/completions/swiftmon",
                     "./usr/share/zsh/vendor-completions/_swiftmon", "./usr/share/fish/vendor_completions.d/swiftmon.fish",
                     "./usr/share/doc/swiftmon/copyright", "./usr/share/doc/swiftmon/changelog.gz"] {
            XCTAssertTrue(contents.contains(" \(path)\n"), "\(path) missing from the package")
        }
        XCTAssertFalse(contents.contains(" ./etc/"), "nothing in /etc: the configuration is a template, not a conffile")
        let depends = try run(dpkgDeb, ["--field", first, "Depends"]).stdoutText
        XCTAssertTrue(depends.contains("libbpf1"), depends)
        XCTAssertTrue(depends.contains("libc6"), depends)
        XCTAssertFalse(depends.contains("swift"), depends)

        // lintian: no errors (warnings and notes are reported, not fatal).
        let lint = try run(lintian, ["--no-cfg", first], expect: nil)
        let errors = lint.stdoutText.split(separator: "\n").filter { $0.hasPrefix("E: ") }
        XCTAssertEqual(errors, [], lint.stdoutText)

        // Install, without systemd as PID 1: the scripts must not fail.
        try run(dpkg, ["--install", first])
        XCTAssertEqual(FileManager.default.contents(atPath: "/etc/swiftmon/config.xml"),
                       FileManager.default.contents(atPath: "/usr/share/swiftmon/config.xml"))
        XCTAssertEqual(try mode("/etc/swiftmon/config.xml"), 0o600)
        XCTAssertEqual(try mode("/etc/swiftmon"), 0o700)
        XCTAssertEqual(try mode("/var/lib/swiftmon"), 0o700)
        XCTAssertEqual(try mode("/var/log/swiftmon"), 0o700)
        let ldd = try run(try tool("ldd"), ["/usr/bin/swiftmon"]).stdoutText
        XCTAssertFalse(ldd.contains("/opt/swift") || ldd.contains("libswift") || ldd.contains("libFoundation"),
                       "the installed binary needs the Swift toolchain: \(ldd)")
        if let analyze = ServiceUnitTests.systemdAnalyze {
            let manAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/man")
            try run(URL(fileURLWithPath: analyze), ["verify", "--man=\(manAvailable ? "yes" : "no")", "/lib/systemd/system/swiftmon.service"])
        }
        XCTAssertEqual(try run(URL(fileURLWithPath: "/usr/bin/swiftmon"), ["--version"]).stdoutText, version + "\n")
        XCTAssertTrue(ServiceFiles.exists(Self.bootLink), "deb-systemd-helper enables the unit for boot")

        // The installed sensor writes XML with persistent EventRecordIDs.
        let output = "/var/log/swiftmon/package-test.xml"
        let beforeUpgrade = try runInstalledSensor(output: output)
        XCTAssertGreaterThanOrEqual(beforeUpgrade.count, 2)
        let edited = "<!-- the administrator's edit -->\n" + String(decoding: FileManager.default.contents(atPath: "/etc/swiftmon/config.xml") ?? Data(), as: UTF8.self)
        try ServiceFiles.writeAtomically(Array(edited.utf8), to: "/etc/swiftmon/config.xml")

        // Upgrade: the configuration and the state stay; ids continue upwards.
        try run(dpkg, ["--install", second])
        XCTAssertEqual(try run(try tool("dpkg-query"), ["-W", "-f", "${Version}", "swiftmon"]).stdoutText, version + "+upgrade1")
        XCTAssertEqual(String(decoding: FileManager.default.contents(atPath: "/etc/swiftmon/config.xml") ?? Data(), as: UTF8.self), edited)
        let afterUpgrade = try runInstalledSensor(output: output)
        XCTAssertGreaterThanOrEqual(afterUpgrade.count, 2)
        XCTAssertGreaterThan(afterUpgrade.first ?? 0, beforeUpgrade.last ?? .max, "EventRecordIDs went back after the upgrade")
        XCTAssertEqual(afterUpgrade, afterUpgrade.sorted())

        // Remove keeps configuration and data; purge removes them.
        try run(dpkg, ["--remove", "swiftmon"])
        XCTAssertFalse(ServiceFiles.exists("/usr/bin/swiftmon"))
        XCTAssertFalse(ServiceFiles.exists("/lib/systemd/system/swiftmon.service"))
        XCTAssertTrue(ServiceFiles.exists("/etc/swiftmon/config.xml"))
        XCTAssertTrue(ServiceFiles.exists(output))
        XCTAssertFalse((try Syscalls.directoryEntries("/var/lib/swiftmon") ?? []).isEmpty, "the record-id counters stay")
        try run(dpkg, ["--purge", "swiftmon"])
        for path in ["/etc/swiftmon", "/var/lib/swiftmon", "/var/log/swiftmon", Self.bootLink] {
            XCTAssertFalse(ServiceFiles.exists(path), "\(path) survived the purge")
        }
    }

    /// The release binary carries its Swift runtime: nothing it loads comes
    /// from the toolchain (what ships is what the tests ran).
    func testTheBinaryNeedsNoSwiftToolchain() throws {
        let binary = try BuiltBinary.requireSwiftmon()
        let ldd = try run(try tool("ldd"), [binary.path]).stdoutText
        XCTAssertFalse(ldd.contains("/opt/swift"), ldd)
        XCTAssertFalse(ldd.contains("libswiftCore") || ldd.contains("libFoundation") || ldd.contains("libdispatch"), ldd)
        XCTAssertTrue(ldd.contains("libbpf.so.1"), ldd)
    }
}
