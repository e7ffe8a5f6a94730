/// What one output did with the events it was given: how many it wrote (the
/// destination accepted the bytes, the store committed them, the collector's
/// connection took them) and how many it lost, by cause. The promise every
/// output keeps: `delivered + droppedTotal + pending == accepted`, and once the
/// output is closed `pending == 0`.
public struct SinkDeliveryCounts: Sendable, Equatable {
    /// Events handed to `emit`.
    public var accepted: UInt64
    /// Events that reached the destination.
    public var delivered: UInt64
    /// Events given up on, by cause (`ENOSPC`, `EPIPE`, `bufferFull`, `oversize` …).
    public var dropped: [String: UInt64]
    /// Events this output left out by choice (`--sysmon-only`): never
    /// accepted, so neither written nor lost.
    public var filtered: UInt64 = 0
    /// Events accepted but neither delivered nor dropped yet (buffered).
    public var pending: UInt64 { accepted &- delivered &- droppedTotal }

    public var droppedTotal: UInt64 { dropped.values.reduce(0, +) }

    public init(accepted: UInt64 = 0, delivered: UInt64 = 0, dropped: [String: UInt64] = [:]) {
        self.accepted = accepted
        self.delivered = delivered
        self.dropped = dropped
    }

    /// The counts of an output that keeps its losses by a cause of its own type.
    public init<Cause: RawRepresentable>(accepted: UInt64, delivered: UInt64, droppedBy: [Cause: UInt64])
        where Cause.RawValue == String {
        self.init(accepted: accepted, delivered: delivered,
                  dropped: Dictionary(uniqueKeysWithValues: droppedBy.map { ($0.key.rawValue, $0.value) }))
    }

    public mutating func drop(_ n: UInt64, cause: String) {
        guard n > 0 else { return }
        dropped[cause, default: 0] += n
    }

    /// The sum of two ledgers of the same output.
    public static func + (a: SinkDeliveryCounts, b: SinkDeliveryCounts) -> SinkDeliveryCounts {
        var sum = a
        sum.accepted += b.accepted
        sum.delivered += b.delivered
        sum.filtered += b.filtered
        for (cause, n) in b.dropped { sum.dropped[cause, default: 0] += n }
        return sum
    }

    /// Events dropped since `earlier`, by cause; causes with none left out.
    public func dropped(since earlier: SinkDeliveryCounts) -> [String: UInt64] {
        dropped.reduce(into: [:]) { out, entry in
            let before = earlier.dropped[entry.key] ?? 0
            if entry.value > before { out[entry.key] = entry.value - before }
        }
    }

    /// "json events.jsonl: 120 accepted, 100 written, 20 lost (ENOSPC 20)".
    public func summary(name: String) -> String {
        let causes = dropped.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        var text = "\(name): \(accepted) accepted, \(delivered) written, \(droppedTotal) lost"
        if !causes.isEmpty { text += " (" + causes.joined(separator: ", ") + ")" }
        if pending > 0 { text += ", \(pending) pending" }
        if filtered > 0 { text += ", \(filtered) left out (--sysmon-only)" }
        return text
    }
}

/// An output that keeps its own account of what became of each event it
/// accepted: the file and terminal outputs (which buffer), the store (which
/// commits in transactions), syslog (which sends from its own thread). Such a
/// sink counts every event it is given in ``deliveryCounts`` — also the one
/// whose `emit` throws, and the ones a failed flush cost —; the pipeline keeps
/// the account of sinks that do not.
public protocol DeliveryReporting: AnyObject {
    /// A short name for reports: `json standard output`, `syslog tcp://host:514`, `store /var/lib/…`.
    var deliveryName: String { get }
    var deliveryCounts: SinkDeliveryCounts { get }
    /// True when the destination is gone for good (the reader of a pipe
    /// closed it): every later event is lost, and a live run ends.
    var destinationClosed: Bool { get }
}

extension DeliveryReporting {
    public var destinationClosed: Bool { false }
}

/// An output written to a file that an operator may move away (logrotate):
/// `reopen` opens the path again before the next write. Any thread may ask.
public protocol ReopenableOutput: AnyObject {
    func reopen()
}

/// An error that names the cause a loss is counted under (`ENOSPC`, `EPIPE`,
/// `recordID` …). Other errors are counted under their type's name.
public protocol LossCauseNaming: Error {
    var lossCause: String { get }
}

extension Error {
    /// The cause an event lost to this error is counted under.
    public var lossCause: String {
        if let named = self as? LossCauseNaming { return named.lossCause }
        return String(describing: type(of: self))
    }
}
