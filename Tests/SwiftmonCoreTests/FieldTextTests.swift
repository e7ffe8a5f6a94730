import Foundation
import XCTest
@testable import SwiftmonCore

final class FieldTextTests: XCTestCase {
    func testValidUTF8IsKept() {
        let t = FieldText(Array("ünï \\ code".utf8))
        XCTAssertTrue(t.isExact)
        XCTAssertEqual(t.string, "ünï \\ code")
    }

    func testInvalidBytesAreEscapedUnambiguously() {
        let t = FieldText([0x61, 0xFF, 0x5C, 0x78, 0x66, 0x66, 0xC3])  // a, 0xff, "\xff" typed, truncated é
        XCTAssertFalse(t.isExact)
        XCTAssertEqual(t.string, #"a\xff\\xff\xc3"#)
    }

    func testEventKeepsExactBytes() {
        var e = Event(.processCreate, time: .now())
        e.set("Image", bytes: [0x2F, 0x62, 0xFE])
        XCTAssertEqual(e["Image"], #"/b\xfe"#)
        XCTAssertEqual(e.rawBytes[e.kind.index(of: "Image")!], [0x2F, 0x62, 0xFE])
        e["Image"] = "/ok"
        XCTAssertTrue(e.rawBytes.isEmpty)
    }

    /// `FieldText.integer` reads a value's bytes exactly as `Int(text)` reads the text.
    func testIntegerFromBytesAgreesWithIntOfTheText() {
        let cases = ["0", "4242", "+17", "-17", "-0", "", "+", "-", " 1", "1 ", "12a", "0x10", "٣",
                     "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                     "-9223372036854775809", "00000000000000000000000000042", "99999999999999999999",
                     "18446744073709551615", "18446744073709551616", "-5"]
        for text in cases {
            let fromBytes = Array(text.utf8).withUnsafeBufferPointer { FieldText.integer($0) }
            XCTAssertEqual(fromBytes, Int(text), "\"\(text)\"")
            let unsigned = Array(text.utf8).withUnsafeBufferPointer { FieldText.integer($0, as: UInt64.self) }
            XCTAssertEqual(unsigned, UInt64(text), "\"\(text)\" as UInt64")
        }
    }

    /// The one decimal writer (XML System numbers, .evtx values and
    /// EventRecordIDs) against `String(value)`: every power of ten and its
    /// neighbours, the extremes, and values of every width.
    func testDecimalDigitsEqualStringOfTheValue() {
        var values: [UInt64] = [0, 1, 9, UInt64(UInt32.max), UInt64.max, UInt64.max - 1]
        var p: UInt64 = 1
        for _ in 0..<19 {
            p *= 10
            values += [p - 1, p, p + 1]
        }
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for k in 0..<5_000 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values.append(x >> UInt64(k % 64))
        }
        for v in values {
            var out: [UInt8] = [0x2D]
            FieldText.appendDecimal(v, to: &out)
            if FieldText.decimal(v) != String(v) || out != [0x2D] + Array(String(v).utf8) {
                XCTFail("\(v): \(FieldText.decimal(v)), appended \(out)")
                break
            }
        }
    }
}
