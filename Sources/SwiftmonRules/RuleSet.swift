import SwiftmonCore

/// A Sysmon configuration compiled for filtering events.
///
/// Built once per configuration (at start and on each reload) and immutable
/// afterwards, so one instance can be shared by any number of threads and
/// swapped atomically on `SIGHUP`. Everything per-configuration is done here:
/// rule values are lower-cased once, rules are grouped per event kind, filters
/// refer to fields by index, and OR-combined blocks get tries that test all
/// their `is` / `begin with` / `end with` / `image` filters in one pass.
///
/// The decision follows Sysmon's rule engine (`FilterEventRules` and
/// `MatchFilterGroup` in Sysinternals/SysmonCommon rules.c):
/// - blocks of one event are tried exclude-blocks first, then include-blocks,
///   each group latest-in-file first; the first block that matches decides
///   (an exclude block drops the event, an include block logs it);
/// - when none matches: with one block, an `onmatch="include"` block drops
///   and an `onmatch="exclude"` block logs; with several blocks, the event is
///   dropped; with no block, ``EventKind/loggedWithoutRuleBlock`` decides;
/// - RuleName is the name of the matching filter (its own, else its compound
///   rule's, else its RuleGroup's), `-` when none.
public final class RuleSet: Sendable {
    /// The configuration this was compiled from (its bytes are the file's, for event 16).
    public let configuration: SysmonConfig
    /// `HashAlgorithms` of the configuration, lower-cased (`md5`, `sha256`, `*`…).
    public let hashAlgorithms: [String]
    /// `FieldSizes` of the configuration: field → maximum characters.
    public let fieldSizes: [String: Int]

    let byKind: [KindRules?]

    public init(_ config: SysmonConfig) {
        configuration = config
        hashAlgorithms = config.hashAlgorithms
        fieldSizes = config.fieldSizes
        var table = [KindRules?](repeating: nil, count: 256)
        for kind in EventKind.all where kind.ruleTag != nil && kind.id < 256 {
            let blocks = config.blocks.filter { $0.tag == kind.ruleTag }
            table[kind.id] = KindRules(kind: kind, blocks: blocks)
        }
        byKind = table
    }

    /// The rule set of swiftmon's embedded default configuration.
    public static let embeddedDefault: RuleSet = {
        do {
            let (config, _) = try SysmonConfig.parse(bytes: Array(DefaultConfiguration.xml.utf8), path: "<embedded default>")
            return RuleSet(config)
        } catch {
            // A unit test parses the embedded configuration; reaching this is a build defect.
            preconditionFailure("embedded default configuration does not parse: \(error)")
        }
    }()

    /// Decides whether `event` is logged. When it is, sets its `RuleName` field
    /// to the name of the rule that matched (`-` when none did).
    public func evaluate(_ event: inout Event) -> Bool {
        let id = event.kind.id
        guard id >= 0, id < 256, let rules = byKind[id] else {
            // Kinds without a rule tag (4, 16, 255) cannot be filtered.
            return event.kind.ruleTag == nil || event.kind.loggedWithoutRuleBlock
        }
        let (logged, nameID) = rules.decide(event.values)
        if logged, let i = rules.ruleNameIndex {
            event[i] = nameID >= 0 ? rules.names[Int(nameID)] : Event.absent
        }
        return logged
    }

    /// Whether any event of `kind` can be logged under this configuration; a
    /// source can leave its probe off when not (Sysmon's `IdHasIncludeRules`).
    public func mayLog(_ kind: EventKind) -> Bool {
        guard kind.id >= 0, kind.id < 256, let rules = byKind[kind.id] else {
            return kind.ruleTag == nil || kind.loggedWithoutRuleBlock
        }
        return rules.mayLog
    }

    /// Event kinds a live sensor may be asked to produce, with whether they can be logged.
    public var loggedKinds: [EventKind] { EventKind.all.filter(mayLog) }
}

/// The compiled rules of one event kind.
final class KindRules: Sendable {
    let defaultLogged: Bool
    /// In evaluation order (exclude blocks first, each group newest first).
    let blocks: [CompiledBlock]
    /// Field index (into the kind's fields) of each value slot the rules read.
    let slotFields: [Int]
    let ruleNameIndex: Int?
    let names: [String]
    let mayLog: Bool

    init(kind: EventKind, blocks source: [RuleBlock]) {
        defaultLogged = kind.loggedWithoutRuleBlock
        ruleNameIndex = kind.index(of: "RuleName")
        var slots: [Int] = []
        var slotOf: [Int: Int] = [:]
        var names: [String] = []
        var nameIDs: [String: Int32] = [:]
        func slot(_ field: String) -> Int {
            guard let index = kind.index(of: field) else { return -1 }
            if let s = slotOf[index] { return s }
            slots.append(index)
            slotOf[index] = slots.count - 1
            return slots.count - 1
        }
        func nameID(_ name: String) -> Int32 {
            if name.isEmpty { return -1 }
            if let id = nameIDs[name] { return id }
            names.append(name)
            nameIDs[name] = Int32(names.count - 1)
            return Int32(names.count - 1)
        }
        // Sysmon's BackwardFillEventList: exclude blocks, then include blocks,
        // each set in reverse file order.
        let ordered = source.filter { $0.onMatch == .exclude }.reversed() + source.filter { $0.onMatch == .include }.reversed()
        blocks = ordered.map { CompiledBlock($0, slot: slot, nameID: nameID) }
        slotFields = slots
        self.names = names
        if source.isEmpty {
            mayLog = kind.loggedWithoutRuleBlock
        } else {
            let includes = source.contains { $0.onMatch == .include && !$0.items.isEmpty }
            mayLog = includes || (source.count == 1 && source[0].onMatch == .exclude)
        }
    }

    /// (logged, RuleName id or -1).
    func decide(_ values: [String]) -> (Bool, Int32) {
        if blocks.isEmpty { return (defaultLogged, -1) }
        var capacity = 0
        for f in slotFields { capacity += values[f].utf8.count }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity * 2 + 1) { storage in
            withUnsafeTemporaryAllocation(of: UnsafeBufferPointer<UInt8>.self, capacity: max(slotFields.count, 1)) { slotValues in
                let base = storage.baseAddress!
                var offset = 0
                for (s, f) in slotFields.enumerated() {
                    let n = CaseFolding.write(values[f], into: base + offset)
                    slotValues.initializeElement(at: s, to: UnsafeBufferPointer(start: base + offset, count: n))
                    offset += n
                }
                let view = UnsafeBufferPointer(slotValues)
                var ruleName: Int32 = -1
                for block in blocks {
                    if block.matches(view, ruleName: &ruleName) {
                        return (block.logOnMatch, block.logOnMatch ? ruleName : -1)
                    }
                }
                // No match: one block → its own default; several → dropped.
                if blocks.count == 1 { return (!blocks[0].logOnMatch, -1) }
                return (false, -1)
            }
        }
    }
}

struct CompiledFilter: Sendable {
    /// Value slot, or -1 when this event kind lacks the field (RegistryEvent
    /// blocks apply to events 12-14, which differ in fields): never matches.
    let slot: Int
    let matcher: FilterMatcher
    let nameID: Int32
    /// Another top-level filter on the same field follows in the block: in an
    /// AND block a miss is not final yet (same-field filters are OR-ed).
    let sameFieldLater: Bool
    let fieldKey: Int

    @inline(__always)
    func matches(_ values: UnsafeBufferPointer<UnsafeBufferPointer<UInt8>>) -> Bool {
        slot >= 0 && matcher.matches(values[slot])
    }
}

struct CompiledCompound: Sendable {
    let relation: GroupRelation
    let filters: [CompiledFilter]

    /// A `<Rule>`: strict AND or OR of its filters (no same-field OR-ing).
    func matches(_ values: UnsafeBufferPointer<UnsafeBufferPointer<UInt8>>, ruleName: inout Int32) -> Bool {
        for f in filters {
            let m = f.matches(values)
            if m && f.nameID >= 0 { ruleName = f.nameID }
            if relation == .or && m { return true }
            if relation == .and && !m { return false }
        }
        return relation == .and
    }
}

enum CompiledItem: Sendable {
    case filter(CompiledFilter)
    case compound(CompiledCompound)
}

struct CompiledBlock: Sendable {
    let logOnMatch: Bool
    let relation: GroupRelation
    let items: [CompiledItem]
    let index: OrIndex?

    init(_ block: RuleBlock, slot: (String) -> Int, nameID: (String) -> Int32) {
        logOnMatch = block.onMatch == .include
        relation = block.relation
        var fieldKeys: [String: Int] = [:]
        func key(_ field: String) -> Int {
            if let k = fieldKeys[field] { return k }
            fieldKeys[field] = fieldKeys.count
            return fieldKeys.count - 1
        }
        func compile(_ f: FieldFilter, sameFieldLater: Bool) -> CompiledFilter {
            CompiledFilter(slot: slot(f.field), matcher: FilterMatcher(condition: f.condition, value: f.value),
                           nameID: nameID(f.ruleName), sameFieldLater: sameFieldLater, fieldKey: key(f.field))
        }
        var items: [CompiledItem] = []
        for (i, item) in block.items.enumerated() {
            switch item {
            case .filter(let f):
                let later = block.items[(i + 1)...].contains {
                    if case .filter(let g) = $0 { return g.field == f.field }
                    return false
                }
                items.append(.filter(compile(f, sameFieldLater: later)))
            case .compound(let c):
                // Sysmon never sees an empty <Rule>: it has no filters to carry it.
                if c.filters.isEmpty { continue }
                items.append(.compound(CompiledCompound(relation: c.relation,
                                                        filters: c.filters.map { compile($0, sameFieldLater: false) })))
            }
        }
        self.items = items
        index = relation == .or ? OrIndex(items) : nil
    }

    /// Sysmon's `MatchFilterGroup` for one block; updates `ruleName` as it does.
    func matches(_ values: UnsafeBufferPointer<UnsafeBufferPointer<UInt8>>, ruleName: inout Int32) -> Bool {
        if items.isEmpty { return false }
        if let index { return index.matches(items, values, ruleName: &ruleName) }
        // AND block: filters on one field are OR-ed, fields and compound rules AND-ed.
        var matchedFields: UInt64 = 0
        var largeMatched = Set<Int>()
        for item in items {
            switch item {
            case .compound(let c):
                if !c.matches(values, ruleName: &ruleName) { return false }
            case .filter(let f):
                let already = f.fieldKey < 64 ? matchedFields & (1 << UInt64(f.fieldKey)) != 0 : largeMatched.contains(f.fieldKey)
                if already { continue }
                if f.matches(values) {
                    if f.nameID >= 0 { ruleName = f.nameID }
                    if f.fieldKey < 64 { matchedFields |= 1 << UInt64(f.fieldKey) } else { largeMatched.insert(f.fieldKey) }
                } else if !f.sameFieldLater {
                    return false
                }
            }
        }
        return true
    }
}

/// The fast path of an OR block: its first matching item found with tries and
/// a few substring scans instead of trying items one by one.
struct OrIndex: Sendable {
    struct SlotTries: Sendable {
        let slot: Int
        /// `is`, `image` with a directory, `begin with`.
        let forward: ByteTrie
        /// `image` with a bare file name, matched against the value's file name.
        let fileNames: ByteTrie
        /// `end with`, walked from the value's end.
        let backward: ByteTrie
        /// `contains` / `contains any` patterns with their item number, by number.
        let substrings: [(pattern: [UInt8], item: Int32)]
    }

    let slots: [SlotTries]
    /// Items tried one by one (other conditions, compound rules), ascending.
    let sequential: [Int32]

    init(_ items: [CompiledItem]) {
        struct Work { var forward = ByteTrie.Builder(), names = ByteTrie.Builder(), backward = ByteTrie.Builder(); var subs: [([UInt8], Int32)] = [] }
        var work: [Int: Work] = [:]
        var sequential: [Int32] = []
        for (i, item) in items.enumerated() {
            let n = Int32(i)
            guard case .filter(let f) = item else { sequential.append(n); continue }
            if f.slot < 0 { continue }  // never matches, and a miss changes nothing in an OR block
            let m = f.matcher
            switch m.operation {
            case .equals: work[f.slot, default: Work()].forward.addExact(m.pattern, n)
            case .beginWith: work[f.slot, default: Work()].forward.addPrefix(m.pattern, n)
            case .imageName: work[f.slot, default: Work()].names.addExact(m.pattern, n)
            case .endWith: work[f.slot, default: Work()].backward.addPrefix(m.pattern.reversed(), n)
            case .isAny: for t in m.tokens { work[f.slot, default: Work()].forward.addExact(t, n) }
            case .contains: work[f.slot, default: Work()].subs.append((m.pattern, n))
            case .containsAny: for t in m.tokens { work[f.slot, default: Work()].subs.append((t, n)) }
            default: sequential.append(n)
            }
        }
        slots = work.keys.sorted().map { s in
            let w = work[s]!
            return SlotTries(slot: s, forward: w.forward.build(), fileNames: w.names.build(), backward: w.backward.build(),
                             substrings: w.subs.sorted { $0.1 < $1.1 }.map { (pattern: $0.0, item: $0.1) })
        }
        self.sequential = sequential
    }

    func matches(_ items: [CompiledItem], _ values: UnsafeBufferPointer<UnsafeBufferPointer<UInt8>>,
                 ruleName: inout Int32) -> Bool {
        var first = ByteTrie.none
        for s in slots {
            let v = values[s.slot]
            first = s.forward.first(in: v, reversed: false, bound: first)
            if !s.fileNames.isEmpty { first = s.fileNames.first(in: Bytes.fileName(v), reversed: false, bound: first) }
            first = s.backward.first(in: v, reversed: true, bound: first)
            for sub in s.substrings {
                if sub.item >= first { break }
                if Bytes.contains(v, sub.pattern) { first = sub.item; break }
            }
        }
        // Items before `first` that the tries do not cover, in file order: a
        // compound rule may set RuleName even when it fails, as in Sysmon.
        for n in sequential {
            if n >= first { break }
            switch items[Int(n)] {
            case .filter(let f):
                if f.matches(values) { first = n }
            case .compound(let c):
                if c.matches(values, ruleName: &ruleName) { first = n }
            }
            if first == n { break }
        }
        if first == ByteTrie.none { return false }
        if case .filter(let f) = items[Int(first)], f.nameID >= 0 { ruleName = f.nameID }
        return true
    }
}

/// The live pipeline filters with a rule set.
extension RuleSet: EventFilter {}
