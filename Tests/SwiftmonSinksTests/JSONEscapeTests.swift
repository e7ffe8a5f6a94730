import XCTest
@testable import SwiftmonSinks

/// The live JSON sink's escaper writes words, not bytes (issue 10): every
/// byte value at every position and value length, and random hostile values,
/// must come out exactly as a byte-by-byte escaper writes them — `"`, `\\`,
/// `\n`, `\r`, `\t`, other bytes below 0x20 and DEL as `\u00xx`, every
/// other byte (C1 controls and U+2028 included) as it is.
final class JSONEscapeTests: XCTestCase {
    static func reference(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for b in bytes {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20, 0x7F: out += Array(String(format: "\\u%04x", b).utf8)
            default: out.append(b)
            }
        }
        out.append(0x22)
        return out
    }

    static func written(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = Array("prefix".utf8)
        bytes.withUnsafeBufferPointer { JSONLinesSink.appendText($0, to: &out) }
        return Array(out.dropFirst(6))
    }

    func testEveryByteAtEveryPositionOfEveryLength() {
        for length in 1...40 {
            for position in 0..<length {
                for b in 0...255 {
                    var value = Array(repeating: UInt8(ascii: "a"), count: length)
                    value[position] = UInt8(b)
                    let got = Self.written(value)
                    if got != Self.reference(value) {
                        XCTFail("byte \(b) at \(position) of \(length): \(String(decoding: got, as: UTF8.self))")
                        return
                    }
                }
            }
        }
    }

    func testRandomHostileValues() {
        var state: UInt64 = 0x1234_5678
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        let hostile: [UInt8] = [0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x00, 0x1F, 0x7F, 0x80, 0xC2, 0xE2, 0xA8, 0x20, 0x41]
        for round in 0..<20_000 {
            let length = Int(next() % 70)
            let value = (0..<length).map { _ in next() % 3 == 0 ? hostile[Int(next() % UInt64(hostile.count))] : UInt8(next() % 256) }
            let got = Self.written(value)
            if got != Self.reference(value) {
                XCTFail("round \(round): \(value) -> \(String(decoding: got, as: UTF8.self))")
                return
            }
        }
    }

    func testTheMaskMarksExactlyUpToTheFirstByteThatNeedsAnEscape() {
        for b in 0...255 {
            for k in 0..<8 {
                // Plain bytes below position k, the byte at k, then bytes that may be marked or not.
                var bytes = Array(repeating: UInt8(ascii: "a"), count: 8)
                bytes[k] = UInt8(b)
                for j in (k + 1)..<8 { bytes[j] = UInt8((b &+ 37 &* j) & 0xFF) }
                let w = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                let mask = JSONLinesSink.escapeMask(w)
                if JSONLinesSink.needsEscape(UInt8(b)) {
                    XCTAssertEqual(mask.trailingZeroBitCount / 8, k, "byte \(b) at \(k)")
                } else {
                    XCTAssertGreaterThan(mask.trailingZeroBitCount / 8, k, "byte \(b) at \(k)")
                }
            }
        }
    }
}
