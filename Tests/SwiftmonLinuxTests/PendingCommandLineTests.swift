import CSwiftmonRecords
import SwiftmonCore
import XCTest
@testable import SwiftmonLinux

/// A new process's command line is held as bytes until it is needed as text
/// (issue 10: no String per exec). Whatever order records come in, every
/// child's ParentCommandLine is its parent's command line, exactly.
final class PendingCommandLineTests: XCTestCase {
    typealias Task = KernelRecordFixture.Task
    let creds = KernelRecordFixture.credentials(uid: 1000)
    let shell = BuilderScenario.shell

    func creates(_ out: [Event]) -> [Event] { out.filter { $0.kind == .processCreate } }

    func testAChildAfterForkAndExecNamesItsParentsCommandLine() throws {
        let builder = BuilderScenario.makeBuilder()
        var records = KernelRecordFixture()
        let make = Task(pid: 7000, startBootNanoseconds: 9_000_000_000)
        let cc = Task(pid: 7001, startBootNanoseconds: 9_100_000_000)
        let ld = Task(pid: 7002, startBootNanoseconds: 9_200_000_000)
        var out: [Event] = []
        XCTAssertTrue(builder.build(records.fork(make, parent: shell, credentials: creds), into: &out))
        XCTAssertTrue(builder.build(records.exec(make, parent: shell, image: "/usr/bin/make", cwd: "/src",
                                                 argv: ["make", "-j2", "all", "--no-print-directory"], credentials: creds), into: &out))
        XCTAssertEqual(builder.processes.pendingCommandLines.owner(ofSlotFor: make.pid),
                       BuilderScenario.host.guid(pid: make.pid, startBootNanoseconds: make.startBootNanoseconds),
                       "held as bytes after the exec")
        for child in [cc, ld] {
            XCTAssertTrue(builder.build(records.fork(child, parent: make, credentials: creds), into: &out))
            XCTAssertTrue(builder.build(records.exec(child, parent: make, image: "/usr/bin/cc", cwd: "/src",
                                                     argv: ["cc", "-c", "a-file-with-a-long-name.c"], credentials: creds), into: &out))
        }
        XCTAssertNil(builder.processes.pendingCommandLines.owner(ofSlotFor: make.pid),
                     "the fork made it text in make's entry")
        let events = creates(out)
        XCTAssertEqual(events.map { $0["CommandLine"] }, ["make -j2 all --no-print-directory",
                                                          "cc -c a-file-with-a-long-name.c", "cc -c a-file-with-a-long-name.c"])
        XCTAssertEqual(events.map { $0["ParentCommandLine"] }, ["-bash", "make -j2 all --no-print-directory",
                                                                "make -j2 all --no-print-directory"])
        XCTAssertEqual(events[1]["ParentImage"], "/usr/bin/make")
    }

    func testAnExecWhoseForkWasNotSeenReadsTheParentsPendingBytes() throws {
        let builder = BuilderScenario.makeBuilder()
        var records = KernelRecordFixture()
        let parent = Task(pid: 7100, startBootNanoseconds: 9_000_000_000)
        let child = Task(pid: 7101, startBootNanoseconds: 9_100_000_000)
        var out: [Event] = []
        XCTAssertTrue(builder.build(records.exec(parent, parent: shell, image: "/usr/bin/python3", cwd: "/",
                                                 argv: ["python3", "/opt/tools/a-long-script-name.py"], credentials: creds), into: &out))
        // The child's fork record was lost (a full ring buffer): its exec comes alone.
        XCTAssertTrue(builder.build(records.exec(child, parent: parent, image: "/usr/bin/true", cwd: "/",
                                                 argv: ["true"], credentials: creds), into: &out))
        XCTAssertEqual(creates(out)[1]["ParentCommandLine"], "python3 /opt/tools/a-long-script-name.py")
        XCTAssertEqual(creates(out)[1]["ParentImage"], "/usr/bin/python3")
    }

    func testAProcessWhoseSlotIsTakenKeepsItsCommandLineInItsEntry() throws {
        let builder = BuilderScenario.makeBuilder()
        var records = KernelRecordFixture()
        let daemon = Task(pid: 7200, startBootNanoseconds: 9_000_000_000)
        let sameSlot = Task(pid: 7200 + UInt32(PendingCommandLines.slots), startBootNanoseconds: 9_100_000_000)
        let child = Task(pid: 7300, startBootNanoseconds: 9_200_000_000)
        var out: [Event] = []
        XCTAssertTrue(builder.build(records.exec(daemon, parent: shell, image: "/usr/sbin/daemon", cwd: "/",
                                                 argv: ["daemon", "--config", "/etc/daemon/daemon.conf"], credentials: creds), into: &out))
        XCTAssertTrue(builder.build(records.exec(sameSlot, parent: shell, image: "/usr/bin/sleep", cwd: "/",
                                                 argv: ["sleep", "3600", "--and-a-long-tail"], credentials: creds), into: &out))
        let daemonGuid = BuilderScenario.host.guid(pid: daemon.pid, startBootNanoseconds: daemon.startBootNanoseconds)
        XCTAssertNotEqual(builder.processes.pendingCommandLines.owner(ofSlotFor: daemon.pid), daemonGuid)
        XCTAssertEqual(builder.processes.cache.lookup(pid: daemon.pid, guid: daemonGuid)?.commandLine.string,
                       "daemon --config /etc/daemon/daemon.conf", "made text in the entry when its slot was taken")
        XCTAssertTrue(builder.build(records.exec(child, parent: daemon, image: "/usr/bin/true", cwd: "/",
                                                 argv: ["true"], credentials: creds), into: &out))
        XCTAssertTrue(builder.build(records.exec(Task(pid: 7302, startBootNanoseconds: 9_300_000_000), parent: sameSlot, image: "/usr/bin/true", cwd: "/",
                                                 argv: ["true"], credentials: creds), into: &out))
        XCTAssertEqual(creates(out).suffix(2).map { $0["ParentCommandLine"] },
                       ["daemon --config /etc/daemon/daemon.conf", "sleep 3600 --and-a-long-tail"])
    }

    func testLongAndEmptyAndNonUTF8CommandLinesGoToTheEntryAsBefore() throws {
        let builder = BuilderScenario.makeBuilder()
        var records = KernelRecordFixture()
        let long = Task(pid: 7400, startBootNanoseconds: 9_000_000_000)
        let odd = Task(pid: 7401, startBootNanoseconds: 9_000_000_000)
        var out: [Event] = []
        let tail = String(repeating: "x", count: PendingCommandLines.longest + 1)
        XCTAssertTrue(builder.build(records.exec(long, parent: shell, image: "/usr/bin/echo", cwd: "/",
                                                 argv: ["echo", tail], credentials: creds), into: &out))
        XCTAssertNil(builder.processes.pendingCommandLines.owner(ofSlotFor: long.pid))
        XCTAssertTrue(builder.build(records.exec(odd, parent: shell, image: Array("/usr/bin/echo".utf8), cwd: "/",
                                                 argv: [Array("echo".utf8), [0x66, 0xFF]], credentials: creds), into: &out))
        XCTAssertNil(builder.processes.pendingCommandLines.owner(ofSlotFor: odd.pid))
        for (parent, n) in [(long, 7500), (odd, 7501)] {
            let child = Task(pid: UInt32(n), startBootNanoseconds: 9_100_000_000)
            XCTAssertTrue(builder.build(records.exec(child, parent: parent, image: "/usr/bin/true", cwd: "/",
                                                     argv: ["true"], credentials: creds), into: &out))
        }
        let children = creates(out).suffix(2)
        XCTAssertEqual(children.first?["ParentCommandLine"], "echo " + tail)
        XCTAssertEqual(children.last?["ParentCommandLine"], "echo f\\xff")
        XCTAssertEqual(children.last?.rawBytes[EventKind.processCreate.index(of: "ParentCommandLine")!],
                       Array("echo f".utf8) + [0xFF])
    }
}
