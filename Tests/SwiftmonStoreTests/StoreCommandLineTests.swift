import Foundation
import SwiftmonCore
@testable import SwiftmonStore
import SwiftmonTestSupport
import XCTest

/// `swiftmon query` and `swiftmon tree`, run as the built binary against a
/// store that another swiftmon process is writing at the same time.
final class StoreCommandLineTests: XCTestCase {
    static func swiftmon(_ arguments: [String]) throws -> CommandResult {
        try BuiltBinary.runSwiftmon(arguments)
    }

    func testQueryAndTreeWhileASensorWrites() throws {
        let directory = NSTemporaryDirectory() + "swiftmon-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = directory + "/events.db"
        let progress = directory + "/committed"
        let writer = Process()
        writer.executableURL = try BuiltBinary.requireSwiftmon()
        writer.arguments = ["bench", "store-writer", "--store", store, "--progress", progress]
        try writer.run()
        defer {
            if writer.isRunning { writer.terminate() }
            writer.waitUntilExit()
        }
        let deadline = Date(timeIntervalSinceNow: 60)
        while StoreCrashTests.committed(progress) < 5000, Date() < deadline, writer.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTAssertGreaterThanOrEqual(StoreCrashTests.committed(progress), 5000)

        // Events of one process, as Sysmon XML, while the writer keeps committing.
        let xml = try Self.swiftmon(["query", "--store", store, "--pid", "12", "--format", "xml"])
        XCTAssertEqual(xml.status, 0, xml.stderrText)
        let lines = xml.stdoutText.split(separator: "\n")
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines.first?.hasPrefix("<Event><System><Provider Name=\"Linux-Sysmon\"") ?? false)
        XCTAssertTrue(xml.stdoutText.contains("<Data Name=\"CommandLine\">/usr/bin/true --storm 12 "), xml.stdoutText)

        let json = try Self.swiftmon(["query", "--store", store, "--image", "bash", "--contains=--STORM 3",
                                      "--limit", "5", "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderrText)
        let objects = try json.stdoutText.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(objects.count, 5)
        for object in objects {
            XCTAssertEqual(object["Image"] as? String, "/usr/bin/bash")
            XCTAssertTrue((object["CommandLine"] as? String)?.contains("--storm 3") ?? false)
        }

        // Process 2's tree: its parent 0 above it; children 16…23, their children below.
        let tree = try Self.swiftmon(["tree", "--store", store, "--max-nodes", "20", "2"])
        XCTAssertEqual(tree.status, 0, tree.stderrText)
        XCTAssertTrue(tree.stdoutText.contains("▶ 2 /usr/bin/true"), tree.stdoutText)
        XCTAssertTrue(tree.stdoutText.contains("├─ 16 /usr/bin/true"), tree.stdoutText)
        XCTAssertTrue(tree.stdoutText.contains("--storm 16 "), tree.stdoutText)

        let missing = try Self.swiftmon(["tree", "--store", store, "{does-not-exist}"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderrText.contains("no process with GUID {does-not-exist}"), missing.stderrText)

        let bad = try Self.swiftmon(["query", "--store", directory + "/nope.db"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderrText.contains("cannot open store"), bad.stderrText)
        XCTAssertTrue(writer.isRunning, "the writer kept running throughout")
    }
}
