import Foundation
import XCTest
@testable import SwiftmonRules

/// Malformed and hostile configurations: each gives a clear diagnostic with
/// its location, never a crash.
final class ConfigReaderTests: XCTestCase {
    func diagnostics(_ xml: String) -> [Diagnostic] {
        SysmonConfig.check(bytes: Array(xml.utf8), path: "bad.xml").1
    }

    func assertError(_ xml: String, line: Int, column: Int? = nil, contains parts: [String],
                     file: StaticString = #filePath, testLine: UInt = #line) {
        let d = diagnostics(xml)
        guard let error = d.errors.first else {
            return XCTFail("no error; got \(d)", file: file, line: testLine)
        }
        XCTAssertEqual(error.line, line, error.description, file: file, line: testLine)
        if let column { XCTAssertEqual(error.column, column, error.description, file: file, line: testLine) }
        XCTAssertEqual(error.file, "bad.xml", file: file, line: testLine)
        for p in parts { XCTAssertTrue(error.message.contains(p), "\(error) lacks \(p)", file: file, line: testLine) }
        XCTAssertTrue(error.description.hasPrefix("bad.xml:\(error.line):\(error.column): error: "), file: file, line: testLine)
    }

    func testUnknownConditionNamesItAndListsTheValidOnes() {
        assertError("""
            <Sysmon schemaversion="4.90">
              <EventFiltering>
                <ProcessCreate onmatch="include">
                  <Image condition="contans">bash</Image>
                </ProcessCreate>
              </EventFiltering>
            </Sysmon>
            """, line: 4, column: 7, contains: ["\"contans\"", "is, is not, contains, contains any, is any", "image"])
    }

    func testUnknownFieldNamesItAndListsTheValidOnes() {
        assertError("""
            <Sysmon schemaversion="4.90">
              <EventFiltering>
                <RuleGroup groupRelation="or">
                  <ProcessCreate onmatch="include">
                    <Rule groupRelation="and">
                      <ImagePath>bash</ImagePath>
                    </Rule>
                  </ProcessCreate>
                </RuleGroup>
              </EventFiltering>
            </Sysmon>
            """, line: 6, column: 11, contains: ["<ImagePath>", "<ProcessCreate>", "CommandLine", "ParentImage"])
    }

    func testUnknownEventListsTheValidOnes() {
        assertError(filtering("<ProcessCreated onmatch=\"include\"/>"), line: 3, contains: ["<ProcessCreated>", "ProcessCreate", "NetworkConnect", "FileDelete"])
    }

    func testMissingSchemaVersion() {
        assertError("<Sysmon>\n<EventFiltering/>\n</Sysmon>", line: 1, column: 1, contains: ["schemaversion"])
    }

    func testUnsupportedAndNewerSchemaVersions() {
        assertError("<Sysmon schemaversion=\"3.40\"><EventFiltering/></Sysmon>", line: 1, contains: ["3.40", "not supported"])
        assertError("<Sysmon schemaversion=\"four\"><EventFiltering/></Sysmon>", line: 1, contains: ["invalid schemaversion"])
        let d = diagnostics("<Sysmon schemaversion=\"4.95\"><EventFiltering/></Sysmon>")
        XCTAssertFalse(d.hasErrors)
        XCTAssertTrue(d.contains { $0.severity == .warning && $0.message.contains("newer") })
    }

    func testBadXML() {
        assertError("<Sysmon schemaversion=\"4.90\">\n  <EventFiltering>\n  </EventFilterin>\n</Sysmon>", line: 3, contains: ["malformed XML"])
        assertError("<Sysmon schemaversion=\"4.90\">\n<EventFiltering>\n<ProcessCreate onmatch=\"include\"><Image>a & b</Image></ProcessCreate>\n</EventFiltering></Sysmon>",
                    line: 3, contains: ["malformed XML"])
        assertError("<Sysmon schemaversion=\"4.90\">\n<EventFiltering>", line: 2, contains: ["malformed XML"])
    }

    func testDTDIsRefused() {
        assertError("""
            <?xml version="1.0"?>
            <!DOCTYPE Sysmon [ <!ENTITY x SYSTEM "file:///etc/shadow"> ]>
            <Sysmon schemaversion="4.90"><EventFiltering><ProcessCreate onmatch="include"><Image>&x;</Image></ProcessCreate></EventFiltering></Sysmon>
            """, line: 2, column: 1, contains: ["DOCTYPE", "refused"])
        assertError("<!-- comment --><!DOCTYPE Sysmon SYSTEM \"http://example.com/x.dtd\"><Sysmon schemaversion=\"4.90\"/>",
                    line: 1, column: 17, contains: ["refused"])
    }

    func testBillionLaughsIsRefused() {
        var xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
        for i in 1...9 { xml += "<!ENTITY lol\(i) \"" + String(repeating: "&lol\(i == 1 ? "" : String(i - 1));", count: 10) + "\">\n" }
        xml += "]>\n<Sysmon schemaversion=\"4.90\"><HashAlgorithms>&lol9;</HashAlgorithms></Sysmon>"
        assertError(xml, line: 2, contains: ["refused"])
    }

    func testUndefinedEntityIsAnError() {
        assertError("<Sysmon schemaversion=\"4.90\"><EventFiltering><ProcessCreate onmatch=\"include\"><Image>&x;</Image></ProcessCreate></EventFiltering></Sysmon>",
                    line: 1, contains: ["entity"])
    }

    func testEmptyFile() {
        assertError("", line: 1, contains: ["empty"])
        assertError("  \n\n", line: 1, contains: ["empty"])
        assertError("\u{FEFF}", line: 1, contains: ["empty"])
        assertError("<!-- only a comment -->", line: 1, contains: ["no XML element"])
    }

    func testWrongRootElement() {
        assertError("<Config schemaversion=\"4.90\"/>", line: 1, contains: ["<Config>", "<Sysmon"])
    }

    func testBinaryGarbage() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let d = SysmonConfig.check(bytes: bytes, path: "bad.xml").1
            XCTAssertTrue(d.hasErrors)
        }
        let d = SysmonConfig.check(bytes: [0xFF, 0xFE, 0x3C, 0x00], path: "bad.xml").1
        XCTAssertTrue(d.errors.first?.message.contains("UTF-16") == true)
    }

    func testFiftyMegabyteFileIsRefusedWithoutReadingIt() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-big-\(getpid()).xml")
        defer { try? FileManager.default.removeItem(at: url) }
        var text = "<Sysmon schemaversion=\"4.90\"><EventFiltering><RuleGroup groupRelation=\"or\"><ProcessCreate onmatch=\"include\">\n"
        let line = "<CommandLine condition=\"contains\">" + String(repeating: "x", count: 200) + "</CommandLine>\n"
        let count = 50 * 1024 * 1024 / line.utf8.count + 1
        var data = Data(text.utf8)
        let lineData = Data(line.utf8)
        data.reserveCapacity(50 * 1024 * 1024 + 4096)
        for _ in 0..<count { data.append(lineData) }
        text = "</ProcessCreate></RuleGroup></EventFiltering></Sysmon>\n"
        data.append(Data(text.utf8))
        try data.write(to: url)
        XCTAssertGreaterThanOrEqual(data.count, 50 * 1024 * 1024)
        XCTAssertThrowsError(try SysmonConfig.load(path: url.path)) { error in
            let message = (error as? ConfigError)?.description ?? ""
            XCTAssertTrue(message.contains("50.0 MB"), message)
            XCTAssertTrue(message.contains("at most 16.0 MB"), message)
            XCTAssertTrue(message.hasPrefix(url.path + ":"), message)
        }
    }

    func testLargeButAllowedFileLoads() throws {
        var body = "<RuleGroup groupRelation=\"or\"><ProcessCreate onmatch=\"include\">\n"
        for i in 0..<20000 { body += "<CommandLine condition=\"contains\">marker-\(i)</CommandLine>\n" }
        body += "</ProcessCreate></RuleGroup>"
        let set = rules(filtering(body))
        XCTAssertTrue(decide(set, event(["CommandLine": "run marker-19999 now"])).0)
        XCTAssertFalse(decide(set, event(["CommandLine": "run marker-x now"])).0)
    }

    func testMissingFile() {
        let (c, d) = SysmonConfig.check(path: "/nonexistent/sysmon.xml")
        XCTAssertNil(c)
        XCTAssertTrue(d.errors.first?.description.hasPrefix("/nonexistent/sysmon.xml:0:0: error: cannot open file") == true)
    }

    func testOnmatchProblems() {
        assertError(filtering("<ProcessCreate/>"), line: 3, contains: ["onmatch"])
        assertError(filtering("<ProcessCreate onmatch=\"maybe\"/>"), line: 3, contains: ["\"maybe\"", "include, exclude"])
        assertError(filtering("<ProcessCreate onmatch=\"include\" default=\"include\"/>"), line: 3, contains: ["both"])
    }

    func testDefaultAttributeIsTheInverseOfOnmatch() throws {
        let set = rules(filtering("<ProcessCreate default=\"include\"><Image condition=\"image\">bash</Image></ProcessCreate>"))
        XCTAssertFalse(decide(set, event(["Image": "/bin/bash"])).0)
        XCTAssertTrue(decide(set, event(["Image": "/bin/ls"])).0)
    }

    func testUnknownAttributesAndElements() {
        assertError(filtering("<ProcessCreate onmatch=\"include\"><Image conditon=\"is\">x</Image></ProcessCreate>"), line: 3,
                    contains: ["conditon", "condition, name"])
        assertError("<Sysmon schemaversion=\"4.90\"><HashAlgorithm>md5</HashAlgorithm></Sysmon>", line: 1, contains: ["<HashAlgorithm>", "HashAlgorithms"])
        assertError(filtering("<RuleGroup groupRelation=\"xor\"><ProcessCreate onmatch=\"include\"/></RuleGroup>"), line: 3, contains: ["xor"])
        assertError(filtering("<ProcessCreate onmatch=\"include\"><Rule><Rule/></Rule></ProcessCreate>"), line: 3, contains: ["nested"])
    }

    func testFieldsFromDifferentRegistryEventsCannotMix() {
        assertError(filtering("<RegistryEvent onmatch=\"include\"><Details>x</Details><NewName>y</NewName></RegistryEvent>"),
                    line: 3, contains: ["different events"])
    }

    /// What takes a compound-rule number, as in Sysmon's ApplyConfigurationFile:
    /// every `<Rule>` (named or not, empty or not) in dump order, plus every
    /// `<Rule>` reached while a block is tried as an event of its series that
    /// lacks one of its fields (the try stops at that field).
    func testCompoundRuleNumbering() throws {
        let c = try XCTUnwrap(config(filtering("""
            <RuleGroup name="" groupRelation="or">
            <RegistryEvent onmatch="include">
              <TargetObject condition="begin with">HKLM\\a</TargetObject>
              <Rule groupRelation="and"><TargetObject>x</TargetObject><Image>y</Image></Rule>
              <Rule groupRelation="and"><TargetObject>z</TargetObject><Details>d</Details></Rule>
              <Rule name="named" groupRelation="or"><Image>w</Image></Rule>
            </RegistryEvent>
            <ProcessCreate onmatch="include">
              <Rule groupRelation="or"> </Rule>
              <Rule groupRelation="and"><Image>a</Image><User>b</User></Rule>
            </ProcessCreate>
            <RegistryEvent onmatch="exclude">
              <NewName>n</NewName>
              <Rule groupRelation="or"><Image>q</Image></Rule>
            </RegistryEvent>
            <WmiEvent onmatch="include">
              <Rule groupRelation="or"><Operation>o</Operation></Rule>
              <Rule groupRelation="or"><Consumer>c</Consumer></Rule>
            </WmiEvent>
            <FileCreate onmatch="include"><Rule groupRelation="or"><TargetFilename>f</TargetFilename></Rule></FileCreate>
            </RuleGroup>
            """)))
        func numbers(_ tag: String, _ onMatch: OnMatch) -> [Int] {
            c.blocks.first { $0.tag == tag && $0.onMatch == onMatch }!.items.compactMap {
                if case .compound(let r) = $0 { return r.aggregationID } else { return nil }
            }
        }
        // ProcessCreate (EventID 1) comes first in dump order though later in the file; its empty <Rule> counts.
        XCTAssertEqual(numbers("ProcessCreate", .include), [1, 2])
        // FileCreate (11) before RegistryEvent (12).
        XCTAssertEqual(numbers("FileCreate", .include), [3])
        // As event 12: 4, then 5 stops at Details. As event 13: 6, 7, 8 (the named one counts too).
        XCTAssertEqual(numbers("RegistryEvent", .include), [6, 7, 8])
        // NewName stops the tries as 12 and 13 before any <Rule>; as 14: 9.
        XCTAssertEqual(numbers("RegistryEvent", .exclude), [9])
        // As 19: 10, 11 stops at Consumer. As 20: 12, 13 stops. As 21: 14, 15.
        XCTAssertEqual(numbers("WmiEvent", .include), [14, 15])
        let dump = RuleDump.text(c)
        XCTAssertTrue(dump.contains("\tCompound Rule 0006   combine using And\n"), dump)
        XCTAssertTrue(dump.contains("\tCompound Rule named   combine using Or\n"), dump)
        XCTAssertFalse(dump.contains("Compound Rule 0001"), "an empty <Rule> takes a number but prints nothing")
    }

    func testHashAlgorithmsAndFieldSizes() throws {
        let c = config("<Sysmon schemaversion=\"4.90\"><HashAlgorithms>MD5, SHA256 ,IMPHASH</HashAlgorithms><FieldSizes>CommandLine:100,Image:20</FieldSizes></Sysmon>")
        let set = try RuleSet(XCTUnwrap(c))
        XCTAssertEqual(set.hashAlgorithms, ["md5", "sha256", "imphash"])
        XCTAssertEqual(set.fieldSizes, ["CommandLine": 100, "Image": 20])
        assertError("<Sysmon schemaversion=\"4.90\"><HashAlgorithms>md5,crc32</HashAlgorithms></Sysmon>", line: 1, contains: ["crc32"])
        assertError("<Sysmon schemaversion=\"4.90\"><FieldSizes>CommandLine=100</FieldSizes></Sysmon>", line: 1, contains: ["FieldSizes"])
    }

    func testBOMAndCommentsAndCDATA() throws {
        let xml = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n" + filtering("""
            <!-- a comment -->
            <ProcessCreate onmatch="include"><CommandLine condition="contains"><![CDATA[a<b&c]]></CommandLine></ProcessCreate>
            """)
        let set = rules(xml)
        XCTAssertTrue(decide(set, event(["CommandLine": "x a<B&C y"])).0)
        XCTAssertEqual(set.configuration.bytes.count, xml.utf8.count, "the file's exact bytes are kept for event 16")
    }

    func testWindowsOnlyItemsAreCountedWarnings() {
        let d = diagnostics(filtering("""
            <RuleGroup groupRelation="or"><RegistryEvent onmatch="include"><TargetObject>x</TargetObject></RegistryEvent></RuleGroup>
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="include"><OriginalFileName>cmd.exe</OriginalFileName></ProcessCreate></RuleGroup>
            """))
        XCTAssertFalse(d.hasErrors)
        XCTAssertEqual(d.filter(\.windowsOnly).count, 2)
        XCTAssertEqual(d.summary, "0 errors, 2 warnings (2 about Windows-only events or fields)")
        XCTAssertTrue(d.contains { $0.line == 3 && $0.message.contains("<RegistryEvent> is a Windows-only event") })
    }

    func testEventNewerThanTheSchemaVersionWarns() {
        let d = diagnostics(filtering("<ProcessTampering onmatch=\"include\"/><ProcessTampering onmatch=\"exclude\"/>", version: "4.22"))
        XCTAssertFalse(d.hasErrors)
        XCTAssertEqual(d.filter { $0.message.contains("needs schemaversion 4.50") }.count, 1)
        XCTAssertFalse(diagnostics(filtering("<ProcessTampering onmatch=\"include\"/>", version: "4.50")).contains { $0.message.contains("needs schemaversion") })
    }

    func testExcludeOnlyBlocksWarning() {
        let d = diagnostics(filtering("""
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="exclude"><User>a</User></ProcessCreate></RuleGroup>
            <RuleGroup groupRelation="or"><ProcessCreate onmatch="exclude"><User>b</User></ProcessCreate></RuleGroup>
            """))
        XCTAssertTrue(d.contains { $0.severity == .warning && $0.message.contains("no ProcessCreate event is logged") })
    }

    func testDeepNestingIsRefused() {
        let xml = "<Sysmon schemaversion=\"4.90\">" + String(repeating: "<a>", count: 5000) + String(repeating: "</a>", count: 5000) + "</Sysmon>"
        XCTAssertTrue(diagnostics(xml).hasErrors)
    }
}

extension ConfigReaderTests {
    /// Hostile shape: hundreds of thousands of filters on one line, all on one
    /// field of an AND block. Reading and compiling stay linear.
    func testHugeOneLineConfigurationStaysFast() throws {
        var body = "<RuleGroup groupRelation=\"and\"><ProcessCreate onmatch=\"include\">"
        for i in 0..<150_000 { body += "<Image condition=\"contains\">x\(i)</Image>" }
        body += "<CommandLine condition=\"contains\">é</CommandLine></ProcessCreate></RuleGroup>"
        let xml = "<Sysmon schemaversion=\"4.90\"><EventFiltering>" + body + "</EventFiltering></Sysmon>"
        XCTAssertGreaterThan(xml.utf8.count, 4_000_000)
        let start = Date()
        let (c, d) = SysmonConfig.check(bytes: Array(xml.utf8), path: "big.xml")
        XCTAssertEqual(d, [])
        let set = try RuleSet(XCTUnwrap(c))
        XCTAssertTrue(decide(set, event(["Image": "/opt/x149999/bin", "CommandLine": "café"])).0)
        XCTAssertFalse(decide(set, event(["Image": "/opt/y/bin", "CommandLine": "café"])).0)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "linear in the file size")
        // Locations on the one line are exact.
        let bad = xml.replacingOccurrences(of: "<Image condition=\"contains\">x149999</Image>", with: "<Imag condition=\"contains\">x</Imag>")
        let errors = SysmonConfig.check(bytes: Array(bad.utf8), path: "big.xml").1.errors
        XCTAssertEqual(errors.count, 1)
        let column = bad.utf8.count - bad.components(separatedBy: "<Imag ").last!.utf8.count - "<Imag ".utf8.count + 1
        XCTAssertEqual(errors.first?.line, 1)
        XCTAssertEqual(errors.first?.column, column)
    }
}
