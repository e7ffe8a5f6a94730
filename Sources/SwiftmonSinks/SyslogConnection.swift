#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSwiftmonTLS
import SwiftmonSystem

/// Where syslog messages go.
public enum SyslogDestination: Sendable, Equatable, CustomStringConvertible {
    /// The local syslog daemon's datagram socket (`/dev/log`), one message per datagram.
    case local(path: String)
    /// A remote collector over TCP, RFC 5425/6587 octet-counted frames.
    case tcp(host: String, port: UInt16)
    /// A remote collector over RELP (rsyslog's acknowledged TCP protocol):
    /// an event counts as delivered only when the collector has acknowledged it.
    case relp(host: String, port: UInt16)
    /// A remote collector over TLS (RFC 5425): octet-counted frames as for TCP,
    /// the collector's certificate verified and its name checked against `host`.
    case tls(host: String, port: UInt16)

    public static let devLog = SyslogDestination.local(path: "/dev/log")

    public var description: String {
        switch self {
        case .local(let path): return "unix:\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        case .relp(let host, let port): return host.contains(":") ? "relp://[\(host)]:\(port)" : "relp://\(host):\(port)"
        case .tls(let host, let port): return host.contains(":") ? "tls://[\(host)]:\(port)" : "tls://\(host):\(port)"
        }
    }

    /// TCP and TLS frame each message as `LEN SP MSG` (RFC 6587 octet counting,
    /// RFC 5425 section 4.3); RELP frames it itself, a datagram needs no frame.
    public var usesOctetCounting: Bool {
        switch self {
        case .tcp, .tls: return true
        case .local, .relp: return false
        }
    }

    /// Parses `unix:/dev/log`, `/dev/log`, `tcp://host:port`, `host:port`,
    /// `[v6]:port` (port 514 when omitted), `relp://host:port` (port 20514),
    /// `tls://host:port` (port 6514, RFC 5425's).
    public init(parsing text: String) throws {
        if text.hasPrefix("unix:") { self = .local(path: String(text.dropFirst(5))); return }
        if text.hasPrefix("/") { self = .local(path: text); return }
        var rest = Substring(text)
        enum Scheme { case tcp, relp, tls }
        var scheme = Scheme.tcp
        if rest.hasPrefix("tcp://") { rest = rest.dropFirst(6) }
        if rest.hasPrefix("relp://") { rest = rest.dropFirst(7); scheme = .relp }
        if rest.hasPrefix("tls://") { rest = rest.dropFirst(6); scheme = .tls }
        let defaultPort: Substring = scheme == .relp ? "20514" : scheme == .tls ? "6514" : "514"
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw SyslogDestinationError(text: text) }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            portText = after.hasPrefix(":") ? after.dropFirst() : defaultPort
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
            portText = defaultPort
        }
        guard !host.isEmpty, let port = UInt16(portText), port > 0 else { throw SyslogDestinationError(text: text) }
        switch scheme {
        case .tcp: self = .tcp(host: String(host), port: port)
        case .relp: self = .relp(host: String(host), port: port)
        case .tls: self = .tls(host: String(host), port: port)
        }
    }
}

public struct SyslogDestinationError: Error, CustomStringConvertible {
    public let text: String
    public var description: String {
        "invalid syslog destination \"\(text)\": expected unix:/path, /path, tcp://host:port, host:port, relp://host:port or tls://host:port"
    }
}

/// One open connection to a ``SyslogDestination``. Used by the sink's writer
/// thread only.
final class SyslogConnection {
    let fd: Int32
    let isStream: Bool
    /// The TLS session over `fd`, for ``SyslogDestination/tls(host:port:)``.
    private(set) var tls: TLSSession?
    /// RELP: bytes of a response frame not complete yet, and the next transaction number.
    var relpInput: [UInt8] = []
    private var nextTXNR = 2

    func attachTLS(_ session: TLSSession) { tls = session }

    /// The next RELP transaction number (1 is the session's `open`).
    func takeTXNR() -> Int {
        defer { nextTXNR = nextTXNR >= 999_999_999 ? 1 : nextTXNR + 1 }
        return nextTXNR
    }

    private init(fd: Int32, isStream: Bool) {
        self.fd = fd
        self.isStream = isStream
    }

    deinit {
        tls = nil  // OpenSSL lets go of the socket before it is closed
        Syscalls.close(fd)
    }

    /// Connects, giving up after `timeout` seconds for TCP and for a TLS
    /// handshake; TLS uses `tlsContext` (the system's CA store when nil).
    static func open(_ destination: SyslogDestination, timeout: Double,
                     tlsContext: SyslogTLSContext? = nil) throws -> SyslogConnection {
        switch destination {
        case .local(let path): return try openLocal(path)
        case .tcp(let host, let port): return try openTCP(host, port, timeout: timeout)
        case .tls(let host, let port):
            let context = try tlsContext ?? SyslogTLSContext()
            let connection = try openTCP(host, port, timeout: timeout)
            try connection.startTLS(context, host: host, destination: destination, timeout: timeout)
            return connection
        case .relp(let host, let port):
            let connection = try openTCP(host, port, timeout: timeout)
            try connection.openRELPSession(timeout: timeout)
            return connection
        }
    }

    private static func openLocal(_ path: String) throws -> SyslogConnection {
        let fd = try Syscalls.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, path)
        let connection = SyslogConnection(fd: fd, isStream: false)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemCallError("connect", path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        _ = try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try Syscalls.connect(fd, sa, socklen_t(MemoryLayout<sockaddr_un>.size), path)
            }
        }
        connection.setSendTimeout(seconds: 1)
        return connection
    }

    private static func openTCP(_ host: String, _ port: UInt16, timeout: Double) throws -> SyslogConnection {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw SyslogResolveError(host: host, reason: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(list) }
        var lastError: Error = SyslogResolveError(host: host, reason: "no address")
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            do {
                return try connectTCP(info.pointee, "\(host):\(port)", timeout: timeout)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func connectTCP(_ info: addrinfo, _ subject: String, timeout: Double) throws -> SyslogConnection {
        let fd = try Syscalls.socket(info.ai_family, info.ai_socktype | Int32(SOCK_NONBLOCK.rawValue), info.ai_protocol, subject)
        let connection = SyslogConnection(fd: fd, isStream: true)
        // Non-blocking connect so an unreachable collector costs `timeout`, not minutes.
        if try !Syscalls.connect(fd, info.ai_addr, info.ai_addrlen, subject) {
            guard try Syscalls.poll(fd, events: Int16(POLLOUT), timeoutMilliseconds: Int32(timeout * 1000), subject) else {
                throw SystemCallError("connect", subject, errno: ETIMEDOUT)
            }
            let soError = Syscalls.socketError(fd)
            guard soError == 0 else { throw SystemCallError("connect", subject, errno: soError) }
        }
        try Syscalls.setBlocking(fd, true)
        try Syscalls.setSocketOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, Int32(1), subject)
        try Syscalls.setSocketOption(fd, SOL_SOCKET, SO_KEEPALIVE, Int32(1), subject)
        connection.setSendTimeout(seconds: 1)
        return connection
    }

    private func setSendTimeout(seconds: Int) {
        // Best effort: without it a send waits for the socket as long as it takes.
        try? Syscalls.setSocketOption(fd, SOL_SOCKET, SO_SNDTIMEO, timeval(tv_sec: seconds, tv_usec: 0))
    }

    /// Whether the collector has closed or reset the connection. A collector
    /// never talks back on syslog TCP, so anything readable means the end: this
    /// check before each message keeps us from writing into a dead connection.
    func peerHasClosed() -> Bool {
        guard isStream else { return false }
        guard (try? Syscalls.poll(fd, events: Int16(POLLIN) | Syscalls.pollReadHangUp, timeoutMilliseconds: 0)) == true else {
            return false
        }
        if let tls { return tls.peerHasClosed(fd) }
        var scratch = [UInt8](repeating: 0, count: 512)
        while true {
            do {
                guard let n = try scratch.withUnsafeMutableBytes({
                    try Syscalls.receive(fd, into: $0, flags: Int32(MSG_DONTWAIT))
                }) else { return false }  // nothing waiting: still open
                if n > 0 { continue }  // unexpected chatter: ignore it
                return true
            } catch {
                return true  // reset
            }
        }
    }

    enum SendResult: Equatable {
        case sent
        /// Nothing or only part was sent; `shouldStop` asked to give up.
        case abandoned
        /// The destination refused this message for its size (datagram too big).
        case tooLarge
    }

    /// Sends `bytes` completely, waiting through full socket buffers while
    /// `keepTrying()` says so. Throws when the connection is broken.
    func send(_ bytes: [UInt8], keepTrying: () -> Bool) throws -> SendResult {
        var done = 0
        return try send(bytes, done: &done, keepTrying: keepTrying)
    }

    /// ``send(_:keepTrying:)`` that says in `done`, also when it throws or
    /// gives up, how many leading bytes the kernel (or the TLS session) took:
    /// of messages sent together, those wholly within them are delivered.
    func send(_ bytes: [UInt8], done: inout Int, keepTrying: () -> Bool) throws -> SendResult {
        done = 0
        if let tls { return try tls.send(bytes, done: &done, keepTrying: keepTrying) }
        while done < bytes.count {
            do {
                let sent = try bytes.withUnsafeBytes { raw in
                    try Syscalls.send(fd, UnsafeRawBufferPointer(rebasing: raw[done...]))
                }
                if let n = sent {
                    if !isStream { return .sent }  // a datagram goes whole or not at all
                    done += n
                    continue
                }
                if !keepTrying() { return .abandoned }  // EAGAIN: the socket buffer is full
            } catch let error as SystemCallError {
                switch error.errno {
                case ENOBUFS:
                    if !keepTrying() { return .abandoned }
                case EMSGSIZE where !isStream:
                    return .tooLarge
                default:
                    throw error
                }
            }
        }
        return .sent
    }
}

public struct SyslogResolveError: Error, CustomStringConvertible {
    public let host: String
    public let reason: String
    public var description: String { "cannot resolve syslog collector \(host): \(reason)" }
}

// MARK: RELP

/// One RELP response frame from the collector.
struct RELPResponse: Equatable {
    var txnr: Int
    var command: String
    /// The status code at the start of a `rsp`'s data (200 is success).
    var status: Int
    var text: String
}

/// RELP frames: `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.
enum RELPFrame {
    static func encode(txnr: Int, command: String, data: [UInt8]) -> [UInt8] {
        var out = Array("\(txnr) \(command) \(data.count)".utf8)
        if !data.isEmpty {
            out.append(0x20)
            out += data
        }
        out.append(0x0A)
        return out
    }

    /// Parses whole frames from the front of `buffer`, leaving a partial one.
    /// Throws on a frame that cannot be RELP (the connection is then useless).
    static func decode(_ buffer: inout [UInt8]) throws -> [RELPResponse] {
        var out: [RELPResponse] = []
        var i = 0
        func token(_ limit: Int) throws -> String? {
            var j = i
            while j < buffer.count, buffer[j] != 0x20, buffer[j] != 0x0A {
                j += 1
                if j - i > limit { throw RELPProtocolError(detail: "token longer than \(limit) bytes") }
            }
            guard j < buffer.count else { return nil }
            defer { i = j }
            return String(decoding: buffer[i..<j], as: UTF8.self)
        }
        while true {
            let start = i
            guard let txnrText = try token(9) else { break }
            guard let txnr = Int(txnrText) else { throw RELPProtocolError(detail: "bad transaction number \(txnrText)") }
            i += 1
            guard let command = try token(32) else { i = start; break }
            i += 1
            guard let lengthText = try token(9) else { i = start; break }
            guard let length = Int(lengthText) else { throw RELPProtocolError(detail: "bad data length \(lengthText)") }
            var data: ArraySlice<UInt8> = []
            if length > 0 {
                guard buffer.count > i + 1 + length else { i = start; break }
                data = buffer[(i + 1)..<(i + 1 + length)]
                i += 1 + length
            }
            guard i < buffer.count else { i = start; break }
            guard buffer[i] == 0x0A else { throw RELPProtocolError(detail: "missing frame trailer") }
            i += 1
            let text = String(decoding: data, as: UTF8.self)
            let status = Int(text.prefix(3)) ?? 0
            out.append(RELPResponse(txnr: txnr, command: command, status: status, text: text))
        }
        buffer.removeFirst(i)
        return out
    }
}

struct RELPProtocolError: Error, CustomStringConvertible {
    let detail: String
    var description: String { "RELP: \(detail)" }
}

extension SyslogConnection {
    /// Sends RELP's `open` and waits for the collector to accept it.
    fileprivate func openRELPSession(timeout: Double) throws {
        let offers = "relp_version=0\nrelp_software=swiftmon\ncommands=syslog"
        _ = try send(RELPFrame.encode(txnr: 1, command: "open", data: Array(offers.utf8)), keepTrying: { true })
        let deadline = timeout
        guard let response = try receiveRELP(timeout: deadline).first else {
            throw RELPProtocolError(detail: "no answer to open")
        }
        guard response.txnr == 1, response.command == "rsp", response.status == 200 else {
            throw RELPProtocolError(detail: "collector refused the session: \(response.text)")
        }
    }

    /// Reads what responses have arrived, waiting up to `timeout` seconds for
    /// the first. Throws when the connection has ended.
    func receiveRELP(timeout: Double) throws -> [RELPResponse] {
        guard try Syscalls.poll(fd, events: Int16(POLLIN), timeoutMilliseconds: Int32(timeout * 1000)) else { return [] }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        guard let n = try chunk.withUnsafeMutableBytes({ try Syscalls.receive(fd, into: $0, flags: Int32(MSG_DONTWAIT)) }) else {
            return []
        }
        if n == 0 { throw RELPProtocolError(detail: "collector closed the connection") }
        relpInput += chunk[..<n]
        guard relpInput.count < 1 << 20 else { throw RELPProtocolError(detail: "response frame too large") }
        return try RELPFrame.decode(&relpInput)
    }
}
