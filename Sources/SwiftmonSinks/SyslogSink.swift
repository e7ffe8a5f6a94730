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
    }
}
