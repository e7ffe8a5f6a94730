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
    /// ``byKind`` as ``evaluate(_:)`` reads it: no reference count per event
    /// (``byKind`` owns the rules).
    private let kindTable: KindTable
    struct KindTable: @unchecked Sendable {  // written in init, only read after, freed in deinit
        let rules: UnsafeMutableBufferPointer<Unmanaged<KindRules>?>
    }

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
        let refs = UnsafeMutableBufferPointer<Unmanaged<KindRules>?>.allocate(capacity: 256)
        _ = refs.initialize(from: table.map { $0.map { Unmanaged.passUnretained($0) } })
        kindTable = KindTable(rules: refs)
    }

    deinit { kindTable.rules.deallocate() }

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
        guard id >= 0, id < 256, let kindRules = kindTable.rules[id] else {
            // Kinds without a rule tag (4, 16, 255) cannot be filtered.
            return event.kind.ruleTag == nil || event.kind.loggedWithoutRuleBlock
        }
        return kindRules._withUnsafeGuaranteedRef { rules in
            let (logged, nameID) = rules.decide(event)
            if logged, let i = rules.ruleNameIndex {
                // Written only when it changes: the event is often a copy that
                // shares its values with the caller's batch, and a write copies
                // them all (one allocation per event for nothing).
                let name = nameID >= 0 ? rules.names[Int(nameID)] : Event.absent
                if event[i] != name { event[i] = name }
            }
            return logged
        }
    }

    /// Whether any event of `kind` can be logged under this configuration; a
    /// source can leave its probe off when not (Sysmon's `IdHasIncludeRules`).
    public func mayLog(_ kind: EventKind) -> Bool {
        guard kind.id >= 0, kind.id < 256, let rules = byKind[kind.id] else {
            return kind.ruleTag == nil || kind.loggedWithoutRuleBlock
        }
        return rules.mayLog
    }

    /// The event kinds this configuration can log.
    public var loggedKinds: [EventKind] { EventKind.all.filter(mayLog) }

    /// Cuts the fields named in `FieldSizes` to their configured number of
    /// characters, as Sysmon does when it captures them (call before
    /// ``evaluate(_:)``). Fields the event lacks are ignored.
    public func applyFieldSizes(_ event: inout Event) {
        for (field, size) in fieldSizes {
            guard let value = event[field], value.count > size else { continue }
            event[field] = String(value.prefix(size))
        }
    }

    /// Event 16 (configuration loaded or changed) for this configuration.
    /// `fileHash` is the caller's digest of ``SysmonConfig/bytes``, written as
    /// Sysmon writes it (`SHA256=…`).
    public func configurationChangeEvent(time: EventTime = .now(), fileHash: String) -> Event {
        var event = Event(.configurationChange, time: time)
        event["Configuration"] = configuration.path
        event["ConfigurationFileHash"] = fileHash
        return event
    }
}

/// The live pipeline's filter: a configuration's FieldSizes, then its rules.
public struct SysmonFilter: EventFilter {
    public let ruleSet: RuleSet
    private let cutsFields: Bool

    public init(_ ruleSet: RuleSet) {
        self.ruleSet = ruleSet
        cutsFields = !ruleSet.fieldSizes.isEmpty
    }

    public func evaluate(_ event: inout Event) -> Bool {
        if cutsFields { ruleSet.applyFieldSizes(&event) }
        return ruleSet.evaluate(&event)
    }
}
