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

    /// Events dropped since `earlier`, by cause; causes with none left out.
    public func dropped(since earlier: SinkDeliveryCounts) -> [String: UInt64] {
        dropped.reduce(into: [:]) { out, entry in
            let before = earlier.dropped[entry.key] ?? 0
            if entry.value > before { out[entry.key] = entry.value - before }
        }
    }

    /// The Description of an EventID 255 for what `sink` dropped since
    /// `earlier` — "syslog tcp://siem:514 dropped 12 events (bufferFull 10,
    /// oversize 2)" — or nil when it dropped nothing.
    public func lossDescription(since earlier: SinkDeliveryCounts, sink: String) -> String? {
        let lost = dropped(since: earlier)
        let total = lost.values.reduce(0, +)
        guard total > 0 else { return nil }
        let causes = lost.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "\(sink) dropped \(total) event\(total == 1 ? "" : "s") (\(causes))"
    }
}

/// A sink that can say what it delivered and dropped (syslog, store).
public protocol DeliveryReporting: AnyObject {
    /// A short name for reports: `syslog tcp://host:514`, `store /var/lib/…`.
    var deliveryName: String { get }
    var deliveryCounts: SinkDeliveryCounts { get }
}
