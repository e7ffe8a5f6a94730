import Foundation
import SwiftmonTestSupport
import XCTest

/// `swiftmon config …` run as a user runs it: the built binary, its output
/// and its exit status.
final class CLITests: XCTestCase {
    /// The built binary; a missing one skips, or fails under CI=true.
    func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let r = try BuiltBinary.runSwiftmon(arguments)
        return (r.status, r.stdoutText, r.stderrText)
    }

    func testCheckReportsErrorsAndExitsNonZero() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-cli-\(getpid()).xml")
        defer { try? FileManager.default.removeItem(at: url) }
        try """
            <Sysmon schemaversion="4.90">
              <EventFiltering>
                <ProcessCreate onmatch="include"><Image condition="contans">x</Image></ProcessCreate>
              </EventFiltering>
            </Sysmon>
            """.write(to: url, atomically: true, encoding: .utf8)
        let r = try run(["config", "check", url.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.out.contains("\(url.path):3:38: error: unknown condition \"contans\""), r.out)
        XCTAssertTrue(r.out.hasSuffix("\(url.path): 1 error, 0 warnings\n"), r.out)
    }

    func testCheckOfACorpusConfigurationPasses() throws {
        let path = try corpusDirectory().appendingPathComponent("sysmon-configs/swiftonsecurity-sysmonconfig-export.xml").path
        let r = try run(["config", "check", path])
        XCTAssertEqual(r.status, 0, r.out)
        XCTAssertTrue(r.out.contains(": warning: "), r.out)
        XCTAssertTrue(r.out.hasSuffix("\(path): 0 errors, 14 warnings (14 about Windows-only events or fields)\n"), r.out)
        let quiet = try run(["config", "check", "--errors-only", path])
        XCTAssertEqual(quiet.out, "\(path): 0 errors, 14 warnings (14 about Windows-only events or fields)\n")
    }

    func testDumpMatchesGoldenAndDefaultRoundTrips() throws {
        let path = try corpusDirectory().appendingPathComponent("sysmon-configs/mstic-linux-main.xml").path
        let r = try run(["config", "dump", path])
        XCTAssertEqual(r.status, 0)
        // The golden dump names the file by its bare name and has no hash line.
        var golden = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/SwiftmonRulesTests/Golden/mstic-linux-main.dump"), encoding: .utf8)
        let hash = try sha256(path)
        golden = golden.replacingOccurrences(
            of: " - Config file:                   mstic-linux-main.xml\n",
            with: " - Config file:                   \(path)\n - Config hash:                   SHA256=\(hash)\n")
        XCTAssertEqual(r.out, golden)

        let xml = try run(["config", "default"])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-default-\(getpid()).xml")
        defer { try? FileManager.default.removeItem(at: url) }
        try xml.out.write(to: url, atomically: true, encoding: .utf8)
        let check = try run(["config", "check", url.path])
        XCTAssertEqual(check.status, 0)
        XCTAssertEqual(check.out, "\(url.path): 0 errors, 0 warnings\n")
        // The same rules and settings; only the file's name and hash differ.
        func withoutFileLines(_ dump: String) -> [Substring] {
            dump.split(separator: "\n").filter { !$0.hasPrefix(" - Config file:") && !$0.hasPrefix(" - Config hash:") }
        }
        let fromFile = try run(["config", "dump", url.path]).out
        let embedded = try run(["config", "dump"]).out
        XCTAssertTrue(embedded.contains(" - Config file:                   <embedded default>\n"), embedded)
        XCTAssertTrue(fromFile.contains(" - Config file:                   \(url.path)\n"), fromFile)
        XCTAssertEqual(withoutFileLines(fromFile), withoutFileLines(embedded))
    }

    /// `SHA256` of a file, upper-case hex, from coreutils' sha256sum.
    func sha256(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return String(text.prefix(64)).uppercased()
    }

    /// The help describes every kind of event swiftmon reports, not only processes.
    func testHelpDescribesEveryEvent() throws {
        // ArgumentParser wraps lines; compare with the line breaks taken out.
        func words(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let root = try run(["--help"])
        XCTAssertEqual(root.status, 0)
        for phrase in ["process and thread start and exit", "network connections", "files created, deleted and renamed",
                       "kernel-module loads", "executable mappings", "raw block-device opens", "cross-process memory access",
                       "BPF program loads", "systemd unit installs"] {
            XCTAssertTrue(words(root.out).contains(phrase), "swiftmon --help lacks \(phrase):\n\(root.out)")
        }
        let runHelp = try run(["run", "--help"])
        XCTAssertEqual(runHelp.status, 0)
        let text = words(runHelp.out)
        for name in ["ProcessCreate (1)", "NetworkConnect (3)", "ProcessTerminate (5)", "DriverLoad (6", "ImageLoad (7",
                     "RawAccessRead (9", "ProcessAccess (10", "FileCreate (11)", "FileDelete (23)", "eBPFEvent (100",
                     "ThreadCreate (200)", "ThreadTerminate (201)", "ServiceInstall (202", "FileRename (203)"] {
            XCTAssertTrue(text.contains(name), "run --help lacks \(name):\n\(runHelp.out)")
        }
    }

    func testDumpOfABadFileFails() throws {
        let r = try run(["config", "dump", "/nonexistent.xml"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("/nonexistent.xml:0:0: error: cannot open file"), r.err)
    }
}
