/// What an OR block needs to find its first matching item quickly.
///
/// `is`/`is any`/`begin with`/`end with`/`image` filters sit in tries that
/// give the first matching one in a single walk. Every other item gets a
/// *gate* where possible: a pattern that must be present for the item to
/// match at all (for a compound AND rule, one of its first filter's; for a
/// compound OR rule, one of any filter's). An item whose gate is shut cannot
/// match and cannot set RuleName, so it is skipped without being tried.
final class OrIndex: @unchecked Sendable {  // the buffers are written in init, only read after, freed in deinit
    struct SlotTries: Sendable {
        let slot: Int
        /// `is`, `is any`, `image` with a directory, `begin with`.
        let forward: ByteTrie
        /// `image` with a bare file name, matched against the value's file name.
        let fileNames: ByteTrie
        /// `end with`, walked from the value's end.
        let backward: ByteTrie
    }

    let slots: [SlotTries]
    /// ``slots`` as the evaluator walks them: no reference count per trie per
    /// event (the index owns the tries through ``slots``).
    struct Walk {
        let slot: Int
        let forward: Unmanaged<ByteTrie>?
        let fileNames: Unmanaged<ByteTrie>?
        let backward: Unmanaged<ByteTrie>?
    }
    let walks: UnsafeBufferPointer<Walk>
    /// Items that are neither in the tries nor gated: always tried.
    let ungated: UnsafeBufferPointer<UInt64>
    /// Substring patterns gating items: (pattern id, items) as offsets into `patternGateItems`.
    let patternGates: [(pattern: Int32, start: Int32, count: Int32)]
    let patternGateItems: UnsafeBufferPointer<Int32>
    /// Per pattern id: its gated items are `patternGateItems[gateStart[p] ..< gateStart[p + 1]]`;
    /// `gatedPatterns` has the bit of each pattern that gates something, so
    /// the evaluator visits only patterns both found and gating.
    let gateStart: UnsafeBufferPointer<Int32>
    let gatedPatterns: UnsafeBufferPointer<UInt64>
    /// Slots whose substring patterns must be scanned before gates are read.
    let scanSlots: [Int]
    let words: Int

    enum Atom { case exact(Int, ArraySlice<UInt8>), prefix(Int, ArraySlice<UInt8>), suffix(Int, ArraySlice<UInt8>), name(Int, ArraySlice<UInt8>), pattern(Int, Int32) }

    init(_ items: [Int32], filters: [KindRules.Filter], tokens: [KindRules.Token], arena: [UInt8],
         compounds: [KindRules.Compound], compoundFilters: [Int32]) {
        struct Work { var forward = ByteTrie.Builder(), names = ByteTrie.Builder(), backward = ByteTrie.Builder() }
        var work: [Int: Work] = [:]
        let words = max((items.count + 63) / 64, 1)
        var ungated = [UInt64](repeating: 0, count: words)
        var gates: [Int32: [Int32]] = [:]
        var scan = Set<Int>()

        func token(_ f: KindRules.Filter, _ k: Int) -> KindRules.Token { tokens[Int(f.tokenStart) + k] }
        func bytes(_ t: KindRules.Token) -> ArraySlice<UInt8> { arena[Int(t.start)..<Int(t.start + t.length)] }
        /// Patterns one of which must match for `f` to match; nil when there is no such set.
        func atoms(_ f: KindRules.Filter) -> [Atom]? {
            if f.slot < 0 { return [] }
            let s = Int(f.slot)
            switch f.operation {
            case .equals: return [.exact(s, bytes(token(f, 0)))]
            case .isAny: return (0..<Int(f.tokenCount)).map { .exact(s, bytes(token(f, $0))) }
            case .beginWith: return [.prefix(s, bytes(token(f, 0)))]
            case .endWith: return [.suffix(s, bytes(token(f, 0)))]
            case .imageName: return [.name(s, bytes(token(f, 0)))]
            case .contains, .containsAll: return [.pattern(s, token(f, 0).pattern)]
            case .containsAny: return (0..<Int(f.tokenCount)).map { .pattern(s, token(f, $0).pattern) }
            default: return nil
            }
        }
        for (i, item) in items.enumerated() {
            let n = Int32(i)
            var gate: [Atom]?
            if item >= 0 {
                let f = filters[Int(item)]
                if f.slot < 0 { continue }  // never matches, and a miss changes nothing in an OR block
                let slot = Int(f.slot)
                switch f.operation {
                case .equals: work[slot, default: Work()].forward.addExact(bytes(token(f, 0)), n); continue
                case .beginWith: work[slot, default: Work()].forward.addPrefix(bytes(token(f, 0)), n); continue
                case .imageName: work[slot, default: Work()].names.addExact(bytes(token(f, 0)), n); continue
                case .endWith: work[slot, default: Work()].backward.addPrefix(bytes(token(f, 0)).reversed(), n); continue
                case .isAny:
                    for k in 0..<Int(f.tokenCount) { work[slot, default: Work()].forward.addExact(bytes(token(f, k)), n) }
                    continue
                default: gate = atoms(f)
                }
            } else {
                let c = compounds[Int(~item)]
                let members = (Int(c.start)..<Int(c.start + c.count)).map { filters[Int(compoundFilters[$0])] }
                if c.and {
                    gate = atoms(members[0])
                } else {
                    var all: [Atom] = []
                    for m in members {
                        guard let a = atoms(m) else { all = []; gate = nil; break }
                        all += a
                        gate = all
                    }
                }
            }
            guard let gate else { ungated[i >> 6] |= 1 << UInt64(i & 63); continue }
            for atom in gate {
                switch atom {
                case .exact(let s, let b): work[s, default: Work()].forward.addExactGate(b, n)
                case .prefix(let s, let b): work[s, default: Work()].forward.addPrefixGate(b, n)
                case .suffix(let s, let b): work[s, default: Work()].backward.addPrefixGate(b.reversed(), n)
                case .name(let s, let b): work[s, default: Work()].names.addExactGate(b, n)
                case .pattern(let s, let p): gates[p, default: []].append(n); scan.insert(s)
                }
            }
        }
        slots = work.keys.sorted().map { s in
            let w = work[s]!
            return SlotTries(slot: s, forward: w.forward.build(), fileNames: w.names.build(), backward: w.backward.build())
        }
        var list: [(pattern: Int32, start: Int32, count: Int32)] = []
        var flat: [Int32] = []
        for (p, ns) in gates.sorted(by: { $0.key < $1.key }) {
            list.append((pattern: p, start: Int32(flat.count), count: Int32(ns.count)))
            flat += ns
        }
        patternGates = list
        patternGateItems = KindRules.freeze(flat)
        let patternLimit = Int(list.last.map { $0.pattern + 1 } ?? 0)
        var starts = [Int32](repeating: 0, count: patternLimit + 1)
        var mask = [UInt64](repeating: 0, count: (patternLimit + 63) / 64)
        for g in list {
            mask[Int(g.pattern) >> 6] |= 1 << UInt64(g.pattern & 63)
            starts[Int(g.pattern)] = g.start
        }
        // Patterns without gates get an empty range (start = next start).
        var end = Int32(flat.count)
        for p in stride(from: patternLimit, through: 0, by: -1) {
            if p == patternLimit { starts[p] = end; continue }
            if mask[p >> 6] & (1 << UInt64(p & 63)) != 0 { end = starts[p] } else { starts[p] = end }
        }
        gateStart = KindRules.freeze(starts)
        gatedPatterns = KindRules.freeze(mask)
        scanSlots = scan.sorted()
        self.ungated = KindRules.freeze(ungated)
        self.words = words
        walks = KindRules.freeze(slots.map { s in
            Walk(slot: s.slot,
                 forward: s.forward.isEmpty ? nil : Unmanaged.passUnretained(s.forward),
                 fileNames: s.fileNames.isEmpty ? nil : Unmanaged.passUnretained(s.fileNames),
                 backward: s.backward.isEmpty ? nil : Unmanaged.passUnretained(s.backward))
        })
    }

    deinit {
        walks.deallocate(); ungated.deallocate(); patternGateItems.deallocate()
        gateStart.deallocate(); gatedPatterns.deallocate()
    }
}
