import Foundation
import XCTest
@testable import SwiftmonEvtx

/// Template plans shared across chunks (``TemplateCache``): a plan an earlier
/// chunk made is used only where the template would compile to the same
/// plan, so every record equals the interpreter's; and it is used (the
/// corpus's chunks repeat their templates).
final class EvtxTemplateCacheTests: XCTestCase {
    private func assertSame(_ a: EvtxChunk.Decoded, _ b: EvtxChunk.Decoded, _ what: @autoclosure () -> String) {
        XCTAssertEqual(a.records.count, b.records.count, "\(what()): records")
        XCTAssertEqual(a.recordsFailed, b.recordsFailed, "\(what()): failed")
        XCTAssertEqual(a.problems, b.problems, "\(what()): problems")
        for (x, y) in zip(a.records, b.records) where !same(x, y) {
            XCTFail("\(what()) record \(y.recordID):\n shared: \(String(reflecting: x))\n alone:  \(String(reflecting: y))")
        }
    }

    /// Every stored field (compared one by one: reflecting whole records
    /// made the byte-by-byte test below take minutes).
    private func same(_ x: EvtxRecord, _ y: EvtxRecord) -> Bool {
        x.recordID == y.recordID && x.written == y.written && x.fileOffset == y.fileOffset
            && x.providerName == y.providerName && x.providerGuid == y.providerGuid && x.eventSourceName == y.eventSourceName
            && x.eventID == y.eventID && x.qualifiers == y.qualifiers && x.version == y.version && x.level == y.level
            && x.task == y.task && x.opcode == y.opcode && x.keywords == y.keywords && x.timeCreated == y.timeCreated
            && x.eventRecordID == y.eventRecordID && x.activityID == y.activityID && x.relatedActivityID == y.relatedActivityID
            && x.processID == y.processID && x.threadID == y.threadID && x.channel == y.channel && x.computer == y.computer
            && x.userID == y.userID && x.section == y.section && x.values.bytes == y.values.bytes
            && x.values.ends == y.values.ends && x.data == y.data
    }

    /// Every chunk of every corpus file, in file order through one cache,
    /// against the interpreter.
    func testSharedPlansGiveTheInterpretersRecordsOnTheCorpus() throws {
        var shared = 0, securityShared = 0
        for url in try EvtxCorpus.files() {
            let name = url.lastPathComponent
            let file = try EvtxFileBytes(path: url.path)
            let reader = try EvtxReader(file: file)
            for full in [true, false] {
                let cache = TemplateCache(full: full)
                for k in 0..<reader.physicalChunks {
                    let offset = EvtxFileHeader.size + k * EvtxChunk.size
                    let viaCache = EvtxChunk.decode(file.bytes, at: offset, full: full, plans: true, cache: cache)
                    let interpreter = EvtxChunk.decode(file.bytes, at: offset, full: full, plans: false)
                    assertSame(viaCache, interpreter, "\(name) chunk \(k) full \(full)")
                }
                shared += cache.shared
                if name == "evtxrs_security.evtx" && full { securityShared = cache.shared }
            }
        }
        print("EvtxTemplateCacheTests: \(shared) plans shared across chunks, \(securityShared) on evtxrs_security.evtx")
        // A Security log's chunks define mostly the same templates (measured:
        // 61 % of its definitions byte-identical to an earlier chunk's).
        XCTAssertGreaterThan(securityShared, 100)
    }

    /// A chunk followed by a copy of itself with one byte changed, for every
    /// other byte of its first records (where its templates and the names
    /// they share are defined): the copy decoded after the original, through
    /// the original's plans, equals the copy decoded alone. A changed body,
    /// or a changed name that a body refers to outside itself, must not
    /// reuse the original's plan.
    func testAChangedTemplateOrNameIsNotSharedFromTheChunkBefore() throws {
        guard let url = try EvtxCorpus.files().first(where: { $0.lastPathComponent == "evtxrs_security.evtx" }) else {
            return XCTFail("evtxrs_security.evtx is not in the corpus")
        }
        let file = try EvtxFileBytes(path: url.path)
        let original = Array(file.bytes[EvtxFileHeader.size..<(EvtxFileHeader.size + EvtxChunk.size)])
        var pair = original + original
        var differing = 0
        let first = original.withUnsafeBytes { EvtxChunk.decode($0, at: 0, full: true) }
        for i in stride(from: EvtxChunk.headerSize, to: EvtxChunk.headerSize + 6144, by: 2) {
            pair[EvtxChunk.size + i] ^= 0x01
            defer { pair[EvtxChunk.size + i] = original[i] }
            pair.withUnsafeBytes { bytes in
                let cache = TemplateCache(full: true)
                _ = EvtxChunk.decode(bytes, at: 0, full: true, cache: cache)
                let viaCache = EvtxChunk.decode(bytes, at: EvtxChunk.size, full: true, cache: cache)
                let alone = EvtxChunk.decode(bytes, at: EvtxChunk.size, full: true)
                assertSame(viaCache, alone, "byte \(i) changed")
                if first.records.count != alone.records.count || zip(first.records, alone.records).contains(where: { !same($0.0, $0.1) }) {
                    differing += 1
                }
            }
        }
        // The changes do reach the records (else the test would show nothing).
        XCTAssertGreaterThan(differing, 100)
    }
}
