import Foundation
import SwiftmonCore
import XCTest
@testable import SwiftmonEvtx

/// Events made while a chunk is decoded (from the collector's reused
/// buffers, the records then handed on without their data items: one
/// materialisation of the values) against events made afterwards of whole
/// records by a fresh ``EvtxEventMapper`` — the path the conformance tests
/// check against the `evtx` crate. Equal on every record of the corpus, on
/// one thread and two, through plans and through the interpreter, and on
/// damaged copies.
final class EvtxEventPathTests: XCTestCase {
    /// Everything an event holds, as text: kind, time, every value, exact bytes.
    static func text(_ e: Event) -> String {
        let raw = e.rawBytes.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }
        return "\(e.kind.id) \(e.time.nanoseconds) \(e.values) \(raw)"
    }

    /// The record as ``EvtxReader/forEachEvent(keepData:_:)`` with `keepData: false` hands it on.
    static func withoutData(_ r: EvtxRecord) -> String {
        var r = r
        r.values = DataValues()
        return String(reflecting: r)
    }

    /// Records of `reader` and their events made of the whole records
    /// afterwards (by one maker of their own, as ``EvtxEventMapper/event(_:)``
    /// makes them; the conformance tests check those against the crate).
    static func reference(_ reader: EvtxReader) -> (records: [EvtxRecord], events: [String], totals: EvtxReader.Totals) {
        var records: [EvtxRecord] = [], events: [String] = []
        var maker = EvtxEventMaker()
        let totals = reader.forEachRecord { r in
            records.append(r)
            events.append(text(maker.event(r)))
        }
        return (records, events, totals)
    }

    func compare(_ bytes: EvtxFileBytes, threads: Int, keepData keeps: [Bool], _ label: String) throws {
        let reader = try EvtxReader(file: bytes, threads: threads)
        let expected = Self.reference(reader)
        for keepData in keeps {
            var records: [EvtxRecord] = [], events: [String] = []
            let totals = reader.forEachEvent(keepData: keepData) { r, e in
                records.append(r)
                events.append(Self.text(e))
            }
            let what = "\(label), \(threads) thread(s), keepData \(keepData)"
            XCTAssertEqual(totals.records, expected.totals.records, what)
            XCTAssertEqual(totals.recordsFailed, expected.totals.recordsFailed, what)
            XCTAssertEqual(totals.problems, expected.totals.problems, what)
            XCTAssertEqual(records.count, expected.records.count, what)
            for (k, (a, b)) in zip(records, expected.records).enumerated() {
                if keepData {
                    XCTAssertEqual(String(reflecting: a), String(reflecting: b), "\(what): record \(k)")
                } else if threads == 1 {
                    XCTAssertTrue(a.data.isEmpty, "\(what): record \(k) has no data items")
                    XCTAssertEqual(String(reflecting: a), Self.withoutData(b), "\(what): record \(k)")
                } else {
                    // Field for field on one thread above; here (the same records) the framing.
                    XCTAssertEqual([a.recordID, UInt64(a.fileOffset)], [b.recordID, UInt64(b.fileOffset)], "\(what): record \(k)")
                }
            }
            for (k, (a, b)) in zip(events, expected.events).enumerated() where a != b {
                XCTFail("\(what): event of record \(k):\n made while decoding: \(a)\n of the whole record: \(b)")
                break
            }
        }
    }

    func testEventsMadeWhileDecodingEqualEventsOfWholeRecordsOnTheCorpus() throws {
        for url in try EvtxCorpus.files() {
            let bytes = try EvtxFileBytes(path: url.path)
            try compare(bytes, threads: 1, keepData: [false, true], url.lastPathComponent)
            try compare(bytes, threads: 2, keepData: [false], url.lastPathComponent)
        }
    }

    /// Per chunk, through plans and through the interpreter: the same events.
    func testEventsThroughPlansEqualEventsThroughTheInterpreter() throws {
        let maker = UnsafeMutablePointer<EvtxEventMaker>.allocate(capacity: 1)
        maker.initialize(to: EvtxEventMaker())
        defer { maker.deinitialize(count: 1); maker.deallocate() }
        var planned = 0, events = 0
        for url in try EvtxCorpus.files() {
            let file = try EvtxFileBytes(path: url.path)
            let reader = try EvtxReader(file: file)
            for k in 0..<reader.physicalChunks {
                let offset = EvtxFileHeader.size + k * EvtxChunk.size
                let viaPlans = EvtxChunk.decode(file.bytes, at: offset, full: true, plans: true, maker: maker, keepData: false)
                let interpreter = EvtxChunk.decode(file.bytes, at: offset, full: true, plans: false, maker: maker, keepData: false)
                let what = "\(url.lastPathComponent) chunk \(k)"
                XCTAssertEqual(viaPlans.events.count, viaPlans.records.count, what)
                XCTAssertEqual(interpreter.events.map(Self.text), viaPlans.events.map(Self.text), what)
                XCTAssertEqual(interpreter.records.map { String(reflecting: $0) }, viaPlans.records.map { String(reflecting: $0) }, what)
                planned += viaPlans.recordsPlanned
                events += viaPlans.events.count
            }
        }
        XCTAssertGreaterThan(planned, events * 3 / 4, "events made through plans: \(planned) of \(events)")
    }

    /// Every byte of a Sysmon record flipped in turn: records that fail
    /// part-way (their values partly written into the reused buffers) or
    /// fall back from their plan to the interpreter leave nothing in the
    /// next record's event.
    func testDamagedRecordsLeaveNothingInTheNextEvent() throws {
        let bytes = [UInt8](try Data(contentsOf: EvtxCorpus.file("mitre_sysmon_ID19_20_wmi_powerlurk.evtx")))
        let intact = Self.reference(try EvtxReader(file: EvtxFileBytes(copying: bytes), threads: 1))
        XCTAssertGreaterThan(intact.records.count, 2)
        let first = intact.records[1].fileOffset, end = intact.records[2].fileOffset
        var failed = 0
        for k in first..<end {
            var copy = bytes
            copy[k] ^= 0xFF
            let file = EvtxFileBytes(copying: copy)
            let expected = Self.reference(try EvtxReader(file: file, threads: 1))
            failed += expected.totals.recordsFailed
            var events: [String] = []
            let totals = try EvtxReader(file: file, threads: 1).forEachEvent(keepData: false) { _, e in events.append(Self.text(e)) }
            XCTAssertEqual(totals.records, expected.totals.records, "byte \(k)")
            if events != expected.events { XCTFail("byte \(k): events differ"); break }
        }
        XCTAssertGreaterThan(failed, 0, "some flips fail their record")
    }

    /// The reader hands the value storage of delivered events back to its
    /// makers: events a sink keeps (every other one here, the rest read
    /// while delivered) must not change as later events reuse storage — on
    /// one thread and two, for Security (WindowsEvent) and Sysmon records.
    func testEventsKeptBySinkStayUnchangedWhileLaterEventsReuseStorage() throws {
        for name in ["evtxrs_security.evtx", "pyevtx_issue_43_sysmon.evtx", "mitre_security_4688_4698_schtask.evtx"] {
            let bytes = try EvtxFileBytes(path: EvtxCorpus.file(name).path)
            for threads in [1, 2] {
                let reader = try EvtxReader(file: bytes, threads: threads)
                let expected = Self.reference(reader)
                var kept: [(Int, Event)] = [], delivered: [String] = []
                reader.forEachEvent(keepData: false) { _, e in
                    if delivered.count % 2 == 0 { kept.append((delivered.count, e)) }
                    delivered.append(Self.text(e))
                }
                XCTAssertEqual(delivered, expected.events, "\(name), \(threads) thread(s): as delivered")
                XCTAssertFalse(expected.events.isEmpty, name)
                XCTAssertEqual(kept.count, (expected.events.count + 1) / 2, name)
                for (k, e) in kept where Self.text(e) != expected.events[k] {
                    XCTFail("\(name), \(threads) thread(s): event \(k) changed after it was delivered:\n\(Self.text(e))\n\(expected.events[k])")
                    break
                }
            }
        }
    }
}
