import Foundation
import SwiftmonCore
import SwiftmonTestSupport
import XCTest
@testable import SwiftmonEvtx

/// The corpus against the Rust `evtx` crate (PyPI `evtx`), computed now.
final class EvtxConformanceTests: XCTestCase {
    /// Totals, failed records and per-(provider, EventID) counts equal the crate's for every file.
    func testCountsMatchTheEvtxCrate() throws {
        for url in try EvtxCorpus.files() {
            let name = url.lastPathComponent
            let reference = try EvtxCorpus.reference(url, values: false)
            let summary = try EvtxDecoder.decode(file: url.path, into: nil)
            XCTAssertEqual(summary.records, reference["records"] as? Int, name)
            XCTAssertEqual(summary.recordsFailed, reference["recordsFailed"] as? Int, name)
            var theirs: [String: Int] = [:]
            for c in (reference["counts"] as? [[String: Any]]) ?? [] {
                theirs["\(c["provider"] as? String ?? "?")/\(c["id"] as? Int ?? -1)"] = c["count"] as? Int
            }
            var mine: [String: Int] = [:]
            for c in summary.counts { mine["\(c.provider)/\(c.id)"] = c.count }
            for key in Set(mine.keys).union(theirs.keys).sorted() where mine[key] != theirs[key] {
                XCTFail("\(name): \(key): swiftmon \(mine[key].map(String.init) ?? "none"), evtx \(theirs[key].map(String.init) ?? "none")")
            }
            // The summary JSON carries the same numbers.
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(summary.json.utf8)) as? [String: Any], name)
            XCTAssertEqual(json["records"] as? Int, summary.records, name)
            XCTAssertEqual(json["recordsFailed"] as? Int, summary.recordsFailed, name)
        }
    }

    /// Every Sysmon record becomes the event of its EventID, and every EventData
    /// value equals the text of the crate's `<Data Name=..>`. Documented
    /// differences: Windows writes a GUID value braced (`{…}`), the crate without;
    /// an unpaired UTF-16 surrogate becomes U+FFFD here, the crate drops it.
    func testSysmonValuesMatchTheEvtxCrate() throws {
        var compared = 0
        for url in try EvtxCorpus.files() {
            let name = url.lastPathComponent
            let reader = try EvtxReader(path: url.path)
            var sysmon: [UInt64: Event] = [:]
            reader.forEachRecord { record in
                if record.providerName == EvtxEventMapper.sysmonProvider {
                    sysmon[record.recordID] = EvtxEventMapper.event(record)
                }
            }
            if sysmon.isEmpty { continue }
            let reference = try EvtxCorpus.reference(url, values: true)
            let theirs = try XCTUnwrap(reference["sysmon"] as? [String: [String: Any]], name)
            XCTAssertEqual(sysmon.count, theirs.count, "\(name): Sysmon records")
            for (key, record) in theirs {
                guard let id = UInt64(key), let event = sysmon[id] else {
                    XCTFail("\(name): record \(key) missing")
                    continue
                }
                let eventID = record["id"] as? Int ?? -1
                XCTAssertEqual(event.kind.id, eventID, "\(name) record \(key): event kind")
                let data = record["data"] as? [[String]] ?? []
                var named = Set<String>()
                for pair in data where pair.count == 2 {
                    named.insert(pair[0])
                    let ours = event[pair[0]]
                    // An unpaired UTF-16 surrogate (garbage in one dirty record) is U+FFFD here; the crate drops it.
                    let replaced = ours.map { String($0.unicodeScalars.filter { $0 != "\u{FFFD}" }) }
                    let matches = ours == pair[1] || (ours == "{\(pair[1])}" && EvtxConformanceTests.isGuid(pair[1]))
                        || (ours != replaced && replaced == pair[1])
                    if !matches {
                        XCTFail("\(name) record \(key) \(pair[0]): swiftmon \(ours ?? "no such field"), evtx \(pair[1])")
                    }
                    compared += 1
                }
                // Nothing invented: fields the record does not have stay absent.
                for (field, value) in event.fields where !named.contains(field) && value != Event.absent {
                    XCTFail("\(name) record \(key): \(field)=\(value) is not in the record")
                }
            }
        }
        XCTAssertGreaterThan(compared, 20_000, "values compared")
    }

    static func isGuid(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && s.allSatisfy { $0 == "-" || $0.isHexDigit }
    }
}
