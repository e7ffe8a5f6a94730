import SwiftmonCore
import SwiftmonSinks
import XCTest
@testable import SwiftmonLinux

/// exec, fork and exit records → ProcessCreate, ThreadCreate,
/// ThreadTerminate, ProcessTerminate (BuilderScenario).
final class ProcessEventBuilderTests: XCTestCase {
    func testProcessGuidsAndParentLinkage() throws {
        let steps = BuilderScenario.run()
        let shellGuid = "{c0ffee42-0000-0000-0000-006400000064}"  // 1 s = 100 ticks, pid 100
        let childGuid = "{c0ffee42-0000-0000-0000-01f4000000c8}"  // 5 s = 500 ticks, pid 200
        XCTAssertEqual(BuilderScenario.host.guid(pid: 100, startBootNanoseconds: 1_000_000_000).description, shellGuid)

        XCTAssertTrue(try steps.events("fork: the shell starts").isEmpty)
        let thread = try steps.event("fork: a thread")
        XCTAssertEqual(thread.kind, .threadCreate)
        XCTAssertEqual(thread["ProcessGuid"], childGuid)
        XCTAssertEqual(thread["ThreadId"], "201")
        XCTAssertEqual(thread["Image"], "/usr/bin/bash", "before exec a child runs its parent's image")

        let exec = try steps.events("exec: the new process runs curl")
        XCTAssertEqual(exec.map(\.kind), [.processCreate, .imageLoad])
        let create = exec[0]
        XCTAssertEqual(create["ProcessGuid"], childGuid)
        XCTAssertEqual(create["ProcessId"], "200")
        XCTAssertEqual(create["Image"], "/usr/bin/curl")
        XCTAssertEqual(create["CommandLine"], "curl -s https://example.org/a b")
        XCTAssertEqual(create["CurrentDirectory"], "/home/alice")
        XCTAssertEqual(create["User"], "alice")
        XCTAssertEqual(create["ParentProcessGuid"], shellGuid)
        XCTAssertEqual(create["ParentProcessId"], "100")
        XCTAssertEqual(create["ParentImage"], "/usr/bin/bash")
        XCTAssertEqual(create["ParentCommandLine"], "-bash")
        XCTAssertEqual(create["ParentUser"], "alice")
        XCTAssertEqual(create["LogonGuid"], "{c0ffee42-0000-0000-0000-0000000003e8}")
        XCTAssertEqual(create["LogonId"], "1000")
        XCTAssertEqual(create["TerminalSessionId"], "3")
        XCTAssertEqual(create["Architecture"], "64-bit")
        XCTAssertEqual(create["UtcTime"], "2026-01-01 00:00:10.002")
        XCTAssertEqual(exec[1]["ImageLoaded"], "/usr/bin/curl")
        XCTAssertEqual(exec[1]["ProcessGuid"], childGuid)

        // Later events of the process name its new image.
        let file = try steps.event("file: create, name relative")
        XCTAssertEqual(file["ProcessGuid"], childGuid)
        XCTAssertEqual(file["Image"], "/usr/bin/curl")
        XCTAssertEqual(file["User"], "alice")

        let orphan = try steps.event("exec: a 32-bit program")
        XCTAssertEqual(orphan["Architecture"], "32-bit")
        XCTAssertEqual(orphan["User"], "1001", "a uid without a name is its number")
        XCTAssertEqual(orphan["ParentProcessGuid"], "{c0ffee42-0000-0000-0000-02260000012b}",
                       "an unseen parent's GUID still comes from the record")
        XCTAssertEqual(orphan["ParentImage"], "-")
        XCTAssertEqual(orphan["LogonId"], "4294967295")
        let script = try steps.event("exec: not an ELF file")
        XCTAssertEqual(script["Architecture"], "-")
        XCTAssertEqual(script["User"], "root")
    }

    func testCommandLinesAndHostileBytes() throws {
        let steps = BuilderScenario.run()
        let truncated = try steps.event("exec: command line longer")
        XCTAssertEqual(truncated["CommandLine"],
                       "printf " + String(repeating: "A", count: 40) + " …[command line truncated: 48 of 100000 bytes]")
        let unreadable = try steps.event("exec: argv unreadable")
        XCTAssertEqual(unreadable["CommandLine"], "…[command line unreadable]")
        XCTAssertEqual(unreadable["Image"], "…/deep/d/e/f/run")
        XCTAssertEqual(unreadable["CurrentDirectory"], "…/deep/d/e")

        let hostile = try steps.event("exec: hostile bytes")
        XCTAssertEqual(hostile["Image"], "/tmp/new\nline \"q\" \\\\back\t\\xff\\xfeé.txt", "readable escaped form")
        let json = String(decoding: JSONLinesSink.render(hostile), as: UTF8.self)
        XCTAssertTrue(json.contains(#""Image":"/tmp/new\nline \"q\" \\back\t\udcff\udcfeé.txt""#), json)
        XCTAssertTrue(json.contains(#""CommandLine":"new\nline \"q\" \\back\t\udcff\udcfeé.txt --x=\"<&>\"""#), json)
        XCTAssertEqual(json.filter { $0 == "\n" }.count, 1, "one line per event")

        let file = try steps.event("file: create with a hostile")
        let fileJSON = String(decoding: JSONLinesSink.render(file), as: UTF8.self)
        XCTAssertTrue(fileJSON.contains(#""TargetFilename":"/tmp/new\nline \"q\" \\back\t\udcff\udcfeé.txt""#), fileJSON)
    }

    func testExitCodesAndThreadEnds() throws {
        let steps = BuilderScenario.run()
        let thread = try steps.events("exit: a thread ends")
        XCTAssertEqual(thread.map(\.kind), [.threadTerminate])
        XCTAssertEqual(thread[0]["ThreadId"], "201")
        XCTAssertTrue(try steps.events("exit: the main thread ends").isEmpty)
        let last = try steps.events("exit: the last thread")
        XCTAssertEqual(last.map(\.kind), [.processTerminate])
        XCTAssertEqual(last[0]["ExitCode"], "3")
        XCTAssertEqual(last[0]["Image"], "/usr/bin/curl")
        let killed = try steps.events("exit: the 32-bit program killed")
        XCTAssertEqual(killed.map(\.kind), [.threadTerminate, .processTerminate])
        XCTAssertEqual(killed[1]["ExitCode"], "137", "128 + SIGKILL, as a shell shows it")
        XCTAssertEqual(try steps.events("exit: killed by SIGSEGV").first?["ExitCode"], "139")
        let unseen = try steps.event("exit: a process swiftmon never saw")
        XCTAssertEqual([unseen["ExitCode"], unseen["Image"], unseen["User"]], ["1", "-", "-"])
        let late = try steps.event("network: a record still in flight")
        XCTAssertEqual([late["ProcessGuid"], late["Image"]], ["{c0ffee42-0000-0000-0000-01f4000000c8}", "/usr/bin/curl"])
        let orphanThread = try steps.event("fork: a process whose parent")
        XCTAssertEqual([orphanThread["ThreadId"], orphanThread["Image"], orphanThread["User"]], ["601", "-", "root"])
    }
}
