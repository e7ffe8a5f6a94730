import SwiftmonCore

/// Which events belong in a stream that presents itself as Sysmon's.
///
/// Strict consumers of Sysmon for Linux's output index their tables by
/// EventID (Microsoft's sysmonLogView crashes on the first ID Sysmon does not
/// define). So in the Sysmon-format outputs (XML, syslog) the `sysmon` tag
/// and Sysmon for Linux's provider carry only Sysmon's own IDs (1–29, 255
/// Error); swiftmon's own events (100 eBPFEvent, 200 ThreadCreate … 211
/// WindowsEvent and any added later) go out under the `swiftmon` tag and
/// provider, or not at all with `--sysmon-only` (``SysmonOnlySink``).
public enum SysmonStream {
    /// The syslog TAG / APP-NAME of swiftmon's own events.
    public static let ownTag = "swiftmon"

    /// Whether Sysmon (schema 4.90, as Sysmon for Linux ships it) defines `kind`'s EventID.
    @inline(__always)
    public static func defines(_ kind: EventKind) -> Bool {
        (1...29).contains(kind.id) || kind.id == EventKind.error.id
    }
}

/// `--sysmon-only` around a Sysmon-format output: events with swiftmon's own
/// EventIDs never reach it and are counted as left out
/// (``SinkDeliveryCounts/filtered``), not as accepted or lost; they take no
/// EventRecordID, so the stream's ids stay gap-free.
public final class SysmonOnlySink: EventSink, DeliveryReporting, ReopenableOutput, @unchecked Sendable {  // `filtered` guarded by `lock`
    public let inner: EventSink & DeliveryReporting
    private let lock = Lock()
    private var filtered: UInt64 = 0

    public init(_ inner: EventSink & DeliveryReporting) {
        self.inner = inner
    }

    public func emit(_ event: Event) throws {
        guard SysmonStream.defines(event.kind) else {
            lock.withLock { filtered += 1 }
            return
        }
        try inner.emit(event)
    }

    public func flush() throws { try inner.flush() }
    public func close() { inner.close() }
    public func reopen() { (inner as? ReopenableOutput)?.reopen() }

    public var deliveryName: String { inner.deliveryName }
    public var destinationClosed: Bool { inner.destinationClosed }
    public var deliveryCounts: SinkDeliveryCounts {
        var counts = inner.deliveryCounts
        counts.filtered += lock.withLock { filtered }
        return counts
    }
}
