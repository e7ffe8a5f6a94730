import SwiftmonCore

/// Turns the XML tree of a configuration into a ``SysmonConfig``, checking
/// every element, attribute, field and condition against Sysmon 4.90's schema
/// and reporting each problem with its location.
struct ConfigReader {
    let bytes: [UInt8]
    let path: String
    var diagnostics: [Diagnostic] = []
    var versionWarned = Set<String>()

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    mutating func report(_ severity: Diagnostic.Severity, _ location: SourceLocation, _ message: String,
                         windowsOnly: Bool = false) {
        diagnostics.append(Diagnostic(file: path, line: location.line, column: location.column,
                                      severity: severity, message: message, windowsOnly: windowsOnly))
    }

    consuming func read() -> (SysmonConfig?, [Diagnostic]) {
        if bytes.count > SysmonConfig.maximumFileSize {
            report(.error, SourceLocation(line: 0, column: 0),
                   "file is \(SysmonConfig.megabytes(bytes.count)); a Sysmon configuration may be at most \(SysmonConfig.megabytes(SysmonConfig.maximumFileSize))")
            return (nil, diagnostics)
        }
        let root: XMLNode
        switch XMLTree(bytes: bytes).parse() {
        case .failure(let message, let location):
            report(.error, location, message)
            return (nil, diagnostics)
        case .root(let node):
            root = node
        }
        guard root.name == "Sysmon" else {
            report(.error, root.location, "the root element is <\(root.name)>; a Sysmon configuration starts with <Sysmon schemaversion=\"4.90\">")
            return (nil, diagnostics)
        }
        checkAttributes(root, allowed: ["schemaversion"])
        guard let versionText = root.attributes["schemaversion"] else {
            report(.error, root.location, "<Sysmon> has no schemaversion attribute; write for example <Sysmon schemaversion=\"4.90\">")
            return (nil, diagnostics)
        }
        guard let version = SchemaVersion(versionText) else {
            report(.error, root.location, "invalid schemaversion \"\(versionText)\": expected a number such as 4.90")
            return (nil, diagnostics)
        }
        if version < SchemaVersion.oldestSupported {
            report(.error, root.location, "schema version \(version) is not supported: swiftmon reads schema versions \(SchemaVersion.oldestSupported) to \(SchemaVersion.newestKnown)")
            return (nil, diagnostics)
        }
        if version > SchemaVersion.newestKnown {
            report(.warning, root.location, "schema version \(version) is newer than \(SchemaVersion.newestKnown), the newest swiftmon knows; reading it as \(SchemaVersion.newestKnown)")
        }

        var options: [SysmonConfig.Option] = []
        var blocks: [RuleBlock] = []
        var sawFiltering = false
        if !root.text.trimmingSpaces.isEmpty {
            report(.error, root.location, "text directly inside <Sysmon> is not allowed")
        }
        for child in root.children {
            if child.name == "EventFiltering" {
                if sawFiltering { report(.error, child.location, "a second <EventFiltering>; a configuration has one") }
                sawFiltering = true
                checkAttributes(child, allowed: [])
                readFiltering(child, version: version, into: &blocks)
                continue
            }
            guard let usedOnLinux = SysmonSchema.options[child.name] else {
                let valid = (["EventFiltering"] + SysmonSchema.options.keys.sorted()).joined(separator: ", ")
                report(.error, child.location, "unknown element <\(child.name)> in <Sysmon>; valid elements are \(valid)")
                continue
            }
            checkAttributes(child, allowed: [])
            if !child.children.isEmpty {
                report(.error, child.children[0].location, "<\(child.name)> holds a value, not elements")
            }
            let value = child.text.trimmingSpaces
            options.append(SysmonConfig.Option(name: child.name, value: value, location: child.location))
            if !usedOnLinux {
                report(.warning, child.location, "option <\(child.name)> is Windows-only; swiftmon ignores it", windowsOnly: true)
            } else if child.name == "HashAlgorithms" {
                for name in value.split(separator: ",").map({ $0.trimmingSpaces.lowercased() })
                where !SysmonSchema.hashAlgorithms.contains(name) {
                    report(.error, child.location, "unknown hash algorithm \"\(name)\" in <HashAlgorithms>; valid are \(SysmonSchema.hashAlgorithms.joined(separator: ", "))")
                }
            } else if child.name == "FieldSizes" {
                for item in value.split(separator: ",") {
                    let parts = item.split(separator: ":", maxSplits: 1)
                    if parts.count != 2 || Int(parts[1].trimmingSpaces).map({ $0 > 0 }) != true {
                        report(.error, child.location, "invalid <FieldSizes> entry \"\(item)\": expected Field:characters, for example CommandLine:1000")
                    }
                }
            }
        }
        warnNeverLogged(blocks)
        let config = SysmonConfig(path: path, bytes: bytes, schemaVersion: version, options: options,
                                  blocks: ConfigReader.numberCompounds(blocks))
        return (config, diagnostics)
    }

    mutating func readFiltering(_ node: XMLNode, version: SchemaVersion, into blocks: inout [RuleBlock]) {
        if !node.text.trimmingSpaces.isEmpty { report(.error, node.location, "text directly inside <EventFiltering> is not allowed") }
        for child in node.children {
            if child.name == "RuleGroup" {
                checkAttributes(child, allowed: ["name", "groupRelation"])
                // Without groupRelation Sysmon keeps the schema-version default (AND after 4.10).
                var relation: GroupRelation = version > SchemaVersion.lastOrDefault ? .and : .or
                if let text = child.attributes["groupRelation"] {
                    if let r = GroupRelation(rawValue: text.lowercased()) { relation = r } else {
                        report(.error, child.location, "invalid groupRelation \"\(text)\" on <RuleGroup>; valid are and, or")
                    }
                } else {
                    report(.warning, child.location, "<RuleGroup> without groupRelation: Sysmon's schema requires it; combining its rules with \(relation == .and ? "AND" : "OR"), as Sysmon does for schema \(version)")
                }
                if !child.text.trimmingSpaces.isEmpty { report(.error, child.location, "text directly inside <RuleGroup> is not allowed") }
                for event in child.children {
                    if event.name == "RuleGroup" {
                        report(.error, event.location, "<RuleGroup> cannot be nested in another <RuleGroup>")
                        continue
                    }
                    readBlock(event, relation: relation, groupName: child.attributes["name"], into: &blocks)
                }
            } else {
                // Outside a RuleGroup: OR up to schema 4.10, AND after (Sysmon keeps old files working).
                let relation: GroupRelation = version > SchemaVersion.lastOrDefault ? .and : .or
                readBlock(child, relation: relation, groupName: nil, into: &blocks)
            }
        }
        for block in blocks where !versionWarned.contains(block.tag) {
            if let needed = SysmonSchema.introduced[block.tag], version < needed {
                versionWarned.insert(block.tag)
                report(.warning, block.location, "<\(block.tag)> needs schemaversion \(needed) or later: Sysmon rejects this file under \(version)")
            }
        }
    }

    mutating func readBlock(_ node: XMLNode, relation: GroupRelation, groupName: String?, into blocks: inout [RuleBlock]) {
        let tag = node.name
        guard SysmonSchema.ruleTags.contains(tag) else {
            report(.error, node.location, "unknown event <\(tag)>; valid events are RuleGroup, \(SysmonSchema.ruleTags.joined(separator: ", "))")
            return
        }
        checkAttributes(node, allowed: ["onmatch", "default"])
        let onMatch: OnMatch
        switch (node.attributes["onmatch"], node.attributes["default"]) {
        case (.some, .some):
            report(.error, node.location, "<\(tag)> has both onmatch and default; give only onmatch")
            return
        case (.none, .none):
            report(.error, node.location, "<\(tag)> needs an onmatch attribute: onmatch=\"include\" or onmatch=\"exclude\"")
            return
        case (.some(let text), .none):
            guard let m = OnMatch(rawValue: text.lowercased()) else {
                report(.error, node.location, "invalid onmatch \"\(text)\" on <\(tag)>; valid are include, exclude")
                return
            }
            onMatch = m
        case (.none, .some(let text)):
            // The older spelling: default="include" logs what does not match, i.e. onmatch="exclude".
            guard let d = OnMatch(rawValue: text.lowercased()) else {
                report(.error, node.location, "invalid default \"\(text)\" on <\(tag)>; valid are include, exclude")
                return
            }
            onMatch = d == .include ? .exclude : .include
        }
        if !node.text.trimmingSpaces.isEmpty { report(.error, node.location, "<\(tag)> holds filter elements, not text") }

        var items: [RuleItem] = []
        for child in node.children {
            if child.name == "Rule" {
                checkAttributes(child, allowed: ["name", "groupRelation"])
                var ruleRelation = GroupRelation.or
                let given = child.attributes["groupRelation"]
                if let text = given {
                    if let r = GroupRelation(rawValue: text.lowercased()) { ruleRelation = r } else {
                        report(.error, child.location, "invalid groupRelation \"\(text)\" on <Rule>; valid are and, or")
                    }
                }
                if given == nil {
                    report(.warning, child.location, "<Rule> without groupRelation: Sysmon combines its filters with OR (its documentation says AND); write groupRelation=\"and\" or \"or\"")
                }
                if !child.text.trimmingSpaces.isEmpty { report(.error, child.location, "<Rule> holds filter elements, not text") }
                let ruleName = child.attributes["name"]
                if let ruleName, ruleName.utf8.count > 255 {
                    report(.error, child.location, "Rule name is longer than 255 characters")
                }
                var filters: [FieldFilter] = []
                for f in child.children {
                    if f.name == "Rule" {
                        report(.error, f.location, "<Rule> cannot be nested in another <Rule>")
                        continue
                    }
                    if let filter = readFilter(f, tag: tag, fallbackName: ruleName ?? groupName) { filters.append(filter) }
                }
                if filters.isEmpty {
                    report(.warning, child.location, "empty <Rule>: it never matches")
                }
                items.append(.compound(CompoundRule(name: ruleName, relation: ruleRelation, relationGiven: given != nil,
                                                    filters: filters, location: child.location, aggregationID: 0)))
            } else if let filter = readFilter(child, tag: tag, fallbackName: groupName) {
                items.append(.filter(filter))
            }
        }
        let block = RuleBlock(tag: tag, onMatch: onMatch, relation: relation, groupName: groupName, items: items,
                              location: node.location, order: blocks.count)
        checkFields(block)
        blocks.append(block)
    }

    mutating func readFilter(_ node: XMLNode, tag: String, fallbackName: String?) -> FieldFilter? {
        checkAttributes(node, allowed: ["condition", "name"])
        if let first = node.children.first {
            report(.error, first.location, "filter <\(node.name)> holds a value, not elements")
        }
        var condition = Condition.default
        if let text = node.attributes["condition"], !text.isEmpty {
            guard let c = Condition(attribute: text) else {
                report(.error, node.location, "unknown condition \"\(text)\" on <\(node.name)>; valid conditions are \(Condition.validList)")
                return nil
            }
            condition = c
        }
        let name = node.attributes["name"] ?? fallbackName ?? ""
        if name.utf8.count > 255 {
            report(.error, node.location, "rule name is longer than 255 characters")
        }
        return FieldFilter(field: node.name, condition: condition, value: node.text, ruleName: name, location: node.location)
    }

    /// Every field must exist in the event, and all fields of one block in the
    /// same event of the tag's series (RegistryEvent: 12, 13 or 14).
    mutating func checkFields(_ block: RuleBlock) {
        var filters: [FieldFilter] = []
        for item in block.items {
            switch item {
            case .filter(let f): filters.append(f)
            case .compound(let c): filters += c.filters
            }
        }
        let sets = SysmonSchema.fieldSets(of: block.tag)
        let union = sets.reduce(into: Set<String>()) { $0.formUnion($1) }
        var unknown = false
        for f in filters where !union.contains(f.field) {
            unknown = true
            let valid = SysmonSchema.sysmonEvents[block.tag].map { events in
                var seen = Set<String>(); var names: [String] = []
                for e in events { for name in e.fields where seen.insert(name).inserted { names.append(name) } }
                for k in EventKind.withRuleTag(block.tag) { for name in k.fields where seen.insert(name).inserted { names.append(name) } }
                return names
            } ?? EventKind.withRuleTag(block.tag).first?.fields ?? []
            report(.error, f.location, "unknown field <\(f.field)> in <\(block.tag)>; valid fields are \(valid.joined(separator: ", "))")
        }
        if !unknown, sets.count > 1, !sets.contains(where: { set in filters.allSatisfy { set.contains($0.field) } }) {
            report(.error, block.location, "the fields of this <\(block.tag)> belong to different events of \(block.tag); split them into separate blocks")
        }
        if SysmonSchema.windowsOnlyTags.contains(block.tag) {
            report(.warning, block.location,
                   "<\(block.tag)> is a Windows-only event: no Linux source produces it, so \(block.filterCount == 1 ? "its filter never matches" : "its \(block.filterCount) filters never match") on this host",
                   windowsOnly: true)
        } else {
            for f in filters where SysmonSchema.windowsOnlyFields.contains(f.field) {
                report(.warning, f.location, "field <\(f.field)> of <\(block.tag)> is Windows-only: on Linux its value is always \"-\"",
                       windowsOnly: true)
            }
        }
    }

    /// With several blocks for one event, Sysmon logs only what an include
    /// block matches; exclude-only blocks then drop everything.
    mutating func warnNeverLogged(_ blocks: [RuleBlock]) {
        var byTag: [String: [RuleBlock]] = [:]
        for b in blocks { byTag[b.tag, default: []].append(b) }
        for (tag, list) in byTag.sorted(by: { $0.key < $1.key }) where list.count > 1 {
            if !list.contains(where: { $0.onMatch == .include && $0.filterCount > 0 }) {
                report(.warning, list[1].location, "<\(tag)> has \(list.count) blocks but no include filter: with several blocks Sysmon logs only events an include filter matches, so no \(tag) event is logged; merge the exclude filters into one block")
            }
        }
    }

    mutating func checkAttributes(_ node: XMLNode, allowed: [String]) {
        for name in node.attributes.keys.sorted() where !allowed.contains(name) {
            let valid = allowed.isEmpty ? "it takes no attributes" : "valid attributes are \(allowed.joined(separator: ", "))"
            report(.error, node.location, "unknown attribute \(name) on <\(node.name)>; \(valid)")
        }
    }

    /// Gives every `<Rule>` the number Sysmon's rule builder gives it
    /// (`ApplyConfigurationFile` in SysmonCommon's xml.cpp): one counter for
    /// the whole file, walked in dump order (EventID, then file order).
    ///
    /// A tag that selects several events (RegistryEvent: 12, 13, 14; WmiEvent:
    /// 19, 20, 21) is tried as each event of its series in turn until one has
    /// every field the block names. Each try walks the block's items in file
    /// order and takes a number for every `<Rule>` it reaches, stopping at the
    /// first field the event lacks; the numbers a failed try took are not given
    /// back. So a RegistryEvent block whose first `Details` filter (event 13
    /// only) comes after eight `<Rule>`s moves every later number up by eight.
    static func numberCompounds(_ blocks: [RuleBlock]) -> [RuleBlock] {
        var counter = 0
        var renumbered = blocks
        let order = blocks.indices.sorted {
            (SysmonSchema.sortID(of: blocks[$0].tag), $0) < (SysmonSchema.sortID(of: blocks[$1].tag), $1)
        }
        for i in order {
            let b = blocks[i]
            var numbers: [Int] = []
            for fields in SysmonSchema.fieldSets(of: b.tag) {
                numbers = []
                if tryNumbering(b.items, fields: fields, counter: &counter, numbers: &numbers) { break }
            }
            // No event of the series fits (an error `check` reports): number the rest plainly.
            let compounds = b.items.reduce(0) { n, item in if case .compound = item { n + 1 } else { n } }
            while numbers.count < compounds {
                counter += 1
                numbers.append(counter)
            }
            var next = numbers.makeIterator()
            let items = b.items.map { item -> RuleItem in
                guard case .compound(let c) = item else { return item }
                return .compound(CompoundRule(name: c.name, relation: c.relation, relationGiven: c.relationGiven,
                                              filters: c.filters, location: c.location, aggregationID: next.next()!))
            }
            renumbered[i] = RuleBlock(tag: b.tag, onMatch: b.onMatch, relation: b.relation, groupName: b.groupName,
                                      items: items, location: b.location, order: b.order)
        }
        return renumbered
    }

    /// One try of a block as one event with `fields`: false at the first field
    /// the event lacks, after `numbers` took a number for each `<Rule>` reached
    /// (including the one holding that field).
    static func tryNumbering(_ items: [RuleItem], fields: Set<String>, counter: inout Int, numbers: inout [Int]) -> Bool {
        for item in items {
            switch item {
            case .filter(let f):
                if !fields.contains(f.field) { return false }
            case .compound(let c):
                counter += 1
                numbers.append(counter)
                if c.filters.contains(where: { !fields.contains($0.field) }) { return false }
            }
        }
        return true
    }
}
