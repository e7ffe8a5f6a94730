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
}
