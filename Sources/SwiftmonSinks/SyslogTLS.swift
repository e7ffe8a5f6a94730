#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSwiftmonTLS
import SwiftmonSystem

/// The TLS settings of `--syslog tls://HOST:PORT` (RFC 5425): whom to trust
/// (`--tls-ca`, else the system's CA store) and, for mutual TLS, this
/// sensor's certificate and key (`--tls-cert`, `--tls-key`). TLS 1.2 or later;
/// the collector's chain is always verified and its certificate must name
/// the HOST given (DNS name, or an IP address in an iPAddress SAN).
///
/// Built once, when the output is set up, so an unreadable or mismatched file
/// stops the start with a clear error instead of failing every connection.
/// Through the system's OpenSSL (libssl3): see CSwiftmonTLS.
public final class SyslogTLSContext: @unchecked Sendable {  // SSL_CTX is only read after set-up; OpenSSL locks its reference count
    let pointer: OpaquePointer
    public let caFile: String?
    public let certificateFile: String?
    public let keyFile: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) throws {
        guard (certificateFile == nil) == (keyFile == nil) else {
            throw SyslogTLSSetupError(reason: "a client certificate and its key go together (--tls-cert and --tls-key)")
        }
        var error = [CChar](repeating: 0, count: 512)
        guard let context = swiftmon_tls_context_new(caFile, certificateFile, keyFile, &error, error.count) else {
            throw SyslogTLSSetupError(reason: cText(error))
        }
        pointer = context
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    deinit { swiftmon_tls_context_free(pointer) }
}

/// The text of a NUL-terminated buffer the C shim filled.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

public struct SyslogTLSSetupError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "syslog TLS: \(reason)" }
}

/// A TLS connection to a collector that could not be made or broke: the
/// destination and OpenSSL's reason, the verifier's for a refused certificate
/// ("certificate verify failed: certificate has expired", "… hostname mismatch",
/// "… unable to get local issuer certificate").
public struct SyslogTLSError: Error, CustomStringConvertible {
    public let destination: String
    public let reason: String
    public var description: String { "\(destination): \(reason)" }
}

/// One TLS session over a connected socket. The socket is SyslogConnection's;
/// it stays blocking with 1 s send and receive timeouts, so a write that cannot
/// go on for a second comes back as "want write" and the caller decides
/// (``SyslogConnection/send(_:keepTrying:)``'s `keepTrying`), as for TCP.
final class TLSSession {
    private let session: OpaquePointer
    /// Keeps the SSL_CTX alive for as long as the session uses it.
    private let context: SyslogTLSContext
    let destination: String
    private var error = [CChar](repeating: 0, count: 512)

    init(_ context: SyslogTLSContext, fd: Int32, host: String, destination: String) throws {
        guard let session = swiftmon_tls_session_new(context.pointer, fd, host, &error, error.count) else {
            throw SyslogTLSError(destination: destination, reason: cText(error))
        }
        self.session = session
        self.context = context
        self.destination = destination
    }

    deinit { swiftmon_tls_session_free(session) }

    private var reason: String { cText(error) }

    private static func now() -> Double { Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC)) / 1e9 }

    /// The handshake on a non-blocking socket, `timeout` seconds at most.
    func handshake(_ fd: Int32, timeout: Double) throws {
        let start = Self.now()
        let deadline = start + timeout
        while true {
            let status = Int(swiftmon_tls_handshake(session, &error, error.count))
            let events: Int16
            switch status {
            case Int(SWIFTMON_TLS_OK):
                // Three times the handshake's time (some three round trips), at least 100 ms.
                let window = min(max(0.1, 3 * (Self.now() - start)), max(0, deadline - Self.now()))
                try awaitVerdict(fd, window: window)
                return
            case Int(SWIFTMON_TLS_WANT_READ): events = Int16(POLLIN)
            case Int(SWIFTMON_TLS_WANT_WRITE): events = Int16(POLLOUT)
            default: throw SyslogTLSError(destination: destination, reason: reason)
            }
            let left = deadline - Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC)) / 1e9
            guard left > 0, try Syscalls.poll(fd, events: events, timeoutMilliseconds: Int32(left * 1000) + 1, destination)
            else {
                throw SyslogTLSError(destination: destination, reason: "TLS handshake: no answer within \(timeout) s")
            }
        }
    }

    /// TLS 1.3 ends the client's side of the handshake before the collector
    /// has judged the client's certificate: a collector that refuses it (none
    /// given, or one it does not trust) says so with an alert a round trip
    /// later. Writing at once would count events as delivered into a session
    /// the collector is tearing down, so wait up to `window` seconds for such
    /// an alert (session tickets and other records are read and dropped).
    /// TLS 1.2 settles all of this inside the handshake.
    private func awaitVerdict(_ fd: Int32, window: Double) throws {
        guard String(cString: swiftmon_tls_protocol(session)) == "TLSv1.3" else { return }
        let deadline = Self.now() + window
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = deadline - Self.now()
            guard left > 0, try Syscalls.poll(fd, events: Int16(POLLIN), timeoutMilliseconds: Int32(left * 1000) + 1, destination)
            else { return }  // nothing said: the collector took us
            var read = 0
            let status = scratch.withUnsafeMutableBytes {
                Int(swiftmon_tls_read(session, $0.baseAddress, $0.count, &read, &error, error.count))
            }
            switch status {
            case Int(SWIFTMON_TLS_OK), Int(SWIFTMON_TLS_WANT_READ), Int(SWIFTMON_TLS_WANT_WRITE): continue
            default:
                throw SyslogTLSError(destination: destination,
                                     reason: "TLS handshake: the collector ended the session at once (did it refuse the client certificate?): \(reason)")
            }
        }
    }

    /// Sends all of `bytes`. Delivered, for TLS as for TCP, means that the
    /// kernel accepted the encrypted record into the socket's send buffer.
    func send(_ bytes: [UInt8], done: inout Int, keepTrying: () -> Bool) throws -> SyslogConnection.SendResult {
        done = 0
        while done < bytes.count {
            var written = 0
            var code: Int32 = 0
            let status = bytes.withUnsafeBytes { raw in
                Int(swiftmon_tls_write(session, raw.baseAddress! + done, raw.count - done, &written, &code, &error, error.count))
            }
            switch status {
            case Int(SWIFTMON_TLS_OK):
                done += written
            case Int(SWIFTMON_TLS_WANT_WRITE), Int(SWIFTMON_TLS_WANT_READ):
                // The send timeout passed with the socket buffer full; the
                // same bytes must be offered again (TLS's rule).
                if !keepTrying() { return .abandoned }
            default:
                throw SyslogTLSError(destination: destination, reason: reason)
            }
        }
        return .sent
    }

    /// After poll said the socket is readable: whether that was the end. A
    /// collector sends no syslog data; TLS 1.3 session tickets and alerts are
    /// read (and dropped) here so they never look like a closed connection.
    func peerHasClosed(_ fd: Int32) -> Bool {
        do {
            try Syscalls.setBlocking(fd, false)
        } catch {
            return true
        }
        defer {
            // Back to blocking for the sends; a socket that refuses is dead anyway.
            try? Syscalls.setBlocking(fd, true)
        }
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            var read = 0
            let status = scratch.withUnsafeMutableBytes {
                Int(swiftmon_tls_read(session, $0.baseAddress, $0.count, &read, &error, error.count))
            }
            switch status {
            case Int(SWIFTMON_TLS_OK): continue  // unexpected chatter: ignore it
            case Int(SWIFTMON_TLS_WANT_READ), Int(SWIFTMON_TLS_WANT_WRITE): return false
            default: return true
            }
        }
    }
}

extension SyslogConnection {
    /// TLS over the connected TCP socket: handshake, chain and name verified.
    func startTLS(_ context: SyslogTLSContext, host: String, destination: SyslogDestination, timeout: Double) throws {
        let subject = destination.description
        // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a collector
        // that resets the connection must cost an EPIPE, not the process.
        try Syscalls.blockSignalsInThisThread([SIGPIPE])
        let session = try TLSSession(context, fd: fd, host: host, destination: subject)
        try Syscalls.setBlocking(fd, false)
        try session.handshake(fd, timeout: timeout)
        try Syscalls.setBlocking(fd, true)
        try Syscalls.setSocketOption(fd, SOL_SOCKET, SO_RCVTIMEO, timeval(tv_sec: 1, tv_usec: 0), subject)
        attachTLS(session)
    }
}
