import SwiftmonCore
import SwiftmonRules

/// Evaluates a rule set on events, one at a time, on one thread (it keeps
/// scratch buffers between events; make one per thread).
///
/// Per event: each field some rule reads is case-folded once into a buffer
/// framed by 0xFE … 0xFF (bytes UTF-8 never has), and one substring automaton
/// per field finds every equality, prefix, suffix and substring any rule asks
/// for. Only the rules one of those hits can make true (and the few whose
/// condition can be true without any, like `not …`) are then evaluated.
public final class SigmaEvaluator {
    public let ruleSet: SigmaRuleSet
    private var found: [UInt64] = []
    private var foldedValues: [[UInt8]]
    private var rawValues: [[UInt8]]
    private var foldedReady: [UInt32]
    private var rawReady: [UInt32]
    private var epoch: UInt32 = 0
    private var seen: [UInt32] = []
    private var candidates: [Int32] = []
    /// Regex evaluations given up at the step budget (they count as no match).
    public private(set) var regexBudgetExceeded: UInt64 = 0

    public init(_ ruleSet: SigmaRuleSet) {
        self.ruleSet = ruleSet
        let maxFields = EventKind.all.map(\.fields.count).max() ?? 64
        foldedValues = Array(repeating: [], count: maxFields)
        rawValues = Array(repeating: [], count: maxFields)
        foldedReady = Array(repeating: 0, count: maxFields)
        rawReady = Array(repeating: 0, count: maxFields)
    }

    /// Numbers (in ``SigmaRuleSet/rules``) of the rules `event` matches, ascending.
    public func matches(_ event: Event) -> [Int] {
        var out: [Int] = []
        matches(event, into: &out)
        return out
    }

    public func matches(_ event: Event, into out: inout [Int]) {
        guard let index = ruleSet.indexes[event.kind.id] else { return }
        epoch &+= 1
        if epoch == 0 {
            for i in foldedReady.indices { foldedReady[i] = 0; rawReady[i] = 0 }
            for i in seen.indices { seen[i] = 0 }
            epoch = 1
        }
        let words = (index.patternCount + 63) >> 6
        if found.count < words { found = Array(repeating: 0, count: words) } else {
            for i in 0..<words { found[i] = 0 }
        }
        if seen.count < index.ruleNumbers.count { seen = Array(repeating: 0, count: index.ruleNumbers.count) }
        candidates.removeAll(keepingCapacity: true)
        found.withUnsafeMutableBufferPointer { bits in
            for channel in index.channels {
                let value = event.values[channel.field]
                if value == Event.absent { continue }
                prepare(channel.field, value, cased: channel.cased)
                let bytes = channel.cased ? rawValues[channel.field] : foldedValues[channel.field]
                bytes.withUnsafeBufferPointer { channel.automaton.scan($0, into: bits.baseAddress!) }
            }
            for w in 0..<words {
                var word = bits[w]
                while word != 0 {
                    let bit = word.trailingZeroBitCount
                    word &= word &- 1
                    for rule in index.patternRules[(w << 6) | bit] where seen[Int(rule)] != epoch {
                        seen[Int(rule)] = epoch
                        candidates.append(rule)
                    }
                }
            }
        }
        for rule in index.alwaysRules where seen[Int(rule)] != epoch {
            seen[Int(rule)] = epoch
            candidates.append(rule)
        }
        let start = out.count
        for pos in candidates {
            let p = Int(pos)
            if evaluate(index.expressions[p], base: index.leafBase[p], index, event) {
                out.append(index.ruleNumbers[p])
            }
        }
        out[start...].sort()
    }

    /// Frames the field's value (folded, or as it is for cased tests) once per event.
    @inline(__always)
    private func prepare(_ field: Int, _ value: String, cased: Bool) {
        if cased {
            if rawReady[field] == epoch { return }
            rawReady[field] = epoch
            rawValues[field].removeAll(keepingCapacity: true)
            rawValues[field].append(SigmaKindIndex.start)
            rawValues[field].append(contentsOf: value.utf8)
            rawValues[field].append(SigmaKindIndex.end)
        } else {
            if foldedReady[field] == epoch { return }
            foldedReady[field] = epoch
            foldedValues[field].removeAll(keepingCapacity: true)
            foldedValues[field].append(SigmaKindIndex.start)
            CaseFolding.append(value, to: &foldedValues[field])
            foldedValues[field].append(SigmaKindIndex.end)
        }
    }

    private func evaluate(_ e: SigmaExpr, base: Int, _ index: SigmaKindIndex, _ event: Event) -> Bool {
        switch e {
        case .leaf(let i): return leaf(index.leaves[base + i], event)
        case .constant(let b): return b
        case .not(let x): return !evaluate(x, base: base, index, event)
        case .and(let xs):
            for x in xs where !evaluate(x, base: base, index, event) { return false }
            return true
        case .or(let xs):
            for x in xs where evaluate(x, base: base, index, event) { return true }
            return false
        }
    }

    private func bit(_ id: Int32) -> Bool { found[Int(id) >> 6] & (1 << UInt64(id & 63)) != 0 }

    /// The framed bytes' inside: the value itself.
    private func inner(_ bytes: [UInt8], _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        bytes.withUnsafeBufferPointer { b in body(UnsafeBufferPointer(rebasing: b[1..<(b.count - 1)])) }
    }

    private func patternMatches(_ p: SigmaPattern, field: Int, _ value: String, cased: Bool) -> Bool {
        prepare(field, value, cased: cased)
        return inner(cased ? rawValues[field] : foldedValues[field]) { p.matches($0) }
    }

    private func leaf(_ l: SigmaLeaf, _ event: Event) -> Bool {
        if l.gate >= 0 {
            let hit = bit(l.gate)
            if l.gateDecides || !hit { return hit }
        }
        if l.field < 0 {
            // A keyword: any field's value.
            guard case .pattern(let p) = l.test else { return false }
            for (i, v) in event.values.enumerated() where v != Event.absent {
                if patternMatches(p, field: i, v, cased: l.cased) { return true }
            }
            return false
        }
        let value = event.values[l.field]
        let present = value != Event.absent
        switch l.test {
        case .null: return !present || value.isEmpty
        case .exists(let want): return present == want
        default: break
        }
        guard present else { return false }
        switch l.test {
        case .pattern(let p):
            return patternMatches(p, field: l.field, value, cased: l.cased)
        case .regex(let r):
            switch r.search(value) {
            case .match: return true
            case .noMatch: return false
            case .budgetExceeded: regexBudgetExceeded += 1; return false
            }
        case .cidr(let net): return net.contains(value)
        case .compare(let op, let bound):
            guard let v = Double(value) else { return false }
            return Self.compare(v, op, bound)
        case .timePart(let part, let op, let bound):
            guard let v = Self.timePart(part, of: value) else { return false }
            return Self.compare(Double(v), op, bound)
        case .fieldRef(let other, let how):
            let otherValue = event.values[other]
            guard otherValue != Event.absent else { return false }
            prepare(l.field, value, cased: l.cased)
            prepare(other, otherValue, cased: l.cased)
            let a = l.cased ? rawValues[l.field] : foldedValues[l.field]
            let b = l.cased ? rawValues[other] : foldedValues[other]
            let av = a[1..<(a.count - 1)], bv = b[1..<(b.count - 1)]
            switch how {
            case .equals: return av.elementsEqual(bv)
            case .startsWith: return av.starts(with: bv)
            case .endsWith: return av.reversed().starts(with: bv.reversed())
            case .contains:
                return bv.isEmpty || Array(av).withUnsafeBufferPointer { SigmaPattern.find(Array(bv), in: $0, from: 0) != nil }
            }
        case .null, .exists: return false
        }
    }

    static func compare(_ v: Double, _ op: SigmaComparison, _ bound: Double) -> Bool {
        switch op {
        case .gt: return v > bound
        case .gte: return v >= bound
        case .lt: return v < bound
        case .lte: return v <= bound
        case .eq: return v == bound
        }
    }

    /// A part of `2026-12-02 19:17:50.123` (Sysmon's UtcTime layout, or ISO 8601 with T).
    static func timePart(_ part: SigmaTimePart, of text: String) -> Int? {
        let b = Array(text.utf8)
        guard b.count >= 16 else { return nil }
        func num(_ from: Int, _ n: Int) -> Int? {
            var v = 0
            for i in from..<(from + n) { guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }; v = v * 10 + Int(b[i] - 0x30) }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2) else { return nil }
        switch part {
        case .year: return y
        case .month: return mo
        case .day: return d
        case .hour: return h
        case .minute: return mi
        case .week:
            // ISO week number.
            let days = daysFromCivil(y, mo, d)
            let weekday = ((days % 7) + 10) % 7  // 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday)
            let thursday = days - weekday + 3
            let (ty, _, _) = civil(thursday)
            let jan1 = daysFromCivil(ty, 1, 1)
            return (thursday - jan1) / 7 + 1
        }
    }

    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
