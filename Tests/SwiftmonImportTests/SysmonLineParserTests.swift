import Foundation
import XCTest
@testable import SwiftmonImport
import SwiftmonCore
import SwiftmonTestSupport

/// The line parser on Sysmon for Linux's exact layout (Fixtures/sysmon-for-linux.log,
/// written by make-sysmon-for-linux.py: field order per EVENTS.md, CRLF, each
/// syslog prefix form), on swiftmon's JSON, and on hostile input.
final class SysmonLineParserTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func parse(_ line: String) -> ParsedLine {
        var parser = SysmonLineParser()
        var bytes = Array(line.utf8)
        return bytes.withUnsafeMutableBytes { parser.parse(UnsafeRawBufferPointer($0)) }
    }

    func event(_ line: String, file: StaticString = #filePath, lineNumber: UInt = #line) throws -> ImportedEvent {
        switch parse(line) {
        case .event(let e): return e
        case .other: XCTFail("parsed as another message", file: file, line: lineNumber)
        case .malformed(let why): XCTFail("malformed: \(why)", file: file, line: lineNumber)
        }
        throw NotAnEvent()
    }

    /// Ends a test whose line did not parse as an event (already failed above).
    struct NotAnEvent: Error {}

    func fixtureLines() throws -> [String] {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("sysmon-for-linux.log"))
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\r\n"), "the fixture has CRLF line ends")
        // By bytes: Swift's String takes CR LF as one character.
        return text.utf8.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
    }

    func testSysmonForLinuxFixtureLineByLine() throws {
        let lines = try fixtureLines()
        XCTAssertEqual(lines.count, 10)
        guard lines.count == 10 else { return }
        // 1: RFC 3164, entity-escaped command line with character references.
        let create = try event(lines[0])
        XCTAssertEqual(create.host, "web-01")
        XCTAssertEqual(create.event.kind.id, 1)
        XCTAssertEqual(create.event["CommandLine"], "sh -c \"echo a && cat </etc/passwd> /tmp/x\"\tA")
        XCTAssertEqual(create.event["ProcessGuid"], "{ef0c1d6c-96e0-6169-6d3b-c3c9f2550000}")
        XCTAssertEqual(create.event["ParentImage"], "/usr/bin/bash")
        XCTAssertEqual(create.event["ParentUser"], "user")
        XCTAssertEqual(create.event["UtcTime"], "2021-10-15 14:59:28.168")
        XCTAssertEqual(create.event["Architecture"], "-", "swiftmon's extra fields are absent in Sysmon for Linux's events")
        // UtcTime is the event's time (TimeCreated is a millisecond later: the moment Sysmon formatted it).
        XCTAssertEqual(create.event.time.sysmonText, "2021-10-15 14:59:28.168")
        // 2: RFC 5424 with structured data holding "]".
        let connect = try event(lines[1])
        XCTAssertEqual(connect.event.kind.id, 3)
        XCTAssertEqual(connect.event["DestinationIp"], "93.184.216.34")
        XCTAssertEqual(connect.event["DestinationPortName"], "https")
        // TimeCreated in the same millisecond as UtcTime refines the time.
        XCTAssertEqual(connect.event.time.nanoseconds % 1_000_000_000, 0)
        // 3: rsyslog's high-precision format.
        let file = try event(lines[2])
        XCTAssertEqual(file.event.kind.id, 11)
        XCTAssertEqual(file.event["TargetFilename"], "/tmp/x")
        // 4: <pri> + RFC 3164.
        XCTAssertEqual(try event(lines[3]).event.kind.id, 5)
        // 5: another program's message.
        guard case .other = parse(lines[4]) else { return XCTFail("CRON's line is not an event") }
        // 6: bare XML of another host.
        let delete = try event(lines[5])
        XCTAssertEqual(delete.host, "db-02")
        XCTAssertEqual(delete.event["TargetFilename"], "/var/lib/app/old.db")
        XCTAssertEqual(delete.event["IsExecutable"], "false")
        // 7: cut short.
        guard case .malformed(let why) = parse(lines[6]) else { return XCTFail("a cut document must be malformed") }
        XCTAssertFalse(why.isEmpty)
        // 8, 9: events without RuleName.
        XCTAssertEqual(try event(lines[7]).event["State"], "Started")
        XCTAssertEqual(try event(lines[8]).event["ConfigurationFileHash"], "SHA256=AB")
    }

    func testSyslogPrefixForms() throws {
        let doc = "<Event><System><EventID>5</EventID><Computer></Computer></System><EventData><Data Name=\"UtcTime\">2024-01-31 23:59:59.123</Data><Data Name=\"ProcessId\">7</Data></EventData></Event>"
        let cases: [(String, String?)] = [
            ("Jan 31 23:59:59 alpha sysmon: ", "alpha"),
            ("<13>Jan  1 00:00:00 beta sysmon[1]: ", "beta"),
            ("<165>1 2024-01-31T23:59:59.123Z gamma swiftmon 42 - - ", "gamma"),
            ("<165>1 2024-01-31T23:59:59.123Z delta swiftmon-ext 42 ID1 [x@1 a=\"b\"][y@2] ", "delta"),
            ("2024-01-31T23:59:59.123456+00:00 epsilon sysmon[9]: ", "epsilon"),
            ("sysmon: ", nil),
            ("", nil),
        ]
        for (prefix, host) in cases {
            let e = try event(prefix + doc)
            XCTAssertEqual(e.host, host, prefix)
            XCTAssertEqual(e.event["ProcessId"], "7")
            XCTAssertEqual(e.event.time.sysmonText, "2024-01-31 23:59:59.123")
        }
        guard case .malformed = parse("random words <Event>") else { return XCTFail("a prefix that is no syslog prefix") }
    }

    func testXMLVariants() throws {
        // Windows' rendering: namespace, single quotes, whitespace, self-closing empty Data, CDATA, comment.
        let line = """
            <?xml version="1.0"?><Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'> <System>\
            <Provider Name='Microsoft-Windows-Sysmon'/><EventID Qualifiers=''>1</EventID>\
            <TimeCreated SystemTime='2024-02-29T12:00:00.5Z'/><Computer> WS1.corp </Computer></System>\
            <EventData><Data Name='UtcTime'>2024-02-29 12:00:00.500</Data><Data Name='Image'><![CDATA[C:\\a<b>.exe]]></Data>\
            <!-- note --><Data Name='CommandLine'/><Data Name='NoSuchField'>x</Data></EventData></Event>
            """
        var parser = SysmonLineParser()
        var bytes = Array(line.utf8)
        let parsed = bytes.withUnsafeMutableBytes { parser.parse(UnsafeRawBufferPointer($0)) }
        guard case .event(let e) = parsed else { return XCTFail("\(parsed)") }
        XCTAssertEqual(e.host, "WS1.corp")
        XCTAssertEqual(e.event["Image"], "C:\\a<b>.exe")
        XCTAssertEqual(e.event["CommandLine"], "")
        XCTAssertEqual(e.event.time.nanoseconds % 1_000_000_000, 500_000_000)
        XCTAssertEqual(parser.unknownFields, 1)
        XCTAssertEqual(parser.firstUnknownField, "NoSuchField")
        // An unknown entity is kept as written rather than lost.
        XCTAssertEqual(try event("<Event><System><EventID>5</EventID></System><EventData><Data Name=\"UtcTime\">2024-01-01 00:00:00.000</Data><Data Name=\"Image\">a &nbsp; &#0; b</Data></EventData></Event>").event["Image"], "a &nbsp; &#0; b")
    }

    func testSwiftmonJSONLines() throws {
        // As JSONLinesSink writes it: surrogate escapes for bytes that are not UTF-8.
        let line = #"{"EventID":11,"EventName":"FileCreate","RuleName":"-","UtcTime":"2024-01-31 23:59:59.123","ProcessGuid":"{1}","ProcessId":"5","Image":"/bin/touch","TargetFilename":"/tmp/a\udcff\n\"b\u00e9\ud83d\ude00","CreationUtcTime":"-","User":"root"}"#
        let e = try event(line)
        XCTAssertNil(e.host)
        XCTAssertEqual(e.event.kind.id, 11)
        XCTAssertEqual(e.event.rawBytes[e.event.kind.index(of: "TargetFilename")!],
                       Array("/tmp/a".utf8) + [0xFF] + Array("\n\"bé😀".utf8))
        XCTAssertEqual(try event("Jan 31 23:59:59 host9 swiftmon: " + line).host, "host9")
        for bad in [#"{"EventID":11"#, #"{"EventID":"x"}"#, #"{"EventID":1,"Image":{"a":1}}"#, #"{"EventID":1} trailing"#,
                    #"{"EventID":99999,"UtcTime":"2024-01-31 23:59:59.123"}"#, #"{"UtcTime":"2024-01-31 23:59:59.123"}"#] {
            guard case .malformed = parse(bad) else { return XCTFail("accepted \(bad)") }
        }
    }

    /// A generic Windows event (211) as JSONLinesSink writes it: the record's
    /// own EventID is the WindowsEventID field, its Computer both a field and
    /// the host. Lines from swiftmon before the rename carried that EventID as
    /// a second "EventID" key: read as the field, not as the object's EventID.
    func testWindowsEventJSONKeepsItsEventIDAndComputer() throws {
        let fields = #""RuleName":"-","UtcTime":"2021-04-21 09:27:51.181","ProviderName":"Microsoft-Windows-Eventlog","ProviderGuid":"{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}","#
        let rest = #""Version":"0","Level":"4","Task":"104","Opcode":"0","Keywords":"0x8000000000000000","EventRecordID":"471479","Channel":"System","Computer":"jump01.offsec.lan","ProcessID":"492","ThreadID":"12164","UserID":"S-1","EventData":"{\"a\":\"b\"}"}"#
        let current = #"{"EventID":211,"EventName":"WindowsEvent","# + fields + #""WindowsEventID":"104","# + rest
        let before = #"{"EventID":211,"EventName":"WindowsEvent","# + fields + #""EventID":"104","# + rest
        for line in [current, before] {
            let e = try event(line)
            XCTAssertEqual(e.event.kind, .windowsEvent, line)
            XCTAssertEqual(e.event["WindowsEventID"], "104", line)
            XCTAssertEqual(e.event["Computer"], "jump01.offsec.lan", line)
            XCTAssertEqual(e.event["EventData"], #"{"a":"b"}"#, line)
            XCTAssertEqual(e.host, "jump01.offsec.lan", line)
        }
        XCTAssertEqual(try event(#"{"Host":"h2","# + current.dropFirst()).host, "h2")
        // A second EventID anywhere else is an error, not a silent choice of one.
        guard case .malformed(let why) = parse(#"{"EventID":1,"EventID":"5","UtcTime":"2024-01-31 23:59:59.123"}"#) else {
            return XCTFail("accepted two EventIDs")
        }
        XCTAssertEqual(why, "EventID appears twice")
        // Computer is the host of any kind, but a field only of the kinds that have one.
        var parser = SysmonLineParser()
        let line = Array(#"{"EventID":5,"UtcTime":"2024-01-31 23:59:59.123","Computer":"h3","Image":"/bin/true"}"#.utf8)
        guard case .event(let terminate) = line.withUnsafeBytes({ parser.parse($0) }) else { return XCTFail("not parsed") }
        XCTAssertEqual(terminate.host, "h3")
        XCTAssertEqual(parser.unknownFields, 0)
    }

    /// Random damage to real lines — truncation, bit flips, inserted bytes,
    /// binary garbage — never crashes; every line parses or is malformed.
    func testHostileInputNeverCrashes() throws {
        let lines = try fixtureLines().map { Array($0.utf8) }
        var generator = SystemRandomNumberGenerator()
        var parser = SysmonLineParser()
        for round in 0..<20_000 {
            var bytes = lines[round % lines.count]
            switch round % 4 {
            case 0: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
            case 1: for _ in 0..<4 { let i = Int.random(in: 0..<bytes.count, using: &generator); bytes[i] ^= UInt8.random(in: 1...255, using: &generator) }
            case 2: bytes.insert(contentsOf: [0x26, 0x23, 0x78, 0x3C, 0x22, 0x00], at: Int.random(in: 0...bytes.count, using: &generator))
            default: bytes = (0..<Int.random(in: 0...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
            _ = bytes.withUnsafeBytes { parser.parse($0) }
        }
        // A huge value and deep nesting are bounded by the line, not by recursion.
        let huge = "<Event><System><EventID>1</EventID></System><EventData><Data Name=\"UtcTime\">2024-01-01 00:00:00.000</Data><Data Name=\"CommandLine\">" + String(repeating: "&amp;", count: 200_000) + "</Data></EventData></Event>"
        XCTAssertEqual(try event(huge).event["CommandLine"]?.count, 200_000)
        let deep = "<Event>" + String(repeating: "<a>", count: 100_000) + "</Event>"
        guard case .malformed = parse(deep) else { return XCTFail("deep nesting without EventID") }
    }

    /// Each kind of damage the byte parser must name rather than crash on or
    /// read past: a truncated element, bad references, bytes that are not
    /// UTF-8, and a line at the importer's 1 MiB limit.
    func testHostileLinesGiveClearReasonsOrExactValues() throws {
        let head = "<Event><System><EventID>1</EventID><Computer>h</Computer></System><EventData><Data Name=\"UtcTime\">2024-01-31 23:59:59.123</Data>"
        // Truncated in an element, a tag, an attribute, a CDATA section, a comment.
        for (cut, reason) in [("<Data Name=\"Image\">/bin/x</Da", "</Da> closes <Data>"),
                              ("<Data Name=\"Image\">/bin/x</Data", "the line ends inside an end tag"),
                              ("<Data Name=\"Image\">/bin/x", "the line ends inside <Data>"),
                              ("<Data Name=\"Ima", "the line ends inside a tag"),
                              ("<Data Name=\"Image\"><![CDATA[x", "the line ends inside a CDATA section"),
                              ("<!-- x", "the line ends inside a comment"),
                              ("<Data Name=\"Image\">x</Data></EventData>", "the <Event> document is cut short (no </Event>)")] {
            guard case .malformed(let why) = parse(head + cut) else { return XCTFail("accepted \(cut)") }
            XCTAssertEqual(why, reason, cut)
        }
        // Bad references are kept as written; good ones decoded.
        let bad = try event(head + "<Data Name=\"Image\">&bogus; &#xD800; &#99999999; &#0; &amp &#x41;&lt;</Data></EventData></Event>")
        XCTAssertEqual(bad.event["Image"], "&bogus; &#xD800; &#99999999; &#0; &amp A<")
        // Bytes that are not UTF-8: the exact bytes kept, a readable escaped text beside them.
        var bytes = Array((head + "<Data Name=\"Image\">/tmp/").utf8) + [0xFF, 0xC3] + Array("</Data></EventData></Event>".utf8)
        var parser = SysmonLineParser()
        guard case .event(let raw) = bytes.withUnsafeMutableBytes({ parser.parse(UnsafeRawBufferPointer($0)) }) else { return XCTFail("not an event") }
        let image = try XCTUnwrap(raw.event.kind.index(of: "Image"))
        XCTAssertEqual(raw.event.rawBytes[image], Array("/tmp/".utf8) + [0xFF, 0xC3])
        XCTAssertEqual(raw.event["Image"], "/tmp/\\xff\\xc3")
        // A Computer that is not UTF-8 is still a host (repaired), not a crash.
        bytes = Array("<Event><System><EventID>5</EventID><Computer>".utf8) + [0xFF] + Array("h</Computer></System><EventData><Data Name=\"UtcTime\">2024-01-31 23:59:59.123</Data></EventData></Event>".utf8)
        guard case .event(let repaired) = bytes.withUnsafeMutableBytes({ parser.parse(UnsafeRawBufferPointer($0)) }) else { return XCTFail("not an event") }
        XCTAssertEqual(repaired.host, "\u{FFFD}h")
        // A line of nearly 1 MiB (the importer's limit) with one huge value, escaped and not.
        let fill = SysmonLineParser.defaultMaxLineBytes - head.utf8.count - 200
        let plain = try event(head + "<Data Name=\"CommandLine\">" + String(repeating: "a", count: fill) + "</Data></EventData></Event>")
        XCTAssertEqual(plain.event["CommandLine"]?.utf8.count, fill)
        let escaped = try event(head + "<Data Name=\"CommandLine\">" + String(repeating: "&lt;", count: fill / 4) + "</Data></EventData></Event>")
        XCTAssertEqual(escaped.event["CommandLine"], String(repeating: "<", count: fill / 4))
    }

    func testLineSplitterCRLFAndLongLines() {
        var splitter = LineSplitter(maxLineBytes: 10)
        var seen: [String] = []
        let feed = { (text: String, s: inout LineSplitter) in
            var bytes = Array(text.utf8)
            bytes.withUnsafeMutableBytes { raw in
                s.feed(UnsafeRawBufferPointer(raw)) { line in
                    switch line {
                    case .text(let b, let n): seen.append("\(n):\(String(decoding: b, as: UTF8.self))")
                    case .tooLong(let count, let n): seen.append("\(n):long \(count)")
                    }
                }
            }
        }
        feed("ab\r\ncd", &splitter)
        feed("ef\n0123456789ABC", &splitter)
        feed("DEF\nxyz", &splitter)
        splitter.finish { line in if case .text(let b, let n) = line { seen.append("\(n):\(String(decoding: b, as: UTF8.self))") } }
        XCTAssertEqual(seen, ["1:ab\r", "2:cdef", "3:long 16", "4:xyz"])
    }

    func testFormatByFirstBytes() throws {
        XCTAssertEqual(EventImporter.format(ofHead: Array("ElfFile".utf8) + [0]), .evtx)
        XCTAssertEqual(EventImporter.format(ofHead: [0, 0, 1, 0, 0x20, 2, 0, 0]), .etl)
        XCTAssertEqual(EventImporter.format(ofHead: Array("<Event><".utf8)), .lines)
        XCTAssertEqual(EventImporter.format(ofHead: Array("Oct 15 1".utf8)), .lines)
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/corpus/etl")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: corpus.path) else {
            try TestRequirement.unavailable("corpus not found at \(corpus.path)")
        }
        for name in names where name.hasSuffix(".etl") {
            let head = try FileHandle(forReadingFrom: corpus.appendingPathComponent(name)).readData(ofLength: 8)
            XCTAssertEqual(EventImporter.format(ofHead: Array(head)), .etl, name)
        }
    }
}
