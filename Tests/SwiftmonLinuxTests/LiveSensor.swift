import Foundation
import XCTest

/// The built swiftmon binary running `swiftmon run` as root against the real
/// kernel, writing JSON lines to a file the test reads back.
final class LiveSensor {
    let process = Process()
    let outputURL: URL
    let stderrURL: URL
    private(set) var events: [[String: Any]] = []
    private(set) var stderrText = ""

    /// Where the binaries are: $SWIFTMON_BINARY (set by `make test`), else the
    /// build folder of this test bundle.
    static var binary: URL? {
        if let path = ProcessInfo.processInfo.environment["SWIFTMON_BINARY"] {
            return URL(fileURLWithPath: path)
        }
        let candidate = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("swiftmon")
        return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
    }

    static var helper: URL? {
        guard let binary else { return nil }
        let url = binary.deletingLastPathComponent().appendingPathComponent("swiftmon-testhelper")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }

    /// Skips outside CI when the sensor cannot run here; under CI=true a
    /// missing requirement fails the test instead.
    static func requireLiveSensor(file: StaticString = #filePath, line: UInt = #line) throws {
        var missing: String?
        if geteuid() != 0 { missing = "not root" }
        else if binary == nil { missing = "swiftmon binary not found (set SWIFTMON_BINARY or run make test)" }
        else if helper == nil { missing = "swiftmon-testhelper not built" }
        else if !FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") { missing = "no kernel BTF" }
        guard let missing else { return }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTFail("live sensor test cannot run under CI: \(missing)", file: file, line: line)
            throw XCTSkip("failed above")
        }
        throw XCTSkip("live sensor test needs: \(missing)")
    }

    init(arguments: [String] = []) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        outputURL = dir.appendingPathComponent("events.jsonl")
        stderrURL = dir.appendingPathComponent("stderr.txt")
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = LiveSensor.binary
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
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let cwd { p.currentDirectoryURL = cwd }
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return (p.processIdentifier, p.terminationStatus)
}

extension Array where Element == [String: Any] {
    func with(id: Int) -> [[String: Any]] { filter { ($0["EventID"] as? Int) == id } }
    func with(id: Int, _ field: String, containing text: String) -> [[String: Any]] {
        with(id: id).filter { (($0[field] as? String) ?? "").contains(text) }
    }
}
