import ArgumentParser
import Foundation
import SwiftmonImport
import SwiftmonSinks

/// `swiftmon bench import`: events/s of `swiftmon import` on a collector's file.
struct BenchImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Parse and import a generated syslog collector file of Sysmon for Linux events, and the same events as JSON lines, into a fresh store; report events/s and CPU per event."
    )

    @Option(help: "Events in the file.") var events = 200_000
    @Option(help: "Runs (the spread is reported).") var runs = 3
    @Option(help: "Folder for the files and the store.") var directory = "/tmp"
    @Flag(help: "Only parse (no store): for profiling the parser.") var parseOnly = false

    func run() throws {
        let file = directory + "/swiftmon-bench-import.log"
        let json = directory + "/swiftmon-bench-import.jsonl"
        let store = directory + "/swiftmon-bench-import.db"
        defer { for path in [file, json, store, store + "-wal", store + "-shm"] { try? FileManager.default.removeItem(atPath: path) } }
        try ImportBenchmark.writeCollectorFile(path: file, events: events)
        try ImportBenchmark.convert(from: file, to: json) { JSONLinesSink.render($0, into: &$1) }
        func size(_ path: String) -> Double {
            Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1_048_576
        }
        print(String(format: "collector file (syslog + Sysmon for Linux XML): %d events, %.1f MiB; swiftmon JSON lines: %.1f MiB",
                     events, size(file), size(json)))
        let formats = [("xml", file), ("json", json)]
        var parse: [String: [ImportBenchmark.Figures]] = [:], full: [String: [ImportBenchmark.Figures]] = [:]
        // The collector file is also imported in line (parse and store on one
        // thread, as before the store's thread), alternating with the default.
        var inLine: [ImportBenchmark.Figures] = []
        // Formats alternate within each run, so a change of load touches both alike.
        for run in 1...max(1, runs) {
            for (name, path) in formats {
                let p = try ImportBenchmark.parseOnly(path: path)
                parse[name, default: []].append(p)
                var line = String(format: "run %d %@: parse %.0f events/s per CPU-second (%.2f µs)", run, name,
                                  p.eventsPerCPUSecond, p.cpuMicrosecondsPerEvent)
                if !parseOnly {
                    let (f, counts) = try ImportBenchmark.importFile(path: path, store: store)
                    full[name, default: []].append(f)
                    line += String(format: "; import %d events in %.2f s = %.0f events/s, %.2f µs CPU per event: store %.2f, importer's own %.2f (%d imported, %d malformed)",
                                   f.events, f.seconds, f.eventsPerSecond, f.cpuMicrosecondsPerEvent,
                                   f.storeMicrosecondsPerEvent, f.ownMicrosecondsPerEvent, counts.imported, counts.malformed)
                    if name == "xml" {
                        let (g, _) = try ImportBenchmark.importFile(path: path, store: store, storeThread: false)
                        inLine.append(g)
                        line += String(format: "; in line %.2f s = %.0f events/s, %.2f µs CPU per event (store %.2f)",
                                       g.seconds, g.eventsPerSecond, g.cpuMicrosecondsPerEvent, g.storeMicrosecondsPerEvent)
                    }
                }
                print(line)
            }
        }
        // Per CPU-second of the whole process (every thread): what a loaded
        // machine does not bend; wall clock beside it.
        func spread(_ values: [Double], _ format: String) -> String {
            let v = values.sorted()
            return String(format: "median \(format) (min \(format), max \(format))", v[v.count / 2], v.first!, v.last!)
        }
        for (name, _) in formats {
            let p = parse[name]!
            print("import parse only, \(name): \(spread(p.map(\.eventsPerCPUSecond), "%.0f")) events/s per CPU-second; "
                  + "wall clock \(spread(p.map(\.eventsPerSecond), "%.0f")) events/s; \(p.count) runs")
            guard let f = full[name] else { continue }
            print("import into store, \(name): \(spread(f.map(\.eventsPerCPUSecond), "%.0f")) events/s per CPU-second; "
                  + "wall clock \(spread(f.map(\.eventsPerSecond), "%.0f")) events/s; \(f.count) runs")
            print("  CPU µs per event, \(name): store insert + close \(spread(f.map(\.storeMicrosecondsPerEvent), "%.2f")); "
                  + "importer's own (parse, batching, reading) \(spread(f.map(\.ownMicrosecondsPerEvent), "%.2f"))")
            if name == "xml", !inLine.isEmpty {
                print("import into store in line (one thread), xml: \(spread(inLine.map(\.eventsPerCPUSecond), "%.0f")) events/s per CPU-second; "
                      + "wall clock \(spread(inLine.map(\.eventsPerSecond), "%.0f")) events/s; store \(spread(inLine.map(\.storeMicrosecondsPerEvent), "%.2f")) µs")
            }
        }
    }
}
