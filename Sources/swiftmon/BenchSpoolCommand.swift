import ArgumentParser
import Foundation
import SwiftmonSinks

/// `swiftmon bench spool`: CPU per event of the syslog disk spool beside the
/// memory buffer it replaces — the append the pipeline's thread pays in
/// `emit`, and the take, acknowledge and periodic sync the sender pays — for
/// messages the size of a rendered ProcessCreate (``SpoolBenchmark``).
/// scripts/bench-spool.sh measures the same on the exec storm.
struct BenchSpool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "N messages through a fresh disk spool and through the memory buffer, alternating; CPU µs per event and the spool's extra cost."
    )

    @Option(help: "Messages per round.") var events = 200_000
    @Option(help: "Rounds (the spread is reported).") var rounds = 5
    @Option(help: "Bytes per message (a ProcessCreate in syslog XML is about 1,200).") var size = 1200
    @Option(help: "Folder for the spool (a fresh subfolder each round, removed after).") var directory = "/var/tmp"
    @Option(help: "Messages between syncs (the sender syncs every 200 ms; 4,096 is that at ~20,000 events/s).") var syncEvery = 4096

    func run() throws {
        var options = SpoolBenchmark.Options()
        options.events = events
        options.rounds = rounds
        options.messageBytes = size
        options.directory = directory
        options.syncEvery = syncEvery
        let result = try SpoolBenchmark.run(options) { print($0) }
        func summary(_ values: [Double]) -> String {
            let mean = values.reduce(0, +) / Double(values.count)
            let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            return String(format: "%.3f ± %.3f (min %.3f, max %.3f)", mean, sd, values.min()!, values.max()!)
        }
        print("\(events) messages of \(size) bytes, \(rounds) rounds, CPU µs per event of the thread (mean ± sd):")
        for (name, list) in [("spool ", result.spool), ("memory", result.memory)] {
            print("  \(name) append: \(summary(list.map(\.append))); sender: \(summary(list.map(\.send))); total: \(summary(list.map(\.total)))")
        }
        let d = result.meanDifference
        print(String(format: "  spool − memory, per round: %@", result.differences.map { String(format: "%+.3f", $0) }.joined(separator: " ")))
        print(String(format: "spool's extra CPU per event: mean %.3f µs, 95 %% CI %.3f … %.3f (issue 15's bound: 2 µs)", d.mean, d.low, d.high))
    }
}
