import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import SwiftmonTestSupport
import XCTest

/// `swiftmon run --store`, then `swiftmon query` and `swiftmon tree` on what a
/// real run recorded: a shell that starts a shell that starts a process.
final class LiveStoreTests: XCTestCase {
    func runBinary(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let r = try BuiltBinary.runSwiftmon(arguments)
        return (r.status, r.stdoutText)
    }

    func testQueryAndTreeOfARealRun() throws {
        try LiveSensor.requireLiveSensor()
        let mark = "storemark\(UUID().uuidString.prefix(6))"
        let store = NSTemporaryDirectory() + "\(mark).db"
        defer { for suffix in ["", "-wal", "-shm"] { unlink(store + suffix) } }
        let sensor = try LiveSensor(arguments: ["--store", store])
        try runToCompletion("/bin/sh", ["-c", "/bin/sh -c '/bin/true leaf-\(mark)' inner-\(mark); exit 0", "outer-\(mark)"])
        try sensor.waitFor(timeout: 20) { !$0.with(id: 1, "CommandLine", containing: "leaf-\(mark)").filter { ($0["CommandLine"] as? String) == "/bin/true leaf-\(mark)" }.isEmpty }
        usleep(300_000)
        sensor.stop()
        XCTAssertTrue(sensor.stderrText.contains("store \(store):"), sensor.stderrText)

        var st = stat()
        XCTAssertEqual(stat(store, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)

        let (status, output) = try runBinary(["query", "--store", store, "--event", "1", "--contains", mark, "--format", "json"])
        XCTAssertEqual(status, 0)
        let events = output.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        XCTAssertEqual(events.count, 3, output)
        let leaf = try XCTUnwrap(events.first { ($0["CommandLine"] as? String) == "/bin/true leaf-\(mark)" })
        let inner = try XCTUnwrap(events.first { (($0["CommandLine"] as? String) ?? "").hasSuffix("inner-\(mark)") })
        XCTAssertEqual(leaf["ParentProcessGuid"] as? String, inner["ProcessGuid"] as? String)

        let (treeStatus, tree) = try runBinary(["tree", "--store", store, try XCTUnwrap(leaf["ProcessGuid"] as? String)])
        XCTAssertEqual(treeStatus, 0)
        XCTAssertTrue(tree.contains("leaf-\(mark)"), tree)
        XCTAssertTrue(tree.contains("inner-\(mark)"), tree)
        XCTAssertTrue(tree.contains("outer-\(mark)"), "ancestors with their command lines: \(tree)")
    }

    func testXMLOutputRecordIDsContinueAcrossRestarts() throws {
        try LiveSensor.requireLiveSensor()
        let dir = NSTemporaryDirectory() + "swiftmon-state-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "-events.xml"
        defer { unlink(out) }
        var ids: [UInt64] = []
        for round in 0..<2 {
            let p = Process()
            p.executableURL = LiveSensor.binary
            p.arguments = ["run", "--format", "xml", "--output", out, "--state-dir", dir]
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Started (event 4) is written once the sensor is attached.
            func started() -> Int {
                ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").components(separatedBy: "<Data Name=\"State\">Started").count - 1
            }
            let deadline = Date().addingTimeInterval(60)
            while started() <= round, Date() < deadline, p.isRunning { usleep(50_000) }
            try runToCompletion("/bin/true", ["xmlround-\(round)"])
            let seen = Date().addingTimeInterval(20)
            while !((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("xmlround-\(round)"), Date() < seen {
                usleep(50_000)
            }
            kill(p.processIdentifier, SIGINT)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
        }
        let text = try String(contentsOfFile: out, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let parser = XMLParser(data: Data(line.utf8))
            XCTAssertTrue(parser.parse(), "well-formed: \(line.prefix(200))")
            let id = try XCTUnwrap(line.range(of: "<EventRecordID>").flatMap { start in
                line[start.upperBound...].split(separator: "<").first.flatMap { UInt64($0) }
            })
            ids.append(id)
        }
        XCTAssertTrue(text.contains("xmlround-0") && text.contains("xmlround-1"))
        XCTAssertEqual(ids, ids.sorted(), "ids only grow")
        XCTAssertEqual(Set(ids).count, ids.count, "and never repeat, also after a restart")
        var st = stat()
        XCTAssertEqual(stat(dir, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
    }
}
