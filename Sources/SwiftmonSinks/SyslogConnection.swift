#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where syslog messages go.
public enum SyslogDestination: Sendable, Equatable, CustomStringConvertible {
    /// The local syslog daemon's datagram socket (`/dev/log`), one message per datagram.
    case local(path: String)
    /// A remote collector over TCP, RFC 5425/6587 octet-counted frames.
    case tcp(host: String, port: UInt16)
    /// A remote collector over RELP (rsyslog's acknowledged TCP protocol):
    /// an event counts as delivered only when the collector has acknowledged it.
    case relp(host: String, port: UInt16)

    public static let devLog = SyslogDestination.local(path: "/dev/log")

    public var description: String {
        switch self {
        case .local(let path): return "unix:\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        case .relp(let host, let port): return host.contains(":") ? "relp://[\(host)]:\(port)" : "relp://\(host):\(port)"
        }
    }

    /// Parses `unix:/dev/log`, `/dev/log`, `tcp://host:port`, `host:port`,
    /// `[v6]:port` (port 514 when omitted), `relp://host:port` (port 20514).
    public init(parsing text: String) throws {
        if text.hasPrefix("unix:") { self = .local(path: String(text.dropFirst(5))); return }
        if text.hasPrefix("/") { self = .local(path: text); return }
        var rest = Substring(text)
        var relp = false
        if rest.hasPrefix("tcp://") { rest = rest.dropFirst(6) }
        if rest.hasPrefix("relp://") { rest = rest.dropFirst(7); relp = true }
        let defaultPort: Substring = relp ? "20514" : "514"
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
        self = relp ? .relp(host: String(host), port: port) : .tcp(host: String(host), port: port)
    }
}

public struct SyslogDestinationError: Error, CustomStringConvertible {
    public let text: String
    public var description: String {
        "invalid syslog destination \"\(text)\": expected unix:/path, /path, tcp://host:port, host:port or relp://host:port"
    }
}

/// One open connection to a ``SyslogDestination``. Used by the sink's writer
/// thread only.
final class SyslogConnection {
    let fd: Int32
    let isStream: Bool
    /// RELP: bytes of a response frame not complete yet, and the next transaction number.
    var relpInput: [UInt8] = []
    private var nextTXNR = 2

    /// The next RELP transaction number (1 is the session's `open`).
    func takeTXNR() -> Int {
        defer { nextTXNR = nextTXNR >= 999_999_999 ? 1 : nextTXNR + 1 }
        return nextTXNR
    }

    private init(fd: Int32, isStream: Bool) {
        self.fd = fd
        self.isStream = isStream
    }

    deinit { SinkSystemCalls.close(fd) }

    /// Connects, giving up after `timeout` seconds for TCP.
    static func open(_ destination: SyslogDestination, timeout: Double) throws -> SyslogConnection {
        switch destination {
        case .local(let path): return try openLocal(path)
        case .tcp(let host, let port): return try openTCP(host, port, timeout: timeout)
        case .relp(let host, let port):
            let connection = try openTCP(host, port, timeout: timeout)
            try connection.openRELPSession(timeout: timeout)
            return connection
        }
    }

    private static func openLocal(_ path: String) throws -> SyslogConnection {
        let fd = try SinkSystemCalls.retrying("socket", "AF_UNIX") {
            socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        let connection = SyslogConnection(fd: fd, isStream: false)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SinkSystemError(call: "connect", subject: path, code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        _ = try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try SinkSystemCalls.retrying("connect", path) {
                    connect(fd, sa, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
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
        let fd = try SinkSystemCalls.retrying("socket", subject) {
            socket(info.ai_family, info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                   info.ai_protocol)
        }
        let connection = SyslogConnection(fd: fd, isStream: true)
        // Non-blocking connect so an unreachable collector costs `timeout`, not minutes.
        if connect(fd, info.ai_addr, info.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { throw SinkSystemError(call: "connect", subject: subject, code: errno) }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = try SinkSystemCalls.retrying("poll", subject) { poll(&pfd, 1, Int32(timeout * 1000)) }
            guard ready > 0 else { throw SinkSystemError(call: "connect", subject: subject, code: ETIMEDOUT) }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            guard soError == 0 else { throw SinkSystemError(call: "connect", subject: subject, code: soError) }
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
        connection.setSendTimeout(seconds: 1)
        return connection
    }

    private func setSendTimeout(seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Whether the collector has closed or reset the connection. A collector
    /// never talks back on syslog TCP, so anything readable means the end: this
    /// check before each message keeps us from writing into a dead connection.
    func peerHasClosed() -> Bool {
        guard isStream else { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN) | 0x2000 /* POLLRDHUP, not exported by Glibc */, revents: 0)
        guard poll(&pfd, 1, 0) > 0 else { return false }
        var scratch = [UInt8](repeating: 0, count: 512)
        while true {
            let n = recv(fd, &scratch, scratch.count, Int32(MSG_DONTWAIT))
            if n > 0 { continue }  // unexpected chatter: ignore it
            if n == 0 { return true }
            return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
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
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + done, raw.count - done, Int32(MSG_NOSIGNAL))
            }
            if n >= 0 {
                if !isStream { return .sent }  // a datagram goes whole or not at all
                done += n
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ENOBUFS:
                if !keepTrying() { return .abandoned }
            case EMSGSIZE where !isStream:
                return .tooLarge
            default:
                throw SinkSystemError(call: "send", subject: "", code: errno)
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
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = try SinkSystemCalls.retrying("poll") { poll(&pfd, 1, Int32(timeout * 1000)) }
        guard ready > 0 else { return [] }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
        if n == 0 { throw RELPProtocolError(detail: "collector closed the connection") }
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return [] }
            throw SinkSystemError(call: "recv", subject: "", code: errno)
        }
        relpInput += chunk[..<n]
        guard relpInput.count < 1 << 20 else { throw RELPProtocolError(detail: "response frame too large") }
        return try RELPFrame.decode(&relpInput)
    }
}
