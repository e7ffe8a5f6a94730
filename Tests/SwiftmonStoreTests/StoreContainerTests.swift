import Foundation
import GRDB
import SwiftmonCore
@testable import SwiftmonStore
import XCTest

/// ContainerId in the store: indexed, found by a prefix, marked in trees; a
/// store written before containers were recorded is upgraded and still read.
final class StoreContainerTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "swiftmon-store-containers-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    static let web = "3f4e5d6c7b8a" + String(repeating: "0", count: 52)
    static let db = "3f4e00000000" + String(repeating: "1", count: 52)

    static func inside(_ e: Event, id: String?, runtime: String = "docker", pidNS: String, containerPid: String? = nil) -> Event {
        var e = e
        e["ContainerId"] = id
        e["ContainerRuntime"] = id == nil ? nil : runtime
        e["PidNamespace"] = pidNS
        e["ContainerProcessId"] = containerPid
        return e
    }

    func write(_ events: [Event], to path: String) throws {
        let sink = try StoreSink(path: path)
        for e in events { try sink.emit(e) }
        try sink.flush()
        XCTAssertEqual(sink.deliveryCounts.delivered, UInt64(events.count))
        sink.close()
    }

    func testQueryByContainerPrefixUsesTheIndex() throws {
        let path = directory + "/events.db"
        let g = { (n: Int) in "{33333333-0000-0000-0000-0000000000\(n)}" }
        let events = [
            Self.inside(StoreTests.processCreate(g(10), pid: 10, image: "/usr/bin/containerd-shim", commandLine: "shim",
                                                 parent: g(1), parentPID: 1, at: 0), id: nil, pidNS: "4026531836"),
            Self.inside(StoreTests.processCreate(g(20), pid: 20, image: "/usr/sbin/nginx", commandLine: "nginx",
                                                 parent: g(10), parentPID: 10, at: 1), id: Self.web, pidNS: "4026532301",
                        containerPid: "1"),
            Self.inside(StoreTests.processCreate(g(21), pid: 21, image: "/usr/sbin/nginx", commandLine: "nginx: worker",
                                                 parent: g(20), parentPID: 20, at: 2), id: Self.web, pidNS: "4026532301",
                        containerPid: "7"),
            Self.inside(StoreTests.processCreate(g(30), pid: 30, image: "/usr/bin/postgres", commandLine: "postgres",
                                                 parent: g(10), parentPID: 10, at: 3), id: Self.db, pidNS: "4026532400",
                        containerPid: "1"),
            Self.inside(StoreTests.terminate(g(21), pid: 21, image: "/usr/sbin/nginx", at: 4), id: Self.web,
                        pidNS: "4026532301", containerPid: "7"),
        ]
        try write(events, to: path)
        let reader = try StoreReader(path: path)
        func query(_ prefix: String) throws -> [String] {
            var f = StoreFilter()
            f.containerID = prefix
            return try reader.events(matching: f).map { "\($0.kind.id):\($0["ProcessId"] ?? "")" }
        }
        XCTAssertEqual(try query(String(Self.web.prefix(12))), ["1:20", "1:21", "5:21"], "docker ps's 12 characters")
        XCTAssertEqual(try query(Self.web), ["1:20", "1:21", "5:21"], "the full id")
        XCTAssertEqual(try query("3f4e"), ["1:20", "1:21", "1:30", "5:21"], "a shorter prefix matches both")
        XCTAssertEqual(try query("3f4e*"), [], "GLOB characters are literal")
        XCTAssertEqual(try query("ffff"), [])

        let plan = try reader.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT id FROM event WHERE container_id IS NOT NULL AND container_id GLOB ?",
                             arguments: ["3f4e*"]).map { $0["detail"] as String? ?? "" }.joined(separator: "; ")
        }
        XCTAssertTrue(plan.contains("event_by_container_id"), plan)

        // The tree marks where it enters a container.
        let drawing = try reader.processTree(of: .guid(g(10))).rendered()
        XCTAssertTrue(drawing.contains("20 /usr/sbin/nginx (root)"), drawing)
        let lines = drawing.split(separator: "\n")
        let nginx = try XCTUnwrap(lines.first { $0.contains(" 20 /usr/sbin/nginx") })
        XCTAssertTrue(nginx.hasSuffix("⇨ container docker 3f4e5d6c7b8a, pid 1 inside"), String(nginx))
        let worker = try XCTUnwrap(lines.first { $0.contains(" 21 /usr/sbin/nginx") })
        XCTAssertFalse(worker.contains("⇨"), "the worker is in its parent's container: no mark")
        let postgres = try XCTUnwrap(lines.first { $0.contains(" 30 /usr/bin/postgres") })
        XCTAssertTrue(postgres.hasSuffix("⇨ container docker 3f4e00000000, pid 1 inside"), String(postgres))
    }

    /// A store of schema version 1 (no container_id): a sensor adds the column
    /// and keeps writing; readers read old and new rows.
    func testAVersionOneStoreIsUpgradedByTheWriter() throws {
        let path = directory + "/old.db"
        try write([StoreTests.processCreate("{1}", pid: 1, image: "/sbin/init", commandLine: "init", parent: nil, at: 0)],
                  to: path)
        // Make it what version 1 wrote: the table without container_id.
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "DROP INDEX event_by_container_id")
            try db.execute(sql: "ALTER TABLE event DROP COLUMN container_id")
            try db.execute(sql: "PRAGMA user_version = 1")
        }
        try queue.close()
        var filter = StoreFilter()
        filter.containerID = "ab"
        XCTAssertThrowsError(try StoreReader(path: path).events(matching: filter)) { error in
            XCTAssertTrue("\(error)".contains("before containers were recorded"), "\(error)")
        }
        XCTAssertEqual(try StoreReader(path: path).count(), 1, "a version-1 store is still read")

        try write([Self.inside(StoreTests.processCreate("{2}", pid: 2, image: "/bin/sh", commandLine: "sh", parent: "{1}",
                                                        parentPID: 1, at: 1), id: Self.web, pidNS: "9")], to: path)
        let reader = try StoreReader(path: path)
        XCTAssertEqual(try reader.count(), 2)
        XCTAssertEqual(try reader.events(matching: filter).count, 0)
        filter.containerID = "3f4e5d"
        XCTAssertEqual(try reader.events(matching: filter).map { $0["ProcessId"] }, ["2"])
    }
}
