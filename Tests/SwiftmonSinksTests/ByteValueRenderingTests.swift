import SwiftmonCore
import SwiftmonTestSupport
@testable import SwiftmonSinks
import XCTest

/// The renderers write values held as bytes (issue 10) exactly as the same
/// values held as Strings, and the byte-wise XML escaping matches the String
/// one character for character.
final class ByteValueRenderingTests: XCTestCase {
    /// Texts with every character class the escapers treat apart.
    static func randomText(_ rng: inout SplitMix64) -> String {
        let pieces = ["a", "Z", "/", " ", "&", "<", ">", "\"", "'", "\\", "\t", "\n", "\r", "\u{0}", "\u{1}", "\u{1F}",
                      "\u{7F}", "\u{80}", "\u{85}", "\u{9F}", "\u{A0}", "é", "€", "\u{2028}", "\u{FFFD}", "\u{FFFE}",
                      "\u{FFFF}", "😀", "-", "x86_64", "{9c1d4e2f-65b9-a1f0-4242-3e4f5a6b0000}"]
        return (0..<rng.below(12)).map { _ in pieces[rng.below(pieces.count)] }.joined()
    }

    func testByteWiseXMLEscapingIsTheStringEscaping() {
        var rng = SplitMix64(seed: 0x10_0002)
        for _ in 0..<5_000 {
            let text = Self.randomText(&rng)
            for attribute in [false, true] {
                var expected = String()
                SysmonXML.appendEscaped(text, attribute: attribute, to: &expected)
                var bytes: [UInt8] = []
                SysmonXML.appendEscaped(text, attribute: attribute, to: &bytes)
                XCTAssertEqual(String(decoding: bytes, as: UTF8.self), expected, text.debugDescription)
            }
            var expected = String()
            SysmonXML.appendValue(text, to: &expected)
            var bytes: [UInt8] = []
            Array(text.utf8).withUnsafeBufferPointer { SysmonXML.appendValue($0, to: &bytes) }
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), expected, text.debugDescription)
        }
    }

    func testEventsWithBytesValuesRenderAsWithStringValues() {
        var rng = SplitMix64(seed: 0x10_0003)
        let renderer = SysmonXMLRenderer(header: SysmonXMLTests.goldenHeader)
        for round in 0..<400 {
            let kind = EventKind.all[round % EventKind.all.count]
            var asText = Event(kind, time: SysmonXMLTests.goldenTime)
            var asBytes = asText
            for i in kind.fields.indices where kind.fields[i] != "UtcTime" && rng.below(3) != 0 {
                let text = Self.randomText(&rng)
                asText[i] = text
                asBytes.setUTF8(i, Array(text.utf8))
                XCTAssertTrue(asBytes.isHeldAsBytes(i))
            }
            XCTAssertEqual(asBytes.values, asText.values)
            XCTAssertEqual(JSONLinesSink.render(asBytes), JSONLinesSink.render(asText), kind.name)
            XCTAssertEqual(TextSink.render(asBytes), TextSink.render(asText), kind.name)
            XCTAssertEqual(renderer.render(asBytes, recordID: UInt64(round), threadID: 7),
                           renderer.render(asText, recordID: UInt64(round), threadID: 7), kind.name)
            var appended = Array("prefix".utf8)
            renderer.render(asBytes, recordID: UInt64(round), threadID: 7, into: &appended)
            XCTAssertEqual(String(decoding: appended, as: UTF8.self),
                           "prefix" + renderer.render(asText, recordID: UInt64(round), threadID: 7))
        }
    }

    func testTheWordCheckFindsEveryByteThatNeedsAnEscape() {
        // Every byte value at every position of a word of plain bytes, then random words.
        for b in 0...255 {
            for k in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[k] = UInt8(b)
                let w = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                XCTAssertEqual(JSONLinesSink.wordNeedsEscape(w), JSONLinesSink.needsEscape(UInt8(b)), "byte \(b) at \(k)")
            }
        }
        var rng = SplitMix64(seed: 0x10_0004)
        for _ in 0..<200_000 {
            let w = rng.next() & (rng.below(2) == 0 ? 0x7F7F_7F7F_7F7F_7F7F : ~0)
            let any = withUnsafeBytes(of: w) { $0.contains(where: JSONLinesSink.needsEscape) }
            if any { XCTAssertTrue(JSONLinesSink.wordNeedsEscape(w), String(w, radix: 16)) }
        }
        // Values with escapes at every offset render as the byte-wise loop does.
        for offset in 0..<20 {
            let text = String(repeating: "p", count: offset) + "\"\\\n\u{7F}" + String(repeating: "q", count: 19 - offset)
            var out: [UInt8] = []
            JSONLinesSink.appendString(text, to: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self),
                           "\"" + String(repeating: "p", count: offset) + "\\\"\\\\\\n\\u007f"
                               + String(repeating: "q", count: 19 - offset) + "\"")
        }
    }

    func testTheSystemPartIsWrittenAsBefore() {
        // Numbers at their extremes: record ids past Int64, negative thread ids.
        let renderer = SysmonXMLRenderer(header: SysmonXMLHeader(computer: "h&<st>", processID: -1, userID: .max))
        let xml = renderer.render(Event(.processCreate, time: EventTime(nanosecondsSinceEpoch: 0)),
                                  recordID: .max, threadID: Int32.min)
        XCTAssertTrue(xml.contains("<EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task>"
            + "<Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>"
            + "<TimeCreated SystemTime=\"1970-01-01T00:00:00.000000000Z\"/>"
            + "<EventRecordID>18446744073709551615</EventRecordID><Correlation/>"
            + "<Execution ProcessID=\"-1\" ThreadID=\"-2147483648\"/>"), xml)
        XCTAssertTrue(xml.contains("<Computer>h&amp;&lt;st&gt;</Computer><Security UserId=\"4294967295\"/>"), xml)
    }
}
