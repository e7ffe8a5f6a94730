import Foundation
import XCTest
@testable import SwiftmonImport
import SwiftmonCore
import SwiftmonStore
import SwiftmonTestSupport

/// The importer into a real store: idempotence, hosts, malformed lines with file:line.
final class EventImporterTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "swiftmon-import-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    var fixture: String { SysmonLineParserTests.fixtures.appendingPathComponent("sysmon-for-linux.log").path }

    func run(_ files: [String], store: String, host: String = "local") -> (EventImporter.Counts, [String]) {
        var messages: [String] = []
        let importer = EventImporter(store: try! ImportStore(path: store), options: .init(defaultHost: host)) { messages.append($0) }
        for f in files { importer.importFile(f) }
        importer.finish()
        return (importer.counts, messages)
    }

    func testImportTwiceStoresEachEventOnceAndKeepsHosts() throws {
        let store = directory + "/central.db"
        let (first, messages) = run([fixture], store: store)
        XCTAssertEqual(first.lines, 10)
        XCTAssertEqual(first.events, 8)
        XCTAssertEqual(first.imported, 8)
        XCTAssertEqual(first.duplicates, 0)
        XCTAssertEqual(first.malformed, 1)
        XCTAssertEqual(first.other, 1)
        XCTAssertEqual(messages.filter { $0.hasPrefix(fixture + ":7: ") }.count, 1, "\(messages)")
        let (second, _) = run([fixture], store: store)
        XCTAssertEqual(second.imported, 0)
        XCTAssertEqual(second.duplicates, 8)
        let reader = try StoreReader(path: store)
        XCTAssertEqual(try reader.count(), 8)

        var filter = StoreFilter()
        filter.host = "WEB-01"  // case ignored
        let web = try reader.events(matching: filter)
        XCTAssertEqual(web.map(\.kind.id).sorted(), [1, 3, 4, 5, 11, 16])
        filter.host = "db-02"
        XCTAssertEqual(try reader.events(matching: filter).map(\.kind.id).sorted(), [4, 23])
        filter.host = "nobody"
        XCTAssertEqual(try reader.events(matching: filter).count, 0)
        // The entity-escaped command line is stored unescaped.
        filter.host = nil
        filter.eventIDs = [1]
        XCTAssertEqual(try reader.events(matching: filter).first?["CommandLine"], "sh -c \"echo a && cat </etc/passwd> /tmp/x\"\tA")
        // The same file named as two hosts' (a line without Computer takes the default) — hosts keep events apart.
        let mode = try FileManager.default.attributesOfItem(atPath: store)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
    }

    func testSameEventsOfTwoHostsAreBothStored() throws {
        let store = directory + "/two.db"
        let json = #"{"EventID":5,"EventName":"ProcessTerminate","RuleName":"-","UtcTime":"2024-01-31 23:59:59.123","ProcessGuid":"{1}","ProcessId":"5","Image":"/bin/true","User":"root"}"#
        let path = directory + "/events.jsonl"
        try (json + "\n" + json + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        // Without EventRecordIDs, two identical lines are two events (Sysmon does log such pairs) …
        let (a, _) = run([path], store: store, host: "alpha")
        XCTAssertEqual(a.imported, 2)
        // … and reading them again adds nothing.
        let (again, _) = run([path], store: store, host: "alpha")
        XCTAssertEqual(again.duplicates, 2)
        let (b, _) = run([path], store: store, host: "beta")
        XCTAssertEqual(b.imported, 2, "another host's identical events are its own")
        XCTAssertEqual(try StoreReader(path: store).count(), 4)
        // With EventRecordIDs, a resent event (same id) is one event, two ids are two.
        let xml = { (rid: Int) in "<Event><System><EventID>5</EventID><EventRecordID>\(rid)</EventRecordID><Computer>gamma</Computer></System><EventData><Data Name=\"UtcTime\">2024-01-31 23:59:59.123</Data></EventData></Event>\n" }
        try (xml(1) + xml(1) + xml(2)).write(toFile: path, atomically: true, encoding: .utf8)
        let (c, _) = run([path], store: store)
        XCTAssertEqual(c.imported, 2)
        XCTAssertEqual(c.duplicates, 1)
    }

    func testHostileFileIsCountedNotFatal() throws {
        let path = directory + "/hostile.log"
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: fixture)))
        bytes += Array(repeating: UInt8(ascii: "x"), count: 3 << 20) + [0x0A]       // a 3 MiB line
        bytes += (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }  // binary, few line feeds
        bytes += [0x0A]
        bytes += Array(try Data(contentsOf: URL(fileURLWithPath: fixture)))           // and real events after it
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (counts, messages) = run([path], store: directory + "/h.db")
        XCTAssertEqual(counts.events, 16)
        XCTAssertEqual(counts.imported, 8, "the second copy carries the same EventRecordIDs")
        XCTAssertEqual(counts.duplicates, 8)
        XCTAssertGreaterThanOrEqual(counts.malformed, 3)
        XCTAssertTrue(messages.contains { $0.contains("is longer than") }, "\(messages.prefix(5))")
    }

    /// The store's own thread (the default) and the in-line import store the
    /// same rows and count alike, over many small batches: the file twice
    /// (every event of the second copy a duplicate, told apart in the first
    /// import by what it stored, as the import-key index is deferred), a
    /// malformed line between; a second import of it finds every event there.
    func testStoreThreadAndInLineImportAlike() throws {
        let collector = directory + "/collector.log"
        try ImportBenchmark.writeCollectorFile(path: collector, events: 6000)
        let path = directory + "/twice.log"
        let one = try Data(contentsOf: URL(fileURLWithPath: collector))
        try (one + Data("<Event><System><EventID>1</Event>\n".utf8) + one).write(to: URL(fileURLWithPath: path))
        func importing(_ store: String, storeThread: Bool) -> (EventImporter.Counts, [String]) {
            var options = EventImporter.Options(defaultHost: "local")
            options.storeThread = storeThread
            options.batchSize = 500
            var messages: [String] = []
            let importer = EventImporter(store: try! ImportStore(path: store), options: options) { messages.append($0) }
            importer.importFile(path)
            importer.finish()
            return (importer.counts, messages)
        }
        var results: [EventImporter.Counts] = []
        for storeThread in [true, false] {
            let store = directory + "/thread-\(storeThread).db"
            let (counts, messages) = importing(store, storeThread: storeThread)
            XCTAssertEqual(counts.lines, 12_001)
            XCTAssertEqual(counts.events, 12_000)
            XCTAssertEqual(counts.imported, 6000, "\(storeThread)")
            XCTAssertEqual(counts.duplicates, 6000, "\(storeThread)")
            XCTAssertEqual(counts.malformed, 1)
            XCTAssertEqual(counts.failedToStore, 0)
            XCTAssertEqual(messages.filter { $0.hasPrefix(path + ":6001: ") }.count, 1, "\(messages)")
            let reader = try StoreReader(path: store)
            XCTAssertEqual(try reader.count(), 6000)
            XCTAssertEqual(try reader.integrityCheck(), ["ok"])
            var filter = StoreFilter()
            filter.host = "host-3"
            filter.limit = nil
            XCTAssertEqual(try reader.events(matching: filter).count, 1500)
            let (again, _) = importing(store, storeThread: storeThread)
            XCTAssertEqual(again.imported, 0)
            XCTAssertEqual(again.duplicates, 12_000)
            results.append(counts)
        }
        XCTAssertEqual(results[0], results[1])
    }
}
