/// Totals at the end of a session, for `--stats`: what the source read, what
/// the pipeline passed on, what each output wrote and lost, and the cost.
public struct SessionStatistics: Sendable {
    public var records: UInt64 = 0
    public var tally: EventPipeline.Tally?
    public var losses: [LossCause: [String: UInt64]] = [:]
    public var outputs: [OutputReport] = []
    public var cpuMicroseconds: Int64 = 0
    public var wallSeconds: Double = 0
    /// The source's own counters (``EventSource/sourceCounters()``).
    public var sourceCounters: [String: UInt64] = [:]
    /// Per record kind: made by the kernel, read, lost there (``EventSource/recordAccounts()``).
    public var recordAccounts: [String: RecordAccount] = [:]

    public init() {}

    /// Every loss, whatever its cause, output by output.
    public var totalLost: UInt64 { losses.values.reduce(0) { $0 + $1.values.reduce(0, +) } }

    public var report: String {
        var lines: [String] = []
        lines.append("swiftmon statistics")
        lines.append("  records read:         \(records)")
        if !recordAccounts.isEmpty {
            lines.append("  kernel records:       generated = read + lost in the kernel, per kind")
            for (kind, account) in recordAccounts.sorted(by: { $0.key < $1.key }) where account.generated > 0 {
                lines.append("    " + RecordAccount.describe(kind, account))
            }
        }
        if let t = tally {
            lines.append("  events to outputs:    \(t.dispatched)")
            for (id, n) in t.dispatchedByKind.sorted(by: { $0.key < $1.key }) {
                lines.append("    \(EventKind.withID(id)?.name ?? String(id)): \(n)")
            }
            lines.append("  events filtered out:  \(t.filteredOut)")
        }
        let lost = totalLost
        lines.append("  events lost:          \(lost)" + (lost > 0 ? " (\(LossCounters.describe(losses)))" : ""))
        for output in outputs {
            lines.append("  output " + output.counts.summary(name: output.name)
                         + (output.lastError.map { "; last error: \($0)" } ?? ""))
        }
        if !sourceCounters.isEmpty {
            lines.append("  source:               " + sourceCounters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: ", "))
        }
        lines.append("  CPU time:             \(cpuMicroseconds / 1000) ms over \(Self.oneDecimal(wallSeconds)) s")
        if let t = tally, t.dispatched > 0 {
            // Start-up (loading, the /proc scan) is included: a short run overstates it.
            lines.append("  CPU per event:        \(Self.oneDecimal(Double(cpuMicroseconds) / Double(t.dispatched))) µs per event to the outputs, "
                         + "\(Self.oneDecimal(Double(cpuMicroseconds) / Double(max(1, records)))) µs per record read")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func oneDecimal(_ value: Double) -> String {
        String((value * 10).rounded() / 10)
    }
}
