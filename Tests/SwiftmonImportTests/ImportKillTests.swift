import Foundation
import GRDB
import XCTest
import SwiftmonImport
@testable import SwiftmonStore
import SwiftmonTestSupport

/// `swiftmon import` killed (SIGKILL) while it inserts into a new store, whose
/// query indexes it builds only at the end: what it committed reads through
/// `query` and `tree`, and the next `import` builds the indexes and skips what
/// is stored already.
final class ImportKillTests: XCTestCase {
    func testKilledImportLeavesAReadableStoreTheNextImportCompletes() throws {
        let directory = NSTemporaryDirectory() + "swiftmon-importkill-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/collector.log"
        let store = directory + "/s.db"
        let total = 150_000
        try ImportBenchmark.writeCollectorFile(path: file, events: total)

        let child = Process()
        child.executableURL = try BuiltBinary.requireSwiftmon()
        child.arguments = ["import", "--store", store, file]
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        // Kill it once some batches are committed, long before the end.
        func committed() -> Int {
            guard FileManager.default.fileExists(atPath: store), let reader = try? StoreReader(path: store) else { return 0 }
            return (try? reader.count()) ?? 0
        }
        let deadline = Date(timeIntervalSinceNow: 120)
        while Date() < deadline, child.isRunning, committed() == 0 { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertTrue(child.isRunning, "the import ended before it could be killed (status \(child.terminationStatus))")
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        XCTAssertEqual(child.terminationReason, .uncaughtSignal)

        let reader = try StoreReader(path: store)
        let stored = try reader.count()
        XCTAssertGreaterThan(stored, 0)
        XCTAssertLessThan(stored, total)
        XCTAssertEqual(try reader.integrityCheck(), ["ok"])
        let indexes = try reader.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event'")
        }
        XCTAssertEqual(indexes, [], "the import was killed before it built its indexes")

        // The CLI reads it as it is: the newest event, and the tree of a stored process.
        let newest = try BuiltBinary.runSwiftmon(["query", "--store", store, "--newest-first", "--limit", "1", "--format", "json"])
        XCTAssertEqual(newest.status, 0, newest.stderrText)
        XCTAssertEqual(newest.stdoutText.split(separator: "\n").count, 1, newest.stdoutText)
        var creates = StoreFilter()
        creates.eventIDs = [1]
        creates.limit = 1
        let guid = try XCTUnwrap(try reader.events(matching: creates).first?["ProcessGuid"])
        let tree = try BuiltBinary.runSwiftmon(["tree", "--store", store, guid])
        XCTAssertEqual(tree.status, 0, tree.stderrText)
        XCTAssertTrue(tree.stdoutText.lowercased().contains(guid.lowercased()), tree.stdoutText)

        // The next import builds the indexes and stores each event once.
        let again = try BuiltBinary.runSwiftmon(["import", "--store", store, "--summary-json", file])
        XCTAssertEqual(again.status, 0, again.stderrText)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(try XCTUnwrap(again.stdoutText.split(separator: "\n").last).utf8)) as? [String: Int])
        XCTAssertEqual(summary["duplicates"], stored)
        XCTAssertEqual(summary["imported"], total - stored)
        let completed = try StoreReader(path: store)
        XCTAssertEqual(try completed.count(), total)
        let after = try completed.read { db in
            Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event'"))
        }
        XCTAssertEqual(after, Set(EventStore.indexNames))
    }
}
