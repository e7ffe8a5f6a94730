import Foundation
import SwiftmonTestSupport
import XCTest

/// FileCreate, FileDelete, FileRename from the real sensor: exact absolute
/// paths for hostile names and a ~4,000-byte path, and no FileCreate for a
/// create that failed.
final class LiveFileEventTests: XCTestCase {
    func testCreateRenameDeleteWithHostileNamesAndLongPath() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("files")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sensor = try LiveSensor.loggingEverything()
        let run = try runCapturing(helper.path, ["files", dir.path])
        XCTAssertEqual(run.status, 0, "helper: every syscall as expected, the second O_EXCL create failed with EEXIST")
        let deepLength = try XCTUnwrap(Int(run.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertGreaterThanOrEqual(deepLength, 3_980)
        var deep = dir.path + "/deep"
        var remaining = deepLength - deep.utf8.count
        while remaining > 1 {
            let size = min(200, remaining - 1)
            deep += "/" + String(repeating: "d", count: size)
            remaining -= size + 1
        }
        XCTAssertEqual(deep.utf8.count, deepLength)
        let deepFile = deep + "/f"
        try sensor.waitFor(timeout: 20) { !$0.with(id: 23, "TargetFilename", equalTo: deepFile + ".renamed").isEmpty }
        sensor.stop()
        let events = sensor.events
        let pid = String(run.pid)
        let guid = try XCTUnwrap(events.processGuid(of: run.pid))

        // Names JSON can carry as text; the non-UTF-8 one is checked on the raw lines.
        for name in ["plain", "with space", "new\nline", "quo\"te's", String(deepFile.dropFirst(dir.path.count + 1))] {
            let path = dir.path + "/" + name
            let creates = events.with(id: 11, "TargetFilename", equalTo: path)
            XCTAssertEqual(creates.count, 1, "one FileCreate for \(path.prefix(80)) (the failed O_EXCL create gives none)")
            let create = try XCTUnwrap(creates.first)
            XCTAssertEqual(create["ProcessId"] as? String, pid)
            XCTAssertEqual(create["ProcessGuid"] as? String, guid)
            XCTAssertEqual(create["Image"] as? String, helper.resolvingSymlinksInPath().path)
            XCTAssertEqual(create["User"] as? String, "root")
            XCTAssertEqual(create["CreationUtcTime"] as? String, create["UtcTime"] as? String)
            let renames = events.with(id: 203, "SourceFilename", equalTo: path)
            XCTAssertEqual(renames.count, 1)
            XCTAssertEqual(renames.first?["TargetFilename"] as? String, path + ".renamed")
            XCTAssertEqual(renames.first?["ProcessGuid"] as? String, guid)
            let deletes = events.with(id: 23, "TargetFilename", equalTo: path + ".renamed")
            XCTAssertEqual(deletes.count, 1)
            XCTAssertEqual(deletes.first?["ProcessGuid"] as? String, guid)
            XCTAssertEqual(deletes.first?["Archived"] as? String, "-")
        }
        // Nothing else this process did in the directory (mkdir is not a file create).
        let mine = events.filter { ($0["ProcessId"] as? String) == pid && [11, 23, 203].contains($0["EventID"] as? Int ?? 0) }
        // 6 files × (create, rename, delete); the non-UTF-8 name's 3 lines are not in `events`
        // (JSONSerialization refuses lone surrogates): they are checked on the raw lines below.
        XCTAssertEqual(mine.count, 15)

        // The name with bytes that are not UTF-8: exact bytes as surrogate escapes.
        let escaped = dir.path + #"/bad\udcff\udcfebytes"#
        let lines = sensor.rawLines().map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(lines.filter { $0.contains(#""EventID":11,"#) && $0.contains(#""TargetFilename":"\#(escaped)""#) }.count, 1)
        XCTAssertEqual(lines.filter { $0.contains(#""EventID":203,"#) && $0.contains(#""SourceFilename":"\#(escaped)","TargetFilename":"\#(escaped).renamed""#) }.count, 1)
        XCTAssertEqual(lines.filter { $0.contains(#""EventID":23,"#) && $0.contains(#""TargetFilename":"\#(escaped).renamed""#) }.count, 1)
    }

    func testHardLinkAndMknodOfARegularFileAreCreatesAndAFIFOIsNot() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("link")
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = dir.appendingPathComponent("original").path
        let linked = dir.appendingPathComponent("second name").path
        let node = dir.appendingPathComponent("node").path
        let sensor = try LiveSensor.loggingEverything()
        try runToCompletion(helper.path, ["create", original])
        let link = try runCapturing(helper.path, ["link", original, linked])
        let mknod = try runCapturing(helper.path, ["mknod", node])
        XCTAssertEqual(link.status + mknod.status, 0)
        try sensor.waitFor(timeout: 20) { !$0.with(id: 11, "TargetFilename", equalTo: node).isEmpty }
        usleep(200_000)
        let events = sensor.stop()
        XCTAssertEqual(events.with(id: 11, "TargetFilename", equalTo: linked).first?["ProcessId"] as? String, String(link.pid))
        XCTAssertEqual(events.with(id: 11, "TargetFilename", equalTo: node).first?["ProcessId"] as? String, String(mknod.pid))
        XCTAssertTrue(events.with(id: 11, "TargetFilename", equalTo: node + ".fifo").isEmpty, "a FIFO is not a file")
        XCTAssertEqual(events.with(id: 11, "TargetFilename", equalTo: original).count, 1)
    }

    /// FileDelete says whether the removed file was executable, on disk and on
    /// tmpfs (the mode is caught at the file's last change-time update).
    func testFileDeleteTellsExecutablesApart() throws {
        try LiveSensor.requireLiveSensor()
        let disk = try makeTestDirectory("deletes")
        defer { try? FileManager.default.removeItem(at: disk) }
        let tmpfs = disk.appendingPathComponent("tmpfs")
        try FileManager.default.createDirectory(at: tmpfs, withIntermediateDirectories: true)
        let mounted = try runCapturing("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", tmpfs.path]).status == 0
        defer { if mounted { _ = try? runCapturing("/bin/umount", [tmpfs.path]) } }
        let sensor = try LiveSensor.loggingEverything()
        var expected: [String: String] = [:]
        for dir in mounted ? [disk, tmpfs] : [disk] {
            let tool = dir.appendingPathComponent("tool.sh").path
            let data = dir.appendingPathComponent("notes.txt").path
            FileManager.default.createFile(atPath: tool, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
            FileManager.default.createFile(atPath: data, contents: Data("text\n".utf8), attributes: [.posixPermissions: 0o644])
            XCTAssertEqual(unlink(tool), 0)
            XCTAssertEqual(unlink(data), 0)
            expected[tool] = "true"
            expected[data] = "false"
        }
        XCTAssertTrue(mounted || !TestRequirement.isCI, "tmpfs mount needed under CI")
        try sensor.waitFor(timeout: 20) { events in expected.keys.allSatisfy { !events.with(id: 23, "TargetFilename", equalTo: $0).isEmpty } }
        let events = sensor.stop()
        for (path, isExecutable) in expected {
            let delete = try XCTUnwrap(events.with(id: 23, "TargetFilename", equalTo: path).first)
            XCTAssertEqual(delete["IsExecutable"] as? String, isExecutable, path)
            XCTAssertEqual(delete["Archived"] as? String, "-")
        }
    }

    func testFieldOrderOfFileEvents() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("order")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sensor = try LiveSensor.loggingEverything()
        let file = dir.appendingPathComponent("a").path
        try runToCompletion(helper.path, ["create", file])
        try runToCompletion(helper.path, ["rename", file, file + "2"])
        try runToCompletion(helper.path, ["unlink", file + "2"])
        try sensor.waitFor(timeout: 20) { !$0.with(id: 23, "TargetFilename", equalTo: file + "2").isEmpty }
        sensor.stop()
        let lines = sensor.rawLines().map { String(decoding: $0, as: UTF8.self) }.filter { $0.contains(dir.path) }
        // Sysmon's fields in Sysmon's order, then swiftmon's extras: the NT path
        // a .etl trace had ('-' on Linux), then the container fields.
        let container = ["ContainerId", "ContainerRuntime", "PodUid", "CgroupPath", "PidNamespace", "MntNamespace",
                         "NetNamespace", "ContainerProcessId"]
        let expected: [Int: [String]] = [
            11: ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetFilename", "CreationUtcTime", "User"]
                + ["TargetFilenameNtPath"] + container,
            23: ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename", "Hashes",
                 "IsExecutable", "Archived", "TargetFilenameNtPath"] + container,
            203: ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "SourceFilename", "TargetFilename"]
                + ["SourceFilenameNtPath", "TargetFilenameNtPath"] + container,
        ]
        for (id, fields) in expected {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix("{\"EventID\":\(id),") }, "event \(id)")
            let keys = ["EventID", "EventName"] + fields
            let pattern = keys.map { "\"\($0)\":" }
            var at = line.startIndex
            for key in pattern {
                let r = try XCTUnwrap(line.range(of: key, range: at..<line.endIndex), "\(key) in order in \(line)")
                at = r.upperBound
            }
            XCTAssertEqual(line.components(separatedBy: "\":").count - 1, keys.count, "no other fields: \(line)")
        }
    }
}
