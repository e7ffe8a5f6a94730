import Foundation
import SwiftmonCore
import SwiftmonTestSupport
import XCTest
@testable import SwiftmonETL

final class EtlContainerTests: XCTestCase {
    func testEveryCorpusFileDecodesWithoutError() throws {
        for url in try EtlCorpus.files() {
            let sink = CollectingSink()
            let summary = try EtlDecoder.decode(file: url.path, into: sink)
            XCTAssertGreaterThan(summary.records, 0, url.lastPathComponent)
            XCTAssertEqual(summary.errorCount, 0, url.lastPathComponent)
            // Nothing silently dropped: every record becomes an event or is
            // merged into one (the second report of a process start or end).
            XCTAssertEqual(sink.events.count + summary.mergedRecords, summary.records, url.lastPathComponent)
        }
    }

    /// Counts per provider, id, opcode and version equal dissect.etl's, computed now.
    func testCountsMatchDissectEtl() throws {
        let script = EtlCorpus.repositoryRoot.appendingPathComponent("scripts/etl-reference-counts.py")
        for url in try EtlCorpus.files() {
            let reference = try runReference(script: script, file: url)
            let summary = try EtlDecoder.decode(file: url.path, into: nil)
            let ours = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(summary.json.utf8)) as? [String: Any])
            let name = url.lastPathComponent
            XCTAssertEqual(ours["records"] as? Int, reference["records"] as? Int, name)
            XCTAssertEqual(ours["eventsLost"] as? Int, reference["eventsLost"] as? Int, name)
            XCTAssertEqual(ours["buffersLost"] as? Int, reference["buffersLost"] as? Int, name)
            XCTAssertEqual(ours["pointerSize"] as? Int, reference["pointerSize"] as? Int, name)
            XCTAssertEqual(ours["buffersWritten"] as? Int, reference["buffersWritten"] as? Int, name)
            func keyed(_ list: Any?) -> [String: Int] {
                var out: [String: Int] = [:]
                for c in (list as? [[String: Any]]) ?? [] {
                    let key = "\(c["provider"] ?? "") id=\(c["id"] ?? "") op=\(c["opcode"] ?? "") v=\(c["version"] ?? "")"
                    out[key] = c["count"] as? Int
                }
                return out
            }
            let mine = keyed(ours["counts"]), theirs = keyed(reference["counts"])
            XCTAssertFalse(theirs.isEmpty, name)
            for key in Set(mine.keys).union(theirs.keys).sorted() where mine[key] != theirs[key] {
                XCTFail("\(name): \(key): swiftmon \(mine[key].map(String.init) ?? "none"), dissect.etl \(theirs[key].map(String.init) ?? "none")")
            }
        }
    }

    private func runReference(script: URL, file: URL) throws -> [String: Any] {
        // $SWIFTMON_PYTHON, else the python3 on PATH (where pip installed dissect.etl).
        let python = ProcessInfo.processInfo.environment["SWIFTMON_PYTHON"] ?? findInPath("python3")
        guard let python else { try TestRequirement.unavailable("python3 is not installed") }
        // dissect.etl is slow on the larger traces.
        let r = try Command.run(URL(fileURLWithPath: python), [script.path, file.path], timeout: 1800)
        if r.status == 3 { try TestRequirement.unavailable("dissect.etl is missing: \(r.stderrText)") }
        guard r.status == 0 else {
            XCTFail("reference script failed on \(file.lastPathComponent): \(r.stderrText)")
            return [:]
        }
        return try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
    }

    private func findInPath(_ name: String) -> String? {
        // pyenv and similar put python3 on PATH only.
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    func testLogfileHeaderFacts() throws {
        let reader = try EtlReader(path: try EtlCorpus.file("tx_Process.etl").path)
        XCTAssertEqual(reader.header.osVersion, "6.1.7600")
        XCTAssertEqual(reader.header.pointerSize, 8)
        XCTAssertEqual(reader.header.numberOfProcessors, 2)
        XCTAssertEqual(reader.header.clockType, 1)
        XCTAssertEqual(reader.header.loggerName, "DataCollector02")
        XCTAssertEqual(reader.buffers.count, 182)
        // The logfile header's record is the clock's anchor: it reads back as StartTime.
        var first: EtlRecord?
        var previous = Int64.min
        var ordered = true
        reader.forEachRecord { r in
            if first == nil, r.kind == .system, r.group == 0, r.opcode == 0 { first = r }
            if r.ticks < previous { ordered = false }
            previous = r.ticks
        }
        XCTAssertEqual(first?.time.iso8601Nanoseconds, "2010-10-29T19:07:49.659636200Z")
        XCTAssertTrue(ordered, "records are merged into timestamp order")
    }

    func testCompressedBuffersAreDecompressed() throws {
        let reader = try EtlReader(path: try EtlCorpus.file("perfview_net.4.5.2.x64.etl").path)
        XCTAssertEqual(reader.buffers.filter(\.isCompressed).count, reader.buffers.count - 1)
        var kinds: [EtlHeaderKind: Int] = [:]
        var withStacks = 0
        reader.forEachRecord { r in
            kinds[r.kind, default: 0] += 1
            if r.extendedData.contains(where: { $0.type == EtlExtendedData.Item.stackTrace64 }) { withStacks += 1 }
        }
        XCTAssertGreaterThan(kinds[.perfInfo] ?? 0, 0)
        XCTAssertGreaterThan(kinds[.event] ?? 0, 0)
        XCTAssertGreaterThan(kinds[.classic] ?? 0, 0)
        XCTAssertGreaterThan(kinds[.system] ?? 0, 0)
        XCTAssertGreaterThan(withStacks, 0, "stack-trace extended items are read")
    }
}
