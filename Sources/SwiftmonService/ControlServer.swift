#if canImport(Glibc)
import Glibc
#endif
import SwiftmonSystem

/// The sensor's end of the control socket: a listening AF_UNIX stream socket
/// (0600, in a folder of mode 0700), served from the sensor's event loop
/// without ever blocking it: every descriptor is non-blocking, a connection
/// is read only when epoll says it is readable, and one that has not sent a
/// whole command within ``idleLimit`` ticks is closed.
///
/// Only root may talk to it: besides the file modes, each connection's
/// peer uid (SO_PEERCRED) must be 0, or it is answered with an error and
/// closed.
public final class ControlServer {
    public let path: String
    /// The listening socket: the event loop watches it for readability.
    public let listener: Int32
    /// At most this many connections at once; more are closed at once.
    public static let maximumConnections = 8
    /// A command line longer than this is refused.
    public static let maximumRequestBytes = 1024
    /// Ticks (seconds) a connection may take to send its command.
    public static let idleLimit = 5

    private struct Connection {
        var received: [UInt8] = []
        var age = 0
    }
    private var connections: [Int32: Connection] = [:]
    /// The uid a peer must have (0; tests that are not root use their own).
    let allowedUID: uid_t
    /// (peer pid, uid) of connections refused for their uid, for -v.
    public private(set) var refusedPeers: [(pid: Int32, uid: uid_t)] = []

    /// Listens at `path`. Its folder is made (0700) when missing; a stale
    /// socket file there is replaced, but not a live one (another sensor
    /// answers at it) nor anything that is not a socket.
    public convenience init(path: String) throws {
        try self.init(path: path, allowedUID: 0)
    }

    init(path: String, allowedUID: uid_t) throws {
        self.path = path
        self.allowedUID = allowedUID
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try Syscalls.makeDirectory(String(path[..<slash]), mode: 0o700)
        }
        if let existing = try Syscalls.linkStatus(path) {
            guard existing.st_mode & S_IFMT == S_IFSOCK else { throw ControlSocketError.notASocket(path) }
            if let fd = try? Syscalls.connectUnixStream(path) {
                Syscalls.close(fd)
                throw ControlSocketError.inUse(path)
            }
            try Syscalls.unlink(path)
        }
        listener = try Syscalls.listenUnixStream(path, mode: 0o600)
    }

    /// Closes every connection and the listener, and removes the socket file.
    public func close() {
        for fd in connections.keys { Syscalls.close(fd) }
        connections.removeAll()
        Syscalls.close(listener)
        do { try Syscalls.unlink(path) } catch { /* the folder may be gone already (RuntimeDirectory) */ }
    }

    /// Accepts what is waiting on the listener; returns the new connections
    /// the loop should watch. A peer that is not root gets an error line and
    /// is closed here.
    public func acceptConnections() -> [Int32] {
        var accepted: [Int32] = []
        while true {
            let fd: Int32
            do {
                guard let next = try Syscalls.accept(listener, path) else { break }
                fd = next
            } catch {
                break  // EMFILE and the like: the listener stays readable, retried on the next wake-up
            }
            let peer = try? Syscalls.peerCredentials(fd)
            guard let peer, peer.uid == allowedUID else {
                refusedPeers.append((peer?.pid ?? 0, peer?.uid ?? uid_t.max))
                if refusedPeers.count > 16 { refusedPeers.removeFirst() }
                answer(fd, ControlResponse(ok: false, command: "", error: "only root may use the control socket"))
                Syscalls.close(fd)
                continue
            }
            guard connections.count < Self.maximumConnections else {
                answer(fd, ControlResponse(ok: false, command: "", error: "too many control connections"))
                Syscalls.close(fd)
                continue
            }
            connections[fd] = Connection()
            accepted.append(fd)
        }
        return accepted
    }

    /// Whether `fd` is one of this server's connections.
    public func isConnection(_ fd: Int32) -> Bool { connections[fd] != nil }

    /// Reads what connection `fd` sent. When a whole command has arrived,
    /// `respond` answers it, the answer is sent and the connection closed;
    /// returns true when `fd` was closed (the loop forgets it).
    public func serve(_ fd: Int32, respond: (ControlCommand) -> ControlResponse) -> Bool {
        guard var connection = connections[fd] else { return true }
        var buffer = [UInt8](repeating: 0, count: 512)
        var peerClosed = false
        while true {
            let n: Int?
            do {
                n = try buffer.withUnsafeMutableBytes { try Syscalls.receive(fd, into: $0, flags: 0, path) }
            } catch {
                return finish(fd)
            }
            guard let n else { break }
            if n == 0 { peerClosed = true; break }
            connection.received += buffer[..<n]
            if connection.received.count > Self.maximumRequestBytes { break }
        }
        if let newline = connection.received.firstIndex(of: UInt8(ascii: "\n")) {
            answer(fd, Self.dispatch(Array(connection.received[..<newline]), respond: respond))
            return finish(fd)
        }
        if connection.received.count > Self.maximumRequestBytes {
            answer(fd, ControlResponse(ok: false, command: "", error: "command longer than \(Self.maximumRequestBytes) bytes"))
            return finish(fd)
        }
        if peerClosed {
            // A command without its newline, then end of stream: still a command.
            if !connection.received.isEmpty { answer(fd, Self.dispatch(connection.received, respond: respond)) }
            return finish(fd)
        }
        connections[fd] = connection
        return false
    }

    /// Once a second: closes connections that have not sent a command in
    /// time; returns them (the loop forgets them).
    public func expireIdleConnections() -> [Int32] {
        var expired: [Int32] = []
        for (fd, var connection) in connections {
            connection.age += 1
            if connection.age > Self.idleLimit {
                expired.append(fd)
            } else {
                connections[fd] = connection
            }
        }
        for fd in expired {
            answer(fd, ControlResponse(ok: false, command: "", error: "no command within \(Self.idleLimit) s"))
            _ = finish(fd)
        }
        return expired
    }

    static func dispatch(_ line: [UInt8], respond: (ControlCommand) -> ControlResponse) -> ControlResponse {
        var text = String(decoding: line, as: UTF8.self)
        while let last = text.last, last == "\r" || last == " " || last == "\t" { text.removeLast() }
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        guard let command = ControlCommand(rawValue: text) else {
            let known = ControlCommand.allCases.map(\.rawValue).joined(separator: ", ")
            return ControlResponse(ok: false, command: "", error: "unknown command (known: \(known))")
        }
        return respond(command)
    }

    private func finish(_ fd: Int32) -> Bool {
        connections[fd] = nil
        Syscalls.close(fd)
        return true
    }

    /// Sends the whole answer if the socket takes it now. An answer is a few
    /// KiB and the socket buffer is empty, so it fits; if a peer left it full,
    /// the rest is dropped (the client sees a cut line) rather than the loop waiting.
    private func answer(_ fd: Int32, _ response: ControlResponse) {
        let bytes = response.encodedLine()
        var sent = 0
        while sent < bytes.count {
            let n: Int?
            do {
                n = try bytes.withUnsafeBytes { raw in
                    try Syscalls.send(fd, UnsafeRawBufferPointer(rebasing: raw[sent...]), flags: 0, path)
                }
            } catch {
                return
            }
            guard let n, n > 0 else { return }
            sent += n
        }
    }
}

public enum ControlSocketError: Error, CustomStringConvertible, Equatable {
    case notASocket(String)
    case inUse(String)
    case noSensor(String, reason: String)
    case notPermitted(String)
    case badAnswer(String, reason: String)

    public var description: String {
        switch self {
        case .notASocket(let path):
            return "\(path) exists and is not a socket: not replacing it with the control socket"
        case .inUse(let path):
            return "\(path): another swiftmon already answers on this control socket"
        case .noSensor(let path, let reason):
            return "no swiftmon sensor is running (nothing answers at \(path): \(reason))"
        case .notPermitted(let path):
            return "\(path): permission denied (EACCES): only root may use the sensor's control socket"
        case .badAnswer(let path, let reason):
            return "\(path): the sensor's answer could not be read: \(reason)"
        }
    }
}
