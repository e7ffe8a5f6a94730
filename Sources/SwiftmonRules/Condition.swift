/// A field filter's `condition` attribute, with the spelling Sysmon uses.
///
/// The order of ``allCases`` is Sysmon's own (its manifest's `<filters>` list),
/// so error messages list the valid conditions the way Sysmon does.
public enum Condition: String, CaseIterable, Sendable {
    case `is` = "is"
    case isNot = "is not"
    case contains = "contains"
    case containsAny = "contains any"
    case isAny = "is any"
    case containsAll = "contains all"
    case excludes = "excludes"
    case excludesAny = "excludes any"
    case excludesAll = "excludes all"
    case beginWith = "begin with"
    case notBeginWith = "not begin with"
    case endWith = "end with"
    case notEndWith = "not end with"
    case lessThan = "less than"
    case moreThan = "more than"
    case image = "image"

    /// The condition a filter has when its `condition` attribute is absent or empty.
    public static let `default` = Condition.is

    /// Parses a `condition` attribute. Sysmon compares the names case-insensitively.
    public init?(attribute: String) {
        let lowered = attribute.lowercased()
        guard let c = Condition(rawValue: lowered) else { return nil }
        self = c
    }

    /// The conditions that read their value as a `;`-separated list.
    public var takesList: Bool {
        switch self {
        case .isAny, .containsAny, .containsAll, .excludesAny, .excludesAll: return true
        default: return false
        }
    }

    /// "is, is not, contains, …" for diagnostics.
    public static var validList: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
