import SwiftmonCore
import XCTest
import SwiftmonTestSupport
@testable import SwiftmonEvtx

/// The byte-level renderers of the hot path against the String-level ones
/// they replace: UTF-16 → UTF-8 as `String(decoding:as:)` does it, values as
/// Swift formats numbers, EventData JSON escaped as `JSONString` escapes.
final class EvtxValueTextTests: XCTestCase {
    /// A deterministic generator, so a failure can be replayed.
    typealias Generator = SplitMix64

    func withChunk<T>(_ bytes: [UInt8], _ body: (ChunkBytes) -> T) -> T {
        bytes.withUnsafeBytes { body(ChunkBytes(bytes: $0)) }
    }

    func testUTF16ToUTF8EqualsStringDecoding() {
        var g = Generator(state: 42)
        // ASCII, Latin, BMP, surrogate halves (paired, unpaired, reversed), NUL.
        let pools: [ClosedRange<UInt16>] = [0x20...0x7E, 0x80...0x7FF, 0x800...0xD7FF, 0xD800...0xDBFF, 0xDC00...0xDFFF, 0xE000...0xFFFF, 0...0]
        for _ in 0..<3000 {
            let count = g.below(40)
            var units: [UInt16] = []
            for _ in 0..<count {
                // Mostly ASCII runs, as in real logs, so the 4-unit fast path is exercised at every alignment.
                let pool = g.below(3) == 0 ? pools[g.below(pools.count)] : pools[0]
                units.append(pool.lowerBound &+ UInt16(g.below(Int(pool.upperBound - pool.lowerBound) + 1)))
            }
            let offset = g.below(3)
            var bytes = [UInt8](repeating: 0xEE, count: offset)
            for u in units { bytes.append(UInt8(u & 0xFF)); bytes.append(UInt8(u >> 8)) }
            bytes += [0xEE, 0xEE]
            let ours: [UInt8] = withChunk(bytes) { c in
                var out: [UInt8] = [0x41]
                c.appendUTF8(offset, units: units.count, to: &out)
                return Array(out.dropFirst())
            }
            XCTAssertEqual(ours, Array(String(decoding: units, as: UTF16.self).utf8), "units \(units)")
        }
    }

    func testIntegersSIDsAndGUIDsAreWrittenAsWindowsWritesThem() {
        func text(_ type: UInt8, _ bytes: [UInt8]) -> String {
            withChunk(bytes) { BinXmlValues.text($0, ValueRef(type: type, offset: 0, size: Int32(bytes.count))) }
        }
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        for v: Int64 in [0, 7, -1, 10, -10, 1_234_567_890_123, .min, .max] {
            XCTAssertEqual(text(0x09, le(v)), String(v))
        }
        for v: UInt64 in [0, 9, 10, 99, 100, .max] {
            XCTAssertEqual(text(0x0A, le(v)), String(v))
            XCTAssertEqual(text(0x15, le(v)), "0x" + String(v, radix: 16))
        }
        XCTAssertEqual(text(0x03, [0xFF]), "-1")
        XCTAssertEqual(text(0x06, le(UInt16(65535))), "65535")
        XCTAssertEqual(text(0x14, le(UInt32(0x3E7))), "0x3e7")
        XCTAssertEqual(text(0x10, le(UInt32(0))), "0x0")
        XCTAssertEqual(text(0x0D, le(UInt32(1))), "true")
        XCTAssertEqual(text(0x0E, [0x00, 0xAB, 0x7F]), "00AB7F")
        // S-1-5-21-…-500: revision 1, 5 sub-authorities, authority 5 (big-endian).
        let sid: [UInt8] = [1, 5, 0, 0, 0, 0, 0, 5] + le(UInt32(21)) + le(UInt32(3_623_811_015)) + le(UInt32(3_361_044_348))
            + le(UInt32(30_300_820)) + le(UInt32(500))
        XCTAssertEqual(text(0x13, sid), "S-1-5-21-3623811015-3361044348-30300820-500")
        let guid: [UInt8] = [0x5F, 0x38, 0x70, 0x57, 0x2A, 0xC2, 0xE0, 0x43, 0xBF, 0x4C, 0x06, 0xF5, 0x69, 0x8F, 0xFB, 0xD9]
        XCTAssertEqual(text(0x0F, guid), "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}")
        // Arrays: items joined by commas; UTF-16 strings ended by NULs.
        XCTAssertEqual(text(0x88, le(UInt32(1)) + le(UInt32(20))), "1,20")
        XCTAssertEqual(text(0x81, Array("a\0bc\0".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })), "a,bc")
        XCTAssertEqual(text(0x81, Array("a\0\0".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })), "a,")
        // ANSI: UTF-8 kept, otherwise Latin-1; NULs dropped.
        XCTAssertEqual(text(0x02, Array("héllo".utf8) + [0]), "héllo")
        XCTAssertEqual(text(0x02, [0x63, 0x61, 0x66, 0xE9]), "café")
    }

    /// EventData JSON, built on bytes, equals the same object built with
    /// `JSONString` on Strings, for values full of everything that needs escaping.
    func testEventDataJSONEscapesAsJSONStringDoes() {
        var g = Generator(state: 7)
        let pieces = ["a", "C:\\Windows\\System32\\cmd.exe", "\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1F}", "\u{7F}",
                      "\u{80}", "\u{9F}", "\u{A0}", "é", "\u{2027}", "\u{2028}", "\u{2029}", "😀", "plain text ", "%%1936"]
        for round in 0..<500 {
            var items: [EvtxRecord.DataItem] = []
            for _ in 0..<g.below(8) {
                var value = ""
                for _ in 0..<g.below(12) { value += pieces[g.below(pieces.count)] }
                let names = ["", "Name", "Image", "Name", "Key\"Quoted", "CommandLine"]
                items.append(EvtxRecord.DataItem(name: names[g.below(names.count)], value: value))
            }
            var record = EvtxRecord(recordID: 1, written: 0, fileOffset: 0)
            record.data = items
            record.section = round % 3 == 0 ? .userData("Event\u{2028}Xml") : .eventData
            var expected = "{"
            for (k, item) in items.enumerated() {
                var key = item.name.isEmpty ? "Data\(k + 1)" : item.name
                let earlier = item.name.isEmpty ? 0 : items[..<k].filter { $0.name == item.name }.count
                if earlier > 0 { key += "#\(earlier + 1)" }
                expected += (k > 0 ? "," : "") + JSONString.quoted(key) + ":" + JSONString.quoted(item.value)
            }
            expected += "}"
            if case .userData(let root) = record.section { expected = "{" + JSONString.quoted(root) + ":" + expected + "}" }
            XCTAssertEqual(EvtxEventMapper.dataJSON(record), expected, "round \(round)")
        }
    }

    /// The inline check of common value types accepts exactly what
    /// `validate` accepts for them (every type and size up to 40 bytes).
    func testPlainlyValidAgreesWithValidate() throws {
        let raw = [UInt8](repeating: 0, count: 64)
        try raw.withUnsafeBytes { bytes in
            let c = ChunkBytes(bytes: bytes)
            var plain = 0
            for type in 0...255 {
                for size in 0...40 {
                    guard BinXmlValues.plainlyValid(type: UInt8(type), size: size) else { continue }
                    plain += 1
                    XCTAssertNoThrow(try BinXmlValues.validate(c, type: UInt8(type), offset: 0, size: size), "type \(type) size \(size)")
                }
                for size in 0...40 where !BinXmlValues.plainlyValid(type: UInt8(type), size: size) {
                    // Rejected inline for a common type: validate rejects it too.
                    if [0x01, 0x04, 0x06, 0x08, 0x14, 0x0A, 0x11, 0x15, 0x0F].contains(type) {
                        XCTAssertThrowsError(try BinXmlValues.validate(c, type: UInt8(type), offset: 0, size: size), "type \(type) size \(size)")
                    }
                }
            }
            XCTAssertGreaterThan(plain, 300)
        }
    }

    /// The decimal texts of WindowsEvent's numbers (EventRecordID, EventID,
    /// ThreadID …) as `String(value)` writes them: every power of ten and its
    /// neighbours, the extremes, and random values of every width.
    func testDecimalTextEqualsStringOfTheValue() {
        var values: [UInt64] = [0, 1, 9, UInt64(UInt32.max), UInt64.max, UInt64.max - 1]
        var p: UInt64 = 1
        for _ in 0..<19 {
            p *= 10
            values += [p - 1, p, p + 1]
        }
        var g = Generator(seed: 43)
        for _ in 0..<20_000 { values.append(g.next() >> (g.next() % 64)) }
        for v in values where FieldText.decimal(v) != String(v) {
            XCTFail("\(v): \(FieldText.decimal(v))")
            break
        }
        var numbers = NumberTexts()
        for v: UInt32 in [0, 0, 7, 4624, 4624, UInt32.max, 0] { XCTAssertEqual(numbers.text(3, v), String(v)) }
    }
}
