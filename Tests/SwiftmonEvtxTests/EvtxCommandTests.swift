import Foundation
import SwiftmonTestSupport
import XCTest
@testable import SwiftmonEvtx

/// The built `swiftmon evtx` binary: the summary contract, events, formats
/// told apart by their bytes, exit statuses.
final class EvtxCommandTests: XCTestCase {
    private func run(_ arguments: [String]) throws -> (status: Int32, out: Data, err: String) {
        let r = try BuiltBinary.runSwiftmon(arguments)
        return (r.status, r.stdout, r.stderrText)
    }

    func testSummaryJSONContract() throws {
        let file = try EvtxCorpus.file("mitre_powershell_800_4103_4104_bits.evtx").path
        let r = try run(["evtx", file, "--summary", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.err)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: r.out) as? [String: Any])
        XCTAssertEqual(json["records"] as? Int, 11)
        XCTAssertEqual(json["recordsFailed"] as? Int, 0)
        let counts = try XCTUnwrap(json["counts"] as? [[String: Any]])
        XCTAssertEqual(counts.map { "\($0["provider"]!)/\($0["id"]!)=\($0["count"]!)" },
                       ["Microsoft-Windows-PowerShell/4103=3", "Microsoft-Windows-PowerShell/4104=5", "PowerShell/800=3"])
    }

    func testDirtyFileWithDamagedChunksPrintsEverythingThenFails() throws {
        let file = try EvtxCorpus.file("evtxrs_sysmon.evtx").path
        let r = try run(["evtx", file, "--format", "json"])
        XCTAssertEqual(r.status, 65, r.err)
        let lines = String(decoding: r.out, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 358)
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(first["EventID"] as? Int, 1)
        XCTAssertEqual(first["Image"] as? String, "C:\\Windows\\SysWOW64\\PING.EXE")
        XCTAssertTrue(r.err.contains("byte offset 659456: chunk has no ElfChnk signature"), r.err)
    }

    /// A full disk and a closed pipe on standard output: every event read
    /// is written or counted lost under the errno, exactly.
    func testBrokenStandardOutputCountsEveryEventItCouldNotWrite() throws {
        let file = try EvtxCorpus.file("evtxrs_sysmon.evtx").path
        // A full disk is an I/O error (EX_IOERR, above the dirty file's 65);
        // a reader that went away leaves the dirty file's 65.
        try StandardOutputFault.assertEveryEventCountedLost(["evtx", file, "--format", "json"], accepted: 358, closedPipeStatus: 65)
    }

    func testFormatsAreToldApartByTheirBytes() throws {
        let evtx = try EvtxCorpus.file("mitre_system_7045_7036_psexec_service.evtx").path
        // `etl` hands an event log to the .evtx reader.
        let viaEtl = try run(["etl", evtx, "--summary", "--format", "json"])
        XCTAssertEqual(viaEtl.status, 0, viaEtl.err)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: viaEtl.out) as? [String: Any])
        XCTAssertEqual(json["records"] as? Int, 4)
        // `evtx` hands a trace to the .etl decoder.
        let etlDir = EvtxCorpus.directory!.deletingLastPathComponent().appendingPathComponent("etl")
        let trace = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: etlDir.path).filter { $0.hasSuffix(".etl") }.sorted().first)
        let viaEvtx = try run(["evtx", etlDir.appendingPathComponent(trace).path, "--summary", "--format", "json"])
        let traceJSON = try XCTUnwrap(JSONSerialization.jsonObject(with: viaEvtx.out) as? [String: Any], viaEvtx.err)
        XCTAssertNotNil(traceJSON["buffers"], "the .etl summary")
    }

    func testSysmonXMLOutputFilteredByAConfiguration() throws {
        let file = try EvtxCorpus.file("mitre_sysmon_ID1_7_10_11_18_lsassy.evtx").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-evtx-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("lsass.xml")
        try Data("""
            <Sysmon schemaversion="4.90"><EventFiltering><RuleGroup groupRelation="or">
            <ProcessAccess onmatch="include"><TargetImage name="lsass" condition="end with">lsass.exe</TargetImage></ProcessAccess>
            </RuleGroup></EventFiltering></Sysmon>
            """.utf8).write(to: config)
        let store = dir.appendingPathComponent("logs.db").path
        let r = try run(["evtx", file, "--format", "xml", "--config", config.path, "--store", store])
        XCTAssertEqual(r.status, 0, r.err)
        let documents = String(decoding: r.out, as: UTF8.self).split(separator: "\n")
        let access = documents.filter { $0.contains("<EventID>10</EventID>") }
        XCTAssertFalse(access.isEmpty)
        for doc in access { XCTAssertTrue(doc.contains("<Data Name=\"RuleName\">lsass</Data>"), String(doc)) }
        let q = try run(["query", "--store", store, "--event", "10", "--format", "json", "--limit", "0"])
        XCTAssertEqual(q.status, 0, q.err)
        XCTAssertEqual(String(decoding: q.out, as: UTF8.self).split(separator: "\n").count, access.count)
    }

    /// JSON lines of every kind an .evtx gives — generic Windows events
    /// (211) included — have one EventID key each and import back, none
    /// malformed, with the record's own EventID and Computer kept as fields.
    func testJSONLinesOfWindowsEventsImportBack() throws {
        let file = try EvtxCorpus.file("mitre_system_7045_7036_psexec_service.evtx").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-evtx-json-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try run(["evtx", file, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = String(decoding: r.out, as: UTF8.self).split(separator: "\n")
        XCTAssertGreaterThan(lines.filter { $0.hasPrefix(#"{"EventID":211,"#) }.count, 0)
        for line in lines { XCTAssertEqual(line.components(separatedBy: #""EventID":"#).count, 2, String(line)) }
        let json = dir.appendingPathComponent("events.json")
        try r.out.write(to: json)
        let store = dir.appendingPathComponent("events.db").path
        let i = try run(["import", "--store", store, json.path])
        XCTAssertEqual(i.status, 0, i.err)
        XCTAssertTrue(i.err.contains("\(lines.count) event(s), \(lines.count) imported, 0 already in the store, 0 malformed"), i.err)
        let q = try run(["query", "--store", store, "--event", "211", "--format", "json", "--limit", "0"])
        XCTAssertEqual(q.status, 0, q.err)
        let stored = try String(decoding: q.out, as: UTF8.self).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(stored.count, lines.filter { $0.hasPrefix(#"{"EventID":211,"#) }.count)
        XCTAssertEqual(Set(stored.compactMap { $0["WindowsEventID"] as? String }), ["104", "7036"])
        XCTAssertEqual(Set(stored.compactMap { $0["Computer"] as? String }), ["jump01.offsec.lan"])
    }

    /// Sysmon's own log of an lsassy run, read with SigmaHQ's Windows rule for
    /// a memory dump through comsvcs.dll: one SigmaMatch (210) after each of
    /// the two ProcessCreate events it names (PowerShell starting rundll32,
    /// rundll32 itself), with the rule and the matched event's identity. `etl`
    /// hands the same file and options to `evtx`: the same alerts.
    func testSigmaRulesRaiseAlertsOnASysmonLog() throws {
        let file = try EvtxCorpus.file("mitre_sysmon_ID1_7_10_11_18_lsassy.evtx").path
        let corpus = try XCTUnwrap(EvtxCorpus.directory).deletingLastPathComponent()
        let rule = corpus.appendingPathComponent("sigma/rules/windows/process_creation/proc_creation_win_rundll32_process_dump_via_comsvcs.yml").path
        guard FileManager.default.fileExists(atPath: rule) else { try TestRequirement.unavailable("the Sigma corpus rule \(rule) is missing") }
        var outputs: [[String]] = []
        for command in ["evtx", "etl"] {
            let r = try run([command, file, "--format", "json", "--sigma", rule])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertTrue(r.err.contains("1 rules loaded, 0 not loaded"), r.err)
            let lines = String(decoding: r.out, as: UTF8.self).split(separator: "\n").map(String.init)
            let objects = try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            let alerts = objects.enumerated().filter { ($0.element["EventID"] as? Int) == 210 }
            XCTAssertEqual(alerts.map { $0.element["Image"] as? String },
                           [#"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"#, #"C:\Windows\System32\rundll32.exe"#])
            for (i, alert) in alerts {
                XCTAssertEqual(alert["RuleId"] as? String, "646ea171-dded-4578-8a4d-65e9822892e3")
                XCTAssertEqual(alert["RuleTitle"] as? String, "Process Memory Dump Via Comsvcs.DLL")
                XCTAssertEqual(alert["RuleLevel"] as? String, "high")
                XCTAssertEqual(alert["MatchedEventID"] as? String, "1")
                // Right after the event it matched.
                let matched = objects[i - 1]
                XCTAssertEqual(matched["EventID"] as? Int, 1)
                XCTAssertEqual(matched["ProcessGuid"] as? String, alert["ProcessGuid"] as? String)
                XCTAssertEqual(matched["UtcTime"] as? String, alert["UtcTime"] as? String)
                XCTAssertTrue((matched["CommandLine"] as? String ?? "").lowercased().contains("comsvcs"), "\(matched)")
            }
            outputs.append(lines)
        }
        XCTAssertEqual(outputs[0], outputs[1], "etl hands an .evtx with its options to evtx")
        XCTAssertNotEqual(try run(["evtx", file, "--summary", "--sigma", rule]).status, 0, "--summary takes no --sigma")
    }

    func testUnreadableFiles() throws {
        XCTAssertEqual(try run(["evtx", "/nonexistent/Security.evtx"]).status, 66)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-evtx-bad-\(getpid()).evtx")
        try Data("ElfFile\0 too short".utf8).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let r = try run(["evtx", path.path])
        XCTAssertEqual(r.status, 65)
        XCTAssertTrue(r.err.contains("byte offset"), r.err)
    }
}
