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
    /// record's String when the bytes repeat, and change when they do not.
    func testRecentStringsReuseOnlyEqualBytes() {
        var recent = RecentStrings()
        let a = recent.string(for: 1, Array("WIN-1".utf8))
        let b = recent.string(for: 1, Array("WIN-1".utf8))
        let c = recent.string(for: 1, Array("WIN-2".utf8))
        let d = recent.string(for: 2, Array("WIN-1".utf8))
        XCTAssertEqual(a, "WIN-1")
        XCTAssertEqual(b, "WIN-1")
        XCTAssertEqual(c, "WIN-2")
        XCTAssertEqual(d, "WIN-1")
        XCTAssertEqual(recent.string(for: 1, []), "")
    }
}

/// Damaged binary XML can end an element while one of its attributes is still
/// being read; the attribute ends with the element (before, reading it later
/// indexed an element no longer open and trapped).
final class EvtxCollectorDamageTests: XCTestCase {
    func testAnElementEndedInsideItsStartTagKeepsItsAttribute() {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { storage.deallocate() }
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        var c = RecordCollector(chunk: ChunkBytes(bytes: UnsafeRawBufferPointer(storage)), full: true)
        for name in ["Event", "System", "Provider", "Name", "Computer"] {
            c.strings.names.append(ChunkName(string: name, code: NameCode(name)))
        }
        c.strings.texts = ["Microsoft-Windows-Sysmon", "host"]
        c.begin(EvtxRecord(recordID: 1, written: 0, fileOffset: 0), capacity: 64)
        c.open(0); c.open(1); c.open(2)
        c.attribute(3); c.text(0)
        c.end()  // Provider ends inside its start tag
        c.open(4); c.closeStart(); c.text(1); c.end()
        c.end(); c.end()
        let r = c.finish()
        XCTAssertEqual(r.providerName, "Microsoft-Windows-Sysmon")
        XCTAssertEqual(r.computer, "host")
    }
}
