import Foundation
import SwiftmonTestSupport
import XCTest

extension LiveSensor {
    /// A sensor whose configuration logs every kind (the embedded default
    /// logs file events only in a few system directories).
    static func loggingEverything() throws -> LiveSensor {
        try LiveSensor(arguments: ["--config", LiveEventConfig.everything.path])
    }
}

enum LiveEventConfig {
    static let everything: URL = {
        let kinds = ["FileCreate", "FileDelete", "FileRename", "NetworkConnect", "DriverLoad", "ImageLoad",
                     "RawAccessRead", "ProcessAccess", "eBPFEvent", "ServiceInstall", "ProcessCreate",
                     "ProcessTerminate"]
        let groups = kinds.map { "<RuleGroup name=\"\" groupRelation=\"or\"><\($0) onmatch=\"exclude\"/></RuleGroup>" }
        let xml = "<Sysmon schemaversion=\"4.90\"><EventFiltering>\(groups.joined())</EventFiltering></Sysmon>\n"
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("swiftmon-everything-\(getpid()).xml")
        try? Data(xml.utf8).write(to: url)
        return url
    }()
}

/// Runs a program to completion; returns its pid, exit status and stdout.
func runCapturing(_ executable: String, _ arguments: [String]) throws -> (pid: Int32, status: Int32, output: String) {
    let r = try Command.run(URL(fileURLWithPath: executable), arguments)
    return (r.pid, r.status, r.stdoutText)
}

/// A fresh directory for a test, its real path (no symbolic links), removed by the caller.
func makeTestDirectory(_ label: String) throws -> URL {
    let url = URL(fileURLWithPath: NSTemporaryDirectory()).resolvingSymlinksInPath()
        .appendingPathComponent("swiftmon-\(label)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

extension Array where Element == [String: Any] {
    func with(id: Int, _ field: String, equalTo value: String) -> [[String: Any]] {
        with(id: id).filter { ($0[field] as? String) == value }
    }

    /// The ProcessGuid of the ProcessCreate for `pid`.
    func processGuid(of pid: Int32) -> String? {
        with(id: 1, "ProcessId", equalTo: String(pid)).last?["ProcessGuid"] as? String
    }
}

/// Runs a program to completion; returns its exit status and what it wrote on stderr.
func runForErrors(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let r = try Command.run(URL(fileURLWithPath: executable), arguments)
    return (r.status, r.stderrText)
}
