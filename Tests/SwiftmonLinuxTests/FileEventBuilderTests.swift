import SwiftmonCore
import XCTest
@testable import SwiftmonLinux

/// File records → FileCreate, FileDelete, FileRename, ServiceInstall,
/// RawAccessRead (BuilderScenario).
final class FileEventBuilderTests: XCTestCase {
    func testFilePathsAndServiceInstall() throws {
        let steps = BuilderScenario.run()
        func target(_ prefix: String) throws -> String? { try steps.event(prefix)["TargetFilename"] }
        XCTAssertEqual(try target("file: create, name relative"), "/home/alice/notes.txt")
        XCTAssertEqual(try target("file: mknod"), "/tmp/fifo/x", "an absolute name ignores the directory")
        XCTAssertEqual(try target("file: link"), "/tmp/b", "path 2, with '..' resolved")
        XCTAssertEqual(try target("file: create under a truncated"), "…/x/y/leaf")

        let create = try steps.event("file: create, name relative")
        XCTAssertEqual(create["CreationUtcTime"], create["UtcTime"])
        let executable = try steps.event("file: delete of an executable")
        XCTAssertEqual(executable.kind, .fileDelete)
        XCTAssertEqual(executable["TargetFilename"], "/home/alice/bin/tool")
        XCTAssertEqual(executable["IsExecutable"], "true")
        XCTAssertEqual(try steps.event("file: delete without")["IsExecutable"], "-")

        let rename = try steps.events("file: rename with")
        XCTAssertEqual(rename.map(\.kind), [.fileRename])
        XCTAssertEqual(rename[0]["SourceFilename"], "/tmp/work/old")
        XCTAssertEqual(rename[0]["TargetFilename"], "/tmp/new")
        let deep = try steps.event("file: rename whose target")
        XCTAssertEqual([deep["SourceFilename"], deep["TargetFilename"]], ["/tmp/a", "…/q/r/b"])

        let unit = try steps.events("file: rename into a systemd")
        XCTAssertEqual(unit.map(\.kind), [.fileRename, .serviceInstall])
        XCTAssertEqual(unit[1]["ServiceName"], "evil.service")
        XCTAssertEqual(unit[1]["ServiceFile"], "/etc/systemd/system/evil.service")
        XCTAssertEqual(unit[1]["Manager"], "systemd")
        XCTAssertEqual(unit[1]["ProcessGuid"], unit[0]["ProcessGuid"])
        let userUnit = try steps.events("file: create of a per-user unit")
        XCTAssertEqual(userUnit.map(\.kind), [.fileCreate, .serviceInstall])
        XCTAssertEqual(userUnit[1]["ServiceName"], "agent.timer")

        let raw = try steps.events("file: a block device")
        XCTAssertEqual(raw.map(\.kind), [.rawAccessRead])
        XCTAssertEqual(raw[0]["Device"], "/dev/sda")
        XCTAssertTrue(try steps.events("file: an op this build").isEmpty)
    }
}
