#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonSystem

/// A durable, bounded queue of framed messages on disk, for one remote
/// destination (`--spool`): the writer appends, a sender reads from its
/// cursor, the cursor (the acknowledged position) is kept on disk, so a
/// collector that is away or a restart of swiftmon — SIGTERM or `kill -9` —
/// loses nothing.
///
/// Layout of the directory (0700; every file 0600):
/// - `NNNNNNNNNNNNNNNNNNNN.seg`: segments of a fixed size, numbered in order.
///   A segment is allocated in full when created (posix_fallocate, so a full
///   disk shows then, as an error, and never later as SIGBUS) and mapped
///   shared: an append is a copy into the page cache, with no system call. A
///   record is `length u32, check u32, sequence u64, message`, padded to 8
///   bytes; `length` is stored last, so a record a crash cut short reads as
///   the end, and `check` (a hash of length, sequence and message) finds one
///   that a power loss left half on disk. A segment is deleted once the
///   cursor has passed it.
/// - `cursor`: the position of the first record not acknowledged, in two
///   alternating slots each with its own check, updated in a shared mapping
///   on every acknowledgement (so it survives a crash of the process at once).
/// - `lock`: flock(2)ed while open; a second swiftmon on the same spool is refused.
///
/// Durability: ``prepareSync()`` (the sender calls it every
/// ``Options/syncInterval`` seconds while anything changed, and at close)
/// msyncs what was appended, the cursor and, after segments were created or
/// deleted, the directory. A crash of the process loses nothing appended; a
/// power loss loses at most what was appended in the last interval, and may
/// send again what was acknowledged in it.
///
/// Full: when a new segment would take the spool past ``Options/maxBytes``,
/// the oldest segment is deleted and its records not yet handed to the
/// sender are counted (``AppendResult/evicted``) — never dropped silently.
///
/// Not thread-safe: the owner serializes calls (the syslog writer's lock).
public final class DiskSpool {
    public struct Options: Sendable {
        /// Largest total size of the segment files.
        public var maxBytes: Int64 = 512 << 20
        /// Size of one segment; by default an eighth of ``maxBytes`` between 64 KiB and 16 MiB.
        public var segmentBytes: Int?
        /// Seconds between syncs to disk of what changed.
        public var syncInterval: Double = 0.2

        public init() {}

        var effectiveSegmentBytes: Int {
            let chosen = segmentBytes ?? Int(min(max(maxBytes / 8, 64 << 10), 16 << 20))
            let page = 4096
            return max(page, (chosen + page - 1) / page * page)
        }
    }

    /// What a previous run left in the spool, found by ``init(directory:options:)``.
    public struct Recovery: Sendable, Equatable {
        /// Records not acknowledged: this run sends them first.
        public var unacknowledged: UInt64 = 0
        /// Damaged records skipped: a record cut short by a crash or a power
        /// loss (counted once per damaged stretch; its event is lost).
        public var tornRecords: UInt64 = 0
        /// Unacknowledged records dropped because the spool was over its
        /// maximum size (a smaller `--spool-max-size` than last time).
        public var droppedForSpace: UInt64 = 0
        /// The sequence (EventRecordID) of the first record to send again.
        public var resumeSequence: UInt64?
    }

    public struct Entry: Sendable, Equatable {
        public var sequence: UInt64
        public var message: [UInt8]
    }

    public enum AppendResult: Equatable {
        /// Stored; `evicted` older records not yet sent were dropped to make room.
        case stored(evicted: UInt64)
        /// Larger than a segment can hold.
        case tooLarge
    }

    public let directory: String
    public let options: Options
    public let segmentBytes: Int
    public let maxSegments: Int
    public private(set) var recovery = Recovery()

    private var segments: [Segment] = []
    /// The next record to hand out.
    private var readSegment = 0, readRecord = 0
    /// The first record not acknowledged (persisted in `cursor`).
    private var ackSegment = 0, ackRecord = 0
    /// Handed out and not acknowledged, oldest first: sequence, segment id, index of the record after it.
    private var handedOut: [(sequence: UInt64, segment: UInt64, next: Int)] = []
    private var handedOutHead = 0
    private var unsent = 0
    private var cursor: CursorFile
    private let lockDescriptor: Int32
    private var directoryChanged = false
    private var cursorChanged = false
    /// After a failure to create a segment (a full disk), when to try again (monotonic ns).
    private var retryCreateAt: Int64 = 0
    private var closed = false

    static let segmentHeaderBytes = 64
    static let recordHeaderBytes = 16
    static let magic: UInt64 = 0x4C4F_4F50_534D_5753  // "SWMSPOOL" little-endian

    /// Opens (creating 0700 when missing) the spool in `directory` and reads
    /// what a previous run left there (see ``recovery``).
    public init(directory: String, options: Options = Options()) throws {
        self.directory = directory
        self.options = options
        segmentBytes = options.effectiveSegmentBytes
        maxSegments = max(2, Int(options.maxBytes / Int64(segmentBytes)))
        try DiskSpool.makeDirectories(directory)
        try Syscalls.changeMode(directory, 0o700)
        lockDescriptor = try Syscalls.open(directory + "/lock", O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        do {
            guard try Syscalls.tryLockExclusive(lockDescriptor, directory + "/lock") else {
                throw DiskSpoolError.inUse(directory: directory)
            }
            cursor = try CursorFile(path: directory + "/cursor")
            try recover()
        } catch {
            Syscalls.close(lockDescriptor)
            throw error
        }
    }

    /// Without ``close()`` (a sink released in a hurry) nothing is synced here:
    /// what was appended is in the page cache and the next sync or open finds it.
    deinit { release() }

    // MARK: Writer side

    /// Appends `message` with its `sequence` (the EventRecordID it carries).
    /// Throws when a new segment cannot be created (a full disk); the
    /// message is then not stored, and a second try waits a second.
    public func append(_ message: [UInt8], sequence: UInt64) throws -> AppendResult {
        let size = DiskSpool.recordSize(message.count)
        guard size <= segmentBytes - DiskSpool.segmentHeaderBytes else { return .tooLarge }
        var evicted: UInt64 = 0
        if segments.last?.writable != true || segments.last!.used + size > segments.last!.capacity {
            evicted = try roll()
        }
        let head = segments[segments.count - 1]
        head.write(message, sequence: sequence, size: size)
        unsent += 1
        return .stored(evicted: evicted)
    }

    /// Seals the head segment and starts a new one, first deleting the oldest
    /// when the spool is at its size; returns the unsent records that cost.
    private func roll() throws -> UInt64 {
        let now = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
        if now < retryCreateAt { throw DiskSpoolError.cannotGrow(directory: directory, retrying: true) }
        var evicted: UInt64 = 0
        while segments.count >= maxSegments { evicted += evictOldest() }
        let id = (segments.last?.id ?? cursor.position.segment) &+ 1
        do {
            let segment = try Segment.create(directory: directory, id: id, capacity: segmentBytes)
            segments.last?.writable = false
            segments.append(segment)
            directoryChanged = true
        } catch {
            retryCreateAt = now + 1_000_000_000
            throw error
        }
        return evicted
    }

    /// Deletes the oldest segment; returns how many of its records had not
    /// been handed out (records handed out stay with the sender).
    private func evictOldest() -> UInt64 {
        let oldest = segments[0]
        var lost = 0
        if readSegment == 0 { lost = oldest.count - readRecord }
        unsent -= lost
        removeFront(1)
        return UInt64(lost)
    }

    // MARK: Sender side

    /// Records not yet handed out.
    public var unsentCount: Int { unsent }
    /// Records not acknowledged (handed out or not).
    public var storedCount: Int { unsent + handedOut.count - handedOutHead }

    /// The next record not handed out yet, oldest first.
    public func takeNext() -> Entry? {
        while readSegment < segments.count {
            let segment = segments[readSegment]
            if readRecord < segment.count {
                let entry = segment.read(readRecord)
                readRecord += 1
                unsent -= 1
                handedOut.append((entry.sequence, segment.id, readRecord))
                return entry
            }
            if readSegment == segments.count - 1 { return nil }
            readSegment += 1
            readRecord = 0
        }
        return nil
    }

    /// The sender is done with the oldest record handed out (delivered, or
    /// refused and counted), whose sequence is `sequence`: the cursor moves
    /// past it, and segments left behind are deleted. The sender finishes
    /// records in the order it took them.
    public func acknowledge(_ sequence: UInt64) {
        guard handedOutHead < handedOut.count else { return }
        let last = handedOut[handedOutHead]
        handedOutHead += 1
        if handedOutHead >= 256, handedOutHead * 2 >= handedOut.count {
            handedOut.removeFirst(handedOutHead)
            handedOutHead = 0
        }
        guard let index = segments.firstIndex(where: { $0.id == last.segment }) else {
            return  // its segment was deleted for space: the cursor is past it already
        }
        if (index, last.next) > (ackSegment, ackRecord) {
            ackSegment = index
            ackRecord = last.next
        }
        // A segment acknowledged to its end and no longer written: move on, delete it.
        while ackSegment < segments.count - 1, ackRecord >= segments[ackSegment].count, !segments[ackSegment].writable {
            ackSegment += 1
            ackRecord = 0
        }
        if ackSegment > 0 { removeFront(ackSegment) }
        writeCursor(lastAcknowledged: sequence)
    }

    private func writeCursor(lastAcknowledged: UInt64) {
        guard ackSegment < segments.count else { return }
        let segment = segments[ackSegment]
        cursor.write(CursorFile.Position(segment: segment.id, offset: UInt64(segment.offset(ackRecord)),
                                         acknowledged: lastAcknowledged))
        cursorChanged = true
    }

    /// Deletes the first `n` segments, keeping the positions pointing at the same records.
    private func removeFront(_ n: Int) {
        guard n > 0 else { return }
        for segment in segments[..<n] { segment.remove() }
        segments.removeFirst(n)
        directoryChanged = true
        readSegment -= n
        if readSegment < 0 { readSegment = 0; readRecord = 0 }
        ackSegment -= n
        if ackSegment < 0 {
            ackSegment = 0
            ackRecord = 0
            if let first = segments.first {
                cursor.write(CursorFile.Position(segment: first.id, offset: UInt64(DiskSpool.segmentHeaderBytes),
                                                 acknowledged: cursor.position.acknowledged))
                cursorChanged = true
            }
        }
    }

    // MARK: Durability

    /// Whether anything changed since the last sync.
    public var hasUnsyncedChanges: Bool {
        directoryChanged || cursorChanged || segments.contains { $0.used > $0.synced }
    }

    /// What the next sync must write, taken under the owner's lock; ``SyncJob/perform()``
    /// then runs without it (the segments it names stay mapped until it is done).
    public func prepareSync() -> SyncJob {
        var job = SyncJob(directory: directoryChanged ? directory : nil, cursor: cursorChanged ? cursor : nil)
        for segment in segments where segment.used > segment.synced {
            job.ranges.append((segment, segment.synced..<segment.used))
            segment.synced = segment.used
        }
        directoryChanged = false
        cursorChanged = false
        return job
    }

    public struct SyncJob {
        fileprivate var directory: String?
        fileprivate var cursor: CursorFile?
        fileprivate var ranges: [(Segment, Range<Int>)] = []

        public var isEmpty: Bool { directory == nil && cursor == nil && ranges.isEmpty }

        /// Segments first, then the cursor, then the directory: a cursor on disk
        /// never points past records that are not.
        public func perform() throws {
            for (segment, range) in ranges {
                try Syscalls.syncMapping(segment.mapping, range: range, segment.path)
            }
            try cursor?.sync()
            if let directory { try Syscalls.syncDirectory(directory) }
        }
    }

    /// Syncs everything and lets go of the files. Records not acknowledged
    /// stay for the next run. A failed sync is thrown after the files are let go.
    public func close() throws {
        guard !closed else { return }
        defer { release() }
        try prepareSync().perform()
    }

    private func release() {
        guard !closed else { return }
        closed = true
        segments.removeAll()
        Syscalls.close(lockDescriptor)
    }

    // MARK: Recovery

    private func recover() throws {
        let names = try Syscalls.directoryEntries(directory) ?? []
        let ids = names.compactMap { name -> UInt64? in
            guard name.hasSuffix(".seg"), name.count == 24 else { return nil }
            return UInt64(name.prefix(20))
        }.sorted()
        for name in names where name.hasSuffix(".seg.tmp") { try? Syscalls.unlink(directory + "/" + name) }
        let start = cursor.position
        for id in ids {
            if id < start.segment {
                // Acknowledged before the crash; its deletion had not reached the disk.
                try? Syscalls.unlink(DiskSpool.segmentPath(directory, id))
                directoryChanged = true
                continue
            }
            let (segment, torn) = try Segment.open(directory: directory, id: id)
            recovery.tornRecords += torn
            segments.append(segment)
        }
        // The cursor's record (or the first after it when the segment went).
        if let first = segments.first, first.id == start.segment {
            ackRecord = first.index(ofOffset: Int(start.offset))
        }
        readRecord = ackRecord
        unsent = segments.reduce(0) { $0 + $1.count } - ackRecord
        while segments.count > maxSegments - 1 && segments.count > 0 {
            recovery.droppedForSpace += evictOldest()
        }
        recovery.unacknowledged = UInt64(unsent)
        var (segment, record) = (0, ackRecord)
        while segment < segments.count {
            if record < segments[segment].count {
                recovery.resumeSequence = segments[segment].read(record).sequence
                break
            }
            segment += 1
            record = 0
        }
        if segments.isEmpty || directoryChanged {
            writeCursor(lastAcknowledged: start.acknowledged)
        }
    }

    static func recordSize(_ messageBytes: Int) -> Int { (recordHeaderBytes + messageBytes + 7) & ~7 }

    static func segmentPath(_ directory: String, _ id: UInt64) -> String {
        let digits = String(id)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    /// mkdir -p with mode 0700 for what it creates.
    static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            try Syscalls.makeDirectory(prefix, mode: 0o700)
        }
    }

    /// A fast 32-bit hash of a record (length, sequence, message) to find torn
    /// records; not a defence against anyone writing the files on purpose.
    /// Four independent lanes of eight bytes (multiply-xorshift), so the
    /// multiplies overlap: the hot path pays it once per event (~0.1 µs per KiB).
    static func check(length: UInt32, sequence: UInt64, message: UnsafeRawBufferPointer) -> UInt32 {
        @inline(__always) func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
            let m = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
            return m ^ (m >> 29)
        }
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ (UInt64(length) << 32)
        var b: UInt64 = 0xC2B2_AE3D_27D4_EB4F ^ sequence
        var c: UInt64 = 0x1656_67B1_9E37_79F9
        var d: UInt64 = 0x27D4_EB2F_1656_67C5
        var i = 0
        let n = message.count
        while i + 32 <= n {
            a = mix(a, message.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            b = mix(b, message.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
            c = mix(c, message.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
            d = mix(d, message.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
            i += 32
        }
        while i + 8 <= n {
            a = mix(a, message.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n { w |= UInt64(message[i]) << shift; shift += 8; i += 1 }
            b = mix(b, w)
        }
        var h = mix(mix(mix(mix(0x85EB_CA77_C2B2_AE63, a), b), c), d)
        h = mix(h, sequence)
        return UInt32(truncatingIfNeeded: h ^ (h >> 32))
    }
}

public enum DiskSpoolError: Error, CustomStringConvertible, Equatable {
    case inUse(directory: String)
    case notASegment(path: String)
    case cannotGrow(directory: String, retrying: Bool)

    public var description: String {
        switch self {
        case .inUse(let directory):
            return "spool \(directory) is in use by another swiftmon (its lock file is held)"
        case .notASegment(let path):
            return "\(path) is not a swiftmon spool segment"
        case .cannotGrow(let directory, _):
            return "spool \(directory): a new segment could not be created a moment ago (full disk?); not retried for a second"
        }
    }
}
