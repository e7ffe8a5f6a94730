/// Sigma's condition language: `and or not`, parentheses, `1 of` / `all of`
/// over names with wildcards and `them`.
struct SigmaConditionParser {
    enum Token: Equatable { case word(String), open, close, pipe }
    var tokens: [Token] = []
    var position = 0
    let names: [(String, SigmaExpr)]

    init(_ text: String, names: [(String, SigmaExpr)]) {
        self.names = names
        var current = ""
        func flush() { if !current.isEmpty { tokens.append(.word(current)); current = "" } }
        for ch in text {
            switch ch {
            case "(": flush(); tokens.append(.open)
            case ")": flush(); tokens.append(.close)
            case "|": flush(); tokens.append(.pipe)
            case " ", "\t", "\n", "\r": flush()
            default: current.append(ch)
            }
        }
        flush()
    }

    mutating func parse() throws -> SigmaExpr {
        if tokens.isEmpty { throw SigmaCompileError("empty condition") }
        let e = try orExpr()
        if position < tokens.count {
            if tokens[position] == .pipe {
                throw SigmaCompileError("aggregations ('| count() …') are Sigma 1; write a correlation rule")
            }
            throw SigmaCompileError("unexpected \(describe(tokens[position])) in condition")
        }
        return e
    }

    func describe(_ t: Token) -> String {
        switch t {
        case .word(let w): return "'\(w)'"
        case .open: return "'('"
        case .close: return "')'"
        case .pipe: return "'|'"
        }
    }

    func peekWord() -> String? {
        guard position < tokens.count, case .word(let w) = tokens[position] else { return nil }
        return w
    }

    mutating func orExpr() throws -> SigmaExpr {
        var items = [try andExpr()]
        while peekWord()?.lowercased() == "or" { position += 1; items.append(try andExpr()) }
        return items.count == 1 ? items[0] : .or(items)
    }

    mutating func andExpr() throws -> SigmaExpr {
        var items = [try notExpr()]
        while peekWord()?.lowercased() == "and" { position += 1; items.append(try notExpr()) }
        return items.count == 1 ? items[0] : .and(items)
    }

    mutating func notExpr() throws -> SigmaExpr {
        if peekWord()?.lowercased() == "not" { position += 1; return .not(try notExpr()) }
        return try primary()
    }

    mutating func primary() throws -> SigmaExpr {
        guard position < tokens.count else { throw SigmaCompileError("condition ends too early") }
        switch tokens[position] {
        case .open:
            position += 1
            let e = try orExpr()
            guard position < tokens.count, tokens[position] == .close else { throw SigmaCompileError("missing ')' in condition") }
            position += 1
            return e
        case .close, .pipe:
            throw SigmaCompileError("unexpected \(describe(tokens[position])) in condition")
        case .word(let w):
            position += 1
            let lw = w.lowercased()
            if ["and", "or"].contains(lw) { throw SigmaCompileError("'\(w)' without a left operand") }
            if peekWord()?.lowercased() == "of" {
                position += 1
                guard let target = peekWord() else { throw SigmaCompileError("'\(w) of' names nothing") }
                position += 1
                let selected: [SigmaExpr]
                if target.lowercased() == "them" {
                    selected = names.filter { !$0.0.hasPrefix("_") }.map(\.1)
                } else {
                    let pattern = SigmaPattern(sigma: target)
                    selected = names.filter { name, _ in
                        Array(name.utf8).withUnsafeBufferPointer { pattern.matches($0) }
                    }.map(\.1)
                }
                if selected.isEmpty { throw SigmaCompileError("'\(w) of \(target)' matches no search identifier") }
                switch lw {
                case "all": return selected.count == 1 ? selected[0] : .and(selected)
                case "1", "any": return selected.count == 1 ? selected[0] : .or(selected)
                default:
                    guard let n = Int(lw), n > 0 else { throw SigmaCompileError("'\(w) of': expected 1, all or a count") }
                    return Self.atLeast(n, selected)
                }
            }
            guard let found = names.first(where: { $0.0 == w }) else {
                throw SigmaCompileError("condition names '\(w)', which is not a search identifier of the detection")
            }
            return found.1
        }
    }

    /// At least `n` of `items`: the OR of every `n`-subset's AND (kept small: n of few).
    static func atLeast(_ n: Int, _ items: [SigmaExpr]) -> SigmaExpr {
        if n > items.count { return .constant(false) }
        if n == 1 { return .or(items) }
        if n == items.count { return .and(items) }
        var out: [SigmaExpr] = []
        func choose(_ start: Int, _ picked: [SigmaExpr]) {
            if picked.count == n { out.append(.and(picked)); return }
            if out.count > 1000 { return }
            for i in start..<items.count { choose(i + 1, picked + [items[i]]) }
        }
        choose(0, [])
        return .or(out)
    }
}
