import SwiftmonCore
import SwiftmonRules
import Yams

/// A detection rule ready to run: its metadata, its event kind, its detection
/// (with the filters that apply to it folded in as `and not`).
public struct SigmaCompiledRule: Sendable {
    public let document: SigmaDocument
    public let kind: EventKind
    public var detection: SigmaDetection
    /// Titles of the filter documents applied to it.
    public var filters: [String] = []
}

/// What became of one document: loaded, or why not (with where).
public struct SigmaRuleReport: Sendable, CustomStringConvertible {
    public enum Outcome: Sendable, Equatable {
        case loaded(eventID: Int)
        /// Valid, but for a product this run does not serve.
        case skipped(String)
        case rejected
    }
    public let file: String
    public let line: Int
    public let title: String
    public let id: String?
    public let kind: SigmaDocument.Kind?
    public let outcome: Outcome
    public let diagnostics: [Diagnostic]

    public var description: String {
        let what = kind.map { $0 == .detection ? "" : " (\($0.rawValue))" } ?? ""
        switch outcome {
        case .loaded(let id):
            return "\(file):\(line): loaded: \(title)\(what) → EventID \(id == 0 ? "correlation" : String(id))"
        case .skipped(let why): return "\(file):\(line): skipped: \(title)\(what): \(why)"
        case .rejected:
            let reasons = diagnostics.map { "\($0.file):\($0.line): \($0.message)" }.joined(separator: "; ")
            return "\(file):\(line): not loaded: \(title.isEmpty ? "(no title)" : title)\(what): \(reasons)"
        }
    }
}

/// Every rule loaded from the `--sigma` paths, indexed per event kind so that one
/// pass over each field's value finds every literal any rule looks for.
public final class SigmaRuleSet: Sendable {
    public let rules: [SigmaCompiledRule]
    public let correlations: [SigmaCorrelationRule]
    public let reports: [SigmaRuleReport]
    let indexes: [Int: SigmaKindIndex]
    /// ``indexes`` by EventID (nil where no rule applies): one load per event.
    let indexByKind: [SigmaKindIndex?]
    /// Rule numbers that feed correlations (their matches are not alerts of their own
    /// unless `generate: true`).
    let correlationInputs: [Int: [Int]]
    let suppressed: Set<Int>

    public var diagnostics: [Diagnostic] { reports.flatMap(\.diagnostics) }
    public var loadedCount: Int { rules.count + correlations.count }
    public var kinds: [EventKind] { indexes.keys.sorted().compactMap { EventKind.withID($0) } }

    /// Loads every rule under `paths` that a run serving `products` can evaluate.
    public convenience init(paths: [String], products: Set<String> = ["linux"], compiler: SigmaCompiler = SigmaCompiler(),
                            minimumLevel: Int? = nil) throws {
        var documents: [SigmaDocument] = []
        var early: [SigmaRuleReport] = []
        for path in paths {
            for file in try SigmaReader.files(at: path) {
                let (docs, diags) = SigmaReader.read(file: file)
                documents += docs
                for d in diags {
                    early.append(SigmaRuleReport(file: file, line: d.line, title: "", id: nil, kind: nil, outcome: .rejected,
                                                 diagnostics: [d]))
                }
            }
        }
        self.init(documents: documents, products: products, compiler: compiler, minimumLevel: minimumLevel, early: early)
    }

    public init(documents: [SigmaDocument], products: Set<String> = ["linux"], compiler: SigmaCompiler = SigmaCompiler(),
                minimumLevel: Int? = nil, early: [SigmaRuleReport] = []) {
        var reports = early
        var rules: [SigmaCompiledRule] = []
        var ruleReportIndex: [Int] = []
        func diag(_ doc: SigmaDocument, _ e: Error) -> Diagnostic {
            let line = (e as? SigmaCompileError)?.line ?? doc.line
            return Diagnostic(file: doc.file, line: line, column: 0, severity: .error, message: "\(e)")
        }
        func report(_ doc: SigmaDocument, _ outcome: SigmaRuleReport.Outcome, _ d: [Diagnostic] = []) {
            reports.append(SigmaRuleReport(file: doc.file, line: doc.line, title: doc.title, id: doc.id, kind: doc.kind,
                                           outcome: outcome, diagnostics: d))
        }
        // Detection rules.
        for doc in documents where doc.kind == .detection {
            guard let node = doc.detection else { continue }
            switch SigmaLogsourceMap.resolve(doc.logsource, products: products) {
            case .unsupported(let why):
                report(doc, .rejected, [Diagnostic(file: doc.file, line: doc.line, column: 0, severity: .error, message: why)])
            case .otherProduct(let p):
                report(doc, .skipped("product \(p) is not served by this source"))
            case .kind(let kind):
                do {
                    let detection = try compiler.compile(detection: node, kind: kind)
                    rules.append(SigmaCompiledRule(document: doc, kind: kind, detection: detection))
                    ruleReportIndex.append(reports.count)
                    report(doc, .loaded(eventID: kind.id))
                } catch {
                    report(doc, .rejected, [diag(doc, error)])
                }
            }
        }
        // Filters: `rule and not filter` for each rule they name.
        for doc in documents where doc.kind == .filter {
            do {
                guard case .mapping(let f)? = doc.filter else { throw SigmaCompileError("'filter' must be a mapping", line: doc.line) }
                guard case .sequence(let names)? = f["rules"] else {
                    throw SigmaCompileError("filter has no 'rules:' list", line: f.mark?.line)
                }
                var detectionPairs: [(Node, Node)] = []
                for (k, v) in f where k.string != "rules" { detectionPairs.append((k, v)) }
                let detectionNode = Node(detectionPairs)
                var applied = 0
                for ref in names.compactMap(\.string) {
                    for i in rules.indices where rules[i].document.id == ref || rules[i].document.name == ref {
                        let fd = try compiler.compile(detection: detectionNode, kind: rules[i].kind)
                        let base = rules[i].detection.leaves.count
                        rules[i].detection.leaves += fd.leaves
                        rules[i].detection.expr = .and([rules[i].detection.expr, .not(Self.shift(fd.expr, by: base))])
                        rules[i].filters.append(doc.title)
                        applied += 1
                    }
                }
                report(doc, applied > 0 ? .loaded(eventID: 0) : .skipped("names no loaded rule"))
            } catch {
                report(doc, .rejected, [diag(doc, error)])
            }
        }
        // Correlations refer to rules by id or name.
        var correlations: [SigmaCorrelationRule] = []
        var inputs: [Int: [Int]] = [:]
        var suppressed = Set<Int>()
        for doc in documents where doc.kind == .correlation {
            do {
                let c = try SigmaCorrelationRule(doc, correlationIndex: correlations.count, rules: rules)
                for r in c.ruleNumbers { inputs[r, default: []].append(correlations.count) }
                if !c.generate { suppressed.formUnion(c.ruleNumbers) }
                correlations.append(c)
                report(doc, .loaded(eventID: 0))
            } catch {
                report(doc, .rejected, [diag(doc, error)])
            }
        }
        if let minimumLevel {
            // Rules below the level raise nothing; those feeding a correlation still run.
            for (i, r) in rules.enumerated() where (r.document.levelRank ?? 0) < minimumLevel && inputs[i] == nil {
                suppressed.insert(i)
            }
        }
        self.rules = rules
        self.correlations = correlations
        self.reports = reports
        self.correlationInputs = inputs
        self.suppressed = suppressed
        var byKind: [Int: [Int]] = [:]
        for (i, r) in rules.enumerated() where !suppressed.contains(i) || inputs[i] != nil { byKind[r.kind.id, default: []].append(i) }
        var indexes: [Int: SigmaKindIndex] = [:]
        for (kindID, numbers) in byKind {
            indexes[kindID] = SigmaKindIndex(kind: rules[numbers[0]].kind, ruleNumbers: numbers, rules: rules)
        }
        self.indexes = indexes
        var byID = [SigmaKindIndex?](repeating: nil, count: (indexes.keys.max() ?? 0) + 1)
        for (id, index) in indexes { byID[id] = index }
        self.indexByKind = byID
    }

    /// Titles of the rules of `eventID` that are evaluated on every such event
    /// (no literal they need can be looked for first), for `bench sigma`.
    public func rulesEvaluatedOnEveryEvent(eventID: Int) -> [String] {
        guard let index = indexes[eventID] else { return [] }
        return index.alwaysRules.map { rules[index.ruleNumbers[Int($0)]].document.title }
    }

    /// Per field scanned for `eventID`'s rules: its automaton's patterns, states
    /// and table size, for `bench sigma`.
    public func automatonSummary(eventID: Int) -> [String] {
        guard let index = indexes[eventID] else { return [] }
        return index.channels.map { c in
            let a = c.automaton
            return "\(index.kind.fields[c.field])\(c.cased ? " (cased)" : ""): \(a.patternCount) patterns, "
                + "\(a.stateCount) states × \(a.inputClassCount) byte classes (\(a.tableBytes / 1024) KiB)"
        }
    }

    /// Rules loaded for `eventID` (evaluated when one of their literals is found, or always).
    public func ruleCount(eventID: Int) -> Int { indexes[eventID]?.ruleNumbers.count ?? 0 }

    static func shift(_ e: SigmaExpr, by n: Int) -> SigmaExpr {
        switch e {
        case .leaf(let i): return .leaf(i + n)
        case .and(let xs): return .and(xs.map { shift($0, by: n) })
        case .or(let xs): return .or(xs.map { shift($0, by: n) })
        case .not(let x): return .not(shift(x, by: n))
        case .constant: return e
        }
    }

    /// Whether a match of rule `number` is an alert of its own.
    func raisesAlert(_ number: Int) -> Bool { !suppressed.contains(number) }
}

/// The rules of one event kind: their leaves in one array, one substring
/// automaton per (field, cased) over `\xFE value \xFF` so that equality,
/// prefix, suffix and substring tests are all one scan, and the rules each
/// automaton hit can make true.
final class SigmaKindIndex: Sendable {
    let kind: EventKind
    let ruleNumbers: [Int]
    let leaves: [SigmaLeaf]
    let leafBase: [Int]
    let expressions: [SigmaExpr]
    struct Channel: Sendable {
        let field: Int
        let cased: Bool
        let automaton: SubstringAutomaton
        /// ``automaton`` without a reference count per scan: the index owns it
        /// (through ``channels``) for as long as an evaluator can read it.
        let unretained: Unmanaged<SubstringAutomaton>
        init(field: Int, cased: Bool, automaton: SubstringAutomaton) {
            self.field = field; self.cased = cased; self.automaton = automaton
            unretained = Unmanaged.passUnretained(automaton)
        }
    }
    let channels: [Channel]
    let patternCount: Int
    /// Rule positions (in ``ruleNumbers``) each pattern may make true.
    let patternRules: [[Int32]]
    /// ``patternRules`` flattened: pattern `p`'s rules are
    /// `patternRuleList[patternRuleStart[p] ..< patternRuleStart[p + 1]]`.
    let patternRuleStart: [Int32]
    let patternRuleList: [Int32]
    /// Rules that can be true with no pattern found (conditions built on `not`, regexes …).
    let alwaysRules: [Int32]
    /// Fields any leaf reads, for the fold pass.
    let usedFields: [Int]
    let hasKeywords: Bool

    /// The conditions as one flat program (no reference-counted boxes to walk
    /// per event): node `n` is `ops[n]` over `args[n]`: a leaf's number (in
    /// ``leaves``), a constant, or `count[n]` children listed in ``children``
    /// from `args[n]`. `roots[pos]` is rule `pos`'s condition.
    let ops: [UInt8]
    let args: [Int32]
    let counts: [Int32]
    let children: [Int32]
    let roots: [Int32]
    /// Per leaf: its gate (-1: none) and whether the gate alone decides it.
    let leafGates: [Int32]
    let leafGateDecides: [Bool]
    /// Per leaf: its regex's position in ``regexes`` (-1: not a regex), so the
    /// evaluator reaches it without switching on the leaf's test. (perf still
    /// shows the compiler copying the regex out at `search`, a retain and
    /// release per array it holds: 3 % of `bench sigma`; to be done.)
    let leafRegex: [Int32]
    let regexes: [SigmaRegex]
    /// Per field leaf with a wildcard pattern: its position in ``patterns`` (-1: none), likewise.
    let leafPattern: [Int32]
    let patterns: [SigmaPattern]

    static let opLeaf: UInt8 = 0, opConstant: UInt8 = 1, opNot: UInt8 = 2, opAnd: UInt8 = 3, opOr: UInt8 = 4

    static let start: UInt8 = 0xFE
    static let end: UInt8 = 0xFF

    init(kind: EventKind, ruleNumbers: [Int], rules: [SigmaCompiledRule]) {
        self.kind = kind
        self.ruleNumbers = ruleNumbers
        var leaves: [SigmaLeaf] = []
        var bases: [Int] = []
        var exprs: [SigmaExpr] = []
        for n in ruleNumbers {
            bases.append(leaves.count)
            leaves += rules[n].detection.leaves
            exprs.append(rules[n].detection.expr)
        }
        // Patterns per channel, deduplicated.
        var channelKeys: [String: Int] = [:]
        var channelPatterns: [[(bytes: [UInt8], id: Int32)]] = []
        var channelInfo: [(Int, Bool)] = []
        var patternIDs: [String: Int32] = [:]
        var nextID: Int32 = 0
        for i in leaves.indices {
            guard leaves[i].field >= 0, case .pattern(let p) = leaves[i].test else { continue }
            var bytes: [UInt8]
            var decides = true
            let parts = p.parts
            switch (parts.first, parts.last, parts.count) {
            case (nil, _, _): bytes = [Self.start, Self.end]
            case (.literal(let b)?, _, 1): bytes = [Self.start] + b + [Self.end]
            case (.literal(let b)?, .anyRun?, 2): bytes = [Self.start] + b
            case (.anyRun?, .literal(let b)?, 2): bytes = b + [Self.end]
            case (.anyRun?, .anyRun?, 3):
                guard case .literal(let b) = parts[1] else { continue }
                bytes = b
            default:
                guard let lit = p.longestLiteral, lit.count >= 2 else { continue }
                bytes = lit
                decides = false
            }
            // Literals that are not UTF-8 (encodings of odd text) never occur in a value.
            let key = "\(leaves[i].field)/\(leaves[i].cased)"
            let channel: Int
            if let c = channelKeys[key] { channel = c } else {
                channel = channelPatterns.count
                channelKeys[key] = channel
                channelPatterns.append([])
                channelInfo.append((leaves[i].field, leaves[i].cased))
            }
            let patternKey = key + ":" + bytes.map(String.init).joined(separator: ",")
            let id: Int32
            if let existing = patternIDs[patternKey] { id = existing } else {
                id = nextID; nextID += 1
                patternIDs[patternKey] = id
                channelPatterns[channel].append((bytes, id))
            }
            leaves[i].gate = id
            leaves[i].gateDecides = decides
        }
        channels = channelPatterns.indices.map {
            Channel(field: channelInfo[$0].0, cased: channelInfo[$0].1, automaton: SubstringAutomaton(patterns: channelPatterns[$0]))
        }
        patternCount = Int(nextID)
        var patternRules = Array(repeating: [Int32](), count: Int(nextID))
        var always: [Int32] = []
        var patternLength = [Int](repeating: 0, count: Int(nextID))
        for ps in channelPatterns { for p in ps { patternLength[Int(p.id)] = p.bytes.count } }
        for (pos, e) in exprs.enumerated() {
            let base = bases[pos]
            // A rule is a candidate only when one of a few patterns it cannot be
            // true without is found (an AND's most selective part, not every part).
            if let needed = Self.necessaryPatterns(e, gate: { leaves[base + $0].gate }, cost: { Self.patternCost(patternLength[Int($0)]) }) {
                for g in needed.patterns.sorted() { patternRules[Int(g)].append(Int32(pos)) }
            } else {
                always.append(Int32(pos))
            }
        }
        self.patternRules = patternRules
        var ruleStart: [Int32] = [0], ruleList: [Int32] = []
        for list in patternRules { ruleList += list; ruleStart.append(Int32(ruleList.count)) }
        self.patternRuleStart = ruleStart
        self.patternRuleList = ruleList
        self.alwaysRules = always
        self.leaves = leaves
        self.leafBase = bases
        self.expressions = exprs
        var used = Set<Int>()
        var keywords = false
        for l in leaves {
            if l.field >= 0 { used.insert(l.field) } else { keywords = true }
            if case .fieldRef(let other, _) = l.test { used.insert(other) }
        }
        self.usedFields = used.sorted()
        self.hasKeywords = keywords
        var ops: [UInt8] = [], args: [Int32] = [], counts: [Int32] = [], children: [Int32] = []
        func emit(_ e: SigmaExpr, _ base: Int) -> Int32 {
            let n = Int32(ops.count)
            ops.append(0); args.append(0); counts.append(0)
            switch e {
            case .leaf(let i): ops[Int(n)] = Self.opLeaf; args[Int(n)] = Int32(base + i)
            case .constant(let b): ops[Int(n)] = Self.opConstant; args[Int(n)] = b ? 1 : 0
            case .not(let x):
                ops[Int(n)] = Self.opNot
                let c = emit(x, base)
                args[Int(n)] = Int32(children.count); counts[Int(n)] = 1
                children.append(c)
            case .and(let xs), .or(let xs):
                if case .and = e { ops[Int(n)] = Self.opAnd } else { ops[Int(n)] = Self.opOr }
                let list = xs.map { emit($0, base) }
                args[Int(n)] = Int32(children.count); counts[Int(n)] = Int32(list.count)
                children += list
            }
            return n
        }
        self.roots = exprs.indices.map { emit(exprs[$0], bases[$0]) }
        self.ops = ops
        self.args = args
        self.counts = counts
        self.children = children
        self.leafGates = leaves.map(\.gate)
        self.leafGateDecides = leaves.map(\.gateDecides)
        var regexes: [SigmaRegex] = []
        self.leafRegex = leaves.map { l in
            guard case .regex(let r) = l.test else { return -1 }
            regexes.append(r)
            return Int32(regexes.count - 1)
        }
        self.regexes = regexes
        var patterns: [SigmaPattern] = []
        self.leafPattern = leaves.map { l in
            guard l.field >= 0, case .pattern(let p) = l.test else { return -1 }
            patterns.append(p)
            return Int32(patterns.count - 1)
        }
        self.patterns = patterns
    }

    /// A guess at how often a pattern of `length` bytes (frame bytes included)
    /// is found in a value: short literals are common, long ones rare.
    static func patternCost(_ length: Int) -> Double {
        1.0 / Double(1 << (2 * min(length, 12)))
    }

    /// Patterns one of which an event must hold for `e` to be true, and their
    /// summed cost; nil when there is no such set (a `not`, a regex …). An
    /// AND needs only its cheapest part's set, an OR every part's.
    static func necessaryPatterns(_ e: SigmaExpr, gate: (Int) -> Int32,
                                  cost: (Int32) -> Double) -> (patterns: Set<Int32>, cost: Double)? {
        switch e {
        case .leaf(let i):
            let g = gate(i)
            return g >= 0 ? ([g], cost(g)) : nil
        case .constant(let b): return b ? nil : ([], 0)
        case .not: return nil
        case .and(let xs):
            var best: (patterns: Set<Int32>, cost: Double)?
            for x in xs {
                guard let n = necessaryPatterns(x, gate: gate, cost: cost) else { continue }
                if best == nil || n.cost < best!.cost { best = n }
            }
            return best
        case .or(let xs):
            var all = Set<Int32>()
            for x in xs {
                guard let n = necessaryPatterns(x, gate: gate, cost: cost) else { return nil }
                all.formUnion(n.patterns)
            }
            return (all, all.reduce(0) { $0 + cost($1) })
        }
    }
}
