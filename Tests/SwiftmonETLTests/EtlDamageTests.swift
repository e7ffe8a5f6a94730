import Foundation
import SwiftmonCore
import XCTest
import SwiftmonTestSupport
@testable import SwiftmonETL

/// Truncated, bit-flipped and hostile files: a clear error with a byte offset
/// after what could be decoded, never a crash or a hang.
final class EtlDamageTests: XCTestCase {
    /// Decodes `bytes`; returns the records decoded and the error, if any.
    private func decode(_ bytes: [UInt8]) -> (records: Int, events: Int, error: EtlError?) {
        let sink = CollectingSink()
        do {
            let s = try EtlDecoder.decode(bytes: EtlFileBytes(copying: bytes), into: sink)
            return (s.records, sink.events.count, nil)
        } catch let f as EtlDecodeFailure {
            return (f.summary.records, sink.events.count, f.error)
        } catch let e as EtlError {
            return (0, 0, e)
        } catch {
            XCTFail("unexpected error type \(error)")
            return (0, 0, nil)
        }
    }

    func testTruncatedFilesFailWithOffsetAfterDecodingWhatTheyCan() throws {
        for url in try EtlCorpus.files() {
            let full = try [UInt8](Data(contentsOf: url))
            let total = decode(full)
            XCTAssertNil(total.error)
            for fraction in [0.999, 0.75, 0.5, 0.3] {
                let cut = Int(Double(full.count) * fraction) | 1  // odd: never on a buffer boundary
                let r = decode(Array(full[0..<cut]))
                let name = "\(url.lastPathComponent) cut at \(cut)"
                let error = try XCTUnwrap(r.error, name)
                XCTAssertLessThanOrEqual(error.offset, cut, name)
                XCTAssertGreaterThan(error.offset, 0, name)
                XCTAssertLessThanOrEqual(r.records, total.records, name)
                if cut > full.count / 2 && total.records > 1000 {
                    XCTAssertGreaterThan(r.records, 0, "\(name): what comes before the damage is decoded")
                }
            }
            // Cut on a buffer boundary: the logfile header says how many buffers there are.
            let reader = try EtlReader(path: url.path)
            if reader.buffers.count > 2 {
                let boundary = reader.buffers[reader.buffers.count - 1].offset
                let r = decode(Array(full[0..<boundary]))
                XCTAssertEqual(r.error?.offset, boundary, url.lastPathComponent)
            }
        }
    }

    func testTooShortAndForeignFiles() {
        XCTAssertNotNil(decode([]).error)
        XCTAssertNotNil(decode([UInt8](repeating: 0, count: 10)).error)
        XCTAssertNotNil(decode([UInt8](repeating: 0xFF, count: 70_000)).error)
        XCTAssertNotNil(decode(Array("this is not a trace file at all, just text ".utf8) + [UInt8](repeating: 0x41, count: 500)).error)
    }

    func testDamagedRecordMarkerNamesItsOffset() throws {
        let url = try EtlCorpus.file("tx_Process.etl")
        var bytes = try [UInt8](Data(contentsOf: url))
        // The first record of the third buffer: its marker's flags byte made invalid.
        let bufferSize = 8192
        let recordOffset = 2 * bufferSize + 0x48
        bytes[recordOffset + 3] = 0x00
        let r = decode(bytes)
        let error = try XCTUnwrap(r.error)
        XCTAssertEqual(error.offset, recordOffset)
        XCTAssertTrue(error.description.contains("byte offset \(recordOffset)"), error.description)
        // The other buffers still decode.
        XCTAssertGreaterThan(r.records, 10_000)
    }

    /// Deterministic random bit flips, many per file: the decoder must finish
    /// each with either a result or an EtlError, never trap or hang.
    func testBitFlippedFilesNeverCrash() throws {
        var rng = SplitMix(seed: 0x5157_1F7E_E7A1_0001)
        for url in try EtlCorpus.files() {
            let original = try [UInt8](Data(contentsOf: url))
            // Large files: flip within the first buffers to keep the test quick.
            let span = min(original.count, 1 << 17)
            for round in 0..<60 {
                var bytes = Array(original.prefix(max(span, 4096)))
                let flips = 1 + Int(rng.next() % 16)
                for _ in 0..<flips {
                    let at = Int(rng.next() % UInt64(bytes.count))
                    bytes[at] ^= UInt8(1 << (rng.next() % 8))
                }
                // Header-heavy damage too: a few flips in structural places.
                if round % 3 == 0 {
                    for spot in [0x00, 0x30, 0x34, 0x48, 0x4C, 0x50 + 0x2C] where spot < bytes.count {
                        bytes[spot] ^= UInt8(truncatingIfNeeded: rng.next())
                    }
                }
                let r = decode(bytes)
                if let e = r.error { XCTAssertLessThanOrEqual(e.offset, bytes.count + 0x48, url.lastPathComponent) }
            }
        }
    }
}

/// A small deterministic generator, so failures reproduce.
typealias SplitMix = SplitMix64
