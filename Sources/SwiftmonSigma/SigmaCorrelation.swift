import SwiftmonCore
import Yams

/// A Sigma correlation rule (spec 2.1): `event_count`, `value_count`, `temporal`
/// or `temporal_ordered` over the matches of other rules, grouped by fields,
/// within a timespan. Evaluated on the stream as matches arrive, with bounded
/// state (``SigmaCorrelationState``).
public struct SigmaCorrelationRule: Sendable {
    public enum CorrelationType: String, Sendable { case eventCount = "event_count", valueCount = "value_count",
                                                    temporal, temporalOrdered = "temporal_ordered" }
    public let document: SigmaDocument
    public let type: CorrelationType
    /// Numbers of the rules it correlates, in the order written.
    public let ruleNumbers: [Int]
    public let groupBy: [String]
    public let timespanNanoseconds: Int64
    public let comparison: SigmaComparison
    public let threshold: Int
    /// value_count: the field whose distinct values are counted.
    public let valueField: String?
    public let generate: Bool
    public let number: Int

    /// The most count a condition may ask for (state per group is kept up to it).
    public static let maximumThreshold = 100_000

    init(_ doc: SigmaDocument, correlationIndex: Int, rules: [SigmaCompiledRule]) throws {
        document = doc
        number = correlationIndex
        guard case .mapping(let c)? = doc.correlation else { throw SigmaCompileError("'correlation' must be a mapping", line: doc.line) }
        func line(_ key: String) -> Int? { c[key]?.mark?.line ?? c.mark?.line }
        guard let typeName = c["type"]?.string else { throw SigmaCompileError("correlation has no type", line: c.mark?.line) }
        guard let t = CorrelationType(rawValue: typeName) else {
            throw SigmaCompileError("correlation type \(typeName) is not supported (event_count, value_count, temporal, temporal_ordered)",
                                    line: line("type"))
        }
        type = t
        var names: [String] = []
        switch c["rules"] {
        case .sequence(let seq)?: names = seq.compactMap(\.string)
        case .scalar(let s)?: names = [s.string]
        default: throw SigmaCompileError("correlation has no 'rules:'", line: c.mark?.line)
        }
        var numbers: [Int] = []
        for name in names {
            guard let n = rules.firstIndex(where: { $0.document.id == name || $0.document.name == name }) else {
                throw SigmaCompileError("correlation refers to rule \(name), which is not loaded", line: line("rules"))
            }
            numbers.append(n)
        }
        if numbers.isEmpty { throw SigmaCompileError("correlation names no rules", line: line("rules")) }
        ruleNumbers = numbers
        if c["aliases"] != nil { throw SigmaCompileError("correlation aliases are not supported", line: line("aliases")) }
        switch c["group-by"] {
        case .sequence(let seq)?: groupBy = seq.compactMap(\.string)
        case .scalar(let s)?: groupBy = [s.string]
        case nil: groupBy = []
        default: throw SigmaCompileError("group-by must be a list of fields", line: line("group-by"))
        }
        for field in groupBy {
            for n in numbers where rules[n].kind.index(of: field) == nil {
                throw SigmaCompileError("group-by field \(field) is not in \(rules[n].kind.name) events", line: line("group-by"))
            }
        }
        guard let spanText = (c["timespan"] ?? c["timeframe"])?.string, let span = Self.duration(spanText) else {
            throw SigmaCompileError("correlation needs a timespan like 30s, 5m, 1h or 1d", line: line("timespan"))
        }
        timespanNanoseconds = span
        var comparison = SigmaComparison.gte
        var threshold = t == .temporal || t == .temporalOrdered ? numbers.count : 1
        var valueField: String?
        if case .mapping(let cond)? = c["condition"] {
            for (k, v) in cond {
                guard let key = k.string else { continue }
                if key == "field" { valueField = v.string; continue }
                guard let op = SigmaComparison(rawValue: key) else {
                    throw SigmaCompileError("correlation condition \(key) is not supported", line: k.mark?.line)
                }
                guard let n = v.int, n >= 0, n <= Self.maximumThreshold else {
                    throw SigmaCompileError("correlation condition \(key) takes a count up to \(Self.maximumThreshold)", line: v.mark?.line)
                }
                comparison = op
                threshold = n
            }
        } else if t == .eventCount || t == .valueCount {
            throw SigmaCompileError("\(typeName) needs a condition (gte: N …)", line: c.mark?.line)
        }
        // On a stream an alert is raised when the count reaches the bound; "fewer than"
        // can only be judged when a window closes, which a live alert cannot wait for.
        guard comparison == .gte || comparison == .gt else {
            throw SigmaCompileError("correlation condition \(comparison.rawValue) is not supported on a live stream (gt, gte)",
                                    line: line("condition"))
        }
        if comparison == .gt { threshold += 1; comparison = .gte }
        self.comparison = comparison
        self.threshold = max(1, threshold)
        if t == .valueCount {
            guard let valueField else { throw SigmaCompileError("value_count needs condition.field", line: line("condition")) }
            for n in numbers where rules[n].kind.index(of: valueField) == nil {
                throw SigmaCompileError("value_count field \(valueField) is not in \(rules[n].kind.name) events", line: line("condition"))
            }
        }
        self.valueField = valueField
        generate = c["generate"]?.bool ?? doc.root["generate"]?.bool ?? false
    }

    /// `30s`, `5m`, `1h`, `2d`, `1w` (`M` months and `y` years are refused: not fixed lengths).
    static func duration(_ text: String) -> Int64? {
        guard let unit = text.last, let n = Int64(text.dropLast()), n > 0 else { return nil }
        let s: Int64
        switch unit {
        case "s": s = 1
        case "m": s = 60
        case "h": s = 3600
        case "d": s = 86400
        case "w": s = 604800
        default: return nil
        }
        return n * s * 1_000_000_000
    }
}

/// One event a correlation kept, for the alert's `CorrelatedEvents`.
struct CorrelatedEvent: Sendable {
    let eventID: Int
    let time: EventTime
    let processGuid: String
    let processId: String
    let image: String
    let rule: Int

    var text: String { "\(eventID)@\(time.sysmonText) \(processGuid) \(processId) \(image)" }
}

/// The live state of every correlation: per group, what the window holds.
/// Bounded: at most ``maximumGroups`` groups per correlation (the least recently
/// seen are forgotten first, and counted), per group at most the threshold's
/// times or values and ``keptEvents`` events.
final class SigmaCorrelationState {
    static let maximumGroups = 10_000
    static let keptEvents = 16

    struct Group {
        var times: [Int64] = []                 // event_count: the last `threshold` times
        var values: [String: Int64] = [:]       // value_count: value → last time
        var ruleTimes: [Int64?] = []            // temporal: last time per rule; ordered: chain start per step
        var events: [CorrelatedEvent] = []
        var lastSeen: Int64 = 0
    }

    var groups: [[String: Group]]
    var evicted: UInt64 = 0

    init(count: Int) { groups = Array(repeating: [:], count: count) }

    /// Feeds one match of rule `rule`; returns the events of the window when the correlation fires.
    func feed(_ c: SigmaCorrelationRule, rule: Int, event: Event) -> [CorrelatedEvent]? {
        let now = event.time.nanoseconds
        let key = c.groupBy.map { event[$0] ?? "" }.joined(separator: "\u{1F}")
        var table = groups[c.number]
        groups[c.number] = [:]  // keep the dictionary uniquely referenced while it changes
        defer { groups[c.number] = table }
        if table[key] == nil, table.count >= Self.maximumGroups {
            // Forget the least recently seen tenth at once: a storm of new groups
            // costs one sort per thousand groups, not one scan per group.
            let victims = table.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(Self.maximumGroups / 10)
            for (k, _) in victims { table[k] = nil }
            evicted += UInt64(victims.count)
        }
        var g = table[key] ?? Group()
        g.lastSeen = now
        let earliest = now - c.timespanNanoseconds
        g.events.removeAll { $0.time.nanoseconds < earliest }
        g.events.append(CorrelatedEvent(eventID: event.kind.id, time: event.time, processGuid: event["ProcessGuid"] ?? "-",
                                        processId: event["ProcessId"] ?? "-", image: event["Image"] ?? "-", rule: rule))
        if g.events.count > Self.keptEvents { g.events.removeFirst(g.events.count - Self.keptEvents) }
        var fired = false
        switch c.type {
        case .eventCount:
            g.times.removeAll { $0 < earliest }
            g.times.append(now)
            if g.times.count > c.threshold { g.times.removeFirst(g.times.count - c.threshold) }
            fired = g.times.count >= c.threshold
        case .valueCount:
            g.values = g.values.filter { $0.value >= earliest }
            if let f = c.valueField, let v = event[f], v != Event.absent { g.values[v] = now }
            fired = g.values.count >= c.threshold
        case .temporal:
            if g.ruleTimes.count != c.ruleNumbers.count { g.ruleTimes = Array(repeating: nil, count: c.ruleNumbers.count) }
            for (i, r) in c.ruleNumbers.enumerated() where r == rule { g.ruleTimes[i] = now }
            let seen = g.ruleTimes.filter { ($0 ?? Int64.min) >= earliest }.count
            fired = seen >= c.threshold
        case .temporalOrdered:
            if g.ruleTimes.count != c.ruleNumbers.count { g.ruleTimes = Array(repeating: nil, count: c.ruleNumbers.count) }
            // ruleTimes[i]: start time of the chain that has reached step i.
            for i in stride(from: c.ruleNumbers.count - 1, through: 0, by: -1) where c.ruleNumbers[i] == rule {
                if i == 0 { g.ruleTimes[0] = now } else if let start = g.ruleTimes[i - 1], start >= earliest {
                    g.ruleTimes[i] = start
                }
            }
            if let start = g.ruleTimes.last ?? nil, start >= earliest { fired = true }
        }
        if fired {
            let events = g.events
            table[key] = nil  // a new window starts after an alert
            return events
        }
        table[key] = g
        return nil
    }
}
