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
