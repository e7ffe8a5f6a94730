import Foundation
import Glibc
import XCTest
@testable import SwiftmonService
import SwiftmonSystem

/// The control socket over a real AF_UNIX stream socket: the client in one
/// thread, the server driven the way the event loop drives it (accept when
/// the listener is readable, serve a connection when it is) in another.
final class ControlServerTests: XCTestCase {
    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-ctl-\(UUID().uuidString.prefix(8))")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }

    /// Serves `server` until `done` is set or 10 s pass, answering with `respond`.
    func serve(_ server: ControlServer, until done: @escaping () -> Bool,
               respond: @escaping (ControlCommand) -> ControlResponse) {
        let deadline = Date().addingTimeInterval(10)
        var open: [Int32] = []
        while !done() && Date() < deadline {
            open += server.acceptConnections()
            open = open.filter { !server.serve($0, respond: respond) }
            usleep(2_000)
        }
    }

    /// Runs `client` on another thread while serving; returns its result.
    func exchange<T: Sendable>(_ server: ControlServer, respond: @escaping (ControlCommand) -> ControlResponse,
                               client: @escaping @Sendable () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let thread = Thread { box.set(Result { try client() }) }
        thread.start()
        serve(server, until: { box.isSet }, respond: respond)
        return try XCTUnwrap(box.value).get()
    }

    static let sampleStatus = SensorStatus(
        version: "9.9", pid: 42, uptimeSeconds: 3725, configuration: .init(path: "/etc/swiftmon/config.xml", sha256: "SHA256=AB"),
        sources: "ebpf(sched_process_exec)", events: 10, eventsByKind: ["ProcessCreate": 10], eventsPerSecond: 2,
        eventsPerSecondByKind: ["ProcessCreate": 2], filteredOut: 3,
        losses: ["event queue full": ["ProcessCreate": 1]],
        outputs: [.init(name: "json events.jsonl", accepted: 10, delivered: 9, pending: 0, lost: ["ENOSPC": 1], lastError: "ENOSPC")],
        queueDepth: 0, queueCapacity: 100)

    func testStatusIsAnsweredOverTheSocketAsOneJSONLine() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/control.sock"
        let server = try ControlServer(path: path, allowedUID: getuid())
        defer { server.close() }
        // The folder is made 0700, the socket is 0600.
        XCTAssertEqual(try Syscalls.linkStatus(dir)!.st_mode & 0o777, 0o700)
        XCTAssertEqual(try Syscalls.linkStatus(path)!.st_mode & 0o777, 0o600)

        let response = try exchange(server, respond: { command in
            XCTAssertEqual(command, .status)
            return ControlResponse(ok: true, command: "status", status: Self.sampleStatus)
        }, client: { try ControlClient.send(.status, to: path) })
        XCTAssertEqual(response.status, Self.sampleStatus)
        let text = try XCTUnwrap(response.status?.text)
        XCTAssertTrue(text.contains("up 1h2m"), text)
        XCTAssertTrue(text.contains("configuration: /etc/swiftmon/config.xml (SHA256=AB)"), text)
        XCTAssertTrue(text.contains("  event queue full: ProcessCreate=1"), text)
        XCTAssertTrue(text.contains("output json events.jsonl: 10 accepted, 9 written, 0 pending, lost ENOSPC=1"), text)
    }

    func testAPeerWithAnotherUidIsRefusedWhateverItAsks() throws {
        let path = try temporaryDirectory() + "/control.sock"
        // The peer (this process) is not the allowed uid: SO_PEERCRED decides.
        let server = try ControlServer(path: path, allowedUID: getuid() &+ 4242)
        defer { server.close() }
        var asked = false
        let response = try exchange(server, respond: { _ in
            asked = true
            return ControlResponse(ok: true, command: "status")
        }, client: { try ControlClient.send(.reload, to: path) })
        XCTAssertFalse(response.ok)
        XCTAssertEqual(response.error, "only root may use the control socket")
        XCTAssertFalse(asked, "the command reached the sensor")
        XCTAssertEqual(server.refusedPeers.first?.pid, getpid())
    }

    func testUnknownAndOverlongCommandsAreRefused() throws {
        let path = try temporaryDirectory() + "/control.sock"
        let server = try ControlServer(path: path, allowedUID: getuid())
        defer { server.close() }
        let respond = { (c: ControlCommand) in ControlResponse(ok: true, command: c.rawValue) }
        let unknown = try exchange(server, respond: respond, client: { try Self.rawExchange(path, Array("shutdown\n".utf8)) })
        XCTAssertTrue(unknown.contains("unknown command (known: status, reload)"), unknown)
        let long = try exchange(server, respond: respond,
                                client: { try Self.rawExchange(path, [UInt8](repeating: 65, count: 1100)) })
        XCTAssertTrue(long.contains("command longer than 1024 bytes"), long)
        // A command split over several writes, ended by closing: still answered.
        let split = try exchange(server, respond: respond, client: { try Self.rawExchange(path, Array("rel".utf8), then: Array("oad".utf8)) })
        XCTAssertTrue(split.contains("\"command\":\"reload\""), split)
    }

    func testAConnectionThatSendsNothingIsClosedAfterTheIdleLimit() throws {
        let path = try temporaryDirectory() + "/control.sock"
        let server = try ControlServer(path: path, allowedUID: getuid())
        defer { server.close() }
        let fd = try Syscalls.connectUnixStream(path)
        defer { Syscalls.close(fd) }
        var accepted: [Int32] = []
        for _ in 0..<100 where accepted.isEmpty {
            accepted = server.acceptConnections()
            usleep(2_000)
        }
        XCTAssertEqual(accepted.count, 1)
        for _ in 0..<ControlServer.idleLimit { XCTAssertEqual(server.expireIdleConnections(), []) }
        XCTAssertEqual(server.expireIdleConnections(), accepted)
        XCTAssertFalse(server.isConnection(accepted[0]))
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = try buffer.withUnsafeMutableBytes { try Syscalls.read(fd, into: $0) }
        XCTAssertTrue(String(decoding: buffer[..<n], as: UTF8.self).contains("no command within 5 s"))
    }

    func testAStaleSocketIsReplacedButALiveOneOrAFileIsNot() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/control.sock"
        let first = try ControlServer(path: path, allowedUID: getuid())
        XCTAssertThrowsError(try ControlServer(path: path, allowedUID: getuid())) { error in
            XCTAssertEqual(error as? ControlSocketError, .inUse(path))
        }
        Syscalls.close(first.listener)  // a crashed sensor: the file stays, nobody listens
        let second = try ControlServer(path: path, allowedUID: getuid())
        second.close()
        XCTAssertFalse(ServiceFiles.exists(path), "close removes the socket file")
        try ServiceFiles.writeAtomically(Array("x".utf8), to: path)
        XCTAssertThrowsError(try ControlServer(path: path, allowedUID: getuid())) { error in
            XCTAssertEqual(error as? ControlSocketError, .notASocket(path))
        }
    }

    func testNoSensorIsSaidInWords() {
        XCTAssertThrowsError(try ControlClient.send(.status, to: "/nonexistent/swiftmon/control.sock")) { error in
            XCTAssertTrue("\(error)".hasPrefix("no swiftmon sensor is running (nothing answers at /nonexistent/swiftmon/control.sock"), "\(error)")
        }
    }

    /// Connects, writes `bytes` (then `then` after a pause), half-closes,
    /// and returns all the server wrote.
    static func rawExchange(_ path: String, _ bytes: [UInt8], then more: [UInt8] = []) throws -> String {
        let fd = try Syscalls.connectUnixStream(path)
        defer { Syscalls.close(fd) }
        try bytes.withUnsafeBytes { try Syscalls.writeAll(fd, $0) }
        if !more.isEmpty {
            usleep(50_000)
            try more.withUnsafeBytes { try Syscalls.writeAll(fd, $0) }
        }
        shutdown(fd, Int32(SHUT_WR))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try Syscalls.read(fd, into: $0) }
            if n == 0 { break }
            out += buffer[..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

final class ResultBox<T>: @unchecked Sendable {  // `result` is guarded by `lock`
    private let lock = NSLock()
    private var result: Result<T, Error>?
    func set(_ r: Result<T, Error>) { lock.withLock { result = r } }
    var isSet: Bool { lock.withLock { result != nil } }
    var value: Result<T, Error>? { lock.withLock { result } }
}
