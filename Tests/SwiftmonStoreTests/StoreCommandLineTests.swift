import Foundation
import SwiftmonCore
@testable import SwiftmonStore
import XCTest

/// `swiftmon query` and `swiftmon tree`, run as the built binary against a
/// store that another swiftmon process is writing at the same time.
final class StoreCommandLineTests: XCTestCase {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func swiftmon(_ arguments: [String]) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try StoreCrashTests.swiftmonBinary())
        p.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read before waiting so a large output cannot fill the pipe and stall the child.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    func testQueryAndTreeWhileASensorWrites() throws {
        let directory = NSTemporaryDirectory() + "swiftmon-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = directory + "/events.db"
        let progress = directory + "/committed"
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: try StoreCrashTests.swiftmonBinary())
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
        XCTAssertEqual(xml.status, 0, xml.stderr)
        let lines = xml.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines.first?.hasPrefix("<Event><System><Provider Name=\"Linux-Sysmon\"") ?? false)
        XCTAssertTrue(xml.stdout.contains("<Data Name=\"CommandLine\">/usr/bin/true --storm 12 "), xml.stdout)

        let json = try Self.swiftmon(["query", "--store", store, "--image", "bash", "--contains=--STORM 3",
                                      "--limit", "5", "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let objects = try json.stdout.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(objects.count, 5)
        for object in objects {
            XCTAssertEqual(object["Image"] as? String, "/usr/bin/bash")
            XCTAssertTrue((object["CommandLine"] as? String)?.contains("--storm 3") ?? false)
        }

        // Process 2's tree: its parent 0 above it; children 16…23, their children below.
        let tree = try Self.swiftmon(["tree", "--store", store, "--max-nodes", "20", "2"])
        XCTAssertEqual(tree.status, 0, tree.stderr)
        XCTAssertTrue(tree.stdout.contains("▶ 2 /usr/bin/true"), tree.stdout)
        XCTAssertTrue(tree.stdout.contains("├─ 16 /usr/bin/true"), tree.stdout)
        XCTAssertTrue(tree.stdout.contains("--storm 16 "), tree.stdout)

        let missing = try Self.swiftmon(["tree", "--store", store, "{does-not-exist}"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no process with GUID {does-not-exist}"), missing.stderr)

        let bad = try Self.swiftmon(["query", "--store", directory + "/nope.db"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("cannot open store"), bad.stderr)
        XCTAssertTrue(writer.isRunning, "the writer kept running throughout")
    }
}
