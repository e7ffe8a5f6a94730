#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonCore
import SwiftmonSystem

/// A buffered byte stream of events to a file or standard output, which keeps
/// the account of every event given to it: an event is *written* only once the
/// kernel has taken all of its bytes, and an event whose bytes it refused
/// (disk full, I/O error, a pipe whose reader has gone) is *lost* under the
/// errno's name. `written + lost + buffered == accepted`, always.
///
/// Files are created with mode 0600 (events hold command lines and paths: not
/// for every local user) and appended to, never truncated.
public final class FileOutput: @unchecked Sendable {  // the buffer is the sink thread's; `counts` is guarded by `lock`
    public let path: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    /// Where each whole event ends in `buffer`, in order.
    private var eventEnds: [Int] = []
    private let bufferLimit = 1 << 16
    private let lock = Lock()
    private var counts = SinkDeliveryCounts()
    /// The reader of the pipe has gone (EPIPE): nothing more can be written.
    private var readerGone = false
    /// A failed write left part of an event in the file: the next write
    /// starts a new line, so that every later event is whole on its line.
    private var lineOpen = false
    private var closed = false

    /// Opens `path` for appending, creating it 0600. An existing regular file
    /// that others may read is tightened to the owner's bits.
    public init(path: String) throws {
        let fd = try Syscalls.open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW)
        do {
            let st = try Syscalls.fstat(fd, path)
            // Devices and pipes (/dev/null, a FIFO) are left alone.
            if st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o077 != 0 {
                try Syscalls.fchmod(fd, st.st_mode & 0o700, path)
            }
        } catch {
            Syscalls.close(fd)
            throw error
        }
        self.fd = fd
        self.path = path
        self.ownsDescriptor = true
        buffer.reserveCapacity(bufferLimit * 2)
        eventEnds.reserveCapacity(1024)
    }

    /// Standard output (or another descriptor this process already owns).
    public init(descriptor: Int32, name: String = "standard output") {
        self.fd = descriptor
        self.path = name
        self.ownsDescriptor = false
        buffer.reserveCapacity(bufferLimit * 2)
        eventEnds.reserveCapacity(1024)
    }

    deinit {
        close()
    }

    public var isTerminal: Bool { isatty(fd) == 1 }

    /// What became of the events given to this output.
    public var deliveryCounts: SinkDeliveryCounts { lock.withLock { counts } }

    /// True once the reader of the pipe has gone.
    public var destinationClosed: Bool { lock.withLock { readerGone } }

    /// Appends one event, which `body` renders straight into the buffer (no
    /// intermediate copy). Writes the buffer out when it is full; a failure
    /// there is counted and thrown.
    @inline(__always)
    public func appendEvent(_ body: (inout [UInt8]) -> Void) throws {
        if readerGone {
            lock.withLock { counts.accepted += 1; counts.drop(1, cause: "EPIPE") }
            return
        }
        body(&buffer)
        eventEnds.append(buffer.count)
        lock.withLock { counts.accepted += 1 }
        if buffer.count >= bufferLimit { try flush() }
    }

    /// Counts an event that was given to this output but never reached its
    /// buffer (its record id could not be reserved, say).
    public func countLost(cause: String) {
        lock.withLock { counts.accepted += 1; counts.drop(1, cause: cause) }
    }

    /// Writes out the buffer. On failure the events the kernel took whole are
    /// written, the rest are counted as lost under the errno's name and
    /// dropped (so the buffer never grows without bound), and the error is
    /// thrown.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        var failure: PartialWriteError?
        if lineOpen {
            do {
                try [UInt8(0x0A)].withUnsafeBytes { try Syscalls.writeAll(fd, $0, path) }
                lineOpen = false
            } catch let error as PartialWriteError {
                failure = error
            }
        }
        var taken = 0
        if failure == nil {
            do {
                try buffer.withUnsafeBytes { try Syscalls.writeAll(fd, $0, path) }
                taken = buffer.count
            } catch let error as PartialWriteError {
                failure = PartialWriteError(underlying: error.underlying, bytesWritten: error.bytesWritten)
                taken = error.bytesWritten
            }
        }
        // Events wholly within the bytes the kernel took are written.
        var whole = 0
        while whole < eventEnds.count && eventEnds[whole] <= taken { whole += 1 }
        let lost = eventEnds.count - whole
        if let failure {
            let previousEnd = whole > 0 ? eventEnds[whole - 1] : 0
            if taken > previousEnd { lineOpen = true }
            lock.withLock {
                counts.delivered += UInt64(whole)
                counts.drop(UInt64(lost), cause: failure.underlying.errnoName)
                if failure.errno == EPIPE { readerGone = true }
            }
        } else {
            lock.withLock { counts.delivered += UInt64(whole) }
        }
        buffer.removeAll(keepingCapacity: true)
        eventEnds.removeAll(keepingCapacity: true)
        if let failure { throw failure.underlying }
    }

    /// Flushes (what cannot be written is counted) and closes a file this
    /// output opened.
    public func close() {
        guard !closed else { return }
        closed = true
        do { try flush() } catch { /* counted in `counts` by flush */ }
        if ownsDescriptor { Syscalls.close(fd) }
    }
}

extension SystemCallError: LossCauseNaming {
    public var lossCause: String { errnoName }
}

extension PartialWriteError: LossCauseNaming {
    public var lossCause: String { underlying.errnoName }
}
