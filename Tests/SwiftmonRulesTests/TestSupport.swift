import Foundation
import XCTest
import SwiftmonCore
@testable import SwiftmonRules
import SwiftmonTestSupport

/// Parses `xml`, failing the test on errors.
func config(_ xml: String, file: StaticString = #filePath, line: UInt = #line) -> SysmonConfig? {
    let (parsed, diagnostics) = SysmonConfig.check(bytes: Array(xml.utf8), path: "test.xml")
    XCTAssertFalse(diagnostics.hasErrors, diagnostics.map(\.description).joined(separator: "\n"), file: file, line: line)
    return diagnostics.hasErrors ? nil : parsed
}

func rules(_ xml: String, file: StaticString = #filePath, line: UInt = #line) -> RuleSet {
    guard let c = config(xml, file: file, line: line) else {
        return RuleSet(try! SysmonConfig.parse(bytes: Array("<Sysmon schemaversion=\"4.90\"/>".utf8), path: "empty").0)
    }
    return RuleSet(c)
}

/// `<Sysmon schemaversion="4.90"><EventFiltering>…</EventFiltering></Sysmon>`.
func filtering(_ body: String, version: String = "4.90") -> String {
    "<Sysmon schemaversion=\"\(version)\">\n<EventFiltering>\n\(body)\n</EventFiltering>\n</Sysmon>\n"
}

func event(_ fields: [String: String]) -> Event { event(.processCreate, fields) }

func event(_ kind: EventKind, _ fields: [String: String]) -> Event {
    var e = Event(kind, time: EventTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_000))
    for (k, v) in fields { e[k] = v }
    return e
}

/// (logged, RuleName) for `event` under `ruleSet`.
func decide(_ ruleSet: RuleSet, _ e: Event) -> (Bool, String?) {
    var copy = e
    let logged = ruleSet.evaluate(&copy)
    return (logged, logged ? copy["RuleName"] : nil)
}

/// The repository root, from this file's path.
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The shared test corpus: $SWIFTMON_CORPUS, else `shared/corpus` found
/// walking up from the repository root. Skips (fails under CI=true) when absent.
func corpusDirectory() throws -> URL {
    if let env = ProcessInfo.processInfo.environment["SWIFTMON_CORPUS"] {
        return URL(fileURLWithPath: env)
    }
    var dir = repositoryRoot
    while dir.path != "/" {
        let candidate = dir.appendingPathComponent("shared/corpus")
        if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    try TestRequirement.unavailable("shared/corpus not found above \(repositoryRoot.path); set SWIFTMON_CORPUS")
}
