#if canImport(Glibc)
import Glibc
#endif
import SwiftmonSystem

/// The administrator's end of the control socket (`swiftmon service status`,
/// `swiftmon config update`): one command, one answer.
public enum ControlClient {
    /// Sends `command` to the sensor listening at `path` and returns its
    /// answer. Throws ``ControlSocketError/noSensor(_:reason:)`` when nothing
    /// listens there, and after `timeoutMilliseconds` without an answer.
    public static func send(_ command: ControlCommand, to path: String = ServiceLayout.controlSocket,
                            timeoutMilliseconds: Int32 = 10_000) throws -> ControlResponse {
        let fd: Int32
        do {
            fd = try Syscalls.connectUnixStream(path)
        } catch let error as SystemCallError where error.errno == EACCES || error.errno == EPERM {
            throw ControlSocketError.notPermitted(path)
        } catch let error as SystemCallError {
            throw ControlSocketError.noSensor(path, reason: error.description)
        }
        defer { Syscalls.close(fd) }
        let line = Array((command.rawValue + "\n").utf8)
        try line.withUnsafeBytes { try Syscalls.writeAll(fd, $0, path) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let deadline = Syscalls.clockNanoseconds(CLOCK_MONOTONIC) + Int64(timeoutMilliseconds) * 1_000_000
        while !received.contains(UInt8(ascii: "\n")) {
            let left = (deadline - Syscalls.clockNanoseconds(CLOCK_MONOTONIC)) / 1_000_000
            guard left > 0, try Syscalls.poll(fd, events: Int16(POLLIN), timeoutMilliseconds: Int32(left), path) else {
                throw ControlSocketError.badAnswer(path, reason: "no answer within \(timeoutMilliseconds) ms")
            }
            let n = try buffer.withUnsafeMutableBytes { try Syscalls.read(fd, into: $0, path) }
            if n == 0 { break }
            received += buffer[..<n]
            if received.count > 16 << 20 { throw ControlSocketError.badAnswer(path, reason: "answer longer than 16 MiB") }
        }
        guard let newline = received.firstIndex(of: UInt8(ascii: "\n")) else {
            throw ControlSocketError.badAnswer(path, reason: received.isEmpty ? "the sensor closed the connection without answering"
                                                   : "the answer was cut off after \(received.count) bytes")
        }
        do {
            return try ControlResponse.decode(Array(received[..<newline]))
        } catch {
            throw ControlSocketError.badAnswer(path, reason: "\(error)")
        }
    }
}
