// Sigma's `|re` patterns from text to the Pike VM's program (see
// SigmaRegex.swift): `RegexParser` reads a pattern into a syntax tree,
// `RegexCompiler` emits the VM's instructions from it.

indirect enum RegexNode {
    case empty
    case char(UInt32, ci: Bool)
    case any(dotAll: Bool)
    case set([SigmaRegex.ClassItem], negated: Bool, ci: Bool)
    case assert(SigmaRegex.Assertion)
    case concat([RegexNode])
    case alternation([RegexNode])
    case repeatNode(RegexNode, min: Int, max: Int?, greedy: Bool)
}

struct RegexParser {
    let s: [Unicode.Scalar]
    var i = 0
    var flags: SigmaRegex.Flags
    var depth = 0

    init(_ s: [Unicode.Scalar], flags: SigmaRegex.Flags) { self.s = s; self.flags = flags }

    func fail(_ message: String) -> SigmaRegex.SyntaxError {
        SigmaRegex.SyntaxError(message: "\(message) at offset \(i)")
    }

    mutating func parseWhole() throws -> RegexNode {
        let node = try parseAlternation()
        if i < s.count { throw fail("unbalanced ')'") }
        return node
    }

    mutating func parseAlternation() throws -> RegexNode {
        var branches = [try parseConcat()]
        while i < s.count && s[i] == "|" {
            i += 1
            branches.append(try parseConcat())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    mutating func parseConcat() throws -> RegexNode {
        var items: [RegexNode] = []
        let saved = flags
        defer { flags = saved }  // (?i) lasts to the end of its group
        while i < s.count && s[i] != "|" && s[i] != ")" {
            if s[i] == "(", i + 2 < s.count, s[i + 1] == "?", let applied = try parseInlineFlags() {
                if applied { continue }
            }
            var atom = try parseAtom()
            atom = try parseQuantifiers(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .concat(items)
    }

    /// `(?ims)` or `(?-i)`: sets flags for the rest of the group; returns true when consumed.
    mutating func parseInlineFlags() throws -> Bool? {
        var j = i + 2
        var on = true
        var f = flags
        while j < s.count, s[j] != ")" && s[j] != ":" {
            switch s[j] {
            case "i": f.caseInsensitive = on
            case "m": f.multiLine = on
            case "s": f.dotAll = on
            case "-": on = false
            default: return nil
            }
            j += 1
        }
        guard j < s.count, s[j] == ")", j > i + 2 else { return nil }
        flags = f
        i = j + 1
        return true
    }

    mutating func parseQuantifiers(_ atom: RegexNode) throws -> RegexNode {
        var node = atom
        var quantified = false
        while i < s.count {
            var minCount = 0, maxCount: Int? = nil
            switch s[i] {
            case "*": i += 1
            case "+": minCount = 1; i += 1
            case "?": maxCount = 1; i += 1
            case "{":
                guard let (a, b, end) = countedRepetition(at: i) else { return node }
                minCount = a; maxCount = b; i = end
            default: return node
            }
            if quantified { throw fail("nested quantifier") }
            quantified = true
            if let m = maxCount, m < minCount { throw fail("repetition {\(minCount),\(m)} has max below min") }
            if minCount > 1000 || (maxCount ?? 0) > 1000 { throw fail("repetition count above 1000") }
            var greedy = true
            if i < s.count && s[i] == "?" { greedy = false; i += 1 } else if i < s.count && s[i] == "+" {
                throw fail("possessive quantifiers are not supported")
            }
            if case .assert = node { throw fail("quantifier on an anchor") }
            node = .repeatNode(node, min: minCount, max: maxCount, greedy: greedy)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}` at `k`; nil when it is a literal brace (PCRE's rule).
    func countedRepetition(at k: Int) -> (Int, Int?, Int)? {
        var j = k + 1
        func number() -> Int? {
            var v = 0, digits = 0
            while j < s.count, let d = s[j].properties.numericType != nil ? Int(String(s[j])) : nil {
                v = min(v * 10 + d, 100_000); digits += 1; j += 1
            }
            return digits > 0 ? v : nil
        }
        guard let a = number() else { return nil }
        if j < s.count && s[j] == "}" { return (a, a, j + 1) }
        guard j < s.count && s[j] == "," else { return nil }
        j += 1
        let b = number()
        guard j < s.count && s[j] == "}" else { return nil }
        return (a, b, j + 1)
    }

    mutating func parseAtom() throws -> RegexNode {
        let c = s[i]
        switch c {
        case "(":
            i += 1
            depth += 1
            if depth > 200 { throw fail("groups nested deeper than 200") }
            defer { depth -= 1 }
            let saved = flags
            defer { flags = saved }
            if i < s.count && s[i] == "?" {
                i += 1
                guard i < s.count else { throw fail("unterminated group") }
                switch s[i] {
                case ":": i += 1
                case "P", "<" where i + 1 < s.count && s[i + 1] != "=" && s[i + 1] != "!":
                    if s[i] == "P" { i += 1 }
                    guard i < s.count, s[i] == "<" else { throw fail("unsupported group (?P") }
                    while i < s.count && s[i] != ">" { i += 1 }
                    i += 1
                case "=", "!": throw fail("look-ahead is not supported")
                case "<": throw fail("look-behind is not supported")
                case ">": throw fail("atomic groups are not supported")
                case "#":
                    while i < s.count && s[i] != ")" { i += 1 }
                    i += 1
                    return .empty
                default:
                    // (?i:...)
                    var on = true
                    while i < s.count && s[i] != ":" {
                        switch s[i] {
                        case "i": flags.caseInsensitive = on
                        case "m": flags.multiLine = on
                        case "s": flags.dotAll = on
                        case "-": on = false
                        default: throw fail("unsupported group construct (?\(s[i])")
                        }
                        i += 1
                    }
                    i += 1
                }
            }
            let inner = try parseAlternation()
            guard i < s.count, s[i] == ")" else { throw fail("missing ')'") }
            i += 1
            return inner
        case ")": throw fail("unbalanced ')'")
        case "[":
            i += 1
            return try parseClass()
        case ".":
            i += 1
            return .any(dotAll: flags.dotAll)
        case "^":
            i += 1
            return .assert(flags.multiLine ? .lineStart : .textStart)
        case "$":
            i += 1
            return .assert(flags.multiLine ? .lineEnd : .textEndNewline)
        case "\\":
            i += 1
            return try parseEscape(inClass: false).node
        case "*", "+", "?":
            throw fail("quantifier '\(c)' follows nothing")
        default:
            i += 1
            return literal(c.value)
        }
    }

    func literal(_ v: UInt32) -> RegexNode {
        flags.caseInsensitive ? .char(SigmaRegex.fold(v), ci: true) : .char(v, ci: false)
    }

    static let digit = [SigmaRegex.ClassItem(low: 0x30, high: 0x39)]
    static let word = [SigmaRegex.ClassItem(low: 0x30, high: 0x39), .init(low: 0x41, high: 0x5A),
                       .init(low: 0x61, high: 0x7A), .init(low: 0x5F, high: 0x5F)]
    static let space = [SigmaRegex.ClassItem(low: 0x09, high: 0x0D), .init(low: 0x20, high: 0x20)]

    /// After a backslash: a node, or (in a class) the items it stands for.
    mutating func parseEscape(inClass: Bool) throws -> (node: RegexNode, items: [SigmaRegex.ClassItem], negated: Bool) {
        guard i < s.count else { throw fail("trailing backslash") }
        let c = s[i]
        i += 1
        func single(_ v: UInt32) -> (RegexNode, [SigmaRegex.ClassItem], Bool) {
            (literal(v), [.init(low: v, high: v)], false)
        }
        switch c {
        case "d": return (.set(Self.digit, negated: false, ci: false), Self.digit, false)
        case "D": return (.set(Self.digit, negated: true, ci: false), Self.digit, true)
        case "w": return (.set(Self.word, negated: false, ci: false), Self.word, false)
        case "W": return (.set(Self.word, negated: true, ci: false), Self.word, true)
        case "s": return (.set(Self.space, negated: false, ci: false), Self.space, false)
        case "S": return (.set(Self.space, negated: true, ci: false), Self.space, true)
        case "n": return single(0x0A)
        case "t": return single(0x09)
        case "r": return single(0x0D)
        case "f": return single(0x0C)
        case "v": return single(0x0B)
        case "e": return single(0x1B)
        case "0": return single(0)
        case "x":
            var v: UInt32 = 0, digits = 0
            if i < s.count && s[i] == "{" {
                i += 1
                while i < s.count && s[i] != "}" {
                    guard let d = s[i].properties.numericType != nil ? UInt32(String(s[i])) : UInt32(String(s[i]), radix: 16)
                    else { throw fail("bad \\x{…}") }
                    v = v &* 16 &+ d; digits += 1; i += 1
                }
                i += 1
            } else {
                while digits < 2, i < s.count, let d = UInt32(String(s[i]), radix: 16) { v = v * 16 + d; digits += 1; i += 1 }
            }
            guard digits > 0, v <= 0x10FFFF else { throw fail("bad \\x escape") }
            return single(v)
        case "b" where !inClass: return (.assert(.wordBoundary), [], false)
        case "B" where !inClass: return (.assert(.notWordBoundary), [], false)
        case "A" where !inClass: return (.assert(.textStart), [], false)
        case "z" where !inClass: return (.assert(.textEnd), [], false)
        case "Z" where !inClass: return (.assert(.textEndNewline), [], false)
        case "b": return single(0x08)
        case "1"..."9": throw fail("back-references are not supported")
        case "k", "g": throw fail("back-references are not supported")
        case "p", "P": throw fail("Unicode property classes are not supported")
        default:
            if c.properties.isAlphabetic && c.isASCII { throw fail("unknown escape \\\(c)") }
            return single(c.value)
        }
    }

    mutating func parseClass() throws -> RegexNode {
        var negated = false
        if i < s.count && s[i] == "^" { negated = true; i += 1 }
        var items: [SigmaRegex.ClassItem] = []
        var subtract: [[SigmaRegex.ClassItem]] = []
        var first = true
        while true {
            guard i < s.count else { throw fail("missing ']'") }
            let c = s[i]
            if c == "]" && !first { i += 1; break }
            first = false
            var low: UInt32
            if c == "\\" {
                i += 1
                let (_, its, neg) = try parseEscape(inClass: true)
                if neg { subtract.append(its); continue }
                if its.count != 1 || its[0].low != its[0].high { items += its; continue }
                low = its[0].low
            } else if c == "[" && i + 1 < s.count && s[i + 1] == ":" {
                throw fail("POSIX classes are not supported")
            } else {
                low = c.value
                i += 1
            }
            if i + 1 < s.count && s[i] == "-" && s[i + 1] != "]" {
                i += 1
                var high: UInt32
                if s[i] == "\\" {
                    i += 1
                    let (_, its, _) = try parseEscape(inClass: true)
                    guard its.count == 1, its[0].low == its[0].high else { throw fail("bad range in class") }
                    high = its[0].low
                } else {
                    high = s[i].value
                    i += 1
                }
                if high < low { throw fail("range out of order in class") }
                items.append(.init(low: low, high: high))
            } else {
                items.append(.init(low: low, high: low))
            }
        }
        if !subtract.isEmpty {
            // [\D], [^\S] and the like: a negated escape inside a class. Only a class
            // made of one such escape is supported (it is what rules use).
            guard items.isEmpty, subtract.count == 1 else { throw fail("negated escapes mixed with other items in a class") }
            return .set(subtract[0], negated: !negated, ci: false)
        }
        let ci = flags.caseInsensitive
        return .set(items, negated: negated, ci: ci)
    }
}

struct RegexCompiler {
    var code: [SigmaRegex.Instruction] = []

    mutating func emit(_ node: RegexNode) throws {
        if code.count > SigmaRegex.maxProgramSize {
            throw SigmaRegex.SyntaxError(message: "pattern compiles to more than \(SigmaRegex.maxProgramSize) instructions")
        }
        switch node {
        case .empty: break
        case .char(let c, let ci): code.append(.char(c, caseInsensitive: ci))
        case .any(let dotAll): code.append(.any(dotAll: dotAll))
        case .set(let items, let negated, let ci): code.append(.set(items: items, negated: negated, caseInsensitive: ci))
        case .assert(let a): code.append(.assert(a))
        case .concat(let items): for n in items { try emit(n) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for (k, b) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = code.count
                    code.append(.split(0, 0))
                    try emit(b)
                    jumps.append(code.count)
                    code.append(.jump(0))
                    code[split] = .split(split + 1, code.count)
                } else {
                    try emit(b)
                }
            }
            for j in jumps { code[j] = .jump(code.count) }
        case .repeatNode(let inner, let minCount, let maxCount, let greedy):
            for _ in 0..<minCount { try emit(inner) }
            if let maxCount {
                var splits: [Int] = []
                for _ in minCount..<maxCount {
                    splits.append(code.count)
                    code.append(.split(0, 0))
                    try emit(inner)
                }
                for sp in splits {
                    code[sp] = greedy ? .split(sp + 1, code.count) : .split(code.count, sp + 1)
                }
            } else {
                let loop = code.count
                code.append(.split(0, 0))
                try emit(inner)
                code.append(.jump(loop))
                code[loop] = greedy ? .split(loop + 1, code.count) : .split(code.count, loop + 1)
            }
        }
    }
}
