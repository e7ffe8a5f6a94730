import XCTest
import SwiftmonTestSupport
@testable import SwiftmonEvtx

/// The CRC-32 that checks .evtx headers and chunks: the check value of the
/// standard, and the carry-less multiply path equal to the table on every
/// length and alignment around its boundaries (64-byte blocks, 16-byte tail).
final class CRC32Tests: XCTestCase {
    func testStandardCheckValues() {
        let check = Array("123456789".utf8)
        XCTAssertEqual(check.withUnsafeBytes { CRC32.checksum($0) }, 0xCBF4_3926)
        XCTAssertEqual([UInt8]().withUnsafeBytes { CRC32.checksum($0) }, 0)
        // Long enough for the folding path: 256 bytes 0, 1, …, 255 (zlib's crc32 gives 0x29058C73).
        let ramp = (0..<256).map { UInt8($0) }
        XCTAssertEqual(ramp.withUnsafeBytes { CRC32.checksum($0) }, 0x2905_8C73)
        XCTAssertEqual(ramp.withUnsafeBytes { CRC32.updateWithTable(0, $0) }, 0x2905_8C73)
    }

    func testFoldingEqualsTheTableOnEveryLengthAndAlignment() throws {
        if !CRC32.hasCarrylessMultiply { try TestRequirement.unavailable("this CPU has no PCLMULQDQ; only the table path runs") }
        var random = SplitMix64(seed: 0xC4C3_2E17)
        let bytes = (0..<(65536 + 64)).map { _ in UInt8.random(in: 0...255, using: &random) }
        bytes.withUnsafeBytes { all in
            var lengths = Array(0...300) + [1000, 4096, 65024 - 1, 65024, 65536]
            for _ in 0..<200 { lengths.append(Int.random(in: 0...65536, using: &random)) }
            for length in lengths {
                for start in [0, 1, 7, 13, 63] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    let seed = UInt32.random(in: 0...UInt32.max, using: &random)
                    XCTAssertEqual(CRC32.update(seed, slice), CRC32.updateWithTable(seed, slice), "length \(length) at \(start)")
                }
            }
            // Continuing a checksum over two parts equals one pass (as the chunk header is checked).
            let whole = UnsafeRawBufferPointer(rebasing: all[0..<5000])
            let split = CRC32.update(CRC32.checksum(UnsafeRawBufferPointer(rebasing: all[0..<120])),
                                     UnsafeRawBufferPointer(rebasing: all[120..<5000]))
            XCTAssertEqual(split, CRC32.checksum(whole))
        }
    }
}
