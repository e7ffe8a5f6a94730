import Foundation
import SwiftmonTestSupport
import XCTest

/// The CLI: `sigma check`, `etl --sigma`, `sigma hunt --store`, through the built binary.
final class SigmaCommandTests: XCTestCase {
    static let etl = BuiltBinary.repositoryRoot.deletingLastPathComponent().path + "/shared/corpus/etl/tx_Process.etl"

    func folder(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sigma-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    static let outlookRule = """
        title: Outlook started
        id: outlook-1
        level: medium
        author: swiftmon tests
        logsource:
            product: windows
            category: process_creation
        detection:
            s:
                Image|endswith: '\\outlook.exe'
            condition: s
        """

    func testCheckListsEachRuleWithItsReason() throws {
        let dir = try folder([
            "good.yml": Self.outlookRule,
            "broken.yml": "title: broken\nlogsource: [\n",
            "auditd.yml": "title: audit\nlogsource:\n  product: linux\n  service: auditd\ndetection:\n  s:\n    type: EXECVE\n  condition: s\n",
            "evil.yml": "title: \"evil\\e[31m\"\nlogsource:\n  product: linux\n  category: process_creation\ndetection:\n  s:\n    Image|nope: x\n  condition: s\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try BuiltBinary.runSwiftmon(["sigma", "check", dir.path])
        XCTAssertEqual(r.status, 1, r.stderrText)
        let out = r.stdoutText
        XCTAssertTrue(out.contains("good.yml:1: loaded: Outlook started → EventID 1"), out)
        XCTAssertTrue(out.contains("broken.yml:3: not loaded"), out)
        XCTAssertTrue(out.contains("auditd.yml:1: not loaded: audit: ") && out.contains("service auditd is not served"), out)
        XCTAssertTrue(out.contains("evil.yml:7: unknown modifier 'nope'"), out)
        XCTAssertFalse(out.contains("\u{1B}"), "a rule's control characters are escaped")
        XCTAssertTrue(out.contains("1 loaded, 3 not loaded, 0 skipped"), out)
    }

    func testEtlRaisesSigmaMatchAndHuntFindsItInTheStore() throws {
        guard FileManager.default.fileExists(atPath: Self.etl) else { try TestRequirement.unavailable("no \(Self.etl)") }
        let dir = try folder(["outlook.yml": Self.outlookRule])
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("events.db").path
        let r = try BuiltBinary.runSwiftmon(["etl", Self.etl, "--format", "json", "--sigma", dir.path, "--store", store])
        XCTAssertEqual(r.status, 0, r.stderrText)
        let lines = r.stdoutText.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let alerts = lines.filter { ($0["EventID"] as? Int) == 210 }
        XCTAssertEqual(alerts.count, 1, r.stderrText)
        let a = try XCTUnwrap(alerts.first)
        XCTAssertEqual(a["EventName"] as? String, "SigmaMatch")
        XCTAssertEqual(a["RuleId"] as? String, "outlook-1")
        XCTAssertEqual(a["RuleAuthor"] as? String, "swiftmon tests")
        XCTAssertEqual(a["MatchedEventID"] as? String, "1")
        XCTAssertTrue((a["Image"] as? String)?.hasSuffix("OUTLOOK.EXE") ?? false)
        // The alert follows its event.
        let index = try XCTUnwrap(lines.firstIndex { ($0["EventID"] as? Int) == 210 })
        XCTAssertEqual(lines[index - 1]["ProcessGuid"] as? String, a["ProcessGuid"] as? String)

        // Retro-hunt over the store with a second rule.
        let hunt = try BuiltBinary.runSwiftmon(["sigma", "hunt", "--store", store, "--format", "json", dir.path])
        XCTAssertEqual(hunt.status, 0, hunt.stderrText)
        let found = hunt.stdoutText.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(found.filter { ($0["RuleId"] as? String) == "outlook-1" }.count, 1, hunt.stdoutText + hunt.stderrText)
    }

    func testMinimumLevelMustBeALevel() throws {
        let r = try BuiltBinary.runSwiftmon(["etl", Self.etl, "--sigma", "/nonexistent", "--sigma-min-level", "severe"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderrText.contains("--sigma-min-level"), r.stderrText)
    }
}
