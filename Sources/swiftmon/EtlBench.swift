import ArgumentParser
import SwiftmonCore
import SwiftmonETL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `swiftmon bench etl FILE`: records per second through the container alone
/// (summary counts) and through the whole decoder into a discarding sink, per
/// wall-clock second and per CPU second of the process (on a loaded machine
/// the wall clock mostly measures the scheduler).
struct EtlBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etl", abstract: "Records per second decoding an .etl file.")

    @Argument(help: "The .etl file.") var file: String
    @Option(help: "Runs of each measurement.") var runs = 5
    @Option(help: "Only this measurement: summary or events (default: both).") var mode: Mode?
    @Flag(help: "Print each run's records/s, per wall-clock second and per CPU second, alone on a line (for scripts).") var raw = false

    enum Mode: String, ExpressibleByArgument { case summary, events }

    final class DiscardingSink: EventSink {
        var count = 0
        func emit(_ event: Event) throws { count += 1 }
    }

    func run() throws {
        let all: [(String, Mode)] = [("records (summary)", .summary), ("records -> events", .events)]
        for (label, m) in all where mode == nil || mode == m {
            var rates: [Double] = []
            var cpuRates: [Double] = []
            var records = 0
            for _ in 0..<max(1, runs) {
                let start = seconds(CLOCK_MONOTONIC), cpuStart = seconds(CLOCK_PROCESS_CPUTIME_ID)
                let sink = DiscardingSink()
                let summary: EtlSummary
                do {
                    summary = try EtlDecoder.decode(file: file, into: m == .events ? sink : nil)
                } catch let f as EtlDecodeFailure { summary = f.summary }
                let cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpuStart
                let elapsed = seconds(CLOCK_MONOTONIC) - start
                records = summary.records
                rates.append(Double(summary.records) / elapsed)
                cpuRates.append(Double(summary.records) / max(cpu, 1e-9))
                if raw { print(Int(rates.last!), Int(cpuRates.last!)) }
            }
            if raw { continue }
            rates.sort()
            cpuRates.sort()
            let median = rates[rates.count / 2]
            print("\(label): \(records) records, median \(Int(median)) records/s (min \(Int(rates.first!)), max \(Int(rates.last!)), \(rates.count) runs); per CPU second \(Int(cpuRates[cpuRates.count / 2])) (min \(Int(cpuRates.first!)), max \(Int(cpuRates.last!)))")
        }
    }

    func seconds(_ clock: clockid_t) -> Double {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
