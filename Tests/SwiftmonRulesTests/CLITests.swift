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
        let golden = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/SwiftmonRulesTests/Golden/mstic-linux-main.dump"), encoding: .utf8)
        XCTAssertEqual(r.out, golden)

        let xml = try run(["config", "default"])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-default-\(getpid()).xml")
        defer { try? FileManager.default.removeItem(at: url) }
        try xml.out.write(to: url, atomically: true, encoding: .utf8)
        let check = try run(["config", "check", url.path])
        XCTAssertEqual(check.status, 0)
        XCTAssertEqual(check.out, "\(url.path): 0 errors, 0 warnings\n")
        XCTAssertEqual(try run(["config", "dump", url.path]).out, try run(["config", "dump"]).out)
    }

    func testDumpOfABadFileFails() throws {
        let r = try run(["config", "dump", "/nonexistent.xml"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("/nonexistent.xml:0:0: error: cannot open file"), r.err)
    }
}
