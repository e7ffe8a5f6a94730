import SwiftmonCore
import SwiftmonRules

/// Evaluates a rule set on events, one at a time, on one thread (it keeps
/// scratch buffers between events; make one per thread).
///
/// Per event: each field some rule reads is case-folded once into a buffer
/// framed by 0xFE … 0xFF (bytes UTF-8 never has), and one substring automaton
/// per field finds every equality, prefix, suffix and substring any rule asks
/// for. Only the rules one of those hits can make true (and the few whose
/// condition can be true without any, like `not …`) are then evaluated, on a
/// flat program where a leaf that a hit decides costs one bit test.
///
/// The hot path works on raw scratch memory owned by the evaluator, not on
/// Swift arrays in its properties: no allocation, reference counting or
/// exclusivity check per event (measured with `swiftmon bench sigma`).
public final class SigmaEvaluator {
    public let ruleSet: SigmaRuleSet
    /// Bits of the automaton patterns found in this event.
    private var found: UnsafeMutablePointer<UInt64>
    private var foundWords = 0
    /// Per rule position: the epoch it was last made a candidate in.
    private var seen: UnsafeMutablePointer<UInt32>
    private var seenCount = 0
    private var candidates: UnsafeMutablePointer<Int32>
    /// Framed values of the event, per field: folded, and as they are (cased tests).
    private let folded: UnsafeMutablePointer<FieldBytes>
    private let raw: UnsafeMutablePointer<FieldBytes>
    private let fieldSlots: Int
    private var epoch: UInt32 = 0
    /// Regex evaluations given up at the step budget (they count as no match).
    public private(set) var regexBudgetExceeded: UInt64 = 0
    /// Rule conditions evaluated (candidates after the substring scan), for `bench sigma`.
    public private(set) var conditionsEvaluated: UInt64 = 0

    /// One field's framed bytes; `epoch` says for which event they are.
    struct FieldBytes {
        var bytes: UnsafeMutablePointer<UInt8>
        var capacity: Int
        var count: Int
        var epoch: UInt32
        var buffer: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: bytes, count: count) }
        /// The value inside the frame.
        var inner: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: bytes + 1, count: count - 2) }
    }

    public init(_ ruleSet: SigmaRuleSet) {
        self.ruleSet = ruleSet
        fieldSlots = EventKind.all.map(\.fields.count).max() ?? 64
        folded = .allocate(capacity: fieldSlots)
        raw = .allocate(capacity: fieldSlots)
        for i in 0..<fieldSlots {
            (folded + i).initialize(to: FieldBytes(bytes: .allocate(capacity: 256), capacity: 256, count: 0, epoch: 0))
            (raw + i).initialize(to: FieldBytes(bytes: .allocate(capacity: 256), capacity: 256, count: 0, epoch: 0))
        }
        var words = 1, rules = 1
        for case let index? in ruleSet.indexByKind {
            words = max(words, (index.patternCount + 63) >> 6)
            rules = max(rules, index.ruleNumbers.count)
        }
        foundWords = words
        found = .allocate(capacity: words)
        found.initialize(repeating: 0, count: words)
        seenCount = rules
        seen = .allocate(capacity: rules)
        seen.initialize(repeating: 0, count: rules)
        candidates = .allocate(capacity: rules)
    }

    deinit {
        for i in 0..<fieldSlots { folded[i].bytes.deallocate(); raw[i].bytes.deallocate() }
        folded.deallocate(); raw.deallocate()
        found.deallocate(); seen.deallocate(); candidates.deallocate()
    }

    /// Numbers (in ``SigmaRuleSet/rules``) of the rules `event` matches, ascending.
    public func matches(_ event: Event) -> [Int] {
        var out: [Int] = []
        matches(event, into: &out)
        return out
    }

    public func matches(_ event: Event, into out: inout [Int]) {
        let kindID = event.kind.id
        guard kindID < ruleSet.indexByKind.count, let index = ruleSet.indexByKind[kindID] else { return }
        epoch &+= 1
        if epoch == 0 {
            for i in 0..<fieldSlots { folded[i].epoch = 0; raw[i].epoch = 0 }
            seen.update(repeating: 0, count: seenCount)
            epoch = 1
        }
        let words = (index.patternCount + 63) >> 6
        found.update(repeating: 0, count: words)
        var candidateCount = 0
        // Values are read in place (`withUTF8`): a live event holds most of
        // them as bytes, and `event.values` would make a String of each.
        index.channels.withUnsafeBufferPointer { channels in
            // Two fields per scan loop: their automata's chains of dependent
            // table loads overlap (see SubstringAutomaton).
            var pending = -1
            var pendingBytes = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
            for c in 0..<channels.count {
                let field = channels[c].field
                if event.isAbsent(field) { continue }
                let f = prepare(field, event, cased: channels[c].cased).buffer
                if pending < 0 { pending = c; pendingBytes = f; continue }
                channels[pending].unretained._withUnsafeGuaranteedRef { first in
                    channels[c].unretained._withUnsafeGuaranteedRef { second in
                        first.scan(pendingBytes, into: found, pairedWith: second, f, into: found)
                    }
                }
                pending = -1
            }
            if pending >= 0 {
                channels[pending].unretained._withUnsafeGuaranteedRef { $0.scan(pendingBytes, into: found) }
            }
        }
        index.patternRuleStart.withUnsafeBufferPointer { ruleStart in
        index.patternRuleList.withUnsafeBufferPointer { ruleList in
            for w in 0..<words {
                var word = found[w]
                while word != 0 {
                    let pattern = (w << 6) | word.trailingZeroBitCount
                    word &= word &- 1
                    for k in Int(ruleStart[pattern])..<Int(ruleStart[pattern + 1]) {
                        let rule = ruleList[k]
                        if seen[Int(rule)] != epoch {
                            seen[Int(rule)] = epoch
                            candidates[candidateCount] = rule
                            candidateCount += 1
                        }
                    }
                }
            }
        }}
        for rule in index.alwaysRules where seen[Int(rule)] != epoch {
            seen[Int(rule)] = epoch
            candidates[candidateCount] = rule
            candidateCount += 1
        }
        if candidateCount == 0 { return }
        conditionsEvaluated &+= UInt64(candidateCount)
        let start = out.count
        index.ops.withUnsafeBufferPointer { ops in
        index.args.withUnsafeBufferPointer { args in
        index.counts.withUnsafeBufferPointer { counts in
        index.children.withUnsafeBufferPointer { children in
        index.leafGates.withUnsafeBufferPointer { gates in
        index.leafGateDecides.withUnsafeBufferPointer { decides in
        index.leaves.withUnsafeBufferPointer { leaves in
        index.leafRegex.withUnsafeBufferPointer { leafRegex in
        index.regexes.withUnsafeBufferPointer { regexes in
        index.leafPattern.withUnsafeBufferPointer { leafPattern in
        index.patterns.withUnsafeBufferPointer { patterns in
            let program = Program(ops: ops, args: args, counts: counts, children: children, gates: gates, decides: decides,
                                  leaves: leaves, leafRegex: leafRegex, regexes: regexes, leafPattern: leafPattern,
                                  patterns: patterns, found: found)
            for c in 0..<candidateCount {
                let pos = Int(candidates[c])
                if evaluate(index.roots[pos], program, event) { out.append(index.ruleNumbers[pos]) }
            }
        }}}}}}}}}}}
        if out.count - start > 1 { out[start...].sort() }
    }

    struct Program {
        let ops: UnsafeBufferPointer<UInt8>
        let args: UnsafeBufferPointer<Int32>
        let counts: UnsafeBufferPointer<Int32>
        let children: UnsafeBufferPointer<Int32>
        let gates: UnsafeBufferPointer<Int32>
        let decides: UnsafeBufferPointer<Bool>
        let leaves: UnsafeBufferPointer<SigmaLeaf>
        let leafRegex: UnsafeBufferPointer<Int32>
        let regexes: UnsafeBufferPointer<SigmaRegex>
        let leafPattern: UnsafeBufferPointer<Int32>
        let patterns: UnsafeBufferPointer<SigmaPattern>
        let found: UnsafeMutablePointer<UInt64>
    }

    private func evaluate(_ node: Int32, _ p: Program, _ event: Event) -> Bool {
        let n = Int(node)
        let arg = Int(p.args[n])
        switch p.ops[n] {
        case SigmaKindIndex.opLeaf:
            let gate = p.gates[arg]
            if gate >= 0 {
                let hit = p.found[Int(gate) >> 6] & (1 << UInt64(gate & 63)) != 0
                if p.decides[arg] || !hit { return hit }
            }
            // By address: copying the leaf out would retain and release its strings and test.
            let r = p.leafRegex[arg], w = p.leafPattern[arg]
            return leaf(p.leaves.baseAddress! + arg, r >= 0 ? p.regexes.baseAddress! + Int(r) : nil,
                        w >= 0 ? p.patterns.baseAddress! + Int(w) : nil, event)
        case SigmaKindIndex.opConstant: return arg != 0
        case SigmaKindIndex.opNot: return !evaluate(p.children[arg], p, event)
        case SigmaKindIndex.opAnd:
            for k in arg..<(arg + Int(p.counts[n])) where !evaluate(p.children[k], p, event) { return false }
            return true
        default:
            for k in arg..<(arg + Int(p.counts[n])) where evaluate(p.children[k], p, event) { return true }
            return false
        }
    }

    /// Frames the field's value (folded, or as it is for cased tests) once per event.
    @inline(__always)
    private func prepare(_ field: Int, _ event: Event, cased: Bool) -> FieldBytes {
        let slot = cased ? raw + field : folded + field
        if slot.pointee.epoch == epoch { return slot.pointee }
        event.withUTF8(field) { frame(slot, $0, cased: cased) }
        slot.pointee.epoch = epoch
        return slot.pointee
    }

    @inline(__always)
    private func frame(_ slot: UnsafeMutablePointer<FieldBytes>, _ src: UnsafeBufferPointer<UInt8>, cased: Bool) {
        // Folding may lengthen a non-ASCII value (at most threefold); 2 for the frame.
        let need = src.count * 3 + 2
        if slot.pointee.capacity < need {
            slot.pointee.bytes.deallocate()
            let capacity = max(need, slot.pointee.capacity * 2)
            slot.pointee.bytes = .allocate(capacity: capacity)
            slot.pointee.capacity = capacity
        }
        let out = slot.pointee.bytes
        out[0] = SigmaKindIndex.start
        var n = 1
        if cased {
            if src.count > 0 { (out + 1).update(from: src.baseAddress!, count: src.count) }
            n += src.count
        } else {
            var ascii = true
            for i in 0..<src.count {
                let b = src[i]
                if b >= 0x80 { ascii = false; break }
                out[n] = b &+ ((b &- 0x41) < 26 ? 0x20 : 0)
                n += 1
            }
            if !ascii {
                let lowered = CaseFolding.fold(String(decoding: src, as: UTF8.self))
                if lowered.count + 2 > slot.pointee.capacity {
                    slot.pointee.bytes.deallocate()
                    slot.pointee.bytes = .allocate(capacity: lowered.count + 2)
                    slot.pointee.capacity = lowered.count + 2
                    slot.pointee.bytes[0] = SigmaKindIndex.start
                }
                lowered.withUnsafeBufferPointer { (slot.pointee.bytes + 1).update(from: $0.baseAddress!, count: $0.count) }
                n = 1 + lowered.count
            }
        }
        slot.pointee.bytes[n] = SigmaKindIndex.end
        slot.pointee.count = n + 1
    }

    private func patternMatches(_ p: SigmaPattern, field: Int, _ event: Event, cased: Bool) -> Bool {
        p.matches(prepare(field, event, cased: cased).inner)
    }

    /// One leaf. Field patterns (and regexes) come by address: switching on
    /// the leaf's test copies the test out, a retain and release of each
    /// array it holds (see SigmaKindIndex.leafRegex).
    private func leaf(_ leaf: UnsafePointer<SigmaLeaf>, _ regex: UnsafePointer<SigmaRegex>?,
                      _ pattern: UnsafePointer<SigmaPattern>?, _ event: Event) -> Bool {
        let field = leaf.pointee.field, cased = leaf.pointee.cased
        if field < 0 {
            // A keyword: any field's value.
            guard case .pattern(let p) = leaf.pointee.test else { return false }
            for i in 0..<event.kind.fields.count where !event.isAbsent(i) {
                if patternMatches(p, field: i, event, cased: cased) { return true }
            }
            return false
        }
        let present = !event.isAbsent(field)
        if let pattern {
            return present && pattern.pointee.matches(prepare(field, event, cased: cased).inner)
        }
        if let regex {
            guard present else { return false }
            switch regex.pointee.search(event[field]) {
            case .match: return true
            case .noMatch: return false
            case .budgetExceeded: regexBudgetExceeded += 1; return false
            }
        }
        switch leaf.pointee.test {
        case .null: return !present || event.utf8Count(field) == 0
        case .exists(let want): return present == want
        default: break
        }
        guard present else { return false }
        // The tests below want the value as a String (made here for a value held as bytes).
        let value = event[field]
        switch leaf.pointee.test {
        case .pattern(let p):
            return patternMatches(p, field: field, event, cased: cased)
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
            guard !event.isAbsent(other) else { return false }
            let av = Array(prepare(field, event, cased: cased).inner)
            let bv = Array(prepare(other, event, cased: cased).inner)
            switch how {
            case .equals: return av == bv
            case .startsWith: return av.starts(with: bv)
            case .endsWith: return av.reversed().starts(with: bv.reversed())
            case .contains:
                return bv.isEmpty || av.withUnsafeBufferPointer { SigmaPattern.find(bv, in: $0, from: 0) != nil }
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

    static func daysFromCivil(_ y: Int, _ m: Int, _ d: Int) -> Int {
        Int(EventTime.daysSinceEpoch(year: Int64(y), month: Int64(m), day: Int64(d)))
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
