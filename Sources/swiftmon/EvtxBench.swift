import ArgumentParser
import SwiftmonCore
import SwiftmonEvtx

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `swiftmon bench evtx FILE`: records per second reading an .evtx file, on
/// one thread and on every core: counting (provider and EventID only) and the
/// whole decode into events (every System field and EventData value rendered,
/// the work the `evtx` crate's JSON output does).
struct EvtxBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evtx", abstract: "Records per second reading an .evtx file.")

    @Argument(help: "The .evtx file.") var file: String
    @Option(help: "Runs of each measurement.") var runs = 15

    final class DiscardingSink: EventSink {
        var count = 0
        func emit(_ event: Event) throws { count += 1 }
    }

    func run() throws {
        let bytes = try EvtxFileBytes(path: file)
        for threads in [1, EvtxReader.defaultThreads] {
            for (label, withEvents) in [("records (summary)", false), ("records -> events", true)] {
                var rates: [Double] = []
                var records = 0
                for _ in 0..<max(1, runs) {
                    let start = monotonicSeconds()
                    let summary = try EvtxDecoder.decode(bytes: bytes, into: withEvents ? DiscardingSink() : nil, threads: threads)
                    let elapsed = monotonicSeconds() - start
                    records = summary.records
                    rates.append(Double(summary.records) / elapsed)
                }
                rates.sort()
                let median = rates[rates.count / 2]
                print("\(label), \(threads) thread(s): \(records) records, median \(Int(median)) records/s (min \(Int(rates.first!)), max \(Int(rates.last!)), \(rates.count) runs)")
            }
        }
    }

    func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
