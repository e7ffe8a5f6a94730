import ArgumentParser
import Foundation
import SwiftmonImport

/// `swiftmon bench import`: events/s of `swiftmon import` on a collector's file.
struct BenchImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a generated syslog collector file of Sysmon for Linux events into a fresh store; report events/s."
    )

    @Option(help: "Events in the file.") var events = 200_000
    @Option(help: "Runs (the spread is reported).") var runs = 3
    @Option(help: "Folder for the file and the store.") var directory = "/tmp"

    func run() throws {
        let file = directory + "/swiftmon-bench-import.log"
        let store = directory + "/swiftmon-bench-import.db"
        try ImportBenchmark.writeCollectorFile(path: file, events: events)
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        print(String(format: "collector file: %d events, %.1f MiB", events, Double(size) / 1_048_576))
        var parse: [Double] = [], full: [Double] = [], parseCPU: [Double] = [], fullCPU: [Double] = []
        for run in 1...max(1, runs) {
            let p = try ImportBenchmark.parseOnly(path: file)
            parse.append(p.eventsPerSecond)
            let (f, counts) = try ImportBenchmark.importFile(path: file, store: store)
            full.append(f.eventsPerSecond)
            parseCPU.append(Double(p.events) / max(p.cpuSeconds, 1e-9))
            fullCPU.append(Double(f.events) / max(f.cpuSeconds, 1e-9))
            print(String(format: "run %d: parse %.0f events/s; import %d events in %.2f s = %.0f events/s, %.2f µs CPU per event (%d imported, %d malformed)",
                         run, p.eventsPerSecond, f.events, f.seconds, f.eventsPerSecond, f.cpuSeconds * 1e6 / Double(max(1, f.events)),
                         counts.imported, counts.malformed))
        }
        // Events per CPU-second of the whole process (every thread): what a
        // loaded machine does not bend; wall-clock events/s beside it.
        func line(_ name: String, _ cpuRates: [Double], _ rates: [Double]) {
            let c = cpuRates.sorted(), s = rates.sorted()
            print(String(format: "%@: median %.0f events/s per CPU-second (min %.0f, max %.0f); wall clock median %.0f events/s (min %.0f, max %.0f); %d runs",
                         name, c[c.count / 2], c.first!, c.last!, s[s.count / 2], s.first!, s.last!, s.count))
        }
        line("import parse only", parseCPU, parse)
        line("import into store", fullCPU, full)
        for path in [file, store, store + "-wal", store + "-shm"] { try? FileManager.default.removeItem(atPath: path) }
    }
}
