import ArgumentParser
import Foundation
import SwiftmonCore
import SwiftmonRules
import SwiftmonSigma
import SwiftmonSinks
import SwiftmonStore
import SwiftmonSystem

/// `--sigma PATH` and `--sigma-min-level` for the commands that read events.
struct SigmaOptions: ParsableArguments {
    @Option(name: .customLong("sigma"), help: ArgumentHelp("Evaluate these Sigma rules (a .yml file or a folder of them, repeatable) on every event the configuration keeps; each match is a SigmaMatch event (210) in every output. SigmaHQ's rules are under the Detection Rule License 1.1: alerts keep the rule's author.", valueName: "path"))
    var paths: [String] = []

    @Option(name: .customLong("sigma-min-level"), help: ArgumentHelp("Raise alerts only for rules of this level or above: informational, low, medium, high, critical.", valueName: "level"))
    var minimumLevel: String?

    @Option(name: .customLong("sigma-placeholder"), help: ArgumentHelp("Values for a %name% placeholder of |expand, as name=value1,value2 (repeatable).", valueName: "name=values"))
    var placeholders: [String] = []

    func validate() throws {
        if let minimumLevel, SigmaLevel.rank(minimumLevel) == nil {
            throw ValidationError("--sigma-min-level must be one of \(SigmaLevel.names.joined(separator: ", ")), not \(minimumLevel)")
        }
        for p in placeholders where !p.contains("=") {
            throw ValidationError("--sigma-placeholder takes name=value1,value2, not \(p)")
        }
    }

    var compiler: SigmaCompiler { Self.compiler(placeholders: placeholders) }

    static func compiler(placeholders: [String]) -> SigmaCompiler {
        var table: [String: [String]] = [:]
        for p in placeholders {
            let parts = p.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            table[String(parts[0]), default: []] += parts[1].split(separator: ",").map(String.init)
        }
        return SigmaCompiler(placeholders: table)
    }

    /// The detector for the rules given, or nil without `--sigma`. Rules that cannot
    /// be loaded are reported on stderr (file:line and why); none loaded is an error.
    func detector(products: Set<String>) throws -> SigmaDetector? {
        try Self.detector(paths: paths, products: products, minimumLevel: minimumLevel, compiler: compiler)
    }

    static func detector(paths: [String], products: Set<String>, minimumLevel: String?,
                         compiler: SigmaCompiler) throws -> SigmaDetector? {
        guard !paths.isEmpty else { return nil }
        let set: SigmaRuleSet
        do {
            set = try SigmaRuleSet(paths: paths, products: products, compiler: compiler,
                                   minimumLevel: minimumLevel.flatMap(SigmaLevel.rank))
        } catch {
            throw CleanExit.failure("\(error)")
        }
        var rejected = 0
        for report in set.reports where report.outcome == .rejected {
            rejected += 1
            sigmaNote("\(report)")
        }
        guard set.loadedCount > 0 else {
            throw CleanExit.failure("no Sigma rule could be loaded from \(paths.joined(separator: ", "))")
        }
        sigmaNote("\(set.loadedCount) rules loaded, \(rejected) not loaded (swiftmon sigma check tells why)")
        return SigmaDetector(set)
    }
}

/// `swiftmon sigma check|hunt`.
struct Sigma: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sigma",
        abstract: "Check Sigma rules, or hunt with them through a store.",
        subcommands: [Check.self, Hunt.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say for each Sigma rule whether swiftmon loads it, or why not (file:line).",
            discussion: """
                product linux rules run on the live sensor (run), product windows rules on .etl \
                traces (etl). A rule whose logsource or fields swiftmon cannot serve, whose YAML \
                is broken or whose modifiers are unknown is listed with the reason. Exit status 1 \
                when any rule is not loaded.
                """
        )
        @Argument(help: "Rule files or folders.") var paths: [String]
        @Option(name: .customLong("product"), help: "Check for these products only (linux, windows; repeatable).")
        var products: [String] = ["linux", "windows"]
        @Flag(name: [.short, .long], help: "List only the rules that are not loaded.") var quiet = false
        @Option(name: .customLong("sigma-placeholder"), help: ArgumentHelp("Values for a %name% placeholder of |expand, as name=value1,value2 (repeatable).", valueName: "name=values"))
        var placeholders: [String] = []

        func run() throws {
            let set: SigmaRuleSet
            do {
                set = try SigmaRuleSet(paths: paths, products: Set(products),
                                       compiler: SigmaOptions.compiler(placeholders: placeholders))
            } catch {
                throw CleanExit.failure("\(error)")
            }
            var out = ""
            var loaded = 0, skipped = 0, rejected = 0
            for report in set.reports {
                switch report.outcome {
                case .loaded: loaded += 1
                case .skipped: skipped += 1
                case .rejected: rejected += 1
                }
                if quiet, report.outcome != .rejected { continue }
                out += Self.printable(report.description) + "\n"
            }
            out += "\(loaded) loaded, \(rejected) not loaded, \(skipped) skipped\n"
            try Array(out.utf8).withUnsafeBytes { try Syscalls.writeAll(1, $0, "standard output") }
            if rejected > 0 { throw ExitCode(1) }
        }

        /// Control characters from a rule file are shown escaped, never sent to the terminal.
        static func printable(_ s: String) -> String {
            var out = ""
            for u in s.unicodeScalars {
                if u.value < 0x20 || u.value == 0x7F { out += "\\x" + String(format: "%02x", u.value) } else { out.unicodeScalars.append(u) }
            }
            return out
        }
    }

    struct Hunt: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run Sigma rules over the events of a store (retro-hunt); print the SigmaMatch events.",
            discussion: "Both product linux and product windows rules run. Correlations see the stored events in order."
        )
        @Option(help: "The store file.") var store: String
        @Argument(help: "Rule files or folders.") var paths: [String]
        @Option(help: "Only events at or after this time (as for query).") var since: String?
        @Option(help: "Only events at or before this time.") var until: String?
        @Option(name: .customLong("sigma-min-level"), help: ArgumentHelp("Only rules of this level or above.", valueName: "level"))
        var minimumLevel: String?
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if let minimumLevel, SigmaLevel.rank(minimumLevel) == nil {
                throw ValidationError("--sigma-min-level must be one of \(SigmaLevel.names.joined(separator: ", "))")
            }
        }

        func run() throws {
            guard let detector = try SigmaOptions.detector(paths: paths, products: ["linux", "windows"],
                                                           minimumLevel: minimumLevel, compiler: SigmaCompiler()) else { return }
            let reader = try StoreReader(path: store)
            var filter = StoreFilter()
            filter.eventIDs = detector.ruleSet.kinds.map(\.id)
            filter.since = try since.map { try StoreExpression.time($0) }
            filter.until = try until.map { try StoreExpression.time($0) }
            filter.limit = nil
            ignoreBrokenPipe()
            let sink = try output.makeSink(recordIDs: EventRecordCounter(startingAt: 1))
            struct ReaderGone: Error {}
            var alerts: [Event] = []
            do {
                try reader.forEachEvent(matching: filter) { event in
                    detector.detect(event, into: &alerts)
                    for alert in alerts { try sink.emit(alert) }
                    alerts.removeAll(keepingCapacity: true)
                    if sink.destinationClosed { throw ReaderGone() }
                }
                try sink.flush()
            } catch is ReaderGone {
                return
            } catch where sink.destinationClosed {
                return
            }
            let s = detector.statistics
            sigmaNote("hunt: \(s.eventsEvaluated) events, \(s.alerts) matches")
        }
    }
}

/// A line on stderr; control characters from rule files are escaped.
private func sigmaNote(_ message: String) {
    // Best effort: stderr is where a failure would be reported.
    _ = try? Array("swiftmon: sigma: \(Sigma.Check.printable(message))\n".utf8).withUnsafeBytes {
        try Syscalls.writeAll(2, $0, "standard error")
    }
}
