#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftmonCore

/// A failed system call made by a sink: which call, on what, and errno.
public struct SinkSystemError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let subject: String
    public let code: Int32

    public var description: String {
        let reason = String(cString: strerror(code))
        return subject.isEmpty ? "\(call): \(reason)" : "\(call) \(subject): \(reason)"
    }
}

/// The one place the XML and syslog sinks call libc: EINTR is retried here and
/// -1 becomes a thrown ``SinkSystemError`` naming the call.
enum SinkSystemCalls {
    @discardableResult
    static func retrying<T: BinaryInteger>(_ call: String, _ subject: String = "", _ body: () -> T) throws -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            if errno == EINTR { continue }
            throw SinkSystemError(call: call, subject: subject, code: errno)
        }
    }

    /// open(2) with `O_CLOEXEC`; files are created mode 0600 (swiftmon runs as root).
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
        try retrying("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// write(2) of all of `bytes`, resuming after short writes.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ subject: String = "") throws {
        var done = 0
        while done < bytes.count {
            let n = try retrying("write", subject) {
                Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            }
            done += n
        }
    }

    static func fsync(_ fd: Int32, _ subject: String = "") throws {
        try retrying("fsync", subject) { Glibc.fsync(fd) }
    }

    static func rename(_ from: String, _ to: String) throws {
        try retrying("rename", "\(from) → \(to)") { Glibc.rename(from, to) }
    }

    /// Reads a whole small file, or `nil` when it does not exist.
    static func readSmallFile(_ path: String, limit: Int = 4096) throws -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw SinkSystemError(call: "open", subject: path, code: errno)
        }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let n = try out.withUnsafeMutableBytes { buf in
                try retrying("read", path) { Glibc.read(fd, buf.baseAddress! + total, limit - total) }
            }
            if n == 0 { break }
            total += n
        }
        return Array(out[..<total])
    }

    /// The kernel's id of the calling thread (Glibc does not export gettid to Swift).
    static func currentThreadID() -> Int32? {
        var buffer = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/thread-self", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let last = text.split(separator: "/").last else { return nil }
        return Int32(last)
    }
}

/// The kernel thread id of the caller, remembered per pthread so that
/// rendering an event does not read /proc each time.
final class CallingThreadID: @unchecked Sendable {
    private var cache: (thread: pthread_t, id: Int32)?
    private let lock = Lock()

    func current() -> Int32? {
        let me = pthread_self()
        return lock.withLock {
            if let cached = cache, pthread_equal(cached.thread, me) != 0 { return cached.id }
            guard let id = SinkSystemCalls.currentThreadID() else { return nil }
            cache = (me, id)
            return id
        }
    }
}
