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
    private var fd: Int32
    private let ownsDescriptor: Bool
    /// Size-based rotation of a file this output opened (nil: none).
    public let rotation: Rotation?
    /// Bytes in the current file, for rotation.
    private var fileBytes: Int64 = 0
    /// SIGUSR1 (logrotate moved the file): open the path again before the next write.
    private var reopenRequested = false
    // `buffer` and `eventEnds` are the sink thread's, `counts` is guarded
    // by `lock`: no two accesses overlap, and their run-time exclusivity
    // checks (two or three per event on the hot path, issue 10) are left out.
    @exclusivity(unchecked) private var buffer: [UInt8] = []
    /// Where each whole event ends in `buffer`, in order.
    @exclusivity(unchecked) private var eventEnds: [Int] = []
    /// Bytes gathered before a write: 64 KiB, or a quarter of a rotated
    /// file's size, so that a write never makes a file overshoot its limit.
    private let bufferLimit: Int
    private let lock = Lock()
    @exclusivity(unchecked) private var counts = SinkDeliveryCounts()
    /// The reader of the pipe has gone (EPIPE): nothing more can be written.
    private var readerGone = false
    /// A failed write left part of an event in the file: the next write
    /// starts a new line, so that every later event is whole on its line.
    private var lineOpen = false
    private var closed = false

    /// When a file is rotated: once it would grow past `maxBytes`, it becomes
    /// `PATH.1` (`PATH.1` becomes `PATH.2` …, keeping `keep` of them) and a new
    /// `PATH` is started. Rotation happens between whole events, so nothing
    /// is lost or written twice across it.
    public struct Rotation: Sendable, Equatable {
        public var maxBytes: Int64
        public var keep: Int
        public init(maxBytes: Int64, keep: Int) {
            self.maxBytes = maxBytes
            self.keep = max(1, keep)
        }
    }

    /// Opens `path` for appending, creating it 0600. An existing regular file
    /// that others may read is tightened to the owner's bits.
    public init(path: String, rotation: Rotation? = nil) throws {
        (fd, fileBytes) = try FileOutput.openForAppending(path)
        self.path = path
        self.rotation = rotation
        self.bufferLimit = rotation.map { Int(min(1 << 16, max(1 << 12, $0.maxBytes / 4))) } ?? 1 << 16
        self.ownsDescriptor = true
        buffer.reserveCapacity(bufferLimit * 2)
        eventEnds.reserveCapacity(1024)
    }

    /// Standard output (or another descriptor this process already owns).
    public init(descriptor: Int32, name: String = "standard output") {
        self.fd = descriptor
        self.path = name
        self.rotation = nil
        self.bufferLimit = 1 << 16
        self.ownsDescriptor = false
        buffer.reserveCapacity(bufferLimit * 2)
        eventEnds.reserveCapacity(1024)
    }

    deinit {
        close()
    }

    /// The descriptor of `path` opened for appending (created 0600, tightened
    /// when others could read it) and the bytes already in it.
    private static func openForAppending(_ path: String) throws -> (Int32, Int64) {
        let fd = try Syscalls.open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW)
        do {
            let st = try Syscalls.fstat(fd, path)
            // Devices and pipes (/dev/null, a FIFO) are left alone.
            if st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o077 != 0 {
                try Syscalls.fchmod(fd, st.st_mode & 0o700, path)
            }
            return (fd, Int64(st.st_size))
        } catch {
            Syscalls.close(fd)
            throw error
        }
    }

    /// Asks for the file to be opened again by its path before the next
    /// write (any thread; for SIGUSR1 after logrotate moved it).
    public func requestReopen() {
        guard ownsDescriptor else { return }
        lock.withLock { reopenRequested = true }
    }

    /// Problems with rotation or reopening: the output carries on in the file
    /// it has, nothing is lost, and the last problem is kept for reports.
    public private(set) var fileProblem: String?

    /// Before a write of `incoming` bytes: reopen when asked, rotate when the
    /// file would grow past its limit. Both happen between whole events.
    private func prepareFile(for incoming: Int) {
        guard ownsDescriptor else { return }
        let reopen = lock.withLock { () -> Bool in
            defer { reopenRequested = false }
            return reopenRequested
        }
        if reopen { switchFile(rotating: false) }
        if let rotation, fileBytes > 0, fileBytes + Int64(incoming) > rotation.maxBytes {
            switchFile(rotating: true)
        }
    }

    private func switchFile(rotating: Bool) {
        do {
            if rotating, let rotation {
                // PATH.keep-1 → PATH.keep … PATH → PATH.1; the oldest is replaced.
                for n in stride(from: rotation.keep - 1, through: 1, by: -1) {
                    do { try Syscalls.rename("\(path).\(n)", "\(path).\(n + 1)") } catch let e as SystemCallError where e.errno == ENOENT {}
                }
                try Syscalls.rename(path, path + ".1")
            }
            let (newFD, size) = try FileOutput.openForAppending(path)
            Syscalls.close(fd)
            fd = newFD
            fileBytes = size
            lineOpen = false  // a partial event stays at the end of the old file
        } catch {
            fileProblem = "\(rotating ? "rotation" : "reopen") of \(path): \(error)"
        }
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
        prepareFile(for: buffer.count + (lineOpen ? 1 : 0))
        var failure: PartialWriteError?
        if lineOpen {
            do {
                try [UInt8(0x0A)].withUnsafeBytes { try Syscalls.writeAll(fd, $0, path) }
                fileBytes += 1
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
        fileBytes += Int64(taken)
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
