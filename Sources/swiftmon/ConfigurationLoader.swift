import Crypto
import Glibc
import SwiftmonCore
import SwiftmonRules

/// The Sysmon configuration `run` filters with: the file given with
/// `--config`, re-read on SIGHUP, or the embedded default.
struct ConfigurationLoader {
    let path: String?

    struct Loaded {
        let ruleSet: RuleSet
        /// What event 16 says: the file's path, or "<embedded default>".
        let name: String
        /// `SHA256=…` of the file's bytes, as Sysmon's ConfigurationFileHash.
        let hash: String
        let warnings: [Diagnostic]
    }

    /// Reads and compiles the configuration; throws the file's errors, with
    /// their locations, when it cannot be used.
    func load() throws -> Loaded {
        guard let path else {
            let rules = RuleSet.embeddedDefault
            return Loaded(ruleSet: rules, name: "<embedded default>",
                          hash: ConfigurationLoader.hash(rules.configuration.bytes), warnings: [])
        }
        let (config, diagnostics) = try SysmonConfig.load(path: path)
        return Loaded(ruleSet: RuleSet(config), name: path, hash: ConfigurationLoader.hash(config.bytes),
                      warnings: diagnostics.filter { $0.severity != .error })
    }

    static func hash(_ bytes: [UInt8]) -> String {
        "SHA256=" + SHA256.hash(data: bytes).map { b in
            let s = String(b, radix: 16, uppercase: true)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }
}
