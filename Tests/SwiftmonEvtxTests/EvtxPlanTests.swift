import Foundation
import XCTest
@testable import SwiftmonEvtx

/// Template plans (``TemplatePlan``) against the interpreter: every chunk of
/// every corpus file decoded both ways gives the same records, field for field
/// and byte for byte, the same failures and problems — and most records do go
/// through a plan.
final class EvtxPlanTests: XCTestCase {
    func testPlansAndTheInterpreterGiveIdenticalRecordsOnTheCorpus() throws {
        var planned = 0, interpreted = 0, records = 0
        for url in try EvtxCorpus.files() {
            let name = url.lastPathComponent
            let file = try EvtxFileBytes(path: url.path)
            let reader = try EvtxReader(file: file)
            for full in [true, false] {
                for k in 0..<reader.physicalChunks {
                    let offset = EvtxFileHeader.size + k * EvtxChunk.size
                    let viaPlans = EvtxChunk.decode(file.bytes, at: offset, full: full, plans: true)
                    let interpreter = EvtxChunk.decode(file.bytes, at: offset, full: full, plans: false)
                    XCTAssertEqual(interpreter.recordsPlanned, 0, "\(name) chunk \(k)")
                    XCTAssertEqual(viaPlans.records.count, interpreter.records.count, "\(name) chunk \(k) full \(full): records")
                    XCTAssertEqual(viaPlans.recordsFailed, interpreter.recordsFailed, "\(name) chunk \(k) full \(full): failed")
                    XCTAssertEqual(viaPlans.problems, interpreter.problems, "\(name) chunk \(k) full \(full): problems")
                    for (a, b) in zip(viaPlans.records, interpreter.records) {
                        // Every stored field, the data's UTF-8 bytes and item ends included.
                        let planText = String(reflecting: a), interpretedText = String(reflecting: b)
                        if planText != interpretedText {
                            XCTFail("\(name) record \(b.recordID) full \(full):\n plan:        \(planText)\n interpreter: \(interpretedText)")
                        }
                    }
                    if full {
                        planned += viaPlans.recordsPlanned
                        interpreted += viaPlans.recordsInterpreted
                        records += viaPlans.records.count
                        // Plan or interpreter, every record that was decoded went one way.
                        XCTAssertGreaterThanOrEqual(viaPlans.recordsPlanned + viaPlans.recordsInterpreted, viaPlans.records.count, "\(name) chunk \(k)")
                    }
                }
            }
        }
        print("EvtxPlanTests: \(records) records, \(planned) through plans, \(interpreted) interpreted")
        // Measured on the corpus: the interpreter keeps only templates with
        // UserData, nested binary XML or names made of values.
        XCTAssertGreaterThan(planned, records * 3 / 4, "records through plans: \(planned) of \(records)")
        XCTAssertGreaterThan(interpreted, 0, "the corpus has records the plans leave to the interpreter")
    }

    /// A record's text fields decoded through a plan reuse the previous
    /// record's String when the value's type and bytes repeat, and are
    /// rendered again when either changes.
    func testRecentStringsReuseOnlyEqualValues() {
        // "WIN-1" at 0, "WIN-2" at 10, "WIN-1" again at 20 (UTF-16LE), 16 bytes of a GUID at 30.
        var bytes: [UInt8] = []
        for text in ["WIN-1", "WIN-2", "WIN-1"] { for u in text.utf16 { bytes += [UInt8(u & 0xFF), UInt8(u >> 8)] } }
        bytes += (0..<16).map { UInt8($0) }
        bytes.withUnsafeBytes { raw in
            let c = ChunkBytes(bytes: raw)
            var recent = RecentStrings()
            var scratch: [UInt8] = []
            func text(_ key: UInt8, _ type: UInt8, _ offset: Int32, _ size: Int32) -> String {
                recent.string(for: key, c, ValueRef(type: type, offset: offset, size: size), scratch: &scratch)
            }
            XCTAssertEqual(text(1, 0x01, 0, 10), "WIN-1")
            XCTAssertEqual(text(1, 0x01, 20, 10), "WIN-1")  // same bytes elsewhere
            XCTAssertEqual(text(1, 0x01, 10, 10), "WIN-2")
            XCTAssertEqual(text(2, 0x01, 0, 10), "WIN-1")
            XCTAssertEqual(text(1, 0x01, 0, 8), "WIN-")  // a prefix is not the same value
            XCTAssertEqual(text(1, 0x0E, 0, 8), "570049004E002D00")  // same bytes, another type
            XCTAssertEqual(text(1, 0x0F, 30, 16), "{03020100-0504-0706-0809-0A0B0C0D0E0F}")
            XCTAssertEqual(text(1, 0x0F, 30, 16), "{03020100-0504-0706-0809-0A0B0C0D0E0F}")
            XCTAssertEqual(text(1, 0x01, 0, 0), "")
        }
    }

    /// Data names of a planned record are the plan's own array while one
    /// plan supplies the items in its order; items of another plan (nested
    /// EventData beside the parent's), a plan used twice, or the interpreter
    /// in between give the record its own names, each item keeping its name.
    func testDataNamesFromSeveralPlansStayWithTheirItems() {
        let raw = [UInt8](repeating: 0, count: 16)
        raw.withUnsafeBytes { bytes in
            func plan(_ names: [String]) -> TemplatePlan {
                var parts = TemplatePlan.Parts()
                parts.names = names
                // Item k's value is the plan's literal text k ("v0", "v1", …).
                parts.texts = ["v0", "v1", "v2"]
                parts.pieces = names.indices.map { .text(Int32($0)) }
                parts.steps = names.indices.map { .item(name: Int32($0), $0..<($0 + 1)) }
                return TemplatePlan(parts)
            }
            let a = plan(["A1", "A2"]), b = plan(["B1"])
            var c = RecordCollector(chunk: ChunkBytes(bytes: bytes), full: true)
            func record(_ steps: [(TemplatePlan?, Int)]) -> EvtxRecord {
                c.begin(EvtxRecord(recordID: 1, written: 0, fileOffset: 0), capacity: 64)
                for (p, k) in steps {
                    if let p {
                        c.apply(p.steps[k], of: p, values: UnsafeBufferPointer(start: nil, count: 0))
                    } else {
                        c.record.values.bytes += Array("x".utf8)
                        c.commit("Interpreted")
                    }
                }
                return c.finish()
            }
            func pairs(_ r: EvtxRecord) -> [String] { r.data.map { "\($0.name)=\($0.value)" } }

            let whole = record([(a, 0), (a, 1)])
            XCTAssertEqual(pairs(whole), ["A1=v0", "A2=v1"])
            XCTAssertTrue(whole.values.names.withUnsafeBufferPointer { n in a.names.withUnsafeBufferPointer { $0.baseAddress == n.baseAddress } },
                          "one plan's items in order share its names")
            XCTAssertEqual(pairs(record([(a, 0), (b, 0), (a, 1)])), ["A1=v0", "B1=v0", "A2=v1"])
            XCTAssertEqual(pairs(record([(b, 0), (a, 0), (a, 1)])), ["B1=v0", "A1=v0", "A2=v1"])
            XCTAssertEqual(pairs(record([(a, 0), (a, 1), (a, 0), (a, 1)])), ["A1=v0", "A2=v1", "A1=v0", "A2=v1"])
            XCTAssertEqual(pairs(record([(b, 0), (a, 1)])), ["B1=v0", "A2=v1"])
            XCTAssertEqual(pairs(record([(a, 0), (nil, 0), (a, 1)])), ["A1=v0", "Interpreted=x", "A2=v1"])
            XCTAssertEqual(pairs(record([(nil, 0), (a, 0)])), ["Interpreted=x", "A1=v0"])
            // A plan's items cut short (only its first): the names end with the items.
            let cut = record([(a, 0)])
            XCTAssertEqual(pairs(cut), ["A1=v0"])
            XCTAssertEqual(cut.values.names, ["A1"])
            XCTAssertEqual(a.names, ["A1", "A2"], "the plan's own names are never changed")
        }
    }
}
