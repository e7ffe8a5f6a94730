import SwiftmonCore
@testable import SwiftmonSigma
import SwiftmonTestSupport
import XCTest

/// SigmaHQ's rules from ../shared/corpus/sigma (DRL 1.1; read in place, not shipped).
final class SigmaCorpusTests: XCTestCase {
    static var corpus: String { BuiltBinary.repositoryRoot.deletingLastPathComponent().path + "/shared/corpus/sigma" }

    func requireCorpus() throws -> String {
        let path = Self.corpus
        guard FileManager.default.fileExists(atPath: path + "/rules/linux") else {
            try TestRequirement.unavailable("the Sigma corpus is not at \(path)")
        }
        return path
    }

    func testEveryLinuxRuleIsLoadedOrReportedWithAReason() throws {
        let corpus = try requireCorpus()
        let set = try SigmaRuleSet(paths: [corpus + "/rules/linux"], products: ["linux"])
        XCTAssertEqual(set.reports.count, 210, "one report per rule file")
        var loadedByKind: [Int: Int] = [:]
        for r in set.reports {
            switch r.outcome {
            case .loaded(let id): loadedByKind[id, default: 0] += 1
            case .skipped: XCTFail("a linux rule skipped: \(r)")
            case .rejected:
                XCTAssertFalse(r.diagnostics.isEmpty, "\(r)")
                for d in r.diagnostics { XCTAssertTrue(d.file.hasSuffix(".yml") && d.line > 0, "\(d)") }
            }
        }
        // Every process_creation, file_event and network_connection rule loads; the
        // auditd/builtin ones (services swiftmon has no events for) are reported.
        XCTAssertEqual(loadedByKind[1], 122, "\(set.reports.filter { $0.outcome == .rejected && $0.file.contains("process_creation") })")
        XCTAssertEqual(loadedByKind[11], 8)
        XCTAssertEqual(loadedByKind[3], 5)
        let rejected = set.reports.filter { $0.outcome == .rejected }
        XCTAssertEqual(rejected.count, 75)
        XCTAssertTrue(rejected.allSatisfy { $0.diagnostics[0].message.contains("logsource") }, "\(rejected.prefix(3))")
    }

    func testWindowsProcessCreationRulesLoadForEtl() throws {
        let corpus = try requireCorpus()
        let set = try SigmaRuleSet(paths: [corpus + "/rules/windows/process_creation"], products: ["windows"])
        let loaded = set.reports.filter { if case .loaded = $0.outcome { return true } else { return false } }
        let rejected = set.reports.filter { $0.outcome == .rejected }
        XCTAssertEqual(set.reports.count, 1183)
        // The fields ETW's process events cannot give (Hashes …) are the only reasons.
        for r in rejected { XCTAssertTrue(r.diagnostics.allSatisfy { $0.message.contains("field") }, "\(r)") }
        XCTAssertGreaterThan(loaded.count, 1100, "\(rejected.prefix(5))")
    }

    func testRulesTripOnTheirOwnTypicalCommandLines() throws {
        let corpus = try requireCorpus()
        let set = try SigmaRuleSet(paths: [corpus + "/rules/linux/process_creation"], products: ["linux"])
        let ev = SigmaEvaluator(set)
        func titles(_ fields: [String: String]) -> [String] {
            ev.matches(SigmaFixture.event(.processCreate, fields)).map { set.rules[$0].document.title }
        }
        XCTAssertTrue(titles(["Image": "/usr/bin/base64", "CommandLine": "base64 -d /tmp/x"]).contains("Linux Base64 Encoded Pipe to Shell")
                      || titles(["Image": "/usr/bin/base64", "CommandLine": "base64 -d /tmp/x"]).contains { $0.lowercased().contains("base64") },
                      "\(titles(["Image": "/usr/bin/base64", "CommandLine": "base64 -d /tmp/x"]))")
        XCTAssertTrue(titles(["Image": "/usr/bin/rm", "CommandLine": "rm /root/.bash_history"]).contains { $0.lowercased().contains("history") })
        XCTAssertEqual(titles(["Image": "/usr/bin/ls", "CommandLine": "ls"]), [])
    }
}
