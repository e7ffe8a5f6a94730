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
    @Flag(help: "Skip the floor (the same rows into the table without indexes) beside each run.") var noFloor = false
    @Flag(help: "Keep every value a String (events read from text, as imports are) instead of holding the GUIDs, paths and command lines as bytes, as the live sensor does.")
    var textValues = false
    @Option(help: ArgumentHelp("Index the floor keeps (repeatable): what that index alone costs.", visibility: .hidden))
    var floorKeep: [String] = []
    @Option(help: ArgumentHelp("Rows per process-id segment (the open segment a --pid lookup scans).", visibility: .hidden))
    var processIDSegmentRows: Int?

    func run() throws {
        var options = StoreSink.Options()
        options.batchSize = batchSize
        if let processIDSegmentRows { options.processIDSegmentRows = processIDSegmentRows }
        var rates: [Double] = [], cpuRates: [Double] = []
        var floorMicroseconds: [Double] = [], indexMicroseconds: [Double] = []
        // Its own file: the query timings below read the store's.
        let floorPath = path + ".floor"
        let floorName = floorKeep.isEmpty ? "table without indexes" : "table with only " + floorKeep.joined(separator: ", ")
        for run in 1...max(1, runs) {
            // The floor goes first in odd runs and last in even ones, so a
            // machine whose load changes during the bench bends both alike.
            var floor: StoreBenchmark.Figures?
            func measureFloor() throws {
                guard !noFloor else { return }
                floor = try StoreBenchmark.floorThroughput(path: floorPath, events: events, batchSize: batchSize, keeping: Set(floorKeep))
            }
            if run % 2 == 1 { try measureFloor() }
            let figures = try StoreBenchmark.insertThroughput(path: path, events: events, options: options, heldAsBytes: !textValues)
            if run % 2 == 0 { try measureFloor() }
            rates.append(figures.eventsPerSecond)
            cpuRates.append(Double(figures.events) / max(figures.cpuSeconds, 1e-9))
            print(String(format: "run %d: %d events in %.3f s = %.0f events/s, %.2f µs CPU per event (file %.1f MiB)",
                         run, figures.events, figures.seconds, figures.eventsPerSecond,
                         figures.cpuMicrosecondsPerEvent, Double(figures.fileBytes) / 1_048_576))
            if let floor {
                floorMicroseconds.append(floor.cpuMicrosecondsPerEvent)
                indexMicroseconds.append(figures.cpuMicrosecondsPerEvent - floor.cpuMicrosecondsPerEvent)
                print(String(format: "run %d floor (%@, one thread): %.2f µs CPU per event (file %.1f MiB); the store's indexes and hand-off: %.2f µs",
                             run, floorName, floor.cpuMicrosecondsPerEvent, Double(floor.fileBytes) / 1_048_576,
                             figures.cpuMicrosecondsPerEvent - floor.cpuMicrosecondsPerEvent))
            }
        }
        // Events per CPU-second (the process's user + system time): the figure a
        // loaded machine bends least; wall-clock events/s beside it.
        let cpu = cpuRates.sorted(), sorted = rates.sorted()
        print(String(format: "store insert: median %.0f events/s per CPU-second (min %.0f, max %.0f); wall clock median %.0f events/s (min %.0f, max %.0f); %d runs of %d events, batch %d",
                     cpu[cpu.count / 2], cpu.first!, cpu.last!, sorted[sorted.count / 2], sorted.first!, sorted.last!,
                     rates.count, events, batchSize))
        if !floorMicroseconds.isEmpty {
            // Contention inflates both figures of a run; the paired
            // difference is what the schema's indexes cost on top of the table.
            let f = floorMicroseconds.sorted(), d = indexMicroseconds.sorted()
            print(String(format: "store floor (%@): median %.2f µs CPU per event (min %.2f, max %.2f); store minus floor per run: median %.2f µs (min %.2f, max %.2f)",
                         floorName, f[f.count / 2], f.first!, f.last!, d[d.count / 2], d.first!, d.last!))
        }
        for (question, milliseconds, results) in try StoreBenchmark.queryLatencies(path: path, events: events) {
            print(String(format: "query %@: %.2f ms (%d results)", question, milliseconds, results))
        }
        for file in [path, floorPath] {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) }
        }
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
