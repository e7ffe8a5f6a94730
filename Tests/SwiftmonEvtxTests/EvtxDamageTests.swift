import Foundation
import SwiftmonCore
import XCTest
@testable import SwiftmonEvtx

/// Crafted damage on real files, each with exact expectations derived from the
/// intact file: what can be read is read, what cannot is counted at its offset.
final class EvtxDamageTests: XCTestCase {
    struct Decoded {
        var summary: EvtxSummary
        var records: [EvtxRecord]
    }

    func decode(_ bytes: [UInt8], threads: Int = 2) throws -> Decoded {
        let reader = try EvtxReader(file: EvtxFileBytes(copying: bytes), threads: threads)
        var records: [EvtxRecord] = []
        var summary = EvtxSummary(header: reader.header, physicalChunks: reader.physicalChunks)
        summary.totals = reader.forEachRecord { records.append($0) }
        return Decoded(summary: summary, records: records)
    }

    func load(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: EvtxCorpus.file(name))) }

    static let chunkSize = 65536
    static func chunkOffset(_ k: Int) -> Int { 4096 + k * chunkSize }

    func testIntactFileHasNoProblems() throws {
        let d = try decode(load("evtxrs_security.evtx"))
        XCTAssertEqual(d.summary.records, 2261)
        XCTAssertEqual(d.summary.recordsFailed, 0)
        XCTAssertEqual(d.summary.problems, [])
        // The header declares 26 chunks; the 7 after them are all zeros.
        XCTAssertEqual(d.summary.totals.chunksUsed, 26)
        XCTAssertEqual(d.summary.totals.chunksUnused, 7)
    }

    func testTruncatedFileKeepsEveryWholeChunk() throws {
        let bytes = try load("evtxrs_security.evtx")
        let intact = try decode(bytes).records
        let cut = Self.chunkOffset(5) + 1000
        let d = try decode(Array(bytes.prefix(cut)))
        let expected = intact.filter { $0.fileOffset < Self.chunkOffset(5) }
        XCTAssertEqual(d.records.map(\.recordID), expected.map(\.recordID))
        XCTAssertEqual(d.summary.totals.chunksTruncated, 1)
        XCTAssertEqual(d.summary.problems, [EvtxProblem(.chunkTruncated, offset: Self.chunkOffset(5),
            "chunk cut short by the end of the file: 1000 of 65536 bytes")])
        // Cut inside the file header: not an .evtx file any more, said at offset 100.
        XCTAssertThrowsError(try decode(Array(bytes.prefix(100)))) { error in
            XCTAssertEqual((error as? EvtxError)?.offset, 100)
        }
    }

    func testFlippedTokenFailsOneRecordAndTheChunkChecksum() throws {
        var bytes = try load("mitre_sysmon_ID12_13_sip_provider.evtx")
        let intact = try decode(bytes)
        XCTAssertEqual(intact.summary.records, 27)
        let victim = intact.records[10]
        bytes[victim.fileOffset + 24] ^= 0xF0  // the fragment header token 0x0f → 0xff
        let d = try decode(bytes)
        XCTAssertEqual(d.summary.records, 26)
        XCTAssertEqual(d.summary.recordsFailed, 1)
        XCTAssertEqual(d.records.map(\.recordID), intact.records.map(\.recordID).filter { $0 != victim.recordID })
        XCTAssertEqual(d.summary.problems.map(\.kind), [.chunkRecordsChecksum, .record])
        XCTAssertEqual(d.summary.problems.map(\.offset), [Self.chunkOffset(0) + 512, victim.fileOffset])
        XCTAssertTrue(d.summary.problems[1].message.contains("invalid binary XML token 0xff"), d.summary.problems[1].message)
    }

    func testFlippedStringBitChangesOnlyThatValueAndIsCaughtByCRC() throws {
        var bytes = try load("mitre_sysmon_ID12_13_sip_provider.evtx")
        let intact = try decode(bytes)
        // Find the UTF-16 "HKLM" of the first TargetObject in the record area and change H → J.
        let needle: [UInt8] = Array("HKLM".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        let start = Self.chunkOffset(0) + 512
        let at = try XCTUnwrap((start..<(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle })
        bytes[at] ^= 0x02
        let d = try decode(bytes)
        XCTAssertEqual(d.summary.records, 27)
        XCTAssertEqual(d.summary.recordsFailed, 0)
        XCTAssertEqual(d.summary.problems.map(\.kind), [.chunkRecordsChecksum])
        let changed = zip(intact.records, d.records).filter { $0.data != $1.data }
        XCTAssertEqual(changed.count, 1)
        XCTAssertEqual(changed.first?.1.value("TargetObject")?.prefix(4), "JKLM")
    }

    func testWrongChecksumsAreReportedAndTheDataStillRead() throws {
        var bytes = try load("mitre_sysmon_ID12_13_sip_provider.evtx")
        bytes[124] ^= 1  // file header CRC32
        bytes[Self.chunkOffset(0) + 124] ^= 1  // chunk header CRC32
        bytes[Self.chunkOffset(0) + 52] ^= 1  // chunk records CRC32
        let d = try decode(bytes)
        XCTAssertEqual(d.summary.records, 27)
        XCTAssertEqual(d.summary.problems.map(\.kind), [.fileHeaderChecksum, .chunkHeaderChecksum, .chunkRecordsChecksum])
        XCTAssertEqual(d.summary.problems.map(\.offset), [0, Self.chunkOffset(0), Self.chunkOffset(0) + 512])
    }

    func testChunkOfZerosAndChunkWithoutSignature() throws {
        var bytes = try load("evtxrs_security.evtx")
        let whole = try decode(bytes)
        let intact = whole.records
        for k in Self.chunkOffset(3)..<Self.chunkOffset(4) { bytes[k] = 0 }
        bytes[Self.chunkOffset(7)] = UInt8(ascii: "X")
        let d = try decode(bytes)
        let lost = intact.filter { ($0.fileOffset >= Self.chunkOffset(3) && $0.fileOffset < Self.chunkOffset(4))
            || ($0.fileOffset >= Self.chunkOffset(7) && $0.fileOffset < Self.chunkOffset(8)) }
        XCTAssertGreaterThan(lost.count, 100)
        XCTAssertEqual(d.summary.records, intact.count - lost.count)
        XCTAssertEqual(d.summary.totals.chunksUnused, whole.summary.totals.chunksUnused + 1)
        XCTAssertEqual(d.summary.totals.chunksDamaged, 1)
        XCTAssertEqual(d.summary.problems.map(\.kind), [.chunkDamaged])
        XCTAssertEqual(d.summary.problems.map(\.offset), [Self.chunkOffset(7)])
    }

    func testBadRecordSizeEndsTheChunkThere() throws {
        var bytes = try load("mitre_sysmon_ID12_13_sip_provider.evtx")
        let intact = try decode(bytes).records
        let victim = intact[20]
        bytes[victim.fileOffset + 4] = 0x10  // size 16 < 28
        bytes[victim.fileOffset + 5] = 0
        bytes[victim.fileOffset + 6] = 0
        bytes[victim.fileOffset + 7] = 0
        let d = try decode(bytes)
        XCTAssertEqual(d.records.map(\.recordID), intact.prefix(20).map(\.recordID))
        XCTAssertEqual(d.summary.recordsFailed, 1)
        XCTAssertEqual(d.summary.problems.map(\.kind), [.chunkRecordsChecksum, .recordFraming])
        XCTAssertEqual(d.summary.problems.last?.offset, victim.fileOffset)
    }

    func testNotAnEvtxFile() throws {
        XCTAssertThrowsError(try decode(Array(repeating: 0x41, count: 5000))) { error in
            XCTAssertEqual((error as? EvtxError)?.offset, 0)
        }
        XCTAssertThrowsError(try decode([]))
    }

    /// Every byte of a record (framing, template definition, values) flipped in
    /// turn: decoding ends every time, and the damage is reported.
    func testEveryByteOfARecordCorruptedStillTerminates() throws {
        let bytes = try load("mitre_sysmon_ID19_20_wmi_powerlurk.evtx")
        let intact = try decode(bytes, threads: 1)
        let first = intact.records[0].fileOffset
        let end = intact.records[1].fileOffset
        for k in first..<end {
            var copy = bytes
            copy[k] ^= 0xFF
            let d = try decode(copy, threads: 1)
            XCTAssertLessThanOrEqual(d.summary.records, intact.summary.records)
            // The chunk's CRC32 catches every flip, so damage never goes unreported.
            XCTAssertTrue(d.summary.problems.contains { $0.kind == .chunkRecordsChecksum }, "byte \(k)")
        }
    }

    func testParallelDecodeEqualsSingleThread() throws {
        let bytes = try load("pyevtx_issue_43_sysmon.evtx")
        let one = try decode(bytes, threads: 1), two = try decode(bytes, threads: 2)
        XCTAssertEqual(one.records.map(\.recordID), two.records.map(\.recordID))
        XCTAssertEqual(one.records.map(\.data), two.records.map(\.data))
        XCTAssertEqual(one.summary.problems, two.summary.problems)
    }
}
