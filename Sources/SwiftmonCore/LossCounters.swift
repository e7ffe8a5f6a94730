/// Where an event was lost: in the kernel (ring buffer full), in a record the
/// reader could not decode, between the reader and the sinks (queue full),
/// or in an output (per output and cause: `json events.jsonl ENOSPC`).
public enum LossCause: String, Sendable, CaseIterable {
    case kernelBufferFull = "kernel ring buffer full"
    case malformedRecord = "malformed record"
    case queueFull = "event queue full"
    case output = "output"
}

/// Counts of everything swiftmon could not deliver, per cause and per kind, so
/// that no loss is silent: reported as event 255, in the status line and at exit.
public final class LossCounters: @unchecked Sendable {  // `counts` is guarded by `lock`
    private let lock = Lock()
    private var counts: [LossCause: [String: UInt64]] = [:]

    public init() {}

    public func add(_ n: UInt64, cause: LossCause, kind: String) {
        guard n > 0 else { return }
        lock.withLock { counts[cause, default: [:]][kind, default: 0] += n }
    }

    /// Replaces a counter that is kept elsewhere as a running total (the kernel's).
    public func set(_ n: UInt64, cause: LossCause, kind: String) {
        lock.withLock { counts[cause, default: [:]][kind] = n }
    }

    public var total: UInt64 {
        lock.withLock { counts.values.reduce(0) { $0 + $1.values.reduce(0, +) } }
    }

    public func snapshot() -> [LossCause: [String: UInt64]] { lock.withLock { counts } }

    /// "kernel ring buffer full: exec=3 fork=1; event queue full: ProcessCreate=2"
    public static func describe(_ counts: [LossCause: [String: UInt64]]) -> String {
        LossCause.allCases.compactMap { cause -> String? in
            guard let byKind = counts[cause], byKind.values.contains(where: { $0 > 0 }) else { return nil }
            let parts = byKind.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            return "\(cause.rawValue): " + parts.joined(separator: " ")
        }.joined(separator: "; ")
    }

    /// Difference per cause and kind between two snapshots.
    public static func delta(
        _ now: [LossCause: [String: UInt64]], since before: [LossCause: [String: UInt64]]
    ) -> [LossCause: [String: UInt64]] {
        var out: [LossCause: [String: UInt64]] = [:]
        for (cause, byKind) in now {
            for (kind, n) in byKind {
                let d = n &- (before[cause]?[kind] ?? 0)
                if d > 0 { out[cause, default: [:]][kind] = d }
            }
        }
        return out
    }
}
