import Foundation
import SwiftmonTestSupport
import XCTest

/// The built binary's Sysmon-format XML: swiftmon's own EventIDs (202
/// ServiceInstall, 211 WindowsEvent here) carry swiftmon's provider, never
/// Sysmon for Linux's; `--sysmon-only` leaves them out and keeps the rest.
final class SysmonOnlyCommandTests: XCTestCase {
    static let sysmonIDs = Set(1...29).union([255])

    /// (provider name, EventID) of each `<Event>` line.
    private func events(_ arguments: [String]) throws -> [(provider: String, id: Int)] {
        let r = try BuiltBinary.runSwiftmon(arguments)
        XCTAssertEqual(r.status, 0, r.stderrText)
        return try r.stdoutText.split(separator: "\n").map { line in
            let provider = try XCTUnwrap(line.firstMatch(of: /<Provider Name="([^"]*)"/)?.1, String(line))
            let id = try XCTUnwrap(line.firstMatch(of: /<EventID>([0-9]+)<\/EventID>/).flatMap { Int($0.1) }, String(line))
            return (String(provider), id)
        }
    }

    func testOwnEventIDsAreKeptApartAndSysmonOnlyDropsThem() throws {
        let mixed = [try EvtxCorpus.file("mitre_system_7045_7036_psexec_service.evtx").path,
                     try EvtxCorpus.file("mitre_sysmon_ID1_7_10_11_18_lsassy.evtx").path]
        var all: [(provider: String, id: Int)] = []
        var strict: [(provider: String, id: Int)] = []
        for file in mixed {
            all += try events(["evtx", file, "--format", "xml"])
            strict += try events(["evtx", file, "--format", "xml", "--sysmon-only"])
        }
        XCTAssertTrue(all.contains { $0.id == 202 } && all.contains { $0.id == 211 } && all.contains { $0.id == 1 },
                      "the files hold both kinds: \(all)")
        for e in all {
            XCTAssertEqual(e.provider, Self.sysmonIDs.contains(e.id) ? "Linux-Sysmon" : "swiftmon", "EventID \(e.id)")
        }
        XCTAssertEqual(strict.map(\.id), all.filter { Self.sysmonIDs.contains($0.id) }.map(\.id))
        XCTAssertTrue(strict.allSatisfy { $0.provider == "Linux-Sysmon" })
    }
}
