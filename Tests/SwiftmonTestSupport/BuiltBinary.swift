import Foundation
import XCTest

/// The programs this package builds (`swiftmon`, `swiftmon-testhelper`), as
/// every test target finds them: `$SWIFTMON_BINARY` when set (`make test`
/// sets it to the release build), else beside the test bundle (`swift test`
/// builds them into the same products folder), else the repository's
/// `.build/release` or `.build/debug`.
public enum BuiltBinary {
    /// The `swiftmon` binary, or nil when it is not built.
    public static var swiftmon: URL? { locate("swiftmon") }

    /// The program that makes real processes for the live tests.
    public static var testHelper: URL? { locate("swiftmon-testhelper") }

    /// The `swiftmon` binary; when it is missing the test is skipped, or
    /// fails under `CI=true`.
    public static func requireSwiftmon(file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        guard let url = swiftmon else {
            try TestRequirement.unavailable("swiftmon binary not found (looked at \(candidates("swiftmon").map(\.path)); "
                                            + "set SWIFTMON_BINARY or build it)", file: file, line: line)
        }
        return url
    }

    /// Runs the built `swiftmon` to completion (see ``Command/run``); skips
    /// (fails under `CI=true`) when it is not built.
    public static func runSwiftmon(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
                                   timeout: TimeInterval = Command.defaultTimeout,
                                   file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        try Command.run(requireSwiftmon(file: file, line: line), arguments, stdin: stdin, environment: environment,
                        timeout: timeout)
    }

    public static func locate(_ name: String) -> URL? {
        candidates(name).first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// Where `name` may be, in order. An explicit `$SWIFTMON_BINARY` is the
    /// only place looked at: a wrong override must not be replaced silently
    /// by another build.
    static func candidates(_ name: String) -> [URL] {
        if let explicit = ProcessInfo.processInfo.environment["SWIFTMON_BINARY"], !explicit.isEmpty {
            let swiftmon = URL(fileURLWithPath: explicit)
            return [name == "swiftmon" ? swiftmon : swiftmon.deletingLastPathComponent().appendingPathComponent(name)]
        }
        var folders: [URL] = []
        // The test runner (`…/debug/swiftmonPackageTests.xctest`) sits among the products of its build.
        for path in [CommandLine.arguments.first { $0.contains(".xctest") }, CommandLine.arguments.first].compactMap({ $0 }) {
            var dir = URL(fileURLWithPath: path).deletingLastPathComponent()
            if dir.lastPathComponent.hasSuffix(".xctest") { dir.deleteLastPathComponent() }
            folders.append(dir)
        }
        for bundle in Bundle.allBundles {
            folders.append(bundle.bundleURL)
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        folders += ["release", "debug"].map { repositoryRoot.appendingPathComponent(".build/\($0)") }
        var seen = Set<String>()
        return folders.map { $0.appendingPathComponent(name) }.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }

    /// The repository, from this file's place in it (Tests/SwiftmonTestSupport/).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// The rule for a test that cannot run here (no root, a tool or file
/// missing): skipped on a developer's machine, failed under `CI=true`, where
/// a test that did not run must not look like one that passed.
public enum TestRequirement {
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Skips the test with `why`; under `CI=true` records a failure first.
    public static func unavailable(_ why: String, file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        if isCI { XCTFail("CI=true and this test cannot run: \(why)", file: file, line: line) }
        throw XCTSkip(why, file: file, line: line)
    }
}
