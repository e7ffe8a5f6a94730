/// A filter's condition and value prepared for matching: the value
/// lower-cased once into UTF-8 bytes, list conditions split once, `image`
/// resolved to a whole-path or a file-name comparison. ``KindRules`` stores
/// the result in its tables and matches with Sysmon's semantics
/// (`MatchFilterOnSpecificRule` in Sysinternals/SysmonCommon rules.c).
struct CompiledCondition: Sendable {
    enum Operation: Sendable {
        case equals, notEquals, isAny
        case contains, excludes, containsAny, excludesAny, containsAll, excludesAll
        case beginWith, notBeginWith, endWith, notEndWith
        case lessThan, moreThan
        /// `image` whose value names no directory: compare the file name only.
        case imageName
    }

    let operation: Operation
    let pattern: [UInt8]
    let tokens: [[UInt8]]

    init(condition: Condition, value: String) {
        let lowered = CaseFolding.fold(value)
        pattern = lowered
        var tokens: [[UInt8]] = []
        switch condition {
        case .is: operation = .equals
        case .isNot: operation = .notEquals
        case .isAny: operation = .isAny
        case .contains: operation = .contains
        case .excludes: operation = .excludes
        case .containsAny: operation = .containsAny
        case .excludesAny: operation = .excludesAny
        case .containsAll: operation = .containsAll
        case .excludesAll: operation = .excludesAll
        case .beginWith: operation = .beginWith
        case .notBeginWith: operation = .notBeginWith
        case .endWith: operation = .endWith
        case .notEndWith: operation = .notEndWith
        case .lessThan: operation = .lessThan
        case .moreThan: operation = .moreThan
        case .image:
            // Sysmon compares the last path component when the filter names no
            // directory. Windows paths use '\', Linux paths '/': either counts.
            operation = lowered.contains(0x2F) || lowered.contains(0x5C) ? .equals : .imageName
        }
        if condition.takesList { tokens = CompiledCondition.items(lowered, forIsAny: condition == .isAny) }
        self.tokens = tokens
    }

    /// Splits a `;` list the way Sysmon's `NextItem` walks it. An empty item
    /// at the end is the empty string; an empty item elsewhere is, because
    /// Sysmon then compares with no length limit, the whole rest of the value
    /// from that `;` on. (`is any` compares lengths, so an empty item there is
    /// just the empty string.)
    static func items(_ value: [UInt8], forIsAny: Bool) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var start = 0
        while true {
            var end = start
            while end < value.count && value[end] != 0x3B { end += 1 }
            if end == start && end < value.count && !forIsAny {
                result.append(Array(value[start...]))
            } else {
                result.append(Array(value[start..<end]))
            }
            if end >= value.count { break }
            start = end + 1
        }
        return result
    }
}
