import SwiftmonCore

/// The compiled rules of one event kind, in flat immutable tables.
///
/// Filters refer to event fields by value slot, rule values live lower-cased
/// in one byte arena, `contains`-family patterns of each field are found by
/// one Aho–Corasick scan per event (done only when a rule needs it), and
/// OR-combined blocks find their first matching `is` / `begin with` /
/// `end with` / `image` filter with tries. The tables are written once in
/// `init` and only read afterwards, which is what makes sharing across
/// threads safe.
final class KindRules: @unchecked Sendable {  // the buffers are written in init, only read after, freed in deinit
    let defaultLogged: Bool
    let ruleNameIndex: Int?
    let names: [String]
    let mayLog: Bool
    /// Field index (into the kind's fields) of each value slot.
    let slotFields: [Int]
    /// ``slotFields`` as ``decide(_:)`` reads it: no reference count per event.
    private let slotFieldBuffer: UnsafeBufferPointer<Int>

    struct Filter {
        var slot: Int32            // -1: the kind lacks the field, never matches
        var operation: CompiledCondition.Operation
        var tokenStart: Int32      // into `tokens`; one token unless a list condition
        var tokenCount: Int32
        var nameID: Int32
        var fieldKey: Int32
        var sameFieldLater: Bool
    }
    struct Token {
        var start: Int32           // into `arena`
        var length: Int32
        var pattern: Int32         // Aho–Corasick pattern id, or -1
    }
    struct Compound {
        var and: Bool
        var start: Int32           // into `compoundFilters`
        var count: Int32
    }
    struct Block {
        var logOnMatch: Bool
        var and: Bool
        var itemStart: Int32       // into `items`: >= 0 a filter, < 0 ~compound
        var itemCount: Int32
        var index: Int             // into `orIndexes`, or -1
    }

    private let arena: UnsafeBufferPointer<UInt8>
    private let filters: UnsafeBufferPointer<Filter>
    private let tokens: UnsafeBufferPointer<Token>
    private let compounds: UnsafeBufferPointer<Compound>
    private let compoundFilters: UnsafeBufferPointer<Int32>
    private let items: UnsafeBufferPointer<Int32>
    private let blocks: UnsafeBufferPointer<Block>
    private let orIndexes: [OrIndex]
    /// ``orIndexes`` without a reference count per block per event.
    private let orIndexRefs: UnsafeBufferPointer<Unmanaged<OrIndex>>
    private let automata: [SubstringAutomaton?]
    /// Per slot: its automaton's tables, when it has one (``automata`` owns them).
    private let automatonTables: UnsafeBufferPointer<SubstringAutomaton.Tables?>
    /// The slots any OR block scans: the first OR block that needs its
    /// substring patterns scans all of them in one multi-field pass, since
    /// the blocks after it need them too.
    private let orScanSlots: UnsafeBufferPointer<Int32>
    private let patternCount: Int

    init(kind: EventKind, blocks source: [RuleBlock]) {
        defaultLogged = kind.loggedWithoutRuleBlock
        ruleNameIndex = kind.index(of: "RuleName")
        var b = Builder(kind: kind)
        // Sysmon's BackwardFillEventList: exclude blocks, then include blocks,
        // each set in reverse file order.
        let ordered = source.filter { $0.onMatch == .exclude }.reversed() + source.filter { $0.onMatch == .include }.reversed()
        for block in ordered { b.add(block) }
        names = b.names
        slotFields = b.slots
        slotFieldBuffer = KindRules.freeze(b.slots)
        arena = KindRules.freeze(b.arena)
        filters = KindRules.freeze(b.filters)
        tokens = KindRules.freeze(b.tokens)
        compounds = KindRules.freeze(b.compounds)
        compoundFilters = KindRules.freeze(b.compoundFilters)
        items = KindRules.freeze(b.items)
        blocks = KindRules.freeze(b.blocks)
        orIndexes = b.orIndexes
        patternCount = b.patterns.count
        automata = (0..<b.slots.count).map { slot in
            let ps = b.patterns.enumerated().filter { $0.element.slot == slot }.map { (bytes: $0.element.bytes, id: Int32($0.offset)) }
            return ps.isEmpty ? nil : SubstringAutomaton(patterns: ps)
        }
        automatonTables = KindRules.freeze(automata.map { $0?.tables })
        orIndexRefs = KindRules.freeze(b.orIndexes.map { Unmanaged.passUnretained($0) })
        orScanSlots = KindRules.freeze(Set(b.orIndexes.flatMap(\.scanSlots)).sorted().map { Int32($0) })
        if source.isEmpty {
            mayLog = kind.loggedWithoutRuleBlock
        } else {
            let includes = source.contains { $0.onMatch == .include && !$0.items.isEmpty }
            mayLog = includes || (source.count == 1 && source[0].onMatch == .exclude)
        }
    }

    deinit {
        arena.deallocate(); filters.deallocate(); tokens.deallocate(); compounds.deallocate()
        compoundFilters.deallocate(); items.deallocate(); blocks.deallocate()
        automatonTables.deallocate(); orIndexRefs.deallocate(); orScanSlots.deallocate(); slotFieldBuffer.deallocate()
    }

    static func freeze<T>(_ array: [T]) -> UnsafeBufferPointer<T> {
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: max(array.count, 1))
        _ = buffer.initialize(from: array)
        return UnsafeBufferPointer(start: buffer.baseAddress, count: array.count)
    }

    /// Builds the tables.
    struct Builder {
        let kind: EventKind
        var slots: [Int] = []
        var slotOf: [Int: Int] = [:]
        var names: [String] = []
        var nameIDs: [String: Int32] = [:]
        var arena: [UInt8] = []
        var filters: [Filter] = []
        var tokens: [Token] = []
        var compounds: [Compound] = []
        var compoundFilters: [Int32] = []
        var items: [Int32] = []
        var blocks: [Block] = []
        var orIndexes: [OrIndex] = []
        var patterns: [(slot: Int, bytes: [UInt8])] = []
        var patternIDs: [String: Int32] = [:]

        init(kind: EventKind) { self.kind = kind }

        mutating func slot(_ field: String) -> Int32 {
            guard let index = kind.index(of: field) else { return -1 }
            if let s = slotOf[index] { return Int32(s) }
            slots.append(index)
            slotOf[index] = slots.count - 1
            return Int32(slots.count - 1)
        }

        mutating func nameID(_ name: String) -> Int32 {
            if name.isEmpty { return -1 }
            if let id = nameIDs[name] { return id }
            names.append(name)
            nameIDs[name] = Int32(names.count - 1)
            return Int32(names.count - 1)
        }

        mutating func token(_ bytes: [UInt8], slot: Int32, substring: Bool) {
            var pattern: Int32 = -1
            if substring && slot >= 0 {
                let key = "\(slot):" + String(decoding: bytes, as: UTF8.self) + ":\(bytes.count)"
                if let id = patternIDs[key] { pattern = id } else {
                    patterns.append((slot: Int(slot), bytes: bytes))
                    pattern = Int32(patterns.count - 1)
                    patternIDs[key] = pattern
                }
            }
            tokens.append(Token(start: Int32(arena.count), length: Int32(bytes.count), pattern: pattern))
            arena += bytes
        }

        mutating func filter(_ f: FieldFilter, fieldKey: Int32, sameFieldLater: Bool) -> Int32 {
            let m = CompiledCondition(condition: f.condition, value: f.value)
            let s = slot(f.field)
            let start = Int32(tokens.count)
            let substring: Bool
            switch m.operation {
            case .contains, .excludes, .containsAny, .excludesAny, .containsAll, .excludesAll: substring = true
            default: substring = false
            }
            if m.operation == .isAny || (substring && m.operation != .contains && m.operation != .excludes) {
                for t in m.tokens { token(t, slot: s, substring: substring) }
            } else {
                token(m.pattern, slot: s, substring: substring)
            }
            filters.append(Filter(slot: s, operation: m.operation, tokenStart: start, tokenCount: Int32(tokens.count) - start,
                                  nameID: nameID(f.ruleName), fieldKey: fieldKey, sameFieldLater: sameFieldLater))
            return Int32(filters.count - 1)
        }

        mutating func add(_ block: RuleBlock) {
            var fieldKeys: [String: Int32] = [:]
            func key(_ field: String) -> Int32 {
                if let k = fieldKeys[field] { return k }
                fieldKeys[field] = Int32(fieldKeys.count)
                return Int32(fieldKeys.count - 1)
            }
            // Whether a top-level filter on the same field follows, found in one
            // backward pass (hostile files can have hundreds of thousands of filters).
            var later = [Bool](repeating: false, count: block.items.count)
            var seen = Set<String>()
            for (i, item) in block.items.enumerated().reversed() {
                if case .filter(let f) = item { later[i] = !seen.insert(f.field).inserted }
            }
            var blockItems: [Int32] = []
            for (i, item) in block.items.enumerated() {
                switch item {
                case .filter(let f):
                    blockItems.append(filter(f, fieldKey: key(f.field), sameFieldLater: later[i]))
                case .compound(let c):
                    // Sysmon never sees an empty <Rule>: no filter carries it.
                    if c.filters.isEmpty { continue }
                    let ids = c.filters.map { filter($0, fieldKey: -1, sameFieldLater: false) }
                    compounds.append(Compound(and: c.relation == .and, start: Int32(compoundFilters.count), count: Int32(ids.count)))
                    compoundFilters += ids
                    blockItems.append(~Int32(compounds.count - 1))
                }
            }
            var indexNumber = -1
            if block.relation == .or {
                orIndexes.append(OrIndex(blockItems, filters: filters, tokens: tokens, arena: arena,
                                         compounds: compounds, compoundFilters: compoundFilters))
                indexNumber = orIndexes.count - 1
            }
            blocks.append(Block(logOnMatch: block.onMatch == .include, and: block.relation == .and,
                                itemStart: Int32(items.count), itemCount: Int32(blockItems.count), index: indexNumber))
            items += blockItems
        }
    }

    // MARK: evaluation

    /// Per-event state: folded field values, substring patterns found so far.
    struct Scratch {
        let values: UnsafeBufferPointer<UnsafeBufferPointer<UInt8>>
        let found: UnsafeMutablePointer<UInt64>
        let scanned: UnsafeMutablePointer<Bool>
    }

    /// (logged, RuleName id or -1).
    /// The event's values are read in place (bytes or text: ``Event/withUTF8(_:_:)``).
    func decide(_ event: Event) -> (Bool, Int32) {
        if blocks.isEmpty { return (defaultLogged, -1) }
        let slotFields = slotFieldBuffer
        var capacity = 0
        for f in slotFields { capacity += event.utf8Count(f) }
        let words = (patternCount + 63) / 64
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity * 2 + 1) { storage in
        withUnsafeTemporaryAllocation(of: UnsafeBufferPointer<UInt8>.self, capacity: max(slotFields.count, 1)) { slotValues in
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: max(words, 1)) { found in
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: max(slotFields.count, 1)) { scanned in
            let base = storage.baseAddress!
            var offset = 0
            for (s, f) in slotFields.enumerated() {
                let n = event.withUTF8(f) { CaseFolding.write(utf8: $0, into: base + offset) }
                slotValues.initializeElement(at: s, to: UnsafeBufferPointer(start: base + offset, count: n))
                scanned.initializeElement(at: s, to: false)
                offset += n
            }
            found.baseAddress!.initialize(repeating: 0, count: max(words, 1))
            let scratch = Scratch(values: UnsafeBufferPointer(slotValues), found: found.baseAddress!, scanned: scanned.baseAddress!)
            var ruleName: Int32 = -1
            for block in blocks {
                if matches(block, scratch, &ruleName) {
                    return (block.logOnMatch, block.logOnMatch ? ruleName : -1)
                }
            }
            // No match: one block → its own default; several → dropped.
            if blocks.count == 1 { return (!blocks[0].logOnMatch, -1) }
            return (false, -1)
        }}}}
    }

    @inline(__always)
    func ensureScanned(_ slot: Int, _ scratch: Scratch) {
        if !scratch.scanned[slot] {
            scratch.scanned[slot] = true
            if let tables = automatonTables[slot] {
                var job = SubstringAutomaton.Job(tables, scratch.values[slot])
                withUnsafeMutablePointer(to: &job) { SubstringAutomaton.scan(UnsafeMutableBufferPointer(start: $0, count: 1), into: scratch.found) }
            }
        }
    }

    /// Every slot of ``orScanSlots`` scanned, in one multi-field pass (see
    /// ``SubstringAutomaton/scan(_:into:)``).
    func ensureOrSlotsScanned(_ scratch: Scratch) {
        withUnsafeTemporaryAllocation(of: SubstringAutomaton.Job.self, capacity: max(orScanSlots.count, 1)) { jobs in
            var count = 0
            for s in orScanSlots {
                let slot = Int(s)
                if scratch.scanned[slot] { continue }
                scratch.scanned[slot] = true
                guard let tables = automatonTables[slot] else { continue }
                jobs.initializeElement(at: count, to: SubstringAutomaton.Job(tables, scratch.values[slot]))
                count += 1
            }
            if count > 0 { SubstringAutomaton.scan(UnsafeMutableBufferPointer(rebasing: jobs[0..<count]), into: scratch.found) }
        }
    }

    @inline(__always)
    func patternFound(_ t: Token, _ slot: Int, _ scratch: Scratch) -> Bool {
        ensureScanned(slot, scratch)
        return scratch.found[Int(t.pattern) >> 6] & (1 << UInt64(t.pattern & 63)) != 0
    }

    @inline(__always)
    func bytes(_ t: Token) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: arena[Int(t.start)..<Int(t.start + t.length)])
    }

    /// Sysmon's `MatchFilterOnSpecificRule` for one compiled filter.
    func matches(filter index: Int32, _ scratch: Scratch) -> Bool {
        let f = filters[Int(index)]
        guard f.slot >= 0 else { return false }
        let slot = Int(f.slot)
        let v = scratch.values[slot]
        let first = tokens[Int(f.tokenStart)]
        let range = Int(f.tokenStart)..<Int(f.tokenStart + f.tokenCount)
        switch f.operation {
        case .equals: return Bytes.equal(v, bytes(first))
        case .notEquals: return !Bytes.equal(v, bytes(first))
        case .isAny:
            for i in range where Bytes.equal(v, bytes(tokens[i])) { return true }
            return false
        case .contains: return patternFound(first, slot, scratch)
        case .excludes: return !patternFound(first, slot, scratch)
        case .containsAny:
            for i in range where patternFound(tokens[i], slot, scratch) { return true }
            return false
        case .excludesAny:
            // Sysmon's code, not its documentation: none of the items is present.
            for i in range where patternFound(tokens[i], slot, scratch) { return false }
            return true
        case .containsAll:
            for i in range where !patternFound(tokens[i], slot, scratch) { return false }
            return true
        case .excludesAll:
            // Sysmon's code, not its documentation: at least one item is absent.
            for i in range where !patternFound(tokens[i], slot, scratch) { return true }
            return false
        case .beginWith: return Bytes.hasPrefix(v, bytes(first))
        case .notBeginWith: return !Bytes.hasPrefix(v, bytes(first))
        case .endWith: return Bytes.hasSuffix(v, bytes(first))
        case .notEndWith: return !Bytes.hasSuffix(v, bytes(first))
        case .lessThan: return Bytes.compare(v, bytes(first)) < 0
        case .moreThan: return Bytes.compare(v, bytes(first)) > 0
        case .imageName: return Bytes.equal(Bytes.fileName(v), bytes(first))
        }
    }

    /// A `<Rule>`: strict AND or OR of its filters (no same-field OR-ing).
    func matches(compound index: Int32, _ scratch: Scratch, _ ruleName: inout Int32) -> Bool {
        let c = compounds[Int(index)]
        for i in Int(c.start)..<Int(c.start + c.count) {
            let fi = compoundFilters[i]
            let m = matches(filter: fi, scratch)
            if m { let n = filters[Int(fi)].nameID; if n >= 0 { ruleName = n } }
            if !c.and && m { return true }
            if c.and && !m { return false }
        }
        return c.and
    }

    /// Sysmon's `MatchFilterGroup` for one block; updates `ruleName` as it does.
    func matches(_ block: Block, _ scratch: Scratch, _ ruleName: inout Int32) -> Bool {
        if block.itemCount == 0 { return false }
        let blockItems = UnsafeBufferPointer(rebasing: items[Int(block.itemStart)..<Int(block.itemStart + block.itemCount)])
        if block.index >= 0 {
            return orIndexRefs[block.index]._withUnsafeGuaranteedRef { matchesOr($0, blockItems, scratch, &ruleName) }
        }
        // AND block: filters on one field are OR-ed, fields and compound rules AND-ed.
        var matchedFields: UInt64 = 0
        var manyMatched = Set<Int32>()
        for item in blockItems {
            if item < 0 {
                if !matches(compound: ~item, scratch, &ruleName) { return false }
                continue
            }
            let f = filters[Int(item)]
            let already = f.fieldKey < 64 ? matchedFields & (1 << UInt64(f.fieldKey)) != 0 : manyMatched.contains(f.fieldKey)
            if already { continue }
            if matches(filter: item, scratch) {
                if f.nameID >= 0 { ruleName = f.nameID }
                if f.fieldKey < 64 { matchedFields |= 1 << UInt64(f.fieldKey) } else { manyMatched.insert(f.fieldKey) }
            } else if !f.sameFieldLater {
                return false
            }
        }
        return true
    }

    /// An OR block: the first matching item decides. Tries give the first
    /// matching `is`/`begin with`/`end with`/`image` filter at once; other
    /// items before it whose gate is open are tried in file order, so that a
    /// compound rule sets RuleName even when it fails, exactly as in Sysmon.
    func matchesOr(_ index: OrIndex, _ blockItems: UnsafeBufferPointer<Int32>, _ scratch: Scratch, _ ruleName: inout Int32) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: index.words) { buffer in
            let open = buffer.baseAddress!
            for w in 0..<index.words { open[w] = index.ungated[w] }
            var first = ByteTrie.none
            for walk in index.walks {
                let v = scratch.values[walk.slot]
                if let t = walk.forward {
                    first = t._withUnsafeGuaranteedRef { $0.mayMatch(v, reversed: false) ? $0.first(in: v, reversed: false, bound: first, gates: open) : first }
                }
                if let t = walk.fileNames {
                    let name = Bytes.fileName(v)
                    first = t._withUnsafeGuaranteedRef { $0.mayMatch(name, reversed: false) ? $0.first(in: name, reversed: false, bound: first, gates: open) : first }
                }
                if let t = walk.backward {
                    first = t._withUnsafeGuaranteedRef { $0.mayMatch(v, reversed: true) ? $0.first(in: v, reversed: true, bound: first, gates: open) : first }
                }
            }
            if !index.scanSlots.isEmpty {
                ensureOrSlotsScanned(scratch)
                // Only patterns both found and gating something.
                for w in index.gatedPatterns.indices {
                    var bits = scratch.found[w] & index.gatedPatterns[w]
                    while bits != 0 {
                        let p = w * 64 + bits.trailingZeroBitCount
                        bits &= bits - 1
                        for k in Int(index.gateStart[p])..<Int(index.gateStart[p + 1]) {
                            let n = Int(index.patternGateItems[k])
                            open[n >> 6] |= 1 << UInt64(n & 63)
                        }
                    }
                }
            }
            // Open items below the first trie match, in file order.
            var w = 0
            outer: while w < index.words {
                var bits = open[w]
                while bits != 0 {
                    let n = Int32(w * 64 + bits.trailingZeroBitCount)
                    if n >= first { break outer }
                    bits &= bits - 1
                    let item = blockItems[Int(n)]
                    if item < 0 {
                        if matches(compound: ~item, scratch, &ruleName) { first = n; break outer }
                    } else if matches(filter: item, scratch) {
                        first = n
                        break outer
                    }
                }
                w += 1
            }
            if first == ByteTrie.none { return false }
            let item = blockItems[Int(first)]
            if item >= 0 { let n = filters[Int(item)].nameID; if n >= 0 { ruleName = n } }
            return true
        }
    }
}
