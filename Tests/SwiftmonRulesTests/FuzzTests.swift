import Foundation
import XCTest
@testable import SwiftmonRules

/// Hostile input never crashes the reader: random bytes and random XML-ish
/// token soup (names with prefixes, entities, character references, control
/// characters, non-ASCII) all end in diagnostics or a configuration.
final class FuzzTests: XCTestCase {
    static let tokens = [
        "<", ">", "</", "/>", "=", "\"", "'", " ", "\n", "\t", "a", "b:c", "xmlns:b=\"u\"", "xmlns=\"\"", ":", "&", ";",
        "&amp;", "&#0;", "&#x110000;", "&#65;", "&#xD800;", "&lt", "<!--", "-->", "<![CDATA[", "]]>", "<?", "?>", "<!",
        "é", "\u{1}", "\u{0}", "\u{FFFE}", "😀", "Sysmon", "schemaversion=\"4.90\"", "EventFiltering", "RuleGroup",
        "groupRelation=\"or\"", "ProcessCreate", "onmatch=\"include\"", "Rule", "Image", "condition=\"image\"",
        "condition=\"is any\"", "name=\"x\"", "bash;", "HashAlgorithms", "FieldSizes", "CommandLine:5", "<?e?>", "<?xml version=\"1.0\"?>", "<?pi data?>",
    ]

    func testRandomInputNeverCrashes() {
        var state = UInt64(ProcessInfo.processInfo.environment["SWIFTMON_FUZZ_SEED"] ?? "") ?? 0x5EED
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        var configs = 0
        for i in 0..<(Int(ProcessInfo.processInfo.environment["SWIFTMON_FUZZ_CASES"] ?? "") ?? 3000) {
            var bytes: [UInt8]
            if i % 5 == 0 {
                bytes = (0..<Int(next() % 400)).map { _ in UInt8(truncatingIfNeeded: next()) }
            } else {
                var text = i % 2 == 0 ? "<Sysmon schemaversion=\"4.90\"><EventFiltering><RuleGroup groupRelation=\"or\"><ProcessCreate onmatch=\"include\">" : ""
                for _ in 0..<Int(next() % 60) { text += Self.tokens[Int(next() % UInt64(Self.tokens.count))] }
                if i % 3 == 0 { text += "</ProcessCreate></RuleGroup></EventFiltering></Sysmon>" }
                bytes = Array(text.utf8)
            }
            if ProcessInfo.processInfo.environment["FUZZ_DUMP"] == "1" { try? Data(bytes).write(to: URL(fileURLWithPath: "/tmp/fuzzcase.bin")) }
            let (config, diagnostics) = SysmonConfig.check(bytes: bytes, path: "fuzz.xml")
            if let config, !diagnostics.hasErrors {
                configs += 1
                let set = RuleSet(config)
                var e = event(["Image": "/usr/bin/bash", "CommandLine": "bash -c x"])
                _ = set.evaluate(&e)
                _ = RuleDump.text(config)
            } else {
                XCTAssertTrue(diagnostics.hasErrors)
            }
        }
        XCTAssertGreaterThan(configs, 0)
    }
}
