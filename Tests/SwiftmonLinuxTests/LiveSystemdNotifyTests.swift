import Foundation
import XCTest
@testable import SwiftmonLinux

/// The sd_notify protocol against a real AF_UNIX datagram socket standing in
/// for systemd's NOTIFY_SOCKET, with the real sensor.
final class LiveSystemdNotifyTests: XCTestCase {
    /// A datagram socket bound to a fresh path: what systemd listens on.
    final class NotifySocket {
        let path: String
        let fd: Int32

        init() throws {
            path = NSTemporaryDirectory() + "swiftmon-notify-\(UUID().uuidString.prefix(8)).sock"
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { throw SensorTestError("socket: \(errno)") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
            }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { throw SensorTestError("bind \(path): \(errno)") }
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit {
            close(fd)
            unlink(path)
        }

        /// Messages until one satisfies `condition` (returned with those before it).
        func receive(until condition: (String) -> Bool, timeout: TimeInterval) throws -> [String] {
            var seen: [String] = []
            let deadline = Date().addingTimeInterval(timeout)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline {
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { continue }
                let message = String(decoding: buffer[..<n], as: UTF8.self)
                seen.append(message)
                if condition(message) { return seen }
            }
            throw SensorTestError("no such notification within \(timeout) s; got \(seen)")
        }
    }

    func testNoSocketNoNotificationsAndWatchdogForAnotherPidIsOff() {
        XCTAssertFalse(SystemdNotifier(environment: [:]).isActive)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "1000000"]).watchdogIntervalMilliseconds)
        XCTAssertEqual(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"])
            .watchdogIntervalMilliseconds, 15_000)
        XCTAssertNil(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000",
                                                   "WATCHDOG_PID": String(getpid() + 1)]).watchdogIntervalMilliseconds)
    }

    func testReadyStatusWatchdogReloadAndStopReachTheServiceManager() throws {
        try LiveSensor.requireLiveSensor()
        let socket = try NotifySocket()
        let process = Process()
        process.executableURL = LiveSensor.binary
        process.arguments = ["run", "--format", "json", "--output", "/dev/null", "--config", LiveEventConfig.everything.path]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socket.path
        environment["WATCHDOG_USEC"] = "1000000"
        process.environment = environment
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let untilReady = try socket.receive(until: { $0.hasPrefix("READY=1") }, timeout: 60)
        XCTAssertTrue(untilReady.last?.contains("STATUS=started") == true, "\(untilReady)")
        let pings = try socket.receive(until: { $0 == "WATCHDOG=1" }, timeout: 5)
        XCTAssertNotNil(pings.last)
        let status = try socket.receive(until: { $0.hasPrefix("STATUS=") && $0.contains(" events (") }, timeout: 5)
        XCTAssertTrue(status.last?.contains("lost") == true, "\(status)")

        kill(process.processIdentifier, SIGHUP)
        let reload = try socket.receive(until: { $0.hasPrefix("RELOADING=1") }, timeout: 10)
        XCTAssertTrue(reload.last?.contains("MONOTONIC_USEC=") == true, "\(reload)")
        _ = try socket.receive(until: { $0.hasPrefix("READY=1") }, timeout: 10)

        kill(process.processIdentifier, SIGTERM)
        _ = try socket.receive(until: { $0.hasPrefix("STOPPING=1") }, timeout: 10)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }
}
