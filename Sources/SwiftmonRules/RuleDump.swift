/// Sysmon's rule dump (`sysmon -c`), so a user can diff swiftmon's reading of
/// a configuration against Sysmon's.
///
/// Layout and column widths follow `DumpConfiguration` in
/// Sysinternals/SysmonCommon (dumpConfiguration.c, with `CONFIG_FMT` "%-34s"
/// from service.h): ` - %-34s onmatch: %s   combine rules using '%s'` per
/// block, `\t%-30s filter: %-12s value: '%s'` per filter,
/// `\tCompound Rule %.32s   combine using %s` (or `%04d` with the rule's
/// number when it is unnamed) with its filters indented four more spaces.
/// Blocks come in EventID order, then file order, as Sysmon stores them.
public enum RuleDump {
    public static func text(_ config: SysmonConfig) -> String {
        var out = ""
        for option in config.options {
            out += " - " + pad(option.name + ":", 34) + option.value + "\n"
        }
        if !config.options.isEmpty { out += "\n" }
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
                    if c.filters.isEmpty { continue }  // Sysmon stores no trace of an empty <Rule>
                    let name: String
                    if let n = c.name, !n.isEmpty { name = String(n.prefix(32)) } else { name = number(c.aggregationID) }
                    out += "\tCompound Rule \(name)   combine using \(word(c.relation))\n"
                    for f in c.filters { out += "\t    " + filterLine(f) }
                }
            }
        }
        return out
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
