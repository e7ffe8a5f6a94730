#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import SwiftmonCore
import SwiftmonSystem

/// The backlog, counters and thread behind a ``SyslogSink``.
final class SyslogSinkWriter: @unchecked Sendable {  // the vars below `condition` are guarded by it
    typealias Options = SyslogSink.Options
    typealias DropReason = SyslogSink.DropReason
    typealias Status = SyslogSink.Status

    public let destination: SyslogDestination
    public let options: Options
    public let recordIDs: EventRecordCounter
    private let syncIntervalNanoseconds: Int64

    private let condition = NSCondition()
    /// The buffer each message is framed in (`emit`'s, kept apart from the writer's lock).
    private let scratchLock = Lock()
    private var scratch: [UInt8] = []
    // Guarded by `condition`.
    private let backlog: SyslogBacklog
    private var accepted: UInt64 = 0
    private var delivered: UInt64 = 0
    private var dropped: [DropReason: UInt64] = [:]
    private var recovered: UInt64 = 0
    private var connected = false
    private var reconnects: UInt64 = 0
    private var lastErrorText: String?
    private var stopping = false
    private var writerDone = false
    /// The writer waits for messages (not sending, not syncing).
    private var writerWaiting = false

    /// Messages queued before `emit` wakes a waiting writer itself; fewer wait
    /// for ``flush()``, which the pipeline calls whenever its queue runs dry.
    /// One wake-up per batch instead of per event: the futex wake and the
    /// writer's context switch cost more than sending the message.
    static let wakeBatch = 64
    /// At most this many messages (and ``streamBatchBytes``) go to a TCP or
    /// TLS collector in one send.
    static let streamBatch = 64
    static let streamBatchBytes = 256 * 1024

    private let processID = getpid()
    /// Header tokens that are the same on every message, cleaned once.
    private let hostField: String
    private let sysmonTagField: String
    private let ownTagField: String

    init(destination: SyslogDestination, options: Options, recordIDs: EventRecordCounter, backlog: SyslogBacklog,
         recovery: DiskSpool.Recovery? = nil, syncInterval: Double = 0.2) {
        self.destination = destination
        self.options = options
        self.recordIDs = recordIDs
        self.backlog = backlog
        syncIntervalNanoseconds = Int64(syncInterval * 1e9)
        hostField = SyslogSink.headerField(options.hostName, max: 255)
        sysmonTagField = SyslogSink.headerField(options.appName, max: 48)
        ownTagField = SyslogSink.headerField(options.ownAppName, max: 48)
        if let recovery {
            // A previous run accepted these and did not finish them: this run's ledger takes them over.
            recovered = recovery.unacknowledged + recovery.tornRecords + recovery.droppedForSpace
            accepted = recovered
            if recovery.tornRecords > 0 { dropped[.spoolTorn] = recovery.tornRecords }
            if recovery.droppedForSpace > 0 { dropped[.spoolFull] = recovery.droppedForSpace }
        }
    }

    /// The thread holds the writer, not the sink: releasing the sink closes it.
    func start() {
        let thread = Thread { self.writerLoop() }
        thread.name = "swiftmon-syslog"
        thread.start()
    }

    // MARK: EventSink

    public func emit(_ event: Event) throws {
        let id: UInt64
        do {
            id = try recordIDs.nextID()
        } catch {
            // Counted here, not thrown: the pipeline would count it a second time.
            condition.lock()
            accepted += 1
            dropped[.recordID, default: 0] += 1
            lastErrorText = "\(error)"
            condition.unlock()
            return
        }
        let threadID = Syscalls.currentThreadID()
        let message = frame(event: event) { options.renderer.render(event, recordID: id, threadID: threadID, into: &$0) }
        condition.lock()
        defer { condition.unlock() }
        accepted += 1
        if stopping {
            dropped[.shutdown, default: 0] += 1
            return
        }
        if let limit = options.maxMessageBytes, message.count > limit {
            dropped[.oversize, default: 0] += 1
            return
        }
        switch backlog.append(message, sequence: id) {
        case .stored(let evicted):
            if evicted > 0 { dropped[.spoolFull, default: 0] += evicted }
            if writerWaiting, backlog.unsentCount >= Self.wakeBatch { condition.signal() }
        case .refused(let reason, let error):
            dropped[reason, default: 0] += 1
            if let error { lastErrorText = error }
        }
    }

    /// Wakes the writer for what `emit` queued; delivery itself continues in
    /// the background (see ``drain(timeout:)`` to wait for it).
    public func flush() throws {
        condition.lock()
        if writerWaiting, backlog.unsentCount > 0 { condition.signal() }
        condition.unlock()
    }

    // MARK: Counters

    public var deliveryCounts: SinkDeliveryCounts {
        condition.lock()
        defer { condition.unlock() }
        return SinkDeliveryCounts(accepted: accepted, delivered: delivered, droppedBy: dropped)
    }

    public var status: Status {
        condition.lock()
        defer { condition.unlock() }
        return Status(connected: connected, buffered: backlog.storedCount, reconnects: reconnects,
                      lastError: lastErrorText, spooled: backlog.keepsBacklogAcrossRuns, recovered: recovered)
    }

    // MARK: Shutdown

    /// Waits until everything buffered has been sent, at most `timeout`
    /// seconds. Returns whether the buffer is empty.
    @discardableResult
    public func drain(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        condition.broadcast()  // the writer may be waiting for a flush
        while backlog.storedCount > 0, !writerDone {
            if !condition.wait(until: deadline) { break }
        }
        return backlog.storedCount == 0
    }

    /// Stops the writer after giving it `timeout` seconds to send what is
    /// buffered; the rest is counted as dropped (`shutdown`) — or, with a
    /// spool, stays there for the next run.
    public func close(timeout: Double = 2) {
        drain(timeout: timeout)
        condition.lock()
        if !stopping {
            stopping = true
            condition.broadcast()
        }
        while !writerDone { condition.wait() }
        condition.unlock()
    }

    // MARK: Writer thread

    private func writerLoop() {
        Syscalls.nameCurrentThread("swiftmon-syslog")
        var connection: SyslogConnection?
        var delay = options.reconnectMinimumDelay
        let isRELP: Bool
        if case .relp = destination { isRELP = true } else { isRELP = false }
        // Taken from the backlog and not finished yet, oldest first: `taken[..<sent]`
        // are on the current connection (RELP: awaiting their answers, transaction
        // numbers in `inflight`); the rest go (again) once connected. A message is
        // finished — acknowledged to the backlog — only when delivered or refused.
        var taken: [DiskSpool.Entry] = []
        var sent = 0
        var inflight: [Int] = []
        var outcomes: [Bool?] = []
        // TCP and TLS take up to a batch and send it in one write (`batch`,
        // reused); RELP keeps up to its window unanswered; a datagram goes alone.
        let batchesStream: Bool
        switch destination {
        case .tcp, .tls: batchesStream = true
        case .relp, .local: batchesStream = false
        }
        let window = isRELP ? max(1, options.relpWindow) : (batchesStream ? Self.streamBatch : 1)
        var batch: [UInt8] = []
        var batchEnds: [Int] = []
        var nextSync = Syscalls.clockNanoseconds(CLOCK_MONOTONIC) + syncIntervalNanoseconds
        func lose(_ error: String) {
            connection = nil
            // Unacknowledged messages stay in `taken` and go again.
            sent = 0
            inflight.removeAll()
            outcomes.removeAll()
            setConnected(false, error: error)
        }
        func finishOldest(_ dropReason: DropReason?) {
            let entry = taken.removeFirst()
            sent -= 1
            finish(entry, dropReason)
        }
        func finishOldest(_ count: Int, _ dropReason: DropReason?) {
            guard count > 0 else { return }
            finish(taken[..<count], dropReason)
            taken.removeFirst(count)
            sent -= count
        }
        while true {
            condition.lock()
            var syncDue = false
            while !stopping, taken.isEmpty, backlog.unsentCount == 0 {
                if backlog.hasUnsyncedChanges {
                    let now = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
                    if now >= nextSync { syncDue = true; break }
                    writerWaiting = true
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(nextSync - now) / 1e9))
                    writerWaiting = false
                } else {
                    writerWaiting = true
                    condition.wait()
                    writerWaiting = false
                }
            }
            if stopping {
                if !backlog.keepsBacklogAcrossRuns {
                    let left = UInt64(backlog.storedCount)
                    if left > 0 { dropped[.shutdown, default: 0] += left }
                }
                // A spool keeps what is not acknowledged (also what is on the wire) for the next run.
                do { try backlog.close() } catch { lastErrorText = "spool: \(error)" }
                connected = false
                writerDone = true
                condition.broadcast()
                condition.unlock()
                return
            }
            if !syncDue, backlog.hasUnsyncedChanges, Syscalls.clockNanoseconds(CLOCK_MONOTONIC) >= nextSync {
                syncDue = true
            }
            let syncJob = syncDue ? backlog.prepareSync() : nil
            if isRELP {
                // Up to a batch of new ones once all taken are on the wire, within the window.
                if sent == taken.count {
                    var fresh = 0
                    while taken.count < window, fresh < Self.streamBatch, let next = backlog.takeNext() {
                        taken.append(next)
                        fresh += 1
                    }
                }
            } else if sent == taken.count {
                var bytes = taken.reduce(0) { $0 + $1.message.count }
                while taken.count < window, bytes < Self.streamBatchBytes, let next = backlog.takeNext() {
                    taken.append(next)
                    bytes += next.message.count
                }
            }
            condition.unlock()

            if let syncJob {
                nextSync = Syscalls.clockNanoseconds(CLOCK_MONOTONIC) + syncIntervalNanoseconds
                do { try syncJob.perform() } catch { noteError("spool: \(error)") }
            }
            if taken.isEmpty { continue }

            if !isRELP, let open = connection, open.peerHasClosed() {
                lose("collector closed the connection")
            }
            if connection == nil {
                do {
                    connection = try SyslogConnection.open(destination, timeout: options.connectTimeout, tlsContext: options.tls)
                    delay = options.reconnectMinimumDelay
                    setConnected(true, error: nil)
                } catch {
                    setConnected(false, error: "\(error)")
                    sleepUnlessStopping(delay)
                    delay = min(delay * 2, options.reconnectMaximumDelay)
                    continue
                }
            }
            guard let open = connection else { continue }

            if isRELP {
                do {
                    if sent < taken.count, inflight.count < window {
                        // The frames not on the wire yet, in one write (each is answered on its own).
                        batch.removeAll(keepingCapacity: true)
                        var numbers: [Int] = []
                        while sent + numbers.count < taken.count, inflight.count + numbers.count < window,
                              batch.count < Self.streamBatchBytes {
                            let txnr = open.takeTXNR()
                            batch += RELPFrame.encode(txnr: txnr, command: "syslog", data: taken[sent + numbers.count].message)
                            numbers.append(txnr)
                        }
                        guard try open.send(batch, keepTrying: { !isStopping() }) == .sent else {
                            lose("stopped while sending")
                            continue
                        }
                        sent += numbers.count
                        inflight += numbers
                        outcomes += Array(repeating: nil, count: numbers.count)
                    }
                    // Wait for answers when there is nothing more to send now.
                    let idle = inflight.count >= window || (sent == taken.count && !hasUnsent())
                    for response in try open.receiveRELP(timeout: idle ? 0.1 : 0) {
                        if response.command == "serverclose" { throw RELPProtocolError(detail: "collector closed the session") }
                        guard response.command == "rsp", let k = inflight.firstIndex(of: response.txnr) else { continue }
                        outcomes[k] = response.status == 200
                    }
                    while let first = outcomes.first, let accepted = first {
                        outcomes.removeFirst()
                        inflight.removeFirst()
                        finishOldest(accepted ? nil : .rejected)
                    }
                } catch {
                    lose("\(error)")
                }
                continue
            }

            if batchesStream {
                // One write for the batch; a message counts as delivered once all
                // of its bytes are taken, also when the connection breaks later on.
                batch.removeAll(keepingCapacity: true)
                batchEnds.removeAll(keepingCapacity: true)
                for entry in taken {
                    batch.append(contentsOf: entry.message)
                    batchEnds.append(batch.count)
                }
                var done = 0
                var result: SyslogConnection.SendResult = .abandoned
                var failure: Error?
                do {
                    result = try open.send(batch, done: &done, keepTrying: { !isStopping() })
                } catch {
                    failure = error
                }
                let whole = batchEnds.prefix { $0 <= done }.count
                sent = taken.count
                finishOldest(whole, nil)
                if let failure {
                    // Broken connection: the rest go again after reconnecting.
                    lose("\(failure)")
                } else if result != .sent {
                    sent = 0
                    connection = nil  // a partial frame may be on the wire: never reuse it
                }
                continue
            }
            do {
                switch try open.send(taken[0].message, keepTrying: { !isStopping() }) {
                case .sent:
                    sent = 1
                    finishOldest(nil)
                case .tooLarge:
                    sent = 1
                    finishOldest(.oversize)
                case .abandoned:
                    connection = nil  // a partial frame may be on the wire: never reuse it
                }
            } catch {
                // Broken connection: keep the message and send it again after reconnecting.
                lose("\(error)")
            }
        }
    }

    /// A message is done with: delivered when `dropReason` is nil. The
    /// backlog's cursor moves past it (a spool persists that).
    private func finish(_ entry: DiskSpool.Entry, _ dropReason: DropReason?) {
        finish(CollectionOfOne(entry), dropReason)
    }

    private func finish<Entries: Collection<DiskSpool.Entry>>(_ entries: Entries, _ dropReason: DropReason?) {
        condition.lock()
        for entry in entries { backlog.acknowledge(entry.sequence) }
        let n = UInt64(entries.count)
        if let dropReason { dropped[dropReason, default: 0] += n } else { delivered += n }
        if backlog.storedCount == 0 { condition.broadcast() }
        condition.unlock()
    }

    private func hasUnsent() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return backlog.unsentCount > 0
    }

    private func noteError(_ text: String) {
        condition.lock()
        lastErrorText = text
        condition.unlock()
    }

    private func setConnected(_ value: Bool, error: String?) {
        condition.lock()
        if value && !connected && lastErrorText != nil { reconnects += 1 }
        // Said again after a time connected, else only when it changes (not at every retry).
        let isNew = error != nil && (error != lastErrorText || connected)
        connected = value
        if let error { lastErrorText = error }
        condition.unlock()
        if isNew, let error, let report = options.reportError {
            report(error.hasPrefix(destination.description) ? "syslog \(error)" : "syslog \(destination): \(error)")
        }
    }

    private func isStopping() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    private func sleepUnlessStopping(_ seconds: Double) {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        while !stopping, condition.wait(until: deadline) {}
        condition.unlock()
    }

    // MARK: Message format

    /// The frame of `event` with the XML `body` writes: header and body are
    /// written into the writer's reused buffer (the XML straight from the
    /// event's values), then copied once into the message, which the backlog
    /// keeps: one allocation of its exact size, besides the header's few
    /// short Strings.
    func frame(event: Event, body: (inout [UInt8]) -> Void) -> [UInt8] {
        let severity = event.kind.id == EventKind.error.id ? 3 : 6
        let priority = options.facility * 8 + severity
        let tag = SysmonStream.defines(event.kind) ? sysmonTagField : ownTagField
        var header: String
        switch destination {
        case .tcp, .relp, .tls:
            // RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
            header = "<\(priority)>1 "
            header += SyslogSink.rfc5424Timestamp(event.time)
            header += " "
            header += hostField
            header += " "
            header += tag
            header += " \(processID) "
            header += SyslogSink.headerField(event.kind.name, max: 32)
            header += " - "
        case .local:
            header = "<\(priority)>" + SyslogSink.bsdTimestamp(event.time) + " " + tag + "[\(processID)]: "
        }
        return scratchLock.withLock {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: header.utf8)
            body(&scratch)
            let prefix = destination.usesOctetCounting ? "\(scratch.count) " : ""  // RELP frames it itself
            var message: [UInt8] = []
            message.reserveCapacity(prefix.utf8.count + scratch.count)
            message.append(contentsOf: prefix.utf8)
            message.append(contentsOf: scratch)
            if scratch.capacity > 1 << 16 { scratch = [] }  // an outsized event's room is not kept
            return message
        }
    }

    func frame(event: Event, xml: String) -> [UInt8] {
        frame(event: event) { $0.append(contentsOf: xml.utf8) }
    }

}
