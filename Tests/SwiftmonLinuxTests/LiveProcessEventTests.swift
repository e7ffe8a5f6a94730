import Foundation
import SwiftmonTestSupport
import XCTest

/// The real sensor, as root, against the real kernel: real processes, and
/// assertions on the fields of the events they cause.
final class LiveProcessEventTests: XCTestCase {
    func marker() -> String { "swiftmon-mark-\(UUID().uuidString.prefix(8))" }

    func testShellExitProducesCreateAndTerminateWithExactFields() throws {
        try LiveSensor.requireLiveSensor()
        let sensor = try LiveSensor()
        let mark = marker()
        let cwd = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cwd \(mark)")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: cwd) }

        let (pid, status) = try runToCompletion("/bin/sh", ["-c", "exit 3", mark], cwd: cwd)
        XCTAssertEqual(status, 3)
        try sensor.waitFor(timeout: 20) { !$0.with(id: 5, "ProcessId", containing: String(pid)).isEmpty }
        let events = sensor.stop()

        let creates = events.with(id: 1, "CommandLine", containing: mark)
        XCTAssertEqual(creates.count, 1, "one ProcessCreate for the shell")
        let create = try XCTUnwrap(creates.first)
        XCTAssertEqual(create["EventName"] as? String, "ProcessCreate")
        XCTAssertEqual(create["CommandLine"] as? String, "/bin/sh -c exit 3 \(mark)")
        XCTAssertEqual(create["Image"] as? String, URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path)
        XCTAssertEqual(create["CurrentDirectory"] as? String, cwd.resolvingSymlinksInPath().path)
        XCTAssertEqual(create["User"] as? String, "root")
        XCTAssertEqual(create["ProcessId"] as? String, String(pid))
        XCTAssertEqual(create["ParentProcessId"] as? String, String(getpid()))
        XCTAssertEqual(create["ParentImage"] as? String,
                       URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path)
        XCTAssertEqual(create["Architecture"] as? String, "64-bit")
        XCTAssertEqual(create["FileVersion"] as? String, "-")
        XCTAssertEqual(create["IntegrityLevel"] as? String, "no level")
        XCTAssertEqual(create["LogonId"] as? String, String(try auditLoginUID()))
        let guid = try XCTUnwrap(create["ProcessGuid"] as? String)
        XCTAssertTrue(guid.hasPrefix("{") && guid.hasSuffix("}") && guid.count == 38, guid)

        let terminates = events.with(id: 5).filter { ($0["ProcessGuid"] as? String) == guid }
        XCTAssertEqual(terminates.count, 1)
        XCTAssertEqual(terminates.first?["ExitCode"] as? String, "3")
        XCTAssertEqual(terminates.first?["Image"] as? String, create["Image"] as? String)
        XCTAssertEqual(terminates.first?["ProcessId"] as? String, String(pid))
    }

    func testFieldOrderFollowsTheSchema() throws {
        try LiveSensor.requireLiveSensor()
        let sensor = try LiveSensor()
        let mark = marker()
        try runToCompletion("/bin/true", [mark])
        try sensor.waitFor(timeout: 20) { !$0.with(id: 1, "CommandLine", containing: mark).isEmpty }
        sensor.stop()
        let line = try XCTUnwrap(sensor.rawLines().first { String(decoding: $0, as: UTF8.self).contains(mark) })
        let text = String(decoding: line, as: UTF8.self)
        let expected = ["EventID", "EventName", "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image",
                        "FileVersion", "Description", "Product", "Company", "OriginalFileName", "CommandLine",
                        "CurrentDirectory", "User", "LogonGuid", "LogonId", "TerminalSessionId", "IntegrityLevel",
                        "Hashes", "ParentProcessGuid", "ParentProcessId", "ParentImage", "ParentCommandLine",
                        "ParentUser", "Architecture"]
        var position = text.startIndex
        for key in expected {
            let range = try XCTUnwrap(text.range(of: "\"\(key)\":", range: position..<text.endIndex), "\(key) out of order")
            position = range.upperBound
        }
    }

    func testThreadsAndChildrenShareTheProcessGuid() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let sensor = try LiveSensor()
        let (pid, status) = try runToCompletion(helper.path, ["threads", "3"])
        XCTAssertEqual(status, 0)
        let mark = marker()
        let (shellPid, _) = try runToCompletion("/bin/sh", ["-c", "/bin/true child-\(mark); exit 4", mark])
        try sensor.waitFor(timeout: 20) {
            !$0.with(id: 5, "ProcessId", containing: String(pid)).isEmpty
                && !$0.with(id: 5, "ProcessId", containing: String(shellPid)).isEmpty
        }
        let events = sensor.stop()

        let create = try XCTUnwrap(events.with(id: 1).first { ($0["ProcessId"] as? String) == String(pid) })
        let guid = try XCTUnwrap(create["ProcessGuid"] as? String)
        let threadCreates = events.with(id: 200).filter { ($0["ProcessId"] as? String) == String(pid) }
        let threadExits = events.with(id: 201).filter { ($0["ProcessId"] as? String) == String(pid) }
        XCTAssertEqual(threadCreates.count, 3)
        XCTAssertEqual(threadExits.count, 3)
        for e in threadCreates + threadExits {
            XCTAssertEqual(e["ProcessGuid"] as? String, guid)
            XCTAssertEqual(e["Image"] as? String, helper.resolvingSymlinksInPath().path)
            XCTAssertNotEqual(e["ThreadId"] as? String, String(pid))
        }
        XCTAssertEqual(Set(threadCreates.compactMap { $0["ThreadId"] as? String }),
                       Set(threadExits.compactMap { $0["ThreadId"] as? String }))

        let shell = try XCTUnwrap(events.with(id: 1, "CommandLine", containing: "exit 4").first)
        let child = try XCTUnwrap(events.with(id: 1).first { ($0["CommandLine"] as? String) == "/bin/true child-\(mark)" })
        XCTAssertEqual(child["ParentProcessGuid"] as? String, shell["ProcessGuid"] as? String)
        XCTAssertEqual(child["ParentProcessId"] as? String, String(shellPid))
        XCTAssertEqual(child["ParentCommandLine"] as? String, shell["CommandLine"] as? String)
        XCTAssertEqual(child["ParentImage"] as? String, shell["Image"] as? String)
        let shellExit = try XCTUnwrap(events.with(id: 5).first { ($0["ProcessGuid"] as? String) == shell["ProcessGuid"] as? String })
        XCTAssertEqual(shellExit["ExitCode"] as? String, "4")
    }

    func testExecStormIsCompleteWithNoDrops() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let sensor = try LiveSensor()
        let mark = marker()
        let count = 5_000
        let (_, status) = try runToCompletion(helper.path, ["storm", String(count), mark])
        XCTAssertEqual(status, 0)
        try sensor.waitFor(timeout: 60) { $0.with(id: 1, "CommandLine", containing: "\(mark)-\(count - 1)").count == 1 }
        usleep(300_000)
        let events = sensor.stop()

        let creates = events.with(id: 1, "CommandLine", containing: "/bin/true \(mark)-")
        var seen = Set<Int>()
        for e in creates {
            let cmd = try XCTUnwrap(e["CommandLine"] as? String)
            let n = try XCTUnwrap(Int(cmd.dropFirst("/bin/true \(mark)-".count)), cmd)
            XCTAssertTrue(seen.insert(n).inserted, "duplicate \(cmd)")
            XCTAssertEqual(e["Image"] as? String, URL(fileURLWithPath: "/bin/true").resolvingSymlinksInPath().path)
        }
        let lost = events.with(id: 255).reduce(0) { total, e in
            total + (Int(((e["Description"] as? String) ?? "").split(separator: " ").first ?? "") ?? 0)
        }
        XCTAssertEqual(creates.count + lost, count, "delivered + reported losses = storm size")
        XCTAssertEqual(lost, 0, "no drops at default settings")
        XCTAssertEqual(seen, Set(0..<count))
        XCTAssertTrue(sensor.stderrText.contains("events lost:          0"), sensor.stderrText)
    }

    func testHostileCommandLineIsEscapedAndTruncatedVisibly() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let sensor = try LiveSensor()
        let mark = marker()
        try runToCompletion(helper.path, ["exec-hostile", mark])
        let trueImage = URL(fileURLWithPath: "/bin/true").resolvingSymlinksInPath().path
        func isTheHostileExec(_ line: Data) -> Bool {
            let s = String(decoding: line, as: UTF8.self)
            return s.hasPrefix("{\"EventID\":1,") && s.contains(mark) && s.contains("\"Image\":\"\(trueImage)\"")
        }
        try sensor.waitFor(timeout: 20) { _ in sensor.rawLines().contains(where: isTheHostileExec) }
        sensor.stop()
        let line = try XCTUnwrap(sensor.rawLines().first(where: isTheHostileExec))
        let text = String(decoding: line, as: UTF8.self)
        XCTAssertFalse(line.contains(0x0A), "one line per event")
        XCTAssertTrue(text.contains(#"line1\nline2"#))
        XCTAssertTrue(text.contains(#"say \"hi\" 'there'"#))
        XCTAssertTrue(text.contains("<tag>&amp;"))
        XCTAssertTrue(text.contains(#"tab\there"#))
        XCTAssertTrue(text.contains(#"bad\udcff\udcfebytes"#), "non-UTF-8 bytes kept as surrogate escapes")
        XCTAssertTrue(text.contains(#"back\\slash"#))
        XCTAssertTrue(text.contains("…[command line truncated: 32768 of "), "visible truncation marker")

        // A strict reader gets the exact bytes back (Python's surrogateescape).
        let check = try Command.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", """
            import json, sys
            e = json.loads(sys.stdin.buffer.read())
            cmd = e["CommandLine"].encode("utf-8", "surrogateescape")
            assert b"bad\\xff\\xfebytes" in cmd, cmd[:200]
            assert b"line1\\nline2" in cmd
            assert len(cmd) < 33000 and b"A" * 20000 in cmd
            print("ok")
            """], stdin: line)
        XCTAssertEqual(check.status, 0, check.stderrText)
        XCTAssertEqual(check.stdoutText, "ok\n")
    }

    func testArchitectureOf32BitAnd64BitImagesAndScripts() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("swiftmon-arch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tiny32 = dir.appendingPathComponent("tiny32")
        try TinyELF.i386ExitZero.write(to: tiny32)
        chmod(tiny32.path, 0o755)
        let script = dir.appendingPathComponent("script.sh")
        try Data("#!/bin/sh\nexit 0\n".utf8).write(to: script)
        chmod(script.path, 0o755)

        let sensor = try LiveSensor()
        let mark = marker()
        let (_, status32) = try runToCompletion(helper.path, ["exec", tiny32.path, mark])
        try runToCompletion(script.path, [mark])
        try runToCompletion("/bin/true", [mark])
        try sensor.waitFor(timeout: 20) { $0.with(id: 1, "CommandLine", containing: mark).count >= (status32 == 0 ? 3 : 2) }
        let events = sensor.stop().with(id: 1, "CommandLine", containing: mark)

        let scriptRun = try XCTUnwrap(events.first { ($0["CommandLine"] as? String)?.contains(script.path) == true })
        XCTAssertEqual(scriptRun["Image"] as? String, URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path,
                       "a script's image is its interpreter")
        XCTAssertEqual(scriptRun["Architecture"] as? String, "64-bit")
        let trueRun = try XCTUnwrap(events.first { ($0["CommandLine"] as? String) == "/bin/true \(mark)" })
        XCTAssertEqual(trueRun["Architecture"] as? String, "64-bit")
        if status32 == 0 {
            let run32 = try XCTUnwrap(events.first { ($0["Image"] as? String) == tiny32.resolvingSymlinksInPath().path })
            XCTAssertEqual(run32["Architecture"] as? String, "32-bit")
        } else {
            // This kernel runs no 32-bit code (no IA32 emulation): nothing to see.
            XCTAssertTrue(events.allSatisfy { ($0["Image"] as? String) != tiny32.path })
        }
    }

    func testRunWithoutRootStopsAtOnceWithAdvice() throws {
        try LiveSensor.requireLiveSensor()
        let run = try runForErrors("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", LiveSensor.binary!.path, "run"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("needs root"), run.stderr)
    }

    func testStopLeavesNoProgramsAndOutputIsPrivate() throws {
        try LiveSensor.requireLiveSensor()
        // Programs of the same names that were there before (another swiftmon
        // on the machine) are not this sensor's.
        let before = try loadedProgramIDs()
        let sensor = try LiveSensor()
        let mine = try loadedProgramIDs().subtracting(before)
        XCTAssertGreaterThanOrEqual(mine.count, 3, "bpftool sees the sensor's programs while it runs")
        var st = stat()
        XCTAssertEqual(stat(sensor.outputURL.path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        let events = sensor.stop()
        XCTAssertEqual(sensor.process.terminationStatus, 0)
        XCTAssertEqual(events.with(id: 4).compactMap { $0["State"] as? String }, ["Started", "Stopped"])
        // The kernel frees a detached program after an RCU grace period,
        // which for programs on syscall tracepoints can take a moment.
        var after = try loadedProgramIDs()
        for _ in 0..<50 where !after.isDisjoint(with: mine) {
            usleep(100_000)
            after = try loadedProgramIDs()
        }
        XCTAssertTrue(after.isDisjoint(with: mine), "programs left behind: \(after.intersection(mine))")
    }

    /// This process's audit login uid, which its children inherit.
    func auditLoginUID() throws -> UInt32 {
        let text = try String(contentsOfFile: "/proc/self/loginuid", encoding: .utf8)
        return try XCTUnwrap(UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// IDs of loaded BPF programs with swiftmon's program names.
    func loadedProgramIDs() throws -> Set<Int> {
        let data = try Command.run(URL(fileURLWithPath: "/usr/sbin/bpftool"), ["-j", "prog", "show"]).stdout
        let programs = (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
        // bpftool shows names cut to 15 characters on some kernels.
        let full = ["sched_process_exec", "sched_process_fork", "sched_process_exit", "file_sys_exit",
                    "network_sys_exit", "module_sys_exit", "access_sys_exit", "bpf_sys_exit", "image_sys_exit",
                    "inet_sock_set_state", "sys_exit_dispatch"]
        let names = Set(full + full.map { String($0.prefix(15)) })
        return Set(programs.filter { names.contains(($0["name"] as? String) ?? "") }.compactMap { $0["id"] as? Int })
    }
}

/// A complete 32-bit x86 ELF executable that calls exit(0): 84 bytes of
/// header and program header plus 12 bytes of code, written by the test so no
/// 32-bit toolchain is needed.
enum TinyELF {
    static var i386ExitZero: Data {
        var b = [UInt8]()
        func u16(_ v: UInt16) { b += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32) { for i in 0..<4 { b.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        let base: UInt32 = 0x0804_8000, codeOffset: UInt32 = 84
        let code: [UInt8] = [0xB8, 0x01, 0, 0, 0, 0x31, 0xDB, 0xCD, 0x80]  // mov eax,1; xor ebx,ebx; int 0x80
        b += [0x7F, 0x45, 0x4C, 0x46, 1, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        u16(2); u16(3); u32(1); u32(base + codeOffset); u32(52); u32(0); u32(0)
        u16(52); u16(32); u16(1); u16(0); u16(0); u16(0)
        u32(1); u32(0); u32(base); u32(base)
        u32(codeOffset + UInt32(code.count)); u32(codeOffset + UInt32(code.count)); u32(5); u32(0x1000)
        b += code
        return Data(b)
    }
}
