import Foundation
import SwiftmonTestSupport
import XCTest

/// The runner every test target uses for the built binaries: it must not
/// stall on a chatty program, hang on one that leaves a child behind, or
/// outlive its timeout.
final class CommandTests: XCTestCase {
    let sh = URL(fileURLWithPath: "/bin/sh")

    func testBothOutputsLargerThanAPipeAndTheExitStatus() throws {
        let r = try Command.run(sh, ["-c", "head -c 300000 /dev/zero >&2; head -c 200000 /dev/zero; exit 7"])
        XCTAssertEqual([r.status, Int32(r.stdout.count), Int32(r.stderr.count)], [7, 200_000, 300_000])
        XCTAssertFalse(r.signaled)
    }

    func testInputIsWrittenAndAProgramThatIgnoresItIsFine() throws {
        let input = Data((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0) })
        XCTAssertEqual(try Command.run(URL(fileURLWithPath: "/bin/cat"), [], stdin: input).stdout, input)
        XCTAssertEqual(try Command.run(URL(fileURLWithPath: "/bin/true"), [], stdin: input).status, 0)
        XCTAssertEqual(try Command.run(URL(fileURLWithPath: "/bin/cat"), []).stdout, Data(), "no input: /dev/null")
    }

    func testEnvironmentDirectoryAndSignal() throws {
        let r = try Command.run(sh, ["-c", "echo \"$SWIFTMON_TEST_VALUE\"; pwd"], environment: ["SWIFTMON_TEST_VALUE": "a b"],
                                currentDirectory: URL(fileURLWithPath: "/usr"))
        XCTAssertEqual(r.stdoutText, "a b\n/usr\n")
        let killed = try Command.run(sh, ["-c", "kill -9 $$"])
        XCTAssertTrue(killed.signaled)
        XCTAssertEqual(killed.status, SIGKILL)
        XCTAssertThrowsError(try Command.run(URL(fileURLWithPath: "/nonexistent/program"), []))
    }

    func testTimeoutKillsTheProgramAndItsChildren() throws {
        let pidFile = NSTemporaryDirectory() + "swiftmon-command-\(getpid())"
        defer { unlink(pidFile) }
        let start = Date()
        XCTAssertThrowsError(try Command.run(sh, ["-c", "echo started >&2; sleep 60 & echo $! > \(pidFile); sleep 60; true"],
                                             timeout: 1)) { error in
            XCTAssertTrue("\(error)".contains("did not finish in 1 s; stderr so far: started"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        let child = try XCTUnwrap(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Gone, or a zombie waiting for whoever inherited it to reap it.
        func ended() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8) else { return true }
            return stat.contains(") Z ")
        }
        let deadline = Date().addingTimeInterval(5)
        while !ended(), Date() < deadline { usleep(20_000) }
        XCTAssertTrue(ended(), "the program's background child was killed with it")
    }

    /// A child left running with the output still open does not hold the
    /// caller until it ends.
    func testABackgroundChildDoesNotHoldTheCaller() throws {
        let start = Date()
        let r = try Command.run(sh, ["-c", "sleep 30 & echo done"])
        XCTAssertEqual(r.stdoutText, "done\n")
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
    }
}
