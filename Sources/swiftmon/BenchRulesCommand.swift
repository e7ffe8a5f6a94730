import ArgumentParser
import Foundation
import SwiftmonRules

/// `swiftmon bench rules`: rule evaluations per second on one core.
struct BenchRules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Rule-evaluation throughput on ProcessCreate events (one core)."
    )

    @Option(help: "Configuration to evaluate (default: the corpus's sysmon-modular config).")
    var config: String?

    @Option(help: "Seconds per round.")
    var seconds: Double = 2

    @Option(help: "Rounds.")
    var rounds: Int = 3

    @Flag(help: "Keep every sample value a String (events read from text) instead of holding paths and command lines as bytes, as the live sensor does.")
    var textValues = false

    func run() throws {
        let path = try config ?? BenchRules.corpusConfig()
        let loaded: SysmonConfig
        do {
            (loaded, _) = try SysmonConfig.load(path: path)
        } catch let error as ConfigError {
            printToStandardError(error.description)
            throw ExitCode(1)
        }
        let ruleSet = RuleSet(loaded)
        print("config: \(path)")
        let samples = RuleBenchmark.processCreateSamples(heldAsBytes: !textValues)
        print("events: \(samples.count) distinct ProcessCreate events, round-robin, one thread; "
              + (textValues ? "every value a String" : "paths and command lines held as bytes, as the live sensor holds them"))
        var rates: [Double] = []
        for round in 1...max(rounds, 1) {
            let r = RuleBenchmark.run(ruleSet, seconds: seconds, events: samples)
            rates.append(r.eventsPerCPUSecond)
            print(String(format: "round %d: %.0f events per CPU second, %.0f per wall second (%d evaluated, %d logged, %.2f s wall, %.2f s CPU)",
                         round, r.eventsPerCPUSecond, r.eventsPerSecond, r.events, r.logged, r.seconds, r.cpuSeconds))
        }
        let sorted = rates.sorted()
        print(String(format: "one core: median %.0f events/s, min %.0f, max %.0f (per CPU second of the evaluating thread)",
                     sorted[sorted.count / 2], sorted.first!, sorted.last!))
    }

    /// The sysmon-modular config in the shared corpus: $SWIFTMON_CORPUS, else a
    /// `shared/corpus` found walking up from the working directory.
    static func corpusConfig() throws -> String {
        let name = "sysmon-configs/sysmon-modular-sysmonconfig.xml"
        if let env = ProcessInfo.processInfo.environment["SWIFTMON_CORPUS"] {
            return env + "/" + name
        }
        var dir = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("shared/corpus/" + name).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw ValidationError("cannot find shared/corpus/\(name); give --config FILE or set SWIFTMON_CORPUS")
    }
}

private func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
