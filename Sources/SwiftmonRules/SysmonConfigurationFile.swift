import Crypto
import SwiftmonCore

/// The Sysmon configuration a live run filters with: the file given with
/// `--config`, read again on SIGHUP, or the embedded default.
public final class SysmonConfigurationFile: FilterConfiguration {
    public let path: String?

    public init(path: String?) { self.path = path }

    public var canReload: Bool { path != nil }

    /// Reads and compiles the configuration; throws the file's errors, with
    /// their locations, when it cannot be used.
    public func load() throws -> LoadedConfiguration { try loadRules().loaded }

    /// The compiled rules with what else a caller may want: the hash
    /// algorithms the configuration asks for, warnings that are Windows-only.
    public func loadRules() throws -> (ruleSet: RuleSet, loaded: LoadedConfiguration, diagnostics: [Diagnostic]) {
        let (ruleSet, name, bytes, warnings) = try read()
        let loaded = LoadedConfiguration(filter: SysmonFilter(ruleSet), name: name, hash: Self.hash(bytes),
                                         loggedEventIDs: Set(ruleSet.loggedKinds.map(\.id)),
                                         warnings: warnings.map { "\($0)" })
        return (ruleSet, loaded, warnings)
    }

    private func read() throws -> (RuleSet, String, [UInt8], [Diagnostic]) {
        guard let path else {
            let rules = RuleSet.embeddedDefault
            return (rules, "<embedded default>", rules.configuration.bytes, [])
        }
        let (config, diagnostics) = try SysmonConfig.load(path: path)
        return (RuleSet(config), path, config.bytes, diagnostics.filter { $0.severity != .error })
    }

    /// `SHA256=…` in upper-case hex, as Sysmon's ConfigurationFileHash.
    public static func hash(_ bytes: [UInt8]) -> String {
        "SHA256=" + SHA256.hash(data: bytes).map { b in
            let s = String(b, radix: 16, uppercase: true)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }
}
