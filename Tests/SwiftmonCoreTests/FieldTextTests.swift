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
}
