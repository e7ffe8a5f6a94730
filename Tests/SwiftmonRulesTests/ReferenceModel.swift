import SwiftmonCore
@testable import SwiftmonRules

/// A plain, slow transcription of Sysmon's decision procedure
/// (SysmonCommon rules.c: FilterEventRules, MatchFilterGroup,
/// CombineGroupDone, MatchFilterOnSpecificRule) over the parsed
/// configuration, with no indexing. Tests compare ``RuleSet`` against it.
struct ReferenceModel {
    let config: SysmonConfig

    /// (logged, RuleName or nil).
    func decide(_ event: Event) -> (Bool, String?) {
        guard let tag = event.kind.ruleTag else { return (true, nil) }
        let blocks = config.blocks.filter { $0.tag == tag }
        if blocks.isEmpty { return (event.kind.loggedWithoutRuleBlock, nil) }
        let ordered = blocks.filter { $0.onMatch == .exclude }.reversed() + blocks.filter { $0.onMatch == .include }.reversed()
        var name: String? = nil
        for b in ordered {
            if group(b, event, &name) {
                return b.onMatch == .include ? (true, name) : (false, nil)
            }
        }
        return blocks.count == 1 ? (blocks[0].onMatch == .exclude, nil) : (false, nil)
    }

    func value(_ event: Event, _ field: String) -> String? { event[field] }

    func group(_ b: RuleBlock, _ event: Event, _ name: inout String?) -> Bool {
        if b.items.allSatisfy({ if case .compound(let c) = $0 { return c.filters.isEmpty } else { return false } }) { return false }
        var matched = Set<String>()
        for (i, item) in b.items.enumerated() {
            switch item {
            case .compound(let c):
                if c.filters.isEmpty { continue }
                let m = compound(c, event, &name)
                if b.relation == .or && m { return true }
                if b.relation == .and && !m { return false }
            case .filter(let f):
                if matched.contains(f.field) { continue }
                let m = test(f, event)
                if m {
                    if !f.ruleName.isEmpty { name = f.ruleName }
                    matched.insert(f.field)
                }
                if b.relation == .or && m { return true }
                if b.relation == .and && !m {
                    let later = b.items[(i + 1)...].contains { if case .filter(let g) = $0 { return g.field == f.field } else { return false } }
                    if !later { return false }
                }
            }
        }
        return b.relation == .and
    }

    func compound(_ c: CompoundRule, _ event: Event, _ name: inout String?) -> Bool {
        for f in c.filters {
            let m = test(f, event)
            if m && !f.ruleName.isEmpty { name = f.ruleName }
            if c.relation == .or && m { return true }
            if c.relation == .and && !m { return false }
        }
        return c.relation == .and
    }

    func test(_ f: FieldFilter, _ event: Event) -> Bool {
        guard let raw = value(event, f.field) else { return false }
        let v = raw.lowercased()
        let p = f.value.lowercased()
        func items() -> [String] {
            // NextItem: an empty item before the end stands for the rest of the value.
            var out: [String] = []
            var rest = Substring(p)
            while true {
                if let semi = rest.firstIndex(of: ";") {
                    let item = rest[..<semi]
                    out.append(item.isEmpty && f.condition != .isAny ? String(rest) : String(item))
                    rest = rest[rest.index(after: semi)...]
                } else {
                    out.append(String(rest))
                    return out
                }
            }
        }
        func has(_ s: String) -> Bool { s.isEmpty ? !v.isEmpty : v.utf8.count >= s.utf8.count && v.contains(s) }
        switch f.condition {
        case .is: return v == p
        case .isNot: return v != p
        case .isAny: return items().contains(v)
        case .contains: return has(p)
        case .excludes: return !has(p)
        case .containsAny: return items().contains(where: has)
        case .excludesAny: return !items().contains(where: has)
        case .containsAll: return items().allSatisfy(has)
        case .excludesAll: return !items().allSatisfy(has)
        case .beginWith: return v.utf8.starts(with: p.utf8)
        case .notBeginWith: return !v.utf8.starts(with: p.utf8)
        case .endWith: return v.utf8.reversed().starts(with: p.utf8.reversed())
        case .notEndWith: return !v.utf8.reversed().starts(with: p.utf8.reversed())
        case .lessThan: return v.utf8.lexicographicallyPrecedes(p.utf8)
        case .moreThan: return p.utf8.lexicographicallyPrecedes(v.utf8)
        case .image:
            if p.contains("/") || p.contains("\\") { return v == p }
            let name = v.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? v
            return name == p
        }
    }
}
