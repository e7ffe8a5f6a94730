/// What a sink that buffers or sends elsewhere did with the events it was
/// given: how many reached their destination and how many it had to drop, by
/// cause. The pipeline reads these for `--stats` and EventID 255 reports.
public struct SinkDeliveryCounts: Sendable, Equatable {
    /// Events handed to `emit`.
    public var accepted: UInt64
    /// Events that reached the destination (written to the collector's
    /// connection, committed to the store).
    public var delivered: UInt64
    /// Events given up on, by cause (`bufferFull`, `oversize`, `writeError` …).
    public var dropped: [String: UInt64]
    /// Events accepted but neither delivered nor dropped yet.
    public var pending: UInt64 { accepted &- delivered &- droppedTotal }

    public var droppedTotal: UInt64 { dropped.values.reduce(0, +) }

    public init(accepted: UInt64 = 0, delivered: UInt64 = 0, dropped: [String: UInt64] = [:]) {
        self.accepted = accepted
        self.delivered = delivered
        self.dropped = dropped
    }
}

/// A sink that can say what it delivered and dropped (syslog, store).
public protocol DeliveryReporting: AnyObject {
    /// A short name for reports: `syslog tcp://host:514`, `store /var/lib/…`.
    var deliveryName: String { get }
    var deliveryCounts: SinkDeliveryCounts { get }
}
