import XCTest
@testable import SwiftmonETL

final class XpressDecompressorTests: XCTestCase {
    /// A flag word (MSB first) for up to 32 items; `true` marks a match.
    private func flags(_ items: [Bool]) -> [UInt8] {
        var word: UInt32 = 0
        for (i, isMatch) in items.enumerated() where isMatch { word |= 1 << UInt32(31 - i) }
        return withUnsafeBytes(of: word.littleEndian, Array.init)
    }
    private func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }

    func testLiteralsOnly() throws {
        let input = flags([false, false, false]) + Array("abc".utf8)
        XCTAssertEqual(try XpressDecompressor.decompress(input, limit: 100), Array("abc".utf8))
    }

    func testEmptyAndFlagOnlyStreams() throws {
        XCTAssertEqual(try XpressDecompressor.decompress([], limit: 10), [])
        XCTAssertEqual(try XpressDecompressor.decompress(flags([]), limit: 10), [])
    }

    func testShortMatchCopiesEarlierBytes() throws {
        // "abcd" then a match of length 4 at distance 4 → "abcdabcd".
        let token = (4 - 1) << 3 | (4 - 3)
        let input = flags([false, false, false, false, true]) + Array("abcd".utf8) + le16(token)
        XCTAssertEqual(try XpressDecompressor.decompress(input, limit: 100), Array("abcdabcd".utf8))
    }

    func testOverlappingMatchRepeatsARun() throws {
        // "x" then distance 1, length 9: ten x's.
        let token = 0 << 3 | 6
        let input = flags([false, true]) + [UInt8(ascii: "x")] + le16(token)
        XCTAssertEqual(try XpressDecompressor.decompress(input, limit: 100), [UInt8](repeating: 0x78, count: 10))
    }

    func testLengthInSharedHalfBytes() throws {
        // Two matches with length field 7 share one byte: low nibble for the
        // first (7+3+2 = 12), high nibble for the second (7+3+5 = 15).
        let token = 0 << 3 | 7
        let input = flags([false, true, true]) + [UInt8(ascii: "y")] + le16(token) + [0x52] + le16(token)
        XCTAssertEqual(try XpressDecompressor.decompress(input, limit: 100), [UInt8](repeating: 0x79, count: 1 + 12 + 15))
    }

    func testByteAndWordAndDwordLengths() throws {
        let token = 0 << 3 | 7
        // Half byte 15 → next byte holds length - 22: 100 - 3 = 97 → byte 97 - 22 = 75.
        let byteForm = flags([false, true]) + [0x7A] + le16(token) + [0x0F, 75]
        XCTAssertEqual(try XpressDecompressor.decompress(byteForm, limit: 1000).count, 1 + 100)
        // Byte 255 → 16-bit length (includes the 22): 600 - 3 = 597.
        let wordForm = flags([false, true]) + [0x7A] + le16(token) + [0x0F, 0xFF] + le16(597)
        XCTAssertEqual(try XpressDecompressor.decompress(wordForm, limit: 1000).count, 1 + 600)
        // 16-bit 0 → 32-bit length: 70000 - 3.
        let dwordForm = flags([false, true]) + [0x7A] + le16(token) + [0x0F, 0xFF, 0, 0]
            + withUnsafeBytes(of: UInt32(69_997).littleEndian, Array.init)
        XCTAssertEqual(try XpressDecompressor.decompress(dwordForm, limit: 100_000).count, 1 + 70_000)
    }

    func testMatchBeforeStartFails() {
        let input = flags([false, true]) + [0x41] + le16(5 << 3 | 0)
        XCTAssertThrowsError(try XpressDecompressor.decompress(input, limit: 100)) { error in
            XCTAssertEqual(error as? XpressDecompressor.Failure, .distanceBeforeStart(inputOffset: 5))
        }
    }

    func testOutputLimitIsEnforced() {
        let token = 0 << 3 | 6
        let input = flags([false, true]) + [0x41] + le16(token)
        XCTAssertThrowsError(try XpressDecompressor.decompress(input, limit: 5)) { error in
            XCTAssertEqual(error as? XpressDecompressor.Failure, .outputTooLarge(limit: 5))
        }
        XCTAssertThrowsError(try XpressDecompressor.decompress(flags([false, false]) + [1, 2], limit: 1))
    }

    func testTruncatedTokenFails() {
        let input = flags([false, true]) + [0x41] + [0x08]
        XCTAssertThrowsError(try XpressDecompressor.decompress(input, limit: 100)) { error in
            XCTAssertEqual(error as? XpressDecompressor.Failure, .truncated(inputOffset: 5))
        }
        let cutLength = flags([false, true]) + [0x41] + le16(7)
        XCTAssertThrowsError(try XpressDecompressor.decompress(cutLength, limit: 100))
    }

    func testInvalidExtendedLengthFails() {
        let input = flags([false, true]) + [0x41] + le16(7) + [0x0F, 0xFF] + le16(10)
        XCTAssertThrowsError(try XpressDecompressor.decompress(input, limit: 1000)) { error in
            XCTAssertEqual(error as? XpressDecompressor.Failure, .badLength(inputOffset: 9))
        }
    }

    /// Random garbage never traps and never exceeds the limit.
    func testRandomInputIsBounded() {
        var rng = SplitMix(seed: 42)
        for _ in 0..<2000 {
            let n = Int(rng.next() % 300)
            let input = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if let out = try? XpressDecompressor.decompress(input, limit: 4096) {
                XCTAssertLessThanOrEqual(out.count, 4096)
            }
        }
    }
}
