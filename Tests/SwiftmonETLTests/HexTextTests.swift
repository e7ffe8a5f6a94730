import SwiftmonTestSupport
import XCTest
@testable import SwiftmonETL

/// `hexString` (the Payload of every TraceEvent) turns four bytes at a time
/// into digits with word arithmetic: checked against the plain one-byte-at-
/// a-time text for every byte value, every tail length and random payloads.
final class HexTextTests: XCTestCase {
    private func reference(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { hexString($0) }
    }

    func testEveryByteValueInEveryPositionOfAWord() {
        for value in 0...255 {
            for position in 0..<9 {
                var bytes = [UInt8](repeating: 0xA5, count: 9)
                bytes[position] = UInt8(value)
                XCTAssertEqual(hex(bytes), reference(bytes), "byte \(value) at \(position)")
            }
        }
        XCTAssertEqual(hex([0x00, 0x09, 0x0A, 0x0F, 0x10, 0x9F, 0xA0, 0xFF]), "00090a0f109fa0ff")
    }

    func testEveryLengthAndRandomPayloads() {
        XCTAssertEqual(hex([]), "")
        var random = SplitMix64(seed: 0x4845_5854)
        for length in Array(0...40) + [63, 64, 65, 255, 256, 4099] {
            for _ in 0..<20 {
                let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                XCTAssertEqual(hex(bytes), reference(bytes), "length \(length)")
            }
        }
    }

    func testAViewIntoLargerBytesReadsOnlyItsOwn() {
        // The word reads stop at the view's end: the bytes after it never show.
        let bytes: [UInt8] = [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]
        bytes.withUnsafeBytes { raw in
            for end in 0...8 {
                XCTAssertEqual(hexString(UnsafeRawBufferPointer(rebasing: raw[0..<end])), reference(Array(bytes[0..<end])))
            }
        }
    }
}
