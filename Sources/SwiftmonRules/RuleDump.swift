import SwiftmonCore

/// Sysmon's configuration dump (`sysmon -c`), so a user can diff swiftmon's
/// reading of a configuration against Sysmon's.
///
/// Layout and column widths follow `DumpConfiguration` in
/// Sysinternals/SysmonCommon (dumpConfiguration.c, with `CONFIG_FMT` "%-34s"
/// and `CONFIG_NAME(x)` " - x:" from service.h): first the settings, one
/// `%-34s%s` line each with the ` - ` and `:` inside the padded label, in
/// Sysmon for Windows' order and wording; then ` - %-34s onmatch: %s   combine
/// rules using '%s'` per block, `\t%-30s filter: %-12s value: '%s'` per
/// filter, `\tCompound Rule %.32s   combine using %s` (or `%04d` with the
/// rule's number when it is unnamed) with its filters indented four more
/// spaces. Blocks come in EventID order, then file order, as Sysmon stores them.
public enum RuleDump {
    /// `configHash` is the `Config hash` line's value (`SHA256=…` of the
    /// file's bytes, as event 16 reports it); the line is left out without it,
    /// as Sysmon leaves it out when it has none.
    public static func text(_ config: SysmonConfig, configHash: String? = nil) -> String {
        var out = settings(config, configHash: configHash)
        out += "\n"
        if config.blocks.isEmpty {
            out += "No rules installed\n"
            return out
        }
        out += "Rule configuration (version \(config.schemaVersion)):\n"
        let ordered = config.blocks.sorted {
            (SysmonSchema.sortID(of: $0.tag), $0.order) < (SysmonSchema.sortID(of: $1.tag), $1.order)
        }
        for block in ordered {
            out += " - " + pad(block.tag, 34) + " onmatch: \(block.onMatch.rawValue)   combine rules using '\(word(block.relation))'\n"
            for item in block.items {
                switch item {
                case .filter(let f):
                    out += "\t" + filterLine(f)
                case .compound(let c):
                    if c.filters.isEmpty { continue }  // no filter carries it, so Sysmon prints nothing for it
                    let name: String
                    if let n = c.name, !n.isEmpty { name = String(n.prefix(32)) } else { name = number(c.aggregationID) }
                    out += "\tCompound Rule \(name)   combine using \(word(c.relation))\n"
                    for f in c.filters { out += "\t    " + filterLine(f) }
                }
            }
        }
        return out
    }

    /// The settings part, with swiftmon's values under Sysmon's labels: what
    /// `swiftmon run` does with this configuration (without command-line
    /// overrides), so a difference from Sysmon's dump is a real difference.
    static func settings(_ config: SysmonConfig, configHash: String?) -> String {
        let rules = RuleSet(config)
        var out = "Current configuration:\n"
        out += setting("Service name", "swiftmon")
        // Sysmon's kernel driver; swiftmon loads its eBPF programs itself.
        out += setting("Driver name", "-")
        out += setting("Config file", config.path)
        if let configHash, !configHash.isEmpty { out += setting("Config hash", configHash) }
        if let sizes = config.options.last(where: { $0.name == "FieldSizes" })?.value, !sizes.isEmpty {
            out += setting("Field Sizes", sizes)
        }
        out += "\n"
        out += setting("HashingAlgorithms", hashingAlgorithms(config.hashAlgorithms))
        out += setting("Network connection", rules.mayLog(.networkConnect) ? "enabled" : "disabled")
        // Windows-only options (check warns about them): swiftmon archives no
        // deleted files, checks no certificate revocation, looks up no names.
        out += setting("Archive Directory", "-")
        out += setting("Image loading", rules.mayLog(.imageLoad) ? "enabled" : "disabled")
        out += setting("CRL checking", "disabled")
        out += setting("DNS lookup", "disabled")
        return out
    }

    /// `CONFIG_FMT CONFIG_NAME(label) "%s"`.
    static func setting(_ label: String, _ value: String) -> String {
        pad(" - " + label + ":", 34) + value + "\n"
    }

    /// The hashes `swiftmon run` computes for `HashAlgorithms` (as its
    /// FileHasher reads the list): upper-case names in the order written, `*`
    /// for all it knows, IMPHASH left out (a PE import hash means nothing for
    /// an ELF file), `-` for none (Sysmon's default is SHA256; swiftmon hashes
    /// only when asked).
    static func hashingAlgorithms(_ configured: [String]) -> String {
        if configured.contains("*") { return "MD5,SHA1,SHA256,SHA384,SHA512" }
        var names: [String] = []
        for name in configured.map({ $0.uppercased() }) where name != "IMPHASH" && !names.contains(name) {
            names.append(name)
        }
        return names.isEmpty ? "-" : names.joined(separator: ",")
    }

    static func filterLine(_ f: FieldFilter) -> String {
        pad(f.field, 30) + " filter: " + pad(f.condition.rawValue, 12) + " value: '" + f.value + "'\n"
    }

    static func word(_ r: GroupRelation) -> String { r == .and ? "And" : "Or" }

    static func pad(_ s: String, _ width: Int) -> String {
        let n = s.count
        return n >= width ? s : s + String(repeating: " ", count: width - n)
    }

    static func number(_ n: Int) -> String {
        let digits = String(n)
        return digits.count >= 4 ? digits : String(repeating: "0", count: 4 - digits.count) + digits
    }
}
