import ArgumentParser
import Foundation
import SwiftmonCore
import SwiftmonLinux
import SwiftmonRules
import SwiftmonSinks

/// `swiftmon bench decode`: user-space CPU per event of the live hot path
/// (record decode, process cache, default rules, JSON rendering), no kernel.
struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "User-space cost per event of decoding, filtering and rendering kernel records."
    )

    @Option(help: "Processes (fork+exec+exit) per round.")
    var processes: Int = 200_000

    @Option(help: "Rounds.")
    var rounds: Int = 5

    @Flag(help: "Hand events to the sinks through the pipeline's queue and sink thread, as a live run does.")
    var throughPipeline = false

    @Flag(help: "Handle the records one at a time between marks for scripts/bench-allocations.sh (allocator calls per record kind), after a warm-up; prints records and events per kind instead of times.")
    var allocationPhases = false

    func run() throws {
        if allocationPhases {
            let sink = JSONLinesSink(output: try FileOutput(path: "/dev/null"))
            let counts = try DecodeBenchmark.allocationPhases(
                processes: processes, filter: SysmonFilter(RuleSet.embeddedDefault), sink: sink)
            for c in counts {
                print("phase \(c.phase.rawValue) \(c.phase.name): \(c.records) records, \(c.events) events")
            }
            return
        }
        var figures: [Double] = []
        for round in 1...max(1, rounds) {
            // A new output each round: stopping the pipeline closes its sinks.
            let sink = JSONLinesSink(output: try FileOutput(path: "/dev/null"))
            let filter = SysmonFilter(RuleSet.embeddedDefault)
            let pipeline = throughPipeline ? EventPipeline(sinks: [sink], filter: filter) : nil
            pipeline?.start()
            let f = try DecodeBenchmark.run(processes: processes, filter: filter, sink: sink, pipeline: pipeline)
            pipeline?.stop()
            figures.append(f.cpuMicrosecondsPerEvent)
            print(String(format: "round %d: %d records → %d events in %.3f s: %.2f µs CPU/event (%.2f µs wall), %.0f events/s",
                         round, f.records, f.events, f.seconds, f.cpuMicrosecondsPerEvent, f.microsecondsPerEvent,
                         Double(f.events) / f.seconds))
        }
        let sorted = figures.sorted()
        print(String(format: "median %.2f µs CPU/event (min %.2f, max %.2f)", sorted[sorted.count / 2], sorted.first!, sorted.last!))
    }
}
