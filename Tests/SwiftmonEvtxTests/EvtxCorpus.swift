import Foundation
import SwiftmonTestSupport
import XCTest

/// Finds the shared .evtx corpus: $SWIFTMON_CORPUS/evtx, or a `shared/corpus/evtx`
/// folder beside the repository or one of its parents.
enum EvtxCorpus {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var directory: URL? {
        if let env = ProcessInfo.processInfo.environment["SWIFTMON_CORPUS"], !env.isEmpty {
            return URL(fileURLWithPath: env).appendingPathComponent("evtx")
        }
        var dir = repositoryRoot
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent("shared/corpus/evtx")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    static func files() throws -> [URL] {
        guard let dir = directory else { try TestRequirement.unavailable("the .evtx corpus (shared/corpus/evtx) was not found") }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".evtx") }.sorted()
        if names.isEmpty { try TestRequirement.unavailable("no .evtx files in \(dir.path)") }
        return names.map { dir.appendingPathComponent($0) }
    }

    static func file(_ name: String) throws -> URL {
        guard let f = try files().first(where: { $0.lastPathComponent == name }) else {
            try TestRequirement.unavailable("corpus file \(name) is missing")
        }
        return f
    }

    static func findInPath(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs scripts/evtx-reference.py (PyPI `evtx`, the Rust crate) on `file`.
    static func reference(_ file: URL, values: Bool) throws -> [String: Any] {
        let python = ProcessInfo.processInfo.environment["SWIFTMON_PYTHON"] ?? findInPath("python3")
        guard let python else { try TestRequirement.unavailable("python3 is not installed") }
        let script = repositoryRoot.appendingPathComponent("scripts/evtx-reference.py")
        let r = try Command.run(URL(fileURLWithPath: python), [script.path] + (values ? ["--values"] : []) + [file.path], timeout: 600)
        if r.status == 3 { try TestRequirement.unavailable("PyPI evtx is missing: \(r.stderrText)") }
        guard r.status == 0 else {
            XCTFail("reference script failed on \(file.lastPathComponent): \(r.stderrText)")
            return [:]
        }
        return try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
    }
}
