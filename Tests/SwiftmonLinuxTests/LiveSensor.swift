import Foundation
import SwiftmonTestSupport
import XCTest

/// The built swiftmon binary running `swiftmon run` as root against the real
/// kernel, writing JSON lines to a file the test reads back.
final class LiveSensor {
    let process = Process()
    let outputURL: URL
    let stderrURL: URL
    private(set) var events: [[String: Any]] = []
    private(set) var stderrText = ""

    /// The built binaries (see BuiltBinary: $SWIFTMON_BINARY, set by `make
    /// test`, else beside this test bundle).
    static var binary: URL? { BuiltBinary.swiftmon }

    static var helper: URL? { BuiltBinary.testHelper }

    /// Skips outside CI when the sensor cannot run here; under CI=true a
    /// missing requirement fails the test instead.
    static func requireLiveSensor(file: StaticString = #filePath, line: UInt = #line) throws {
        var missing: String?
        if geteuid() != 0 { missing = "not root" }
        else if binary == nil { missing = "swiftmon binary not found (set SWIFTMON_BINARY or run make test)" }
        else if helper == nil { missing = "swiftmon-testhelper not built" }
        else if !FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") { missing = "no kernel BTF" }
        guard let missing else { return }
        try TestRequirement.unavailable("live sensor test needs: \(missing)", file: file, line: line)
    }

    /// `executable`: another copy of the swiftmon binary to run (default: the built one).
    init(arguments: [String] = [], executable: URL? = nil) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        outputURL = dir.appendingPathComponent("events.jsonl")
        stderrURL = dir.appendingPathComponent("stderr.txt")
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = executable ?? LiveSensor.binary
        process.arguments = ["run", "--format", "json", "--output", outputURL.path, "--stats"] + arguments
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        try waitFor(timeout: 60) { $0.contains { ($0["EventID"] as? Int) == 4 } }
    }

    /// Polls the output until `condition` holds on the events so far.
    func waitFor(timeout: TimeInterval, _ condition: ([[String: Any]]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning {
                throw SensorTestError("swiftmon exited early (\(process.terminationStatus)): \(readStderr())")
            }
            if condition(readEvents()) { return }
            usleep(50_000)
        }
        throw SensorTestError("timed out waiting for events; stderr: \(readStderr())")
    }

    /// Stops swiftmon as a user would (SIGINT) and reads everything it wrote.
    @discardableResult
    func stop() -> [[String: Any]] {
        if process.isRunning {
            kill(process.processIdentifier, SIGINT)
            process.waitUntilExit()
        }
        events = readEvents()
        stderrText = readStderr()
        return events
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: outputURL.deletingLastPathComponent())
    }

    func readEvents() -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: outputURL.path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
        }
    }

    func rawLines() -> [Data] {
        guard let data = FileManager.default.contents(atPath: outputURL.path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).map { Data($0) }
    }

    func readStderr() -> String {
        (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
    }
}

struct SensorTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs a program to completion and returns its exit status.
@discardableResult
func runToCompletion(_ executable: String, _ arguments: [String], cwd: URL? = nil) throws -> (pid: Int32, status: Int32) {
    let r = try Command.run(URL(fileURLWithPath: executable), arguments, currentDirectory: cwd)
    return (r.pid, r.status)
}

extension Array where Element == [String: Any] {
    func with(id: Int) -> [[String: Any]] { filter { ($0["EventID"] as? Int) == id } }
    func with(id: Int, _ field: String, containing text: String) -> [[String: Any]] {
        with(id: id).filter { (($0[field] as? String) ?? "").contains(text) }
    }
}
