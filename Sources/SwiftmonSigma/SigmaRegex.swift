/// The regular expressions of Sigma's `|re` modifier, matched by a Pike VM
/// (Thompson's construction simulated breadth-first) instead of a
/// backtracking engine: a match costs at most (value length × program size)
/// steps whatever the pattern, so `(a+)+$` cannot stall the pipeline. A step
/// budget bounds even that product; a value that exhausts it does not match
/// and is counted (``SigmaRegex/budgetExceeded``).
///
/// The flavour is the one spec 2.1 names (PCRE's `. ^ $ * + ? {n,m} [..] | ()`)
/// plus what SigmaHQ's rules use beyond it: `(?:…)`, `(?i)`/`(?s)`/`(?m)`,
/// named groups, lazy quantifiers, `\d \w \s \b` and their negations, `\xHH`.
/// Back-references, look-around, atomic groups and possessive quantifiers
/// cannot be run in linear time and are refused with a diagnostic.
public struct SigmaRegex: Sendable {
    public struct SyntaxError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    public struct Flags: Sendable, Equatable {
        public var caseInsensitive = false
        public var multiLine = false
        public var dotAll = false
        public init(caseInsensitive: Bool = false, multiLine: Bool = false, dotAll: Bool = false) {
            self.caseInsensitive = caseInsensitive
            self.multiLine = multiLine
            self.dotAll = dotAll
        }
    }

    enum Assertion: Sendable { case lineStart, lineEnd, textStart, textEnd, textEndNewline, wordBoundary, notWordBoundary }

    struct ClassItem: Sendable { let low: UInt32; let high: UInt32 }

    enum Instruction: Sendable {
        case char(UInt32, caseInsensitive: Bool)
        case any(dotAll: Bool)
        case set(items: [ClassItem], negated: Bool, caseInsensitive: Bool)
        case split(Int, Int)
        case jump(Int)
        case assert(Assertion)
        case match
    }

    let program: [Instruction]
    public let pattern: String
    /// The most instructions a pattern may compile to (counted repetition is unrolled).
    public static let maxProgramSize = 20_000
    /// The most VM steps one value may cost before it is given up as no match.
    public static let stepBudget = 4_000_000

    public init(_ pattern: String, flags: Flags = Flags()) throws {
        self.pattern = pattern
        var parser = RegexParser(Array(pattern.unicodeScalars), flags: flags)
        let tree = try parser.parseWhole()
        var compiler = RegexCompiler()
        try compiler.emit(tree)
        compiler.code.append(.match)
        program = compiler.code
        let grams = Self.startGrams(program)
        starts = grams
        var mask: (UInt64, UInt64) = (0, 0)
        for g in grams ?? [] {
            let x = g[0]
            if x < 64 { mask.0 |= 1 << UInt64(x) } else { mask.1 |= 1 << UInt64(x - 64) }
        }
        startMask = mask
        startLength = grams?.first?.count ?? 0
        packedStarts = (grams ?? []).map(Self.pack).sorted()
    }

    /// The ASCII texts of 2 to 4 characters (all of one length, as long as
    /// there are few) one of which every match begins with; nil when there is
    /// no such list. A value whose UTF-8 holds none of them cannot match,
    /// which a byte scan tells without decoding it or running the VM.
    /// `-(W|R)\s?…` begins with `-W` or `-R` and a space or quote; `\s-[FTd]\s`
    /// with one of 108 four-character texts; most command lines hold none.
    let starts: [[UInt8]]?
    /// The first characters of ``starts``, as a 128-bit set.
    let startMask: (UInt64, UInt64)
    /// ``starts`` packed big-endian into integers, sorted, and their length.
    let packedStarts: [UInt32]
    let startLength: Int
    static let maxStarts = 256
    static let maxStartLength = 4

    /// The ASCII characters instruction `pc` consumes (nil: others too, or too many).
    static func asciiChars(_ i: Instruction) -> [UInt8]? {
        switch i {
        case .char(let c, let ci):
            guard c < 0x80 else { return nil }
            if ci {
                let l = fold(c), u = upper(c)
                return l == u ? [UInt8(c)] : [UInt8(l), UInt8(u)]
            }
            return [UInt8(c)]
        case .set(let items, let negated, let ci):
            if negated { return nil }
            var out: [UInt8] = []
            for r in items {
                if r.high >= 0x80 { return nil }
                for c in r.low...r.high { out.append(UInt8(c)) }
            }
            if ci { out += out.flatMap { [UInt8(fold(UInt32($0))), UInt8(upper(UInt32($0)))] } }
            let unique = Array(Set(out)).sorted()
            return unique.count <= 16 ? unique : nil
        default: return nil
        }
    }

    /// The consuming instructions reachable from `pc` through jumps, splits and
    /// assertions (taken as passable: a superset); nil when `.match` is reachable.
    static func closure(_ program: [Instruction], from pc: Int) -> [Int]? {
        var stack = [pc], seen = Set<Int>(), out: [Int] = []
        while let pc = stack.popLast() {
            guard pc < program.count, seen.insert(pc).inserted else { continue }
            switch program[pc] {
            case .match: return nil
            case .jump(let to): stack.append(to)
            case .split(let a, let b): stack.append(b); stack.append(a)
            case .assert: stack.append(pc + 1)
            default: out.append(pc)
            }
        }
        return out
    }

    static func pack(_ gram: [UInt8]) -> UInt32 { gram.reduce(0) { $0 << 8 | UInt32($1) } }

    static func startGrams(_ program: [Instruction]) -> [[UInt8]]? {
        // Paths: the text read so far and the instruction after it.
        struct Path: Hashable { var text: [UInt8]; var pc: Int }
        var paths: Set<Path> = [Path(text: [], pc: 0)]
        var best: [[UInt8]]? = nil
        for length in 1...maxStartLength {
            var next = Set<Path>()
            for path in paths {
                guard let consumers = closure(program, from: path.pc) else { return best }
                for f in consumers {
                    guard let chars = asciiChars(program[f]) else { return best }
                    for c in chars { next.insert(Path(text: path.text + [c], pc: f + 1)) }
                    if next.count > maxStarts * 4 { return best }
                }
            }
            let texts = Set(next.map(\.text))
            if texts.count > maxStarts { return best }
            if length >= 2 { best = texts.sorted { $0.lexicographicallyPrecedes($1) } }
            paths = next
        }
        return best
    }

    /// Whether `text` holds one of ``starts`` (true when there is no such list).
    func mayMatch(_ text: String) -> Bool {
        guard starts != nil else { return true }
        var text = text
        let (low, high) = startMask
        let length = startLength
        return text.withUTF8 { b in
            guard b.count >= length else { return false }
            return packedStarts.withUnsafeBufferPointer { sorted in
                for i in 0...(b.count - length) {
                    let x = b[i]
                    guard x < 0x80, (x < 64 ? low >> UInt64(x) : high >> UInt64(x - 64)) & 1 != 0 else { continue }
                    var key: UInt32 = 0
                    for k in 0..<length { key = key << 8 | UInt32(b[i + k]) }
                    var lo = 0, hi = sorted.count
                    while lo < hi {
                        let mid = (lo + hi) >> 1
                        if sorted[mid] < key { lo = mid + 1 } else { hi = mid }
                    }
                    if lo < sorted.count && sorted[lo] == key { return true }
                }
                return false
            }
        }
    }

    public enum Outcome: Sendable, Equatable { case match, noMatch, budgetExceeded }

    /// Whether the pattern matches anywhere in `text` (PCRE's unanchored search).
    public func matches(_ text: String) -> Bool { search(text) == .match }

    public func search(_ text: String) -> Outcome {
        if !mayMatch(text) { return .noMatch }
        let input = Array(text.unicodeScalars.map(\.value))
        return run(input)
    }

    func run(_ input: [UInt32]) -> Outcome {
        let n = program.count
        var current = ThreadList(capacity: n)
        var next = ThreadList(capacity: n)
        var steps = 0
        var position = 0
        // One work stack for every addThread of this search (not one array per call).
        var stack: [Int] = []
        stack.reserveCapacity(n)
        while true {
            // Unanchored: a new thread starts at every position.
            if addThread(&current, 0, position, input, &steps, &stack) { return .match }
            if steps > Self.stepBudget { return .budgetExceeded }
            if position == input.count || current.count == 0 && position >= input.count { break }
            let c = input[position]
            next.clear()
            for k in 0..<current.count {
                let pc = current.dense[k]
                steps += 1
                let advances: Bool
                switch program[pc] {
                case .char(let want, let ci):
                    advances = c == want || (ci && Self.fold(c) == want)
                case .any(let dotAll):
                    advances = dotAll || c != 0x0A
                case .set(let items, let negated, let ci):
                    advances = Self.inSet(c, items, ci) != negated
                default:
                    advances = false
                }
                if advances, addThread(&next, pc + 1, position + 1, input, &steps, &stack) { return .match }
            }
            if steps > Self.stepBudget { return .budgetExceeded }
            swap(&current, &next)
            position += 1
        }
        return .noMatch
    }

    /// Follows jumps, splits and assertions from `pc` at `position`; true when `.match` is reached.
    private func addThread(_ list: inout ThreadList, _ pc: Int, _ position: Int, _ input: [UInt32], _ steps: inout Int,
                           _ stack: inout [Int]) -> Bool {
        stack.removeAll(keepingCapacity: true)
        stack.append(pc)
        while let pc = stack.popLast() {
            if list.contains(pc) { continue }
            list.insert(pc)
            steps += 1
            switch program[pc] {
            case .match: return true
            case .jump(let to): stack.append(to)
            case .split(let a, let b): stack.append(b); stack.append(a)
            case .assert(let kind):
                if Self.holds(kind, position, input) { stack.append(pc + 1) }
            default: break
            }
        }
        return false
    }

    static func holds(_ kind: Assertion, _ i: Int, _ input: [UInt32]) -> Bool {
        switch kind {
        case .textStart: return i == 0
        case .textEnd: return i == input.count
        case .textEndNewline: return i == input.count || (i == input.count - 1 && input[i] == 0x0A)
        case .lineStart: return i == 0 || input[i - 1] == 0x0A
        case .lineEnd: return i == input.count || input[i] == 0x0A
        case .wordBoundary, .notWordBoundary:
            let before = i > 0 && isWord(input[i - 1])
            let after = i < input.count && isWord(input[i])
            return (before != after) == (kind == .wordBoundary)
        }
    }

    static func isWord(_ c: UInt32) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
    }

    static func fold(_ c: UInt32) -> UInt32 {
        if c < 0x80 { return c >= 0x41 && c <= 0x5A ? c + 0x20 : c }
        guard let s = Unicode.Scalar(c) else { return c }
        let m = s.properties.lowercaseMapping.unicodeScalars
        return m.count == 1 ? m.first!.value : c
    }

    static func upper(_ c: UInt32) -> UInt32 {
        if c < 0x80 { return c >= 0x61 && c <= 0x7A ? c - 0x20 : c }
        guard let s = Unicode.Scalar(c) else { return c }
        let m = s.properties.uppercaseMapping.unicodeScalars
        return m.count == 1 ? m.first!.value : c
    }

    static func inSet(_ c: UInt32, _ items: [ClassItem], _ ci: Bool) -> Bool {
        for r in items where c >= r.low && c <= r.high { return true }
        if ci {
            let l = fold(c), u = upper(c)
            for r in items where (l >= r.low && l <= r.high) || (u >= r.low && u <= r.high) { return true }
        }
        return false
    }
}

/// A sparse set of program counters: O(1) insert, test and clear.
struct ThreadList {
    var dense: [Int]
    var sparse: [Int]
    var count = 0
    init(capacity: Int) {
        dense = Array(repeating: 0, count: capacity)
        sparse = Array(repeating: 0, count: capacity)
    }
    func contains(_ pc: Int) -> Bool { let i = sparse[pc]; return i < count && dense[i] == pc }
    mutating func insert(_ pc: Int) { sparse[pc] = count; dense[count] = pc; count += 1 }
    mutating func clear() { count = 0 }
}
