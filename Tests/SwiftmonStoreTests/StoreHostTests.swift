import Foundation
import GRDB
import XCTest
@testable import SwiftmonStore
import SwiftmonCore

/// Schema version 3: imported rows carry their host and an import key.
final class StoreHostTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "swiftmon-storehost-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func terminate(pid: Int, at ms: Int64) -> Event {
        var e = Event(.processTerminate, time: EventTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_000 + ms * 1_000_000))
        e["ProcessId"] = String(pid)
        e["ProcessGuid"] = "{ABC-\(pid)}"
        return e
    }

    /// A version-2 store (as the previous swiftmon wrote it) is read as it is,
    /// and upgraded in place by an import; the sensor's rows stay.
    func testAVersionTwoStoreIsUpgradedByAnImport() throws {
        let path = directory + "/old.db"
        let sink = try StoreSink(path: path)
        try sink.emit(terminate(pid: 1, at: 0))
        sink.close()
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "DROP INDEX event_by_host")
            try db.execute(sql: "DROP INDEX event_by_import_key")
            try db.execute(sql: "ALTER TABLE event DROP COLUMN host")
            try db.execute(sql: "ALTER TABLE event DROP COLUMN import_key")
            try db.execute(sql: "PRAGMA user_version = 2")
        }
        try queue.close()
        var filter = StoreFilter()
        filter.host = "a"
        XCTAssertThrowsError(try StoreReader(path: path).events(matching: filter)) { error in
            XCTAssertTrue("\(error)".contains("before hosts were recorded"), "\(error)")
        }
        XCTAssertEqual(try StoreReader(path: path).count(), 1)

        let store = try ImportStore(path: path)
        let first = try store.insert([HostEvent(event: terminate(pid: 2, at: 1), host: "a", recordID: 1),
                                      HostEvent(event: terminate(pid: 2, at: 1), host: "a", recordID: 1),
                                      HostEvent(event: terminate(pid: 2, at: 1), host: "b", recordID: 1)])
        XCTAssertEqual(first.inserted, 2)
        XCTAssertEqual(first.duplicates, 1)
        try store.close()
        let reader = try StoreReader(path: path)
        XCTAssertEqual(try reader.count(), 3)
        XCTAssertEqual(try reader.events(matching: filter).map { $0["ProcessId"] }, ["2"])
        XCTAssertEqual(try reader.integrityCheck(), ["ok"])
        // The GUID column is lower case, whatever the event spelled.
        var byGuid = StoreFilter()
        byGuid.processGuid = "{abc-2}"
        XCTAssertEqual(try reader.events(matching: byGuid).count, 2)
    }

    func create(guid: String, pid: Int, parent: String, image: String, at ms: Int64) -> Event {
        var e = Event(.processCreate, time: EventTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_000 + ms * 1_000_000))
        e["ProcessGuid"] = guid
        e["ProcessId"] = String(pid)
        e["Image"] = image
        e["ParentProcessGuid"] = parent
        e["ParentProcessId"] = "1"
        return e
    }

    /// Two hosts' processes in one imported store, with the same pid and (as
    /// two Sysmon for Linux hosts with one machine id would give) the same
    /// parent GUID: `tree --host` picks the host's process, and a tree only
    /// ever holds events of the host its process was found on.
    func testTreeByHostKeepsEachMachinesProcessesApart() throws {
        let path = directory + "/hosts.db"
        let parent = "{AAAA0000-0000-0000-0000-000000000001}"
        let store = try ImportStore(path: path)
        _ = try store.insert([
            HostEvent(event: create(guid: parent, pid: 10, parent: "{00000000-0000-0000-0000-000000000000}", image: "/usr/bin/bash", at: 0), host: "alpha"),
            HostEvent(event: create(guid: "{A1}", pid: 100, parent: parent, image: "/usr/bin/curl", at: 1), host: "alpha"),
            HostEvent(event: create(guid: parent, pid: 10, parent: "{00000000-0000-0000-0000-000000000000}", image: "/usr/bin/zsh", at: 2), host: "beta"),
            HostEvent(event: create(guid: "{B1}", pid: 100, parent: parent, image: "/usr/bin/wget", at: 3), host: "beta"),
            HostEvent(event: create(guid: "{B2}", pid: 101, parent: parent, image: "/usr/bin/ssh", at: 4), host: "beta"),
        ])
        try store.close()
        let reader = try StoreReader(path: path)

        // The same pid on both hosts: the newest is beta's; --host picks alpha's (case ignored).
        XCTAssertEqual(try reader.processTree(of: .processID(100)).process.image, "/usr/bin/wget")
        let alpha = try reader.processTree(of: .processID(100), host: "ALPHA")
        XCTAssertEqual(alpha.process.guid, "{A1}")
        // alpha's parent (not beta's of the same GUID), above it the stub of its unrecorded parent.
        XCTAssertEqual(alpha.ancestors.map(\.image), ["", "/usr/bin/bash"])
        XCTAssertEqual(alpha.ancestors.map(\.recorded), [false, true])

        // The shared parent GUID: each host's tree holds its own children only.
        let ofBeta = try reader.processTree(of: .guid(parent), host: "beta")
        XCTAssertEqual(ofBeta.process.image, "/usr/bin/zsh")
        XCTAssertEqual(ofBeta.process.children.map(\.image), ["/usr/bin/wget", "/usr/bin/ssh"])
        let ofAlpha = try reader.processTree(of: .guid(parent), host: "alpha")
        XCTAssertEqual(ofAlpha.process.children.map(\.image), ["/usr/bin/curl"])
        // Without --host: the host the process is found on (the first recorded), alone.
        let unnamed = try reader.processTree(of: .guid(parent))
        XCTAssertEqual(unnamed.process.image, "/usr/bin/bash")
        XCTAssertEqual(unnamed.process.children.map(\.image), ["/usr/bin/curl"])

        XCTAssertThrowsError(try reader.processTree(of: .processID(100), host: "gamma")) { error in
            XCTAssertEqual("\(error)", "no process with pid 100 of host gamma in \(path)")
        }
        XCTAssertThrowsError(try reader.processTree(of: .guid("{B2}"), host: "alpha"))
    }

    /// The GUID columns hold what a query looks for, whatever the spelling:
    /// ASCII folded while copied, anything else as `lowercased()` folds it.
    func testGuidColumnsMatchTheQuerysSpelling() throws {
        let path = directory + "/guids.db"
        let sink = try StoreSink(path: path)
        var plain = terminate(pid: 7, at: 0)
        plain["ProcessGuid"] = "{5F3C8D2E-AB01-0000-0000-00000000CAFE}"
        var odd = terminate(pid: 8, at: 1)
        odd["ProcessGuid"] = "{ÄBC-Ü-x}"
        try sink.emit(plain)
        try sink.emit(odd)
        sink.close()
        let reader = try StoreReader(path: path)
        for (guid, pid) in [("5f3c8d2e-ab01-0000-0000-00000000cafe", "7"), ("{5F3C8D2E-AB01-0000-0000-00000000CAFE}", "7"),
                            ("{äbc-ü-X}", "8"), ("{ÄBC-Ü-x}", "8")] {
            var filter = StoreFilter()
            filter.processGuid = guid
            XCTAssertEqual(try reader.events(matching: filter).map { $0["ProcessId"] }, [pid], guid)
        }
        // The event itself keeps its own spelling.
        XCTAssertEqual(try reader.events(matching: StoreFilter()).map { $0["ProcessGuid"] },
                       ["{5F3C8D2E-AB01-0000-0000-00000000CAFE}", "{ÄBC-Ü-x}"])
    }

    func testImportKeyDependsOnEveryField() {
        var a = terminate(pid: 3, at: 5)
        var fa: [UInt8] = []
        EventStore.encodeFields(a.values, into: &fa)
        a["Image"] = "/bin/x"
        var fb: [UInt8] = []
        EventStore.encodeFields(a.values, into: &fb)
        XCTAssertNotEqual(ImportStore.key(fields: fa, raw: nil), ImportStore.key(fields: fb, raw: nil))
        XCTAssertEqual(ImportStore.key(fields: fa, raw: nil), ImportStore.key(fields: fa, raw: nil))
        XCTAssertNotEqual(ImportStore.key(fields: fa, raw: nil), ImportStore.key(fields: fa, raw: [1, 2, 0]))
    }
}
