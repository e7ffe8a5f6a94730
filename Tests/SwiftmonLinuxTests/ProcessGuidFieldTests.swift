import CSwiftmonRecords
import SwiftmonCore
import XCTest
@testable import SwiftmonLinux

/// ProcessGuid and ParentProcessGuid written as bytes per event (issue 10):
/// each event names its own process, whatever other process shares its pid
/// modulo a table size or reuses its pid.
final class ProcessGuidFieldTests: XCTestCase {
    /// Two processes whose pids are 1024 apart live at once: each one's exit
    /// and thread events name its own GUID, and a child names its parent's.
    func testEventsOfProcessesSharingASlotNameTheirOwnGuid() throws {
        let builder = BuilderScenario.makeBuilder()
        var records = KernelRecordFixture()
        let shell = BuilderScenario.shell
        let creds = KernelRecordFixture.credentials(uid: 1000)
        let a = KernelRecordFixture.Task(pid: 3000, startBootNanoseconds: 9_000_000_000)
        let b = KernelRecordFixture.Task(pid: 3000 + 1024, startBootNanoseconds: 9_100_000_000)
        let child = KernelRecordFixture.Task(pid: 5000, startBootNanoseconds: 9_200_000_000)
        func guid(_ t: KernelRecordFixture.Task) -> String {
            BuilderScenario.host.guid(pid: t.pid, startBootNanoseconds: t.startBootNanoseconds).description
        }
        var out: [Event] = []
        for t in [a, b] {
            XCTAssertTrue(builder.build(records.fork(t, parent: shell, credentials: creds), into: &out))
            XCTAssertTrue(builder.build(records.exec(t, parent: shell, image: "/usr/bin/sleep", cwd: "/",
                                                     argv: ["sleep", "60"], credentials: creds), into: &out))
        }
        XCTAssertTrue(builder.build(records.exec(child, parent: a, image: "/usr/bin/true", cwd: "/",
                                                 argv: ["true"], credentials: creds), into: &out))
        XCTAssertTrue(builder.build(records.fork(a.thread(3001), parent: a, credentials: creds, thread: true), into: &out))
        XCTAssertTrue(builder.build(records.exit(a, status: 0, flags: [SM_FLAG_GROUP_DEAD]), into: &out))
        XCTAssertTrue(builder.build(records.exit(b, status: 9, flags: [SM_FLAG_GROUP_DEAD]), into: &out))
        let creates = out.filter { $0.kind == .processCreate }
        XCTAssertEqual(creates.map { $0["ProcessGuid"] }, [guid(a), guid(b), guid(child)])
        XCTAssertEqual(creates[2]["ParentProcessGuid"], guid(a))
        XCTAssertEqual(creates[2]["ParentImage"], "/usr/bin/sleep")
        XCTAssertEqual(out.first { $0.kind == .threadCreate }?["ProcessGuid"], guid(a))
        XCTAssertEqual(out.first { $0.kind == .threadCreate }?["ThreadId"], "3001")
        let terminates = out.filter { $0.kind == .processTerminate }
        XCTAssertEqual(terminates.map { $0["ProcessGuid"] }, [guid(a), guid(b)])
        XCTAssertEqual(terminates.map { $0["ProcessId"] }, ["3000", "4024"])
        XCTAssertEqual(terminates.map { $0["Image"] }, ["/usr/bin/sleep", "/usr/bin/sleep"])
        XCTAssertEqual(terminates.map { $0["ExitCode"] }, ["0", "137"])
    }
}
