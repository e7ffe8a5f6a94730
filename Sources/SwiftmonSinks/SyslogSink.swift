#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import SwiftmonCore
import SwiftmonSystem

/// `--syslog DEST`: Sysmon XML events to the local syslog socket or to a
/// remote collector over TCP.
///
/// `emit` only renders and queues: a bounded buffer (count and bytes) sits
/// between the pipeline and one writer thread, so a slow or absent collector
/// never blocks the sensor. The writer reconnects with exponential back-off
/// and resends the message it was on; what does not fit in the buffer is
/// dropped and counted (``deliveryCounts``), never lost silently.
///
/// Framing: to TCP, RFC 5424 messages in RFC 6587 octet-counted frames
/// (`LEN SP MSG`), so a message of any size — an XML event with a 100 KiB
/// command line, a field holding newlines — arrives whole and is never split
/// at a line limit; set the collector's maximum message size above the largest
/// event (rsyslog: `global(maxMessageSize=…)`) or set ``Options/maxMessageBytes``,
/// above which events are dropped and counted as `oversize` rather than cut.
/// To the local socket, one datagram per message in the traditional
/// `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG` form that syslog(3) writes, which is how
/// Sysmon for Linux's events appear in /var/log/syslog.
///
/// TLS (RFC 5425, `tls://`): the same octet-counted frames inside a TLS 1.2+
/// session (``SyslogTLSContext``), with the same reconnects and accounting
/// as TCP; a collector whose certificate is refused costs what an absent one
/// does (events wait in the buffer, then count as `bufferFull`/`shutdown`).
///
/// Tags: events with Sysmon's EventIDs go out as ``Options/appName`` (`sysmon`),
/// swiftmon's own (100, 200 and up) as ``Options/ownAppName`` (`swiftmon`), so
/// a consumer that selects `sysmon` sees only events Sysmon defines.
public final class SyslogSink: EventSink, DeliveryReporting, Sendable {
    public struct Options: Sendable {
        /// Syslog facility number (1 user, 16–23 local0–local7).
        public var facility: Int = 1
        /// TAG / APP-NAME; `sysmon` so parsers looking for Sysmon for Linux match.
        public var appName: String = "sysmon"
        /// TAG / APP-NAME of events with swiftmon's own EventIDs (see ``SysmonStream``).
        public var ownAppName: String = SysmonStream.ownTag
        /// `tls://` destinations: CA, client certificate and key; nil: the system's CA store.
        public var tls: SyslogTLSContext? = nil
        /// Told each new connection error (a refused certificate, a refused
        /// connection) once per outage, again only when it changes; the CLI prints it.
        public var reportError: (@Sendable (String) -> Void)? = nil
        public var hostName: String = SysmonXMLHeader.hostName()
        public var maxBufferedMessages: Int = 10_000
        public var maxBufferedBytes: Int = 32 * 1024 * 1024
        /// Messages larger than this are dropped (`oversize`); `nil`: no limit.
        public var maxMessageBytes: Int? = nil
        public var reconnectMinimumDelay: Double = 0.1
        public var reconnectMaximumDelay: Double = 5
        public var connectTimeout: Double = 5
        /// RELP: events sent but not yet acknowledged, at most.
        public var relpWindow: Int = 128
        /// Seconds ``close()`` lets the writer send what is buffered; the rest is dropped (`shutdown`).
        public var closeTimeout: Double = 2
        public var renderer = SysmonXMLRenderer()

        public init() {}
    }

    public enum DropReason: String, Sendable, CaseIterable {
        /// The buffer was full (the collector was away or slower than the sensor).
        case bufferFull
        /// Larger than ``Options/maxMessageBytes`` or than a datagram may be.
        case oversize
        /// Still buffered when the sink was closed.
        case shutdown
        /// No EventRecordID could be reserved (state file not writable).
        case recordID
        /// A RELP collector answered with an error status for the event.
        case rejected
        /// The disk spool was at `--spool-max-size`: its oldest unsent events were dropped.
        case spoolFull
        /// The disk spool could not take the event (a new segment could not be created: full disk).
        case spoolError
        /// A record in the spool was damaged by a crash or power loss and skipped at start.
        case spoolTorn
    }

    let writer: SyslogSinkWriter
    public var destination: SyslogDestination { writer.destination }
    public var options: Options { writer.options }
    public var recordIDs: EventRecordCounter { writer.recordIDs }
    public var deliveryName: String { "syslog \(destination)" }

    /// Events wait in a bounded memory buffer (``Options/maxBufferedMessages``,
    /// ``Options/maxBufferedBytes``) that a restart loses.
    public init(destination: SyslogDestination, options: Options = Options(), recordIDs: EventRecordCounter) {
        writer = SyslogSinkWriter(destination: destination, options: options, recordIDs: recordIDs,
                                  backlog: MemoryBacklog(maxMessages: options.maxBufferedMessages,
                                                         maxBytes: options.maxBufferedBytes))
        writer.start()
    }

    /// Events wait in `spool`, a durable on-disk queue for this destination
    /// alone: what a previous run left there is sent first (and counted as
    /// accepted by this run), and what is not sent at close stays there.
    public init(destination: SyslogDestination, options: Options = Options(), recordIDs: EventRecordCounter,
                spool: DiskSpool) {
        writer = SyslogSinkWriter(destination: destination, options: options, recordIDs: recordIDs,
                                  backlog: SpoolBacklog(spool: spool), recovery: spool.recovery,
                                  syncInterval: spool.options.syncInterval)
        writer.start()
    }

    deinit { writer.close(timeout: 0) }

    public func emit(_ event: Event) throws { try writer.emit(event) }

    /// Wakes the writer; delivery itself continues in the background
    /// (see ``drain(timeout:)`` to wait for it).
    public func flush() throws { try writer.flush() }

    public var deliveryCounts: SinkDeliveryCounts { writer.deliveryCounts }

    public struct Status: Sendable {
        public var connected: Bool
        /// Events accepted and not yet delivered (in memory, or in the spool).
        public var buffered: Int
        public var reconnects: UInt64
        public var lastError: String?
        /// Whether the backlog is a disk spool (kept across restarts).
        public var spooled: Bool = false
        /// Events a previous run left in the spool, taken over by this one.
        public var recovered: UInt64 = 0
    }

    public var status: Status { writer.status }

    /// Waits until everything buffered has been sent, at most `timeout`
    /// seconds. Returns whether the buffer is empty.
    @discardableResult
    public func drain(timeout: Double) -> Bool { writer.drain(timeout: timeout) }

    /// Stops the writer after giving it `timeout` seconds to send what is
    /// buffered; the rest is counted as dropped (`shutdown`).
    public func close(timeout: Double) { writer.close(timeout: timeout) }

    /// Gives the writer ``Options/closeTimeout`` seconds to send what is buffered.
    public func close() { writer.close(timeout: options.closeTimeout) }

    func frame(event: Event, xml: String) -> [UInt8] { writer.frame(event: event, xml: xml) }

    /// RFC 5424 allows at most six fraction digits.
    static func rfc5424Timestamp(_ time: EventTime) -> String {
        let full = time.iso8601Nanoseconds  // 2024-01-31T23:59:59.123456789Z
        return String(full.prefix(26)) + "Z"
    }

    /// `Mmm dd hh:mm:ss` in local time, as syslog(3) writes it.
    static func bsdTimestamp(_ time: EventTime) -> String {
        var seconds = time_t(time.nanoseconds / 1_000_000_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let day = parts.tm_mday < 10 ? " \(parts.tm_mday)" : "\(parts.tm_mday)"
        return "\(months[Int(parts.tm_mon) % 12]) \(day) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }

    /// A header token: printable ASCII without spaces, `-` when empty.
    static func headerField(_ text: String, max: Int) -> String {
        let cleaned = text.unicodeScalars.filter { $0.value > 0x20 && $0.value < 0x7F }.prefix(max)
        return cleaned.isEmpty ? "-" : String(String.UnicodeScalarView(cleaned))
    }}

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
        let xml = options.renderer.render(event, recordID: id, threadID: Syscalls.currentThreadID())
        let message = frame(event: event, xml: xml)
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
        return SinkDeliveryCounts(
            accepted: accepted, delivered: delivered,
            dropped: Dictionary(uniqueKeysWithValues: dropped.map { ($0.key.rawValue, $0.value) }))
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

    /// One allocation per message: the header is built as a String (a few
    /// short pieces), then header and XML are copied once into the frame.
    func frame(event: Event, xml: String) -> [UInt8] {
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
        let bodyCount = header.utf8.count + xml.utf8.count
        let prefix = destination.usesOctetCounting ? "\(bodyCount) " : ""  // RELP frames it itself
        var message: [UInt8] = []
        message.reserveCapacity(prefix.utf8.count + bodyCount)
        message.append(contentsOf: prefix.utf8)
        message.append(contentsOf: header.utf8)
        message.append(contentsOf: xml.utf8)
        return message
    }

}
