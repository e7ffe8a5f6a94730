import Foundation
import XCTest
import SwiftmonTestSupport
import SwiftmonCore
@testable import SwiftmonRules

/// The compiled, indexed ``RuleSet`` must decide exactly as the plain
/// transcription of Sysmon's procedure (``ReferenceModel``): on random
/// configurations built to collide, and on the real corpus configurations.
final class ModelComparisonTests: XCTestCase {
    typealias Rng = SplitMix64

    static let words = ["bash", "/usr/bin/bash", "/bin/", "sh", "-c", "curl", "root", "Alice", "x;y", "a", "", ";", "b;", "/usr/", "BASH", "c:\\windows\\cmd.exe", "cmd.exe", "1", "20", "3"]
    static let fields = ["Image", "CommandLine", "User", "ParentImage"]

    func randomValue(_ rng: inout Rng) -> String {
        let n = Int.random(in: 0...3, using: &rng)
        return (0..<n).map { _ in Self.words.randomElement(using: &rng)! }.joined()
    }

    func randomFilter(_ rng: inout Rng) -> String {
        let field = Self.fields.randomElement(using: &rng)!
        let condition = Condition.allCases.randomElement(using: &rng)!.rawValue
        let name = Bool.random(using: &rng) ? " name=\"n\(Int.random(in: 0...99, using: &rng))\"" : ""
        let value = randomValue(&rng).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return "<\(field) condition=\"\(condition)\"\(name)>\(value)</\(field)>"
    }

    func randomConfig(_ rng: inout Rng, items: ClosedRange<Int> = 0...8, blocks: ClosedRange<Int> = 1...3) -> String {
        var body = ""
        for _ in 0..<Int.random(in: blocks, using: &rng) {
            let relation = Bool.random(using: &rng) ? "and" : "or"
            let onmatch = Bool.random(using: &rng) ? "include" : "exclude"
            let groupName = Bool.random(using: &rng) ? "g\(Int.random(in: 0...9, using: &rng))" : ""
            body += "<RuleGroup name=\"\(groupName)\" groupRelation=\"\(relation)\"><ProcessCreate onmatch=\"\(onmatch)\">"
            for _ in 0..<Int.random(in: items, using: &rng) {
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    let r = Bool.random(using: &rng) ? "and" : "or"
                    let rn = Bool.random(using: &rng) ? " name=\"r\(Int.random(in: 0...9, using: &rng))\"" : ""
                    body += "<Rule groupRelation=\"\(r)\"\(rn)>"
                    for _ in 0..<Int.random(in: 1...3, using: &rng) { body += randomFilter(&rng) }
                    body += "</Rule>"
                } else {
                    body += randomFilter(&rng)
                }
            }
            body += "</ProcessCreate></RuleGroup>"
        }
        return filtering(body)
    }

    func testRandomConfigurationsAgreeWithTheReference() throws {
        var rng = Rng(state: UInt64(ProcessInfo.processInfo.environment["SWIFTMON_MODEL_SEED"] ?? "") ?? 20240601)
        var decisions = 0
        var logged = 0
        for _ in 0..<400 {
            let xml = randomConfig(&rng)
            let (parsed, d) = SysmonConfig.check(bytes: Array(xml.utf8), path: "random.xml")
            guard let parsed, !d.hasErrors else { return XCTFail("\(d)\n\(xml)") }
            let set = RuleSet(parsed)
            let model = ReferenceModel(config: parsed)
            for _ in 0..<40 {
                var fields: [String: String] = [:]
                for f in Self.fields where Bool.random(using: &rng) { fields[f] = randomValue(&rng) }
                let e = event(fields)
                let expected = model.decide(e)
                let got = decide(set, e)
                decisions += 1
                if expected.0 { logged += 1 }
                XCTAssertEqual(got.0, expected.0, "logged? \(fields)\n\(xml)")
                if got.0 && expected.0 {
                    XCTAssertEqual(got.1, expected.1 ?? "-", "RuleName for \(fields)\n\(xml)")
                }
                if got.0 != expected.0 || (got.0 && got.1 != (expected.1 ?? "-")) { return }
            }
        }
        // The generator must exercise both outcomes, or the comparison proves little.
        XCTAssertGreaterThan(logged, decisions / 10)
        XCTAssertLessThan(logged, decisions * 9 / 10)
    }

    /// Blocks of up to 300 items over every field: item numbers and pattern
    /// ids past one 64-bit word, several fields scanned in one multi-field
    /// pass, gates opened by patterns in any word.
    func testWideRandomConfigurationsAgreeWithTheReference() throws {
        var rng = Rng(state: 20261203)
        var decisions = 0
        var logged = 0
        for _ in 0..<40 {
            let xml = randomConfig(&rng, items: 60...300, blocks: 1...2)
            let (parsed, d) = SysmonConfig.check(bytes: Array(xml.utf8), path: "random.xml")
            guard let parsed, !d.hasErrors else { return XCTFail("\(d)\n\(xml)") }
            let set = RuleSet(parsed)
            let model = ReferenceModel(config: parsed)
            for _ in 0..<60 {
                var fields: [String: String] = [:]
                for f in Self.fields where Int.random(in: 0..<4, using: &rng) != 0 { fields[f] = randomValue(&rng) }
                let e = event(fields)
                let expected = model.decide(e)
                let got = decide(set, e)
                decisions += 1
                if expected.0 { logged += 1 }
                XCTAssertEqual(got.0, expected.0, "logged? \(fields)\n\(xml)")
                if got.0 && expected.0 {
                    XCTAssertEqual(got.1, expected.1 ?? "-", "RuleName for \(fields)\n\(xml)")
                }
                if got.0 != expected.0 || (got.0 && got.1 != (expected.1 ?? "-")) { return }
            }
        }
        XCTAssertGreaterThan(logged, decisions / 10)
        XCTAssertLessThan(logged, decisions * 9 / 10)
    }

    /// Long values (hundreds of bytes, patterns at either end) beside short
    /// ones: the evaluator folds the fields a rule reads into one per-event
    /// buffer sized from them, and must decide as the reference does for
    /// both (an evaluator that folds into a fixed buffer with a fallback for
    /// larger events, tried in commit fbc5c05, needs exactly this test).
    func testLongValuesAgreeWithTheReference() throws {
        var rng = Rng(state: 20261203_22)
        var decisions = 0
        var logged = 0
        var long = 0
        for _ in 0..<150 {
            let xml = randomConfig(&rng)
            let (parsed, d) = SysmonConfig.check(bytes: Array(xml.utf8), path: "random.xml")
            guard let parsed, !d.hasErrors else { return XCTFail("\(d)\n\(xml)") }
            let set = RuleSet(parsed)
            let model = ReferenceModel(config: parsed)
            for _ in 0..<20 {
                var fields: [String: String] = [:]
                for f in Self.fields where Bool.random(using: &rng) {
                    // Up to 700 filler bytes between two random values: some
                    // events fit 512 bytes, some do not.
                    let filler = String(repeating: Self.words.randomElement(using: &rng)!, count: Int.random(in: 0...350, using: &rng))
                    fields[f] = randomValue(&rng) + String(filler.prefix(700)) + randomValue(&rng)
                }
                let e = event(fields)
                // The fields a rule reads, as the evaluator sizes them.
                let read = set.byKind[EventKind.processCreate.id]?.slotFields ?? []
                if read.reduce(0, { $0 + e.utf8Count($1) }) > 512 { long += 1 }
                let expected = model.decide(e)
                let got = decide(set, e)
                decisions += 1
                if expected.0 { logged += 1 }
                XCTAssertEqual(got.0, expected.0, "logged? \(fields)\n\(xml)")
                if got.0 && expected.0 {
                    XCTAssertEqual(got.1, expected.1 ?? "-", "RuleName for \(fields)\n\(xml)")
                }
                if got.0 != expected.0 || (got.0 && got.1 != (expected.1 ?? "-")) { return }
            }
        }
        XCTAssertGreaterThan(long, decisions / 4, "events past 512 bytes of fields read must be tried")
        XCTAssertLessThan(long, decisions * 3 / 4, "events within 512 bytes must be tried")
        XCTAssertGreaterThan(logged, decisions / 10)
        XCTAssertLessThan(logged, decisions * 9 / 10)
    }

    func testCorpusConfigurationsAgreeWithTheReference() throws {
        let dir = try corpusDirectory().appendingPathComponent("sysmon-configs")
        // The benchmark's events both ways: values held as bytes (as the live
        // sensor holds them) and as Strings.
        var samples = RuleBenchmark.processCreateSamples() + RuleBenchmark.processCreateSamples(heldAsBytes: false)
        XCTAssertTrue(samples[0].isHeldAsBytes(samples[0].kind.index(of: "CommandLine")!))
        // Variants that hit common Windows rules.
        for (image, cmd) in [("C:\\Windows\\System32\\whoami.exe", "whoami /all"),
                             ("C:\\Windows\\System32\\certutil.exe", "certutil -urlcache -split -f http://x/a.exe"),
                             ("/usr/bin/ssh", "ssh -o ConnectTimeout=5 -o BatchMode=yes -o StrictHostKeyChecking=no h curl"),
                             ("/bin/dd", "dd if=/dev/sda of=/tmp/x"), ("/usr/bin/crontab", "crontab -l")] {
            samples.append(event(["Image": image, "CommandLine": cmd, "ParentImage": "C:\\Windows\\explorer.exe", "User": "root"]))
        }
        for name in ["sysmon-modular-sysmonconfig.xml", "swiftonsecurity-sysmonconfig-export.xml", "mstic-linux-main.xml", "mstic-linux-collect-all.xml"] {
            let (config, _) = try SysmonConfig.load(path: dir.appendingPathComponent(name).path)
            let set = RuleSet(config)
            let model = ReferenceModel(config: config)
            var logged = 0
            for e in samples {
                let expected = model.decide(e)
                let got = decide(set, e)
                if got.0 { logged += 1 }
                XCTAssertEqual(got.0, expected.0, "\(name): \(e["CommandLine"] ?? "")")
                if got.0 && expected.0 { XCTAssertEqual(got.1, expected.1 ?? "-", "\(name): \(e["CommandLine"] ?? "")") }
            }
            XCTAssertGreaterThan(logged, 0, name)
        }
    }
}
