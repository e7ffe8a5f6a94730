import ArgumentParser
import SwiftmonCore
import SwiftmonETL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `swiftmon bench etl FILE`: records per second through the container alone
/// (summary counts) and through the whole decoder into a discarding sink.
struct EtlBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etl", abstract: "Records per second decoding an .etl file.")

    @Argument(help: "The .etl file.") var file: String
    @Option(help: "Runs of each measurement.") var runs = 5

    final class DiscardingSink: EventSink {
        var count = 0
        func emit(_ event: Event) throws { count += 1 }
    }

    func run() throws {
        for (label, withEvents) in [("records (summary)", false), ("records -> events", true)] {
            var rates: [Double] = []
            var records = 0
            for _ in 0..<max(1, runs) {
                let start = monotonicSeconds()
                let sink = DiscardingSink()
                let summary: EtlSummary
                do {
                    summary = try EtlDecoder.decode(file: file, into: withEvents ? sink : nil)
                } catch let f as EtlDecodeFailure { summary = f.summary }
                let elapsed = monotonicSeconds() - start
                records = summary.records
                rates.append(Double(summary.records) / elapsed)
            }
            rates.sort()
            let median = rates[rates.count / 2]
            print("\(label): \(records) records, median \(Int(median)) records/s (min \(Int(rates.first!)), max \(Int(rates.last!)), \(rates.count) runs)")
        }
    }

    func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
