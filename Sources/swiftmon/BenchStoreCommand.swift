import ArgumentParser
import Foundation
import SwiftmonStore

/// `swiftmon bench store`: store insert throughput in events per second.
struct BenchStore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Insert synthetic ProcessCreate events into a fresh store and report events/s."
    )

    @Option(help: "Events per run.") var events = 500_000
    @Option(help: "Runs (the spread is reported).") var runs = 3
    @Option(help: "Store file to use (replaced each run).") var path = "/tmp/swiftmon-bench-store.db"
    @Option(help: "Events per transaction.") var batchSize = 65536

    func run() throws {
        var options = StoreSink.Options()
        options.batchSize = batchSize
        var rates: [Double] = [], cpuRates: [Double] = []
        for run in 1...max(1, runs) {
            let figures = try StoreBenchmark.insertThroughput(path: path, events: events, options: options)
            rates.append(figures.eventsPerSecond)
            cpuRates.append(Double(figures.events) / max(figures.cpuSeconds, 1e-9))
            print(String(format: "run %d: %d events in %.3f s = %.0f events/s, %.2f µs CPU per event (file %.1f MiB)",
                         run, figures.events, figures.seconds, figures.eventsPerSecond,
                         figures.cpuMicrosecondsPerEvent, Double(figures.fileBytes) / 1_048_576))
        }
        // Events per CPU-second (the process's user + system time): the figure a
        // loaded machine does not bend; wall-clock events/s beside it.
        let cpu = cpuRates.sorted(), sorted = rates.sorted()
        print(String(format: "store insert: median %.0f events/s per CPU-second (min %.0f, max %.0f); wall clock median %.0f events/s (min %.0f, max %.0f); %d runs of %d events, batch %d",
                     cpu[cpu.count / 2], cpu.first!, cpu.last!, sorted[sorted.count / 2], sorted.first!, sorted.last!,
                     rates.count, events, batchSize))
        for (question, milliseconds, results) in try StoreBenchmark.queryLatencies(path: path, events: events) {
            print(String(format: "query %@: %.2f ms (%d results)", question, milliseconds, results))
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

/// `swiftmon bench store-writer`: the crash-safety test's child. Writes a
/// storm of events and records after each commit how many are committed.
struct BenchStoreWriter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-writer",
        abstract: "Write numbered events into a store, recording the committed count after each commit."
    )

    @Option(help: "Store to write.") var store: String
    @Option(help: "File that receives the committed count after each commit.") var progress: String
    @Option(help: "Stop after this many events (default: until killed).") var events: Int?

    func run() throws {
        try StoreBenchmark.writeStorm(path: store, progressFile: progress, events: events)
    }
}
