import Foundation
import GRDB
import XCTest
import SwiftmonTestSupport

/// `swiftmon import` as users run it: the real binary on real files.
final class ImportCommandTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "swiftmon-importcli-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    var fixture: String { SysmonLineParserTests.fixtures.appendingPathComponent("sysmon-for-linux.log").path }
    static let evtxCorpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/corpus/evtx")

    func counts(_ result: CommandResult) throws -> [String: Int] {
        let line = try XCTUnwrap(result.stdoutText.split(separator: "\n").last, "no summary; stderr: \(result.stderrText)")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Int])
    }

    func testCollectorFileTwiceWithLocationsAndExitStatus() throws {
        let store = directory + "/s.db"
        let first = try BuiltBinary.runSwiftmon(["import", "--store", store, "--summary-json", fixture])
        XCTAssertEqual(first.status, 65, "a malformed line makes the status 65; stderr: \(first.stderrText)")
        XCTAssertTrue(first.stderrText.contains("sysmon-for-linux.log:7: "), first.stderrText)
        XCTAssertEqual(try counts(first)["imported"], 8)
        XCTAssertEqual(try counts(first)["malformed"], 1)
        // Standard input, the same events: all already there.
        let second = try BuiltBinary.runSwiftmon(["import", "--store", store, "--summary-json", "-"],
                                                 stdin: try Data(contentsOf: URL(fileURLWithPath: fixture)))
        XCTAssertEqual(try counts(second)["imported"], 0)
        XCTAssertEqual(try counts(second)["duplicates"], 8)
        XCTAssertTrue(second.stderrText.contains("<stdin>:7: "), second.stderrText)

        let web = try BuiltBinary.runSwiftmon(["query", "--store", store, "--host", "web-01", "--format", "json"])
        XCTAssertEqual(web.status, 0, web.stderrText)
        XCTAssertEqual(web.stdoutText.split(separator: "\n").count, 6)
        let db = try BuiltBinary.runSwiftmon(["query", "--store", store, "--host", "db-02", "--format", "json"])
        XCTAssertEqual(db.stdoutText.split(separator: "\n").count, 2)
        XCTAssertTrue(db.stdoutText.contains("/var/lib/app/old.db"))
        // The tree across hosts: the sh of web-01, its parent bash from the ProcessCreate's Parent fields.
        let tree = try BuiltBinary.runSwiftmon(["tree", "--store", store, "{ef0c1d6c-96e0-6169-6d3b-c3c9f2550000}"])
        XCTAssertEqual(tree.status, 0, tree.stderrText)
        XCTAssertTrue(tree.stdoutText.contains("/usr/bin/bash") && tree.stdoutText.contains("/usr/bin/sh"), tree.stdoutText)
        let onWeb = try BuiltBinary.runSwiftmon(["tree", "--store", store, "--host", "WEB-01", "{ef0c1d6c-96e0-6169-6d3b-c3c9f2550000}"])
        XCTAssertEqual(onWeb.stdoutText, tree.stdoutText, onWeb.stderrText)
        let onDB = try BuiltBinary.runSwiftmon(["tree", "--store", store, "--host", "db-02", "{ef0c1d6c-96e0-6169-6d3b-c3c9f2550000}"])
        XCTAssertNotEqual(onDB.status, 0)
        XCTAssertTrue(onDB.stderrText.contains("of host db-02"), onDB.stderrText)
    }

    /// swiftmon's own XML and JSON of a real log (`swiftmon evtx` on the corpus),
    /// and the .evtx itself (recognised by its first bytes): one set of events.
    func testSwiftmonXMLJSONAndTheEvtxItselfImportOnce() throws {
        let log = Self.evtxCorpus.appendingPathComponent("mitre_sysmon_ID1_7_10_11_18_lsassy.evtx").path
        guard FileManager.default.fileExists(atPath: log) else { try TestRequirement.unavailable("corpus missing: \(log)") }
        let xml = directory + "/events.xml", json = directory + "/events.jsonl", store = directory + "/s.db"
        for (format, file) in [("xml", xml), ("json", json)] {
            let r = try BuiltBinary.runSwiftmon(["evtx", log, "--format", format, "--output", file])
            XCTAssertEqual(r.status, 0, r.stderrText)
        }
        let lines = try String(contentsOfFile: xml, encoding: .utf8).split(separator: "\n").count
        XCTAssertGreaterThan(lines, 10)
        // This log holds PipeConnected events identical to the millisecond: each is kept.
        let fromXML = try counts(try BuiltBinary.runSwiftmon(["import", "--store", store, "--summary-json", xml]))
        XCTAssertEqual(fromXML["imported"], lines)
        XCTAssertEqual(fromXML["malformed"], 0)
        XCTAssertEqual(fromXML["unknownFields"], 0)
        let again = try counts(try BuiltBinary.runSwiftmon(["import", "--store", store, "--summary-json", xml]))
        XCTAssertEqual(again["duplicates"], lines, "the same XML again adds nothing")
        // Without EventRecordIDs (JSON lines, the .evtx through its decoder) the
        // content and its occurrence are the key. JSON lines name no host: --host
        // gives them the log's Computer, which the .evtx's records carry themselves
        // (swiftmon's XML above names the machine that wrote it instead).
        let computer = "FS03.offsec.lan"  // every record's <Computer> in this log
        let fromJSON = try counts(try BuiltBinary.runSwiftmon(["import", "--store", store, "--host", computer, "--summary-json", json]))
        XCTAssertEqual(fromJSON["imported"], lines)
        let fromEvtx = try counts(try BuiltBinary.runSwiftmon(["import", "--store", store, "--summary-json", log]))
        XCTAssertEqual(fromEvtx["events"], lines)
        XCTAssertEqual(fromEvtx["duplicates"], lines, "the .evtx read directly is the JSON's events again, host = each record's Computer")
        let q = try BuiltBinary.runSwiftmon(["query", "--store", store, "--host", computer, "--limit", "0", "--format", "json"])
        XCTAssertEqual(q.stdoutText.split(separator: "\n").count, lines)
        let all = try BuiltBinary.runSwiftmon(["query", "--store", store, "--limit", "0", "--format", "json"])
        XCTAssertEqual(all.stdoutText.split(separator: "\n").count, 2 * lines)
        // --host overrides the records' Computer.
        let renamed = try counts(try BuiltBinary.runSwiftmon(["import", "--store", store, "--host", "evtx-copy", "--summary-json", log]))
        XCTAssertEqual(renamed["imported"], lines)
        let copy = try BuiltBinary.runSwiftmon(["query", "--store", store, "--host", "evtx-copy", "--limit", "0", "--format", "json"])
        XCTAssertEqual(copy.stdoutText.split(separator: "\n").count, lines)
    }

    /// The store's file system full: the import fails with 74 and every event
    /// read is imported, a duplicate, or counted as not stored — exactly.
    func testStoreOnAFullFileSystemCountsWhatItCouldNotStore() throws {
        if geteuid() != 0 { try TestRequirement.unavailable("mounting a tmpfs needs root") }
        let log = Self.evtxCorpus.appendingPathComponent("evtxrs_security.evtx").path
        guard FileManager.default.fileExists(atPath: log) else { try TestRequirement.unavailable("corpus missing: \(log)") }
        let tiny = directory + "/tiny"
        try FileManager.default.createDirectory(atPath: tiny, withIntermediateDirectories: true)
        let mount = try Command.run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=256k,mode=700", "tmpfs", tiny])
        XCTAssertEqual(mount.status, 0, mount.stderrText)
        defer { _ = try? Command.run(URL(fileURLWithPath: "/bin/umount"), [tiny]) }
        let r = try BuiltBinary.runSwiftmon(["import", "--store", tiny + "/s.db", "--summary-json", log])
        XCTAssertEqual(r.status, 74, r.stderrText)
        let c = try counts(r)
        let events = try XCTUnwrap(c["events"]), imported = try XCTUnwrap(c["imported"])
        let failed = try XCTUnwrap(c["failedToStore"]), duplicates = try XCTUnwrap(c["duplicates"])
        XCTAssertGreaterThan(failed, 0, r.stderrText)
        XCTAssertEqual(imported + duplicates + failed, events, "\(c)")
        XCTAssertTrue(r.stderrText.contains("NOT stored"), r.stderrText)
    }

    func testSigmaOnImportStoresMatchesWithTheHost() throws {
        let rule = directory + "/passwd.yml"
        try """
            title: Reads passwd through a shell
            id: 0b7d2d9e-4a1e-4b51-9f0e-0a6b6a0c1d11
            status: test
            level: high
            author: swiftmon tests
            logsource:
              product: linux
              category: process_creation
            detection:
              selection:
                CommandLine|contains: '/etc/passwd'
              condition: selection

            """.write(toFile: rule, atomically: true, encoding: .utf8)
        let store = directory + "/s.db"
        let r = try BuiltBinary.runSwiftmon(["import", "--store", store, "--sigma", rule, "--summary-json", fixture])
        XCTAssertEqual(try counts(r)["sigmaMatches"], 1, r.stderrText)
        let q = try BuiltBinary.runSwiftmon(["query", "--store", store, "--event", "210", "--host", "web-01", "--format", "json"])
        XCTAssertTrue(q.stdoutText.contains("Reads passwd through a shell"), q.stdoutText + q.stderrText)
        XCTAssertTrue(q.stdoutText.contains("{ef0c1d6c-96e0-6169-6d3b-c3c9f2550000}"), q.stdoutText)
    }

    /// `--follow` while the test writes, rotates (rename + new file) and truncates the file.
    func testFollowAcrossRotationAndTruncation() throws {
        let binary = try BuiltBinary.requireSwiftmon()
        let log = directory + "/collector.log", store = directory + "/s.db"
        func line(_ n: Int) -> String {
            "Jan 31 23:59:59 follow-host sysmon: <Event><System><EventID>5</EventID><Computer>follow-host</Computer></System><EventData>"
                + "<Data Name=\"UtcTime\">2024-01-31 23:59:59.\(String(format: "%03d", n % 1000))</Data><Data Name=\"ProcessId\">\(n)</Data>"
                + "</EventData></Event>\r\n"
        }
        func append(_ path: String, _ range: Range<Int>) throws {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(range.map(line).joined().utf8))
            try handle.close()
        }
        FileManager.default.createFile(atPath: log, contents: Data(line(0).utf8))
        let process = Process()
        process.executableURL = binary
        process.arguments = ["import", "--store", store, "--follow", "--summary-json", log]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        func waitForCount(_ n: Int) throws {
            let deadline = Date(timeIntervalSinceNow: 10)
            var last = -1
            while Date() < deadline {
                let r = try Command.run(binary, ["query", "--store", store, "--limit", "0", "--format", "json"])
                last = r.stdoutText.split(separator: "\n").count
                if last == n { return }
                usleep(100_000)
            }
            XCTFail("the store holds \(last) events, expected \(n)")
        }
        try append(log, 1..<50)
        try waitForCount(50)
        // A follower never closes: the store it fills keeps its query indexes
        // all along (an import of files into an empty store builds them at the end).
        var readOnly = Configuration()
        readOnly.readonly = true
        let reader = try DatabaseQueue(path: store, configuration: readOnly)
        let indexes = try reader.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event'") }
        try reader.close()
        XCTAssertTrue(Set(indexes).isSuperset(of: ["event_by_image", "event_by_process_guid", "event_by_import_key"]), "\(indexes)")
        // logrotate's default: rename, a line still written to the old file, then a new file.
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try append(log + ".1", 50..<60)
        FileManager.default.createFile(atPath: log, contents: Data((60..<100).map(line).joined().utf8))
        try waitForCount(100)
        // copytruncate: emptied in place, then written again.
        try append(log, 100..<110)
        try waitForCount(110)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try handle.truncate(atOffset: 0)
        try handle.close()
        usleep(300_000)
        try append(log, 110..<120)
        try waitForCount(120)
        process.terminate()  // SIGTERM: stop, commit, summary
        process.waitUntilExit()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, stderr)
        XCTAssertTrue(stdout.contains("\"imported\":120"), stdout + stderr)
        XCTAssertTrue(stderr.contains("truncated"), stderr)
    }
}
