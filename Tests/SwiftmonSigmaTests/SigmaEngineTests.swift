import SwiftmonCore
@testable import SwiftmonSigma
import XCTest

/// One test per detection feature of spec 2.1, each with a value that must match
/// and a near miss that must not.
final class SigmaEngineTests: XCTestCase {
    typealias F = SigmaFixture

    func testPlainValueIsWholeValueCaseInsensitive() {
        let d = "sel:\n    Image: /usr/bin/Base64\ncondition: sel"
        XCTAssertTrue(F.matches(d, ["Image": "/usr/bin/base64"]))
        XCTAssertTrue(F.matches(d, ["Image": "/USR/BIN/BASE64"]))
        XCTAssertFalse(F.matches(d, ["Image": "/usr/bin/base64x"]))
        XCTAssertFalse(F.matches(d, ["Image": "x/usr/bin/base64"]))
        XCTAssertFalse(F.matches(d, [:]), "absent field")
    }

    func testContainsStartsWithEndsWith() {
        XCTAssertTrue(F.matches("s:\n    CommandLine|contains: ' -d'\ncondition: s", ["CommandLine": "base64 -d x"]))
        XCTAssertFalse(F.matches("s:\n    CommandLine|contains: ' -d'\ncondition: s", ["CommandLine": "base64 -x d"]))
        XCTAssertTrue(F.matches("s:\n    Image|startswith: '/tmp/'\ncondition: s", ["Image": "/tmp/x"]))
        XCTAssertFalse(F.matches("s:\n    Image|startswith: '/tmp/'\ncondition: s", ["Image": "/var/tmp/x"]))
        XCTAssertTrue(F.matches("s:\n    Image|endswith: '/wget'\ncondition: s", ["Image": "/usr/bin/WGET"]))
        XCTAssertFalse(F.matches("s:\n    Image|endswith: '/wget'\ncondition: s", ["Image": "/usr/bin/wget2"]))
    }

    func testListsAreOrAndAllIsAnd() {
        let or = "s:\n    CommandLine|contains:\n        - 'aaa'\n        - 'bbb'\ncondition: s"
        XCTAssertTrue(F.matches(or, ["CommandLine": "x bbb"]))
        XCTAssertFalse(F.matches(or, ["CommandLine": "x ccc"]))
        let all = "s:\n    CommandLine|contains|all:\n        - 'aaa'\n        - 'bbb'\ncondition: s"
        XCTAssertTrue(F.matches(all, ["CommandLine": "bbb aaa"]))
        XCTAssertFalse(F.matches(all, ["CommandLine": "x bbb"]))
    }

    func testMapIsAndListOfMapsIsOr() {
        let map = "s:\n    Image|endswith: '/sh'\n    CommandLine|contains: 'curl'\ncondition: s"
        XCTAssertTrue(F.matches(map, ["Image": "/bin/sh", "CommandLine": "sh -c curl x"]))
        XCTAssertFalse(F.matches(map, ["Image": "/bin/sh", "CommandLine": "sh -c wget x"]))
        let maps = "s:\n    - Image|endswith: '/sh'\n    - CommandLine|contains: 'curl'\ncondition: s"
        XCTAssertTrue(F.matches(maps, ["Image": "/bin/bash", "CommandLine": "curl"]))
        XCTAssertTrue(F.matches(maps, ["Image": "/bin/sh", "CommandLine": "x"]))
        XCTAssertFalse(F.matches(maps, ["Image": "/bin/bash", "CommandLine": "x"]))
    }

    func testWildcardsAndEscapes() {
        let d = "s:\n    CommandLine: '*chmod ?777*'\ncondition: s"
        XCTAssertTrue(F.matches(d, ["CommandLine": "sudo chmod  777 /x"]))
        XCTAssertTrue(F.matches(d, ["CommandLine": "chmod é777"]), "? is one character, not one byte")
        XCTAssertFalse(F.matches(d, ["CommandLine": "chmod 777"]))
        let escaped = "s:\n    CommandLine: 'a\\*b\\?c\\\\'\ncondition: s"
        XCTAssertTrue(F.matches(escaped, ["CommandLine": "a*b?c\\"]))
        XCTAssertFalse(F.matches(escaped, ["CommandLine": "axb?c\\"]))
        let lone = "s:\n    Image: 'C:\\Windows\\cmd.exe'\ncondition: s"
        XCTAssertTrue(F.matches(lone, ["Image": "c:\\windows\\cmd.exe"]), "a backslash before a plain character is itself")
        let middle = "s:\n    Image|endswith: '/py*on3'\ncondition: s"
        XCTAssertTrue(F.matches(middle, ["Image": "/usr/bin/python3"]))
        XCTAssertFalse(F.matches(middle, ["Image": "/usr/bin/python3.11"]))
    }

    func testCased() {
        let d = "s:\n    CommandLine|contains|cased: ' -O '\ncondition: s"
        XCTAssertTrue(F.matches(d, ["CommandLine": "wget -O x"]))
        XCTAssertFalse(F.matches(d, ["CommandLine": "wget -o x"]))
    }

    func testNullAndEmpty() {
        let null = "s:\n    ParentCommandLine: null\ncondition: s"
        XCTAssertTrue(F.matches(null, ["Image": "/x"]))
        XCTAssertFalse(F.matches(null, ["ParentCommandLine": "bash"]))
        let empty = "s:\n    ParentCommandLine: ''\ncondition: s"
        XCTAssertTrue(F.matches(empty, ["ParentCommandLine": ""]))
        XCTAssertFalse(F.matches(empty, ["ParentCommandLine": "x"]))
        XCTAssertFalse(F.matches(empty, [:]), "absent is not the empty string")
    }

    func testKeywords() {
        let d = "keywords:\n    - 'mimikatz'\n    - 'lazagne'\ncondition: keywords"
        XCTAssertTrue(F.matches(d, ["CommandLine": "./LaZagne.py all"]))
        XCTAssertTrue(F.matches(d, ["CurrentDirectory": "/opt/mimikatz"]))
        XCTAssertFalse(F.matches(d, ["CommandLine": "ls"]))
        let all = "keywords:\n    '|all':\n        - 'nc'\n        - '-e'\ncondition: keywords"
        XCTAssertTrue(F.matches(all, ["CommandLine": "nc -e /bin/sh"]))
        XCTAssertFalse(F.matches(all, ["CommandLine": "nc host"]))
    }

    func testRegexAndFlags() {
        let d = "s:\n    CommandLine|re: '\\s-[FTd]\\s'\ncondition: s"
        XCTAssertTrue(F.matches(d, ["CommandLine": "curl -F x"]))
        XCTAssertFalse(F.matches(d, ["CommandLine": "curl -f x"]), "re is case-sensitive by default")
        let i = "s:\n    CommandLine|re|i: '^BASE64 +-D'\ncondition: s"
        XCTAssertTrue(F.matches(i, ["CommandLine": "base64  -d"]))
        let inline = "s:\n    CommandLine|re: '(?i)/lib/python3\\.([5-9]|[0-9]{2})/site-packages/'\ncondition: s"
        XCTAssertTrue(F.matches(inline, ["CommandLine": "/usr/LIB/python3.11/site-packages/x"]))
        XCTAssertFalse(F.matches(inline, ["CommandLine": "/usr/lib/python3.4/site-packages/x"]))
        let m = "s:\n    CommandLine|re|m: '^b$'\ncondition: s"
        XCTAssertTrue(F.matches(m, ["CommandLine": "a\nb\nc"]))
        let noM = "s:\n    CommandLine|re: '^b$'\ncondition: s"
        XCTAssertFalse(F.matches(noM, ["CommandLine": "a\nb\nc"]))
        let s = "s:\n    CommandLine|re|s: 'a.c'\ncondition: s"
        XCTAssertTrue(F.matches(s, ["CommandLine": "a\nc"]))
        XCTAssertFalse(F.matches(noM.replacingOccurrences(of: "^b$", with: "a.c"), ["CommandLine": "a\nc"]))
    }

    func testCIDR() {
        let d = "s:\n    DestinationIp|cidr:\n        - '10.0.0.0/8'\n        - 'fd00::/8'\ncondition: s"
        let set = F.ruleSet(F.processRule(d).replacingOccurrences(of: "process_creation", with: "network_connection"))
        let ev = SigmaEvaluator(set)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationIp": "10.1.2.3"])).count, 1)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationIp": "::ffff:10.1.2.3"])).count, 1)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationIp": "fd12::1"])).count, 1)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationIp": "11.0.0.1"])).count, 0)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationIp": "fe80::1"])).count, 0)
        XCTAssertNotNil(F.rejection("s:\n    Image|cidr: '10.0.0.0/33'\ncondition: s"))
    }

    func testNumericComparisons() {
        let set = F.ruleSet(F.processRule("s:\n    DestinationPort|gte: 1024\n    DestinationPort|lt: 4445\ncondition: s")
            .replacingOccurrences(of: "process_creation", with: "network_connection"))
        let ev = SigmaEvaluator(set)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationPort": "4444"])).count, 1)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationPort": "1024"])).count, 1)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationPort": "4445"])).count, 0)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationPort": "80"])).count, 0)
        XCTAssertEqual(ev.matches(F.event(.networkConnect, ["DestinationPort": "http"])).count, 0)
        XCTAssertTrue(F.matches("s:\n    ProcessId|gt: 100\ncondition: s", ["ProcessId": "101"]))
        XCTAssertFalse(F.matches("s:\n    ProcessId|lte: 100\ncondition: s", ["ProcessId": "101"]))
    }

    func testBase64Encodings() {
        // "cat /etc/shadow" in base64 at the three offsets.
        let d = "s:\n    CommandLine|base64offset|contains: '/etc/shadow'\ncondition: s"
        for prefix in ["", "x", "xy"] {
            let encoded = String(decoding: SigmaEncoding.base64(Array((prefix + "cat /etc/shadow now").utf8)), as: UTF8.self)
            XCTAssertTrue(F.matches(d, ["CommandLine": "echo \(encoded) | base64 -d"]), "offset \(prefix.count)")
        }
        XCTAssertFalse(F.matches(d, ["CommandLine": "echo " + String(decoding: SigmaEncoding.base64(Array("cat /etc/passwd".utf8)), as: UTF8.self)]))
        let plain = "s:\n    CommandLine|base64: 'id'\ncondition: s"
        XCTAssertTrue(F.matches(plain, ["CommandLine": "aWQ="]))
        XCTAssertEqual(SigmaEncoding.base64Offsets(Array("/etc/shadow".utf8)).map { String(decoding: $0, as: UTF8.self) },
                       ["L2V0Yy9zaGFkb3", "9ldGMvc2hhZG93", "vZXRjL3NoYWRvd"])
    }

    func testUTF16AndWide() {
        XCTAssertEqual(SigmaEncoding.utf16(Array("cmd".utf8), littleEndian: true), [0x63, 0, 0x6D, 0, 0x64, 0])
        XCTAssertEqual(SigmaEncoding.utf16(Array("cmd".utf8), littleEndian: false), [0, 0x63, 0, 0x6D, 0, 0x64])
        let wide = "s:\n    CommandLine|wide|base64offset|contains: 'ping'\ncondition: s"
        let encoded = String(decoding: SigmaEncoding.base64(SigmaEncoding.utf16(Array("powershell ping x".utf8), littleEndian: true)), as: UTF8.self)
        XCTAssertTrue(F.matches(wide, ["CommandLine": "powershell -enc \(encoded)"]))
        XCTAssertFalse(F.matches(wide, ["CommandLine": "powershell -enc " + String(decoding: SigmaEncoding.base64(Array("ping".utf8)), as: UTF8.self)]))
        XCTAssertTrue(F.matches("s:\n    CommandLine|utf16le|contains: 'a'\ncondition: s", ["CommandLine": "xa\u{0}y"]))
        XCTAssertTrue(F.matches("s:\n    CommandLine|utf16be|contains: 'a'\ncondition: s", ["CommandLine": "x\u{0}ay"]))
    }

    func testWindash() {
        let d = "s:\n    CommandLine|windash|contains: ' -enc '\ncondition: s"
        for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
            XCTAssertTrue(F.matches(d, ["CommandLine": "powershell \(dash)enc abc"]), dash)
        }
        XCTAssertFalse(F.matches(d, ["CommandLine": "powershell +enc abc"]))
    }

    func testExistsAndFieldRef() {
        XCTAssertTrue(F.matches("s:\n    ParentImage|exists: true\ncondition: s", ["ParentImage": "/bin/sh"]))
        XCTAssertFalse(F.matches("s:\n    ParentImage|exists: true\ncondition: s", [:]))
        XCTAssertTrue(F.matches("s:\n    ParentImage|exists: false\ncondition: s", [:]))
        let same = "s:\n    Image|fieldref: ParentImage\ncondition: s"
        XCTAssertTrue(F.matches(same, ["Image": "/bin/Bash", "ParentImage": "/bin/bash"]))
        XCTAssertFalse(F.matches(same, ["Image": "/bin/sh", "ParentImage": "/bin/bash"]))
        XCTAssertTrue(F.matches("s:\n    CommandLine|fieldref|contains: Image\ncondition: s",
                                ["Image": "/bin/ls", "CommandLine": "exec /bin/ls -l"]))
        XCTAssertNotNil(F.rejection("s:\n    Image|fieldref: NoSuchField\ncondition: s"))
    }

    func testExpandPlaceholders() {
        let compiler = SigmaCompiler(placeholders: ["admins": ["root", "ops"]])
        let set = F.ruleSet(F.processRule("s:\n    User|expand: '%admins%'\ncondition: s"), compiler: compiler)
        let ev = SigmaEvaluator(set)
        XCTAssertEqual(ev.matches(F.event(.processCreate, ["User": "ops"])).count, 1)
        XCTAssertEqual(ev.matches(F.event(.processCreate, ["User": "alice"])).count, 0)
        XCTAssertTrue(F.rejection("s:\n    User|expand: '%admins%'\ncondition: s")?.contains("%admins%") ?? false)
    }

    func testNeqAndTimeModifiers() {
        XCTAssertTrue(F.matches("s:\n    User|neq: root\ncondition: s", ["User": "alice"]))
        XCTAssertFalse(F.matches("s:\n    User|neq: root\ncondition: s", ["User": "ROOT"]))
        XCTAssertTrue(F.matches("s:\n    UtcTime|hour|gte: 22\ncondition: s", ["UtcTime": "2026-12-02 23:10:00.000"]))
        XCTAssertFalse(F.matches("s:\n    UtcTime|hour|gte: 22\ncondition: s", ["UtcTime": "2026-12-02 08:10:00.000"]))
        XCTAssertEqual(SigmaEvaluator.timePart(.week, of: "2026-01-01 00:00:00.000"), 1)
        XCTAssertEqual(SigmaEvaluator.timePart(.week, of: "2024-12-30 00:00:00.000"), 1)
    }

    func testConditions() {
        let base = "a:\n    Image|endswith: '/a'\nb:\n    Image|endswith: '/b'\nfilter_x:\n    CommandLine|contains: 'x'\n"
        func m(_ cond: String, _ image: String, _ cmd: String = "") -> Bool {
            F.matches(base + "condition: \(cond)", ["Image": image, "CommandLine": cmd])
        }
        XCTAssertTrue(m("a or b", "/b"))
        XCTAssertFalse(m("a and b", "/b"))
        XCTAssertTrue(m("(a or b) and not filter_x", "/a", "y"))
        XCTAssertFalse(m("(a or b) and not filter_x", "/a", "x"))
        XCTAssertTrue(m("not a and not b", "/c"))
        XCTAssertTrue(m("a or b and filter_x", "/a"), "and binds tighter than or")
        XCTAssertFalse(m("(a or b) and filter_x", "/a"))
        XCTAssertTrue(m("1 of filter_* or a", "/a"))
        XCTAssertTrue(m("1 of them", "/q", "x"))
        XCTAssertFalse(m("all of them", "/a", "x"))
        XCTAssertTrue(m("all of filter*", "/q", "x"))
        XCTAssertTrue(m("NOT a AND NOT b", "/c"), "keywords of the condition are case-insensitive")
        XCTAssertNotNil(F.rejection(base + "condition: a and"))
        XCTAssertNotNil(F.rejection(base + "condition: (a or b"))
        XCTAssertNotNil(F.rejection(base + "condition: c"))
        XCTAssertNotNil(F.rejection(base + "condition: 1 of z*"))
        XCTAssertTrue(F.rejection(base + "condition: a | count() > 5")?.contains("correlation") ?? false)
    }

    func testUnknownModifierAndFieldAreReportedWithLine() {
        let set = F.ruleSet(F.processRule("s:\n    Image|sometimes: x\ncondition: s"))
        XCTAssertEqual(set.rules.count, 0)
        let d = set.diagnostics.first
        XCTAssertEqual(d?.line, 11)
        XCTAssertTrue(d?.message.contains("unknown modifier 'sometimes'") ?? false, "\(set.diagnostics)")
        let field = F.ruleSet(F.processRule("s:\n    TargetObject: x\ncondition: s"))
        XCTAssertTrue(field.diagnostics.first?.message.contains("TargetObject is not in ProcessCreate") ?? false)
    }

    func testBrokenYAMLIsADiagnosticWithALine() {
        let set = F.ruleSet("title: x\nlogsource:\n  product: linux\n detection: [\n")
        XCTAssertEqual(set.rules.count, 0)
        XCTAssertTrue(set.diagnostics.first?.message.hasPrefix("broken YAML") ?? false, "\(set.diagnostics)")
        XCTAssertGreaterThan(set.diagnostics.first?.line ?? 0, 0)
    }

    func testLogsources() {
        func outcome(_ ls: String, products: Set<String> = ["linux"]) -> SigmaRuleReport.Outcome? {
            F.ruleSet("title: x\nlogsource:\n\(ls)\ndetection:\n    s:\n        Image: x\n    condition: s\n",
                      products: products).reports.first?.outcome
        }
        XCTAssertEqual(outcome("    product: linux\n    category: process_creation"), .loaded(eventID: 1))
        XCTAssertEqual(outcome("    product: linux\n    category: file_event"), .loaded(eventID: 11))
        XCTAssertEqual(outcome("    product: linux\n    category: image_load"), .loaded(eventID: 7))
        XCTAssertEqual(outcome("    product: linux\n    service: auditd"), .rejected)
        XCTAssertEqual(outcome("    product: linux\n    category: registry_set"), .rejected)
        XCTAssertEqual(outcome("    product: windows\n    category: process_creation"), .skipped("product windows is not served by this source"))
        XCTAssertEqual(outcome("    product: windows\n    category: process_creation", products: ["windows"]), .loaded(eventID: 1))
        XCTAssertEqual(outcome("    product: macos\n    category: process_creation"), .rejected)
    }

    func testFilterRules() {
        let yaml = F.processRule("s:\n    Image|endswith: '/curl'\ncondition: s", title: "curl") + """

        ---
        title: Filter admins
        logsource:
            product: linux
            category: process_creation
        filter:
            rules:
                - curl-id
            selection:
                User|startswith: 'adm_'
            condition: selection
        """
        let set = F.ruleSet(yaml)
        XCTAssertEqual(set.rules.count, 1)
        XCTAssertEqual(set.rules[0].filters, ["Filter admins"])
        let ev = SigmaEvaluator(set)
        XCTAssertEqual(ev.matches(F.event(.processCreate, ["Image": "/usr/bin/curl", "User": "bob"])).count, 1)
        XCTAssertEqual(ev.matches(F.event(.processCreate, ["Image": "/usr/bin/curl", "User": "adm_bob"])).count, 0)
    }

    func testGatingKeepsNegatedRulesEvaluated() {
        // A rule true when nothing is found must still be evaluated on every event.
        XCTAssertTrue(F.matches("s:\n    Image|endswith: '/a'\ncondition: not s", ["Image": "/b"]))
        let set = F.ruleSet(F.processRule("s:\n    Image|endswith: '/a'\ncondition: s", title: "one")
                            + "\n---\n" + F.processRule("s:\n    Image|endswith: '/a'\ncondition: not s", title: "two"))
        let ev = SigmaEvaluator(set)
        XCTAssertEqual(ev.matches(F.event(.processCreate, ["Image": "/x/a"])), [0])
        XCTAssertEqual(ev.matches(F.event(.processCreate, ["Image": "/x/b"])), [1])
    }
}
