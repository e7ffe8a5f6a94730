import Foundation
import SwiftmonTestSupport
import XCTest

/// Finds the shared test corpus: $SWIFTMON_CORPUS, or a `shared/corpus`
/// folder beside the repository or one of its parents.
enum EtlCorpus {
    static var repositoryRoot: URL {
        // Tests/SwiftmonETLTests/EtlCorpus.swift → repository root
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var directory: URL? {
        if let env = ProcessInfo.processInfo.environment["SWIFTMON_CORPUS"], !env.isEmpty {
            return URL(fileURLWithPath: env).appendingPathComponent("etl")
        }
        var dir = repositoryRoot
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent("shared/corpus/etl")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    static func files() throws -> [URL] {
        guard let dir = directory else { try TestRequirement.unavailable("the .etl corpus (shared/corpus/etl) was not found") }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".etl") }.sorted()
        if names.isEmpty { try TestRequirement.unavailable("no .etl files in \(dir.path)") }
        return names.map { dir.appendingPathComponent($0) }
    }

    static func file(_ name: String) throws -> URL {
        guard let f = try files().first(where: { $0.lastPathComponent == name }) else {
            try TestRequirement.unavailable("corpus file \(name) is missing")
        }
        return f
    }
}
