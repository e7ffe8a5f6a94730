import SwiftmonCore
@testable import SwiftmonSigma
import XCTest

/// Rules from YAML text and events from field values, for the engine's tests.
enum SigmaFixture {
    static func ruleSet(_ yaml: String, products: Set<String> = ["linux", "windows"], file: String = "test.yml",
                        compiler: SigmaCompiler = SigmaCompiler()) -> SigmaRuleSet {
        let (docs, diags) = SigmaReader.parse(yaml, file: file)
        let early = diags.map {
            SigmaRuleReport(file: file, line: $0.line, title: "", id: nil, kind: nil, outcome: .rejected, diagnostics: [$0])
        }
        return SigmaRuleSet(documents: docs, products: products, compiler: compiler, early: early)
    }

    /// A rule with this detection for linux process_creation.
    static func processRule(_ detection: String, title: String = "t", extra: String = "") -> String {
        """
        title: \(title)
        id: \(title)-id
        level: high
        status: test
        \(extra)
        logsource:
            product: linux
            category: process_creation
        detection:
        \(detection.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
        """
    }

    static func event(_ kind: EventKind = .processCreate, _ fields: [String: String], time: Int64 = 1_700_000_000_000_000_000) -> Event {
        var e = Event(kind, time: EventTime(nanosecondsSinceEpoch: time))
        for (k, v) in fields { e[k] = v }
        return e
    }

    /// Whether the single rule of `detection` matches an event with `fields`.
    static func matches(_ detection: String, _ fields: [String: String], file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let set = ruleSet(processRule(detection))
        XCTAssertEqual(set.rules.count, 1, "rule did not load: \(set.reports)", file: file, line: line)
        let asTexts = event(.processCreate, fields)
        let matched = !SigmaEvaluator(set).matches(asTexts).isEmpty
        // A live event holds its values as bytes: the evaluator must read them alike.
        let asBytes = !SigmaEvaluator(set).matches(heldAsBytes(asTexts)).isEmpty
        XCTAssertEqual(matched, asBytes, "values held as bytes matched differently", file: file, line: line)
        return matched
    }

    /// The same event with every present value held as UTF-8 bytes (as the live sensor's are).
    static func heldAsBytes(_ event: Event) -> Event {
        var copy = event
        for i in 0..<event.kind.fields.count where !event.isAbsent(i) {
            copy.setUTF8(i, Array(event[i].utf8))
            precondition(copy.isHeldAsBytes(i))
        }
        return copy
    }

    static func rejection(_ detection: String) -> String? {
        let set = ruleSet(processRule(detection))
        if set.rules.count == 1 { return nil }
        return set.diagnostics.map(\.message).joined(separator: "; ")
    }
}
