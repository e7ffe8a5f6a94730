#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonCore

/// A buffered byte stream to a file or standard output. Files are created with
/// mode 0600 (events hold command lines and paths: not for every local user)
/// and appended to, never truncated.
public final class FileOutput: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 16

    /// Opens `path` for appending, creating it 0600. An existing file keeps
    /// its mode unless it is readable by others, which is refused.
    public init(path: String) throws {
        let fd = try SinkSystemCalls.open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW)
        var st = stat()
        if fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o077 != 0 {
            // An existing regular file that others may read: tighten it rather
            // than leak. Devices and pipes (/dev/null, a FIFO) are left alone.
            if fchmod(fd, st.st_mode & 0o700) != 0 {
                let e = errno
                close(fd)
                throw SinkSystemError(call: "chmod 0600", subject: path, code: e)
            }
        }
        self.fd = fd
        self.path = path
        self.ownsDescriptor = true
        buffer.reserveCapacity(bufferLimit * 2)
    }

    /// Standard output (or another descriptor this process already owns).
    public init(descriptor: Int32, name: String = "standard output") {
        self.fd = descriptor
        self.path = name
        self.ownsDescriptor = false
        buffer.reserveCapacity(bufferLimit * 2)
    }

    deinit {
        try? flush()
        if ownsDescriptor { close(fd) }
    }

    public var isTerminal: Bool { isatty(fd) == 1 }

    public func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= bufferLimit { try flush() }
    }

    /// Lets `body` append straight into the buffer (no intermediate copy).
    @inline(__always)
    public func append(_ body: (inout [UInt8]) -> Void) throws {
        body(&buffer)
        if buffer.count >= bufferLimit { try flush() }
    }

    public func write(_ text: String) throws {
        var t = text
        t.withUTF8 { buffer.append(contentsOf: $0) }
        if buffer.count >= bufferLimit { try flush() }
    }

    /// Writes out the buffer. On failure (disk full, closed pipe) the unwritten
    /// bytes are dropped and the error thrown, so the caller counts the loss
    /// instead of the buffer growing without bound.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        try buffer.withUnsafeBytes { try SinkSystemCalls.writeAll(fd, $0, path) }
    }
}
