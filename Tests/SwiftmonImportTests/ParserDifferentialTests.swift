import Foundation
import XCTest
import SwiftmonTestSupport
@testable import SwiftmonImport
import SwiftmonCore
import SwiftmonSinks

/// The rewritten line parser against the one it replaced (Reference/, frozen
/// at commit ceb6aae): over the fixtures, swiftmon's own XML and JSON of
/// every kind (golden values and hostile ones), a generated collector file,
/// hand-made edge cases, and tens of thousands of damaged copies of all of
/// them, both must say the same of every line — the same event field for
/// field (values, exact bytes, time), host and EventRecordID, or the same
/// malformed reason, or both "another message" — and count the same unknown
/// fields.
final class ParserDifferentialTests: XCTestCase {
    /// A canonical text of what a parser made of one line.
    static func describe(_ event: Event, host: String?, recordID: UInt64?) -> String {
        var s = "event \(event.kind.id) t=\(event.time.nanoseconds) host=\(host.map { "[\($0)]" } ?? "nil") rid=\(recordID.map(String.init) ?? "nil")"
        for (i, value) in event.values.enumerated() {
            s += "\n  \(event.kind.fields[i])=[\(value)]"
            if let raw = event.rawBytes[i] { s += " raw=\(raw)" }
        }
        s += "\n  rawKeys=\(event.rawBytes.keys.sorted())"
        return s
    }

    static func describe(_ parsed: ParsedLine) -> String {
        switch parsed {
        case .event(let e): return describe(e.event, host: e.host, recordID: e.recordID)
        case .other: return "other"
        case .malformed(let why): return "malformed: \(why)"
        }
    }

    static func describe(_ parsed: ReferenceParsedLine) -> String {
        switch parsed {
        case .event(let e): return describe(e.event, host: e.host, recordID: e.recordID)
        case .other: return "other"
        case .malformed(let why): return "malformed: \(why)"
        }
    }

    /// Parses every line with both parsers; returns how many differed (each one reported).
    @discardableResult
    func compare(_ lines: [[UInt8]], _ corpus: String, file: StaticString = #filePath, line: UInt = #line) -> Int {
        var new = SysmonLineParser()
        var old = ReferenceLineParser()
        var differences = 0
        var events = 0
        for (n, bytes) in lines.enumerated() {
            let (a, b) = bytes.withUnsafeBytes { raw in (Self.describe(new.parse(raw)), Self.describe(old.parse(raw))) }
            if a.hasPrefix("event") { events += 1 }
            if a != b {
                differences += 1
                if differences <= 5 {
                    XCTFail("\(corpus) line \(n + 1) (\(String(decoding: bytes.prefix(300), as: UTF8.self))):\nnew: \(a)\nold: \(b)", file: file, line: line)
                }
            }
        }
        XCTAssertEqual(differences, 0, "\(corpus): \(differences) of \(lines.count) lines differ", file: file, line: line)
        XCTAssertEqual(new.unknownFields, old.unknownFields, corpus, file: file, line: line)
        XCTAssertEqual(new.firstUnknownField, old.firstUnknownField, corpus, file: file, line: line)
        return events
    }

    static func lines(of data: [UInt8]) -> [[UInt8]] {
        data.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    }

    var fixtureLines: [[UInt8]] {
        get throws {
            Self.lines(of: Array(try Data(contentsOf: SysmonLineParserTests.fixtures.appendingPathComponent("sysmon-for-linux.log"))))
        }
    }

    /// swiftmon's own XML of every kind, as the sink tests pin it.
    var goldenXML: [[UInt8]] {
        get throws {
            let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("SwiftmonSinksTests/Golden/xml")
            let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".xml") }.sorted()
            XCTAssertGreaterThan(names.count, 30)
            return try names.flatMap { Self.lines(of: Array(try Data(contentsOf: folder.appendingPathComponent($0)))) }
                .filter { !$0.isEmpty }
        }
    }

    /// Events of every kind with hostile values: markup, entities, quotes,
    /// control characters, bytes that are not UTF-8, non-ASCII text, a long value.
    static func hostileEvents(long: Bool = true) -> [Event] {
        let values: [[UInt8]] = [
            Array("a <b> & \"c\" 'd' ]]> &amp; &#65;".utf8),
            Array("tab\tcr\rlf\nnul".utf8) + [0x00, 0x01, 0x7F],
            [0x2F, 0x74, 0x6D, 0x70, 0x2F, 0xFF, 0xFE, 0xC3, 0x28, 0x5C, 0x78, 0x41],
            Array("héllo wörld ✓ 😀 \u{FEFF}\u{FFFE}".utf8),
            long ? Array(String(repeating: "x/", count: 3000).utf8) : Array("x/x/x/".utf8),
            [],
            Array("  padded  ".utf8),
        ]
        var events: [Event] = []
        var k = 0
        for kind in EventKind.all {
            var event = Event(kind, time: EventTime(nanosecondsSinceEpoch: 1_706_745_599_123_456_789 + Int64(k)))
            for i in kind.fields.indices where i != kind.utcTimeIndex {
                event.set(i, bytes: values[(i + k) % values.count])
            }
            events.append(event)
            k += 1
        }
        return events
    }

    func testSameResultsOnFixturesGoldenAndGeneratedLines() throws {
        let fixture = try fixtureLines
        XCTAssertEqual(compare(fixture, "fixture"), 8)
        let golden = try goldenXML
        XCTAssertEqual(compare(golden, "golden XML"), golden.count)
        let prefixes = ["Jan 31 23:59:59 alpha sysmon: ", "<13>Jan  1 00:00:00 beta sysmon[1]: ",
                        "<165>1 2024-01-31T23:59:59.123Z gamma swiftmon 42 - - ", "2024-01-31T23:59:59.123456+00:00 epsilon sysmon[9]: ",
                        "tag: ", "not a prefix "]
        compare(prefixes.flatMap { p in golden.map { Array(p.utf8) + $0 + [0x0D] } }, "golden XML after syslog prefixes")

        // swiftmon's own outputs of the golden events and of hostile ones.
        var reference = ReferenceLineParser()
        var events = golden.compactMap { line -> Event? in
            guard case .event(let e) = line.withUnsafeBytes({ reference.parse($0) }) else { return nil }
            return e.event
        }
        events += Self.hostileEvents()
        let json = events.map { JSONLinesSink.render($0) }
        // Kinds without UtcTime have no time in JSON: those lines are
        // malformed for both parsers (a limit of the JSON lines format).
        XCTAssertEqual(compare(json, "JSON lines"), events.filter { $0.kind.utcTimeIndex != nil }.count)
        compare(json.map { Array("Jan 31 23:59:59 jhost swiftmon: ".utf8) + $0 }, "JSON lines after a syslog prefix")
        let renderer = SysmonXMLRenderer(header: SysmonXMLHeader(computer: "héte-01 "))
        let xml = events.enumerated().map { Array(renderer.render($1, recordID: UInt64($0)).utf8) }
        XCTAssertEqual(compare(xml, "swiftmon XML"), events.count)

        // The benchmark's collector file.
        let directory = NSTemporaryDirectory() + "swiftmon-diff-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ImportBenchmark.writeCollectorFile(path: directory + "/c.log", events: 2_000)
        let generated = Self.lines(of: Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/c.log"))))
        XCTAssertEqual(compare(generated, "generated collector file"), 2_000)
    }

    func testSameResultsOnEdgeCases() {
        let head = "<Event><System><EventID>5</EventID>"
        let data = "</System><EventData><Data Name=\"UtcTime\">2024-01-31 23:59:59.123</Data><Data Name=\"Image\">"
        let tail = "</Data></EventData></Event>"
        var lines: [String] = []
        // EventID and EventRecordID text: signs, spaces, CR LF (one Character), references, non-ASCII, overflow.
        for id in ["5", " 5 ", "+5", "-5", "-0", "05", "\t5\r", "&#53;", "\r\n5", "5\r\n", " \u{301}5", "٥", "", "99999999999999999999", "5 5", "<![CDATA[5]]>", "5<!--c-->"] {
            lines.append("<Event><System><EventID>\(id)</EventID></System><EventData><Data Name=\"UtcTime\">2024-01-31 23:59:59.123</Data></EventData></Event>")
        }
        for rid in ["7", "+7", "-0", "-7", " 7\t", "18446744073709551615", "18446744073709551616", "x", "&#55;", "\r\n7"] {
            lines.append(head + "<EventRecordID>\(rid)</EventRecordID>" + data + "x" + tail)
        }
        for computer in ["", " ", "h", " h ", "h\u{301}", " \u{301}h", "&amp;h", "\r\nh", "h\r\n", "<![CDATA[ c ]]>", "very-long-host-name.example.corp.internal"] {
            lines.append("Jan 31 23:59:59 prefixhost sysmon: " + head + "<Computer>\(computer)</Computer>" + data + "x" + tail)
        }
        // References: good, unknown, unterminated, out of range, signed, too long.
        for value in ["&amp;&lt;&gt;&quot;&apos;", "&#65;&#x41;&#X41;&#x+41;&#+65;&#-65;&#-0;&#0;&#x0;", "&#xD800;&#x110000;&#1114111;&#99999999;&#123456789;",
                      "&bogus; &amp &#; &#x; &#xZZ; &;", "a&amp;&amp;&amp;b", "&#x1F600;&#128512;", "&#x00000041;&#x000000041;",
                      "x&", "&&amp;", "&#12345678901234;"] {
            lines.append(head + data + value + tail)
        }
        // Tags: self-closing, attributes in other orders and quotes, comments, CDATA, PIs, text between.
        lines += [
            head + "</System><EventData><Data Name='UtcTime'>2024-01-31 23:59:59.123</Data><Data  Name = \"Image\" >i</Data ></EventData></Event>",
            head + "</System><EventData><Data x=\"1\" Name=\"UtcTime\">2024-01-31 23:59:59.123</Data><Data Name=\"Image\"/></EventData></Event>",
            head + "</System><EventData><Data Name=\"Image\" Name=\"User\">i</Data><Data Name=\"UtcTime\">2024-01-31 23:59:59.123</Data></EventData></Event>",
            head + "<TimeCreated SystemTime=\"2024-01-31T23:59:59.123456789Z\"/></System><EventData><Data Name=\"Image\">i</Data></EventData></Event>",
            head + "<TimeCreated SystemTime=\"2024-01-31T23:59:59.123&#52;56789Z\"/>" + data + "i" + tail,
            head + "<TimeCreated SystemTime='2024-01-31T23:59:59.999Z'></TimeCreated>" + data + "i" + tail,
            head + data + "<![CDATA[<x>&amp;]]>y<!-- c -->z" + tail,
            head + data + "a</Data b>" + "</EventData></Event>",
            head + data + "a</Dat>" + "</EventData></Event>",
            head + data + "a<b>c</b></Data></EventData></Event>",
            head + data + "a" + "</Data></EventData>",
            head + data + "a</Data" ,
            head + data + "a",
            head + "</System><EventData><Data>x</Data></EventData></Event>",
            head + "</System><EventData><Data Name=>x</Data></EventData></Event>",
            head + "</System><EventData><Data Name=x>x</Data></EventData></Event>",
            head + "</System><EventData><Data Name=\"x>x</Data></EventData></Event>",
            head + "</System><EventData><Data Name=\"a<b\">x</Data></EventData></Event>",
            head + "</System><EventData><Data Name=\"UtcTime\" <x>x</Data></EventData></Event>",
            head + "</System><EventData><Data Name=\"UtcTime\">2024-01-31 23:59:59.123</Data><Data Name=\"NoSuch\">1</Data><Data Name=\"Other\"/></EventData></Event>",
            "<?xml version=\"1.0\"?><!DOCTYPE x><Event><?pi x?>" + String(head.dropFirst(7)) + data + "v" + tail,
            "<Event/>", "<Event>", "<Other></Other>", "<", "<Event", "<Event><", "<Event></", "<Event><!-- x", "<Event><?x", "<Event><!x",
            "<Event><System><EventID>1</EventID></System></Event>",
            "<Event><System><EventID>1</EventID><TimeCreated SystemTime=\"2024-01-31T23:59:59.5Z\"/></System></Event>",
            "<Event><System><EventID>0</EventID></System></Event>", "<Event><System><EventID>65536</EventID></System></Event>",
            "random words <Event>", "<13> <Event>", "Jan 31 23:59:59 h t: {\"EventID\":5}", "Jan 31 23:59:59 h t: hello",
            "\t  \r", "", "{", "{}", "{\"EventID\":5,\"UtcTime\":\"2024-01-31 23:59:59.123\"}",
            "{\"EventID\":\"5\",\"UtcTime\":\"2024-01-31 23:59:59.123\",\"Computer\":\"\",\"Image\":null,\"ProcessId\":12,\"User\":true}",
            "{\"EventID\":+5,\"UtcTime\":\"2024-01-31 23:59:59.123\"}", "{\"EventID\":5.0}", "{\"EventID\":-0,\"UtcTime\":\"x\"}",
            "{\"EventID\":5,\"UtcTime\":\"2024-01-31 23:59:59.123\",\"Host\":\"h1\",\"Computer\":\"h2\",\"Image\":\"\\u00e9\\ud83d\\ude00\\udcff\\n\\t\\\\\\/\\\"\"}",
            "{\"Event\\u0049D\":5,\"Utc\\u0054ime\":\"2024-01-31 23:59:59.123\",\"Imag\\u0065\":\"i\"}",
            "{\"EventID\":5,\"Image\":\"\\ud800\"}", "{\"EventID\":5,\"Image\":\"\\ud800\\u0041\"}", "{\"EventID\":5,\"Image\":\"\\x\"}",
            "{\"EventID\":5,\"Image\":\"a\tb\"}", "{\"EventID\":5,\"Image\":\"a\\", "{\"EventID\":5,\"Image\":\"\\u12\"}",
            "{\"EventID\":5 \"Image\":\"a\"}", "{\"EventID\":5,\"Image\":[1]}", "{\"EventID\":5,\"Image\":nul}",
            "{\"EventID\":5,\"UtcTime\":\"2024-01-31 23:59:59.123\",\"Image\":\"a\"} ", "{\"EventID\":5} x",
        ]
        var bytes = lines.map { Array($0.utf8) }
        // Bytes that are not UTF-8 in every place.
        bytes.append(Array((head + data).utf8) + [0xFF, 0x41, 0xC3] + Array(tail.utf8))
        bytes.append(Array(head.utf8) + Array("<Computer>".utf8) + [0xFF, 0x68] + Array("</Computer>".utf8) + Array((data + "i" + tail).utf8))
        bytes.append(Array("<Event><System><EventID>5</EventID></System><EventData><Data Name=\"".utf8) + [0xFF] + Array("\">x</Data></EventData></Event>".utf8))
        bytes.append(Array("{\"EventID\":5,\"UtcTime\":\"2024-01-31 23:59:59.123\",\"Image\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8))
        bytes.append(Array("{\"EventID\":5,\"".utf8) + [0xFF] + Array("\":\"x\"}".utf8))
        compare(bytes, "edge cases")
    }

    /// Seeded damage (so a failure reproduces) to every corpus: truncation,
    /// flipped bytes, and inserted fragments of markup, references and escapes.
    func testSameResultsOnDamagedLines() throws {
        var golden = try goldenXML
        golden += try fixtureLines
        golden += Self.hostileEvents(long: false).map { JSONLinesSink.render($0) }
        let renderer = SysmonXMLRenderer(header: SysmonXMLHeader(computer: "h"))
        golden += Self.hostileEvents(long: false).enumerated().map { Array(renderer.render($1, recordID: UInt64($0)).utf8) }
        let fragments: [[UInt8]] = ["&#x41;", "&amp", "&", "<", ">", "\"", "'", "]]>", "<![CDATA[", "<!--", "-->", "\r\n", "é", "\\u00e9",
                                    "\\udcff", "\\", "+", "-", "</Data>", "<Data Name=\"Image\">", "/>", " ", "=", "{", "}", ",", ":",
                                    "<EventID>1</EventID>", "<Computer> x </Computer>", "&#0;", "&#xD800;"].map { Array($0.utf8) } + [[0xFF], [0xC3], [0x00]]
        var random = SplitMix64(seed: 0x5EED_1234)
        var lines: [[UInt8]] = []
        for round in 0..<6_000 {
            var line = golden[round % golden.count]
            if line.isEmpty { continue }
            switch round % 5 {
            case 0: line = Array(line.prefix(Int(random.next() % UInt64(line.count + 1))))
            case 1: for _ in 0..<3 { line[Int(random.next() % UInt64(line.count))] ^= UInt8(truncatingIfNeeded: random.next() | 1) }
            case 2, 3:
                for _ in 0..<(1 + round % 3) {
                    let fragment = fragments[Int(random.next() % UInt64(fragments.count))]
                    line.insert(contentsOf: fragment, at: Int(random.next() % UInt64(line.count + 1)))
                }
            default:
                let at = Int(random.next() % UInt64(line.count))
                line.removeSubrange(at..<min(line.count, at + 1 + Int(random.next() % 16)))
            }
            lines.append(line)
        }
        compare(lines, "damaged lines")
    }
}

