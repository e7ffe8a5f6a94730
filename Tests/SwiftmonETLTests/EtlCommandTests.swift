import Foundation
import SwiftmonTestSupport
import XCTest
@testable import SwiftmonETL

/// The built `swiftmon etl` binary: the summary contract and exit statuses.
final class EtlCommandTests: XCTestCase {
    private func run(_ arguments: [String]) throws -> (status: Int32, out: Data, err: String) {
        let r = try BuiltBinary.runSwiftmon(arguments)
        return (r.status, r.stdout, r.stderrText)
    }

    func testSummaryJSONIsOneObjectMatchingTheLibrary() throws {
        let file = try EtlCorpus.file("tx_Process.etl").path
        let r = try run(["etl", file, "--summary", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.err)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: r.out) as? [String: Any])
        let summary = try EtlDecoder.decode(file: file, into: nil)
        XCTAssertEqual(json["records"] as? Int, summary.records)
        XCTAssertEqual(json["eventsLost"] as? Int, 0)
        XCTAssertEqual(json["buffersLost"] as? Int, 0)
        XCTAssertEqual(json["osVersion"] as? String, "6.1.7600")
        let counts = try XCTUnwrap(json["counts"] as? [[String: Any]])
        XCTAssertEqual(counts.reduce(0) { $0 + (($1["count"] as? Int) ?? 0) }, summary.records)
        XCTAssertEqual(Set(counts.flatMap { $0.keys }), ["provider", "id", "opcode", "version", "count"])
    }

    func testEventsAsJSONLinesAndLossesOnStderr() throws {
        let file = try EtlCorpus.file("airbus_AMSITrace.etl").path
        let r = try run(["etl", file, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = String(decoding: r.out, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 21)
        for line in lines { XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8))) }
        XCTAssertTrue(r.err.contains("3 event(s) lost"), r.err)
    }

    /// A full disk and a closed pipe on standard output: every event decoded
    /// is written or counted lost under the errno, exactly.
    func testBrokenStandardOutputCountsEveryEventItCouldNotWrite() throws {
        let file = try EtlCorpus.file("airbus_AMSITrace.etl").path
        try StandardOutputFault.assertEveryEventCountedLost(["etl", file, "--format", "json"], accepted: 21)
    }

    func testEventsFilteredByASysmonConfigurationAndStored() throws {
        let file = try EtlCorpus.file("airbus_ShutdownPerfDiagLogger.etl").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-etl-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("only-create.xml")
        try Data("""
            <Sysmon schemaversion="4.90"><EventFiltering><RuleGroup groupRelation="or">
            <ProcessCreate onmatch="include"><Image name="svchost" condition="end with">svchost.exe</Image></ProcessCreate>
            </RuleGroup></EventFiltering></Sysmon>
            """.utf8).write(to: config)
        let store = dir.appendingPathComponent("trace.db").path
        let r = try run(["etl", file, "--format", "xml", "--config", config.path, "--store", store])
        XCTAssertEqual(r.status, 0, r.err)
        let documents = String(decoding: r.out, as: UTF8.self).split(separator: "\n")
        XCTAssertTrue(documents.contains { $0.contains("<EventID>1</EventID>") }, "svchost starts are in the trace")
        for doc in documents where doc.contains("<EventID>1</EventID>") {
            XCTAssertTrue(doc.contains("<Data Name=\"RuleName\">svchost</Data>"), String(doc))
        }
        XCTAssertTrue(documents.allSatisfy { $0.hasPrefix("<Event>") })
        XCTAssertFalse(documents.contains { $0.contains("<EventID>3</EventID>") }, "no network block: not logged")
        let q = try run(["query", "--store", store, "--event", "1", "--format", "json", "--limit", "0"])
        XCTAssertEqual(q.status, 0, q.err)
        XCTAssertEqual(String(decoding: q.out, as: UTF8.self).split(separator: "\n").count,
                       documents.filter { $0.contains("<EventID>1</EventID>") }.count)
    }

    func testDamagedFileFailsWithOffsetAfterOutput() throws {
        let data = try Data(contentsOf: try EtlCorpus.file("tx_Process.etl"))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-etl-cut-\(getpid()).etl")
        try data.prefix(100_001).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let r = try run(["etl", path.path])
        XCTAssertEqual(r.status, 65)
        XCTAssertTrue(r.err.contains("byte offset 100001"), r.err)
        XCTAssertGreaterThan(r.out.count, 0, "what could be decoded was printed first")
        let missing = try run(["etl", "/nonexistent/trace.etl"])
        XCTAssertEqual(missing.status, 66)
    }
}
