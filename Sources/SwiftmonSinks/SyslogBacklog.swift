/// Where a syslog writer keeps framed messages between `emit` and the
/// collector: in memory (bounded; lost at exit) or in a ``DiskSpool``
/// (bounded; kept across restarts). Whatever the transport (TCP, RELP, TLS),
/// the writer takes messages in order, sends them, and acknowledges each
/// when it is done with it. Used under the writer's lock.
protocol SyslogBacklog: AnyObject {
    func append(_ message: [UInt8], sequence: UInt64) -> SyslogBacklogAppend
    /// The next message not handed out yet.
    func takeNext() -> DiskSpool.Entry?
    /// The oldest message handed out is done with (delivered or counted as lost).
    func acknowledge(_ sequence: UInt64)
    /// Messages not handed out yet.
    var unsentCount: Int { get }
    /// Messages not acknowledged yet (handed out or not).
    var storedCount: Int { get }
    /// True when what is not acknowledged at close stays for the next run.
    var keepsBacklogAcrossRuns: Bool { get }
    var hasUnsyncedChanges: Bool { get }
    func prepareSync() -> DiskSpool.SyncJob?
    /// Lets go of the messages (memory) or of the files (spool, which keeps
    /// them; throws when its last sync failed).
    func close() throws
}

enum SyslogBacklogAppend: Equatable {
    /// Stored; `evicted` older messages not yet sent were dropped to make room (`spoolFull`).
    case stored(evicted: UInt64)
    /// Not stored, for this reason.
    case refused(SyslogSink.DropReason, error: String?)
}

/// Today's buffer without a spool: bounded by count and bytes; when full the
/// new message is dropped (`bufferFull`).
final class MemoryBacklog: SyslogBacklog {
    private var queue: [DiskSpool.Entry] = []
    private var head = 0
    private var next = 0
    private var bytes = 0
    let maxMessages: Int
    let maxBytes: Int

    init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    func append(_ message: [UInt8], sequence: UInt64) -> SyslogBacklogAppend {
        if queue.count - head >= maxMessages || bytes + message.count > maxBytes {
            return .refused(.bufferFull, error: nil)
        }
        queue.append(DiskSpool.Entry(sequence: sequence, message: message))
        bytes += message.count
        return .stored(evicted: 0)
    }

    func takeNext() -> DiskSpool.Entry? {
        guard next < queue.count else { return nil }
        defer { next += 1 }
        return queue[next]
    }

    func acknowledge(_ sequence: UInt64) {
        guard head < next else { return }
        bytes -= queue[head].message.count
        queue[head].message = []
        head += 1
        // Compact now and then instead of shifting the array on every message.
        if head >= 1024, head * 2 >= queue.count {
            queue.removeFirst(head)
            next -= head
            head = 0
        }
    }

    var unsentCount: Int { queue.count - next }
    var storedCount: Int { queue.count - head }
    var keepsBacklogAcrossRuns: Bool { false }
    var hasUnsyncedChanges: Bool { false }
    func prepareSync() -> DiskSpool.SyncJob? { nil }

    func close() {
        queue.removeAll()
        head = 0
        next = 0
        bytes = 0
    }
}

/// The disk spool as a syslog backlog: full → the oldest unsent dropped
/// (`spoolFull`); a segment that cannot be created (full disk) → the new
/// message dropped (`spoolError`).
final class SpoolBacklog: SyslogBacklog {
    let spool: DiskSpool

    init(spool: DiskSpool) { self.spool = spool }

    func append(_ message: [UInt8], sequence: UInt64) -> SyslogBacklogAppend {
        do {
            switch try spool.append(message, sequence: sequence) {
            case .stored(let evicted): return .stored(evicted: evicted)
            case .tooLarge: return .refused(.oversize, error: nil)
            }
        } catch {
            return .refused(.spoolError, error: "\(error)")
        }
    }

    func takeNext() -> DiskSpool.Entry? { spool.takeNext() }
    func acknowledge(_ sequence: UInt64) { spool.acknowledge(sequence) }
    var unsentCount: Int { spool.unsentCount }
    var storedCount: Int { spool.storedCount }
    var keepsBacklogAcrossRuns: Bool { true }
    var hasUnsyncedChanges: Bool { spool.hasUnsyncedChanges }
    func prepareSync() -> DiskSpool.SyncJob? { spool.prepareSync() }
    func close() throws { try spool.close() }
}
