import ArgumentParser
import SwiftmonCore
import SwiftmonEvtx

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `swiftmon bench evtx FILE`: records per second reading an .evtx file, on
/// one thread and on every core: counting (provider and EventID only), every
/// field decoded, and the whole decode into events (every System field and
/// EventData value rendered, EventData as JSON: the work the `evtx` crate's
/// JSON output does). `scripts/bench-evtx.sh` runs it in rounds beside the crate.
struct EvtxBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evtx", abstract: "Records per second reading an .evtx file.")

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        /// Provider and EventID of every record (`--summary`).
        case count
        /// Every System field and data value, no events.
        case fields
        /// Records into swiftmon events.
        case events
    }

    @Argument(help: "The .evtx file.") var file: String
    @Option(help: "Runs of each measurement.") var runs = 15
    @Option(help: "Only this mode (count, fields, events); default: all.") var mode: Mode?
    @Option(help: "Only this many decoding threads; default: 1, then every core.") var threads: Int?
    @Flag(help: "Print each run's records/s, per wall-clock second and per CPU second, alone on a line (for scripts).") var raw = false

    final class DiscardingSink: EventSink {
        var count = 0
        func emit(_ event: Event) throws { count += 1 }
    }

    func run() throws {
        let bytes = try EvtxFileBytes(path: file)
        for threads in threads.map({ [$0] }) ?? [1, EvtxReader.defaultThreads] {
            for mode in mode.map({ [$0] }) ?? Mode.allCases {
                var rates: [Double] = []
                var cpuRates: [Double] = []
                var records = 0
                for _ in 0..<max(1, runs) {
                    let start = monotonicSeconds()
                    let cpuStart = seconds(CLOCK_PROCESS_CPUTIME_ID)
                    switch mode {
                    case .count: records = try EvtxDecoder.decode(bytes: bytes, into: nil, threads: threads).records
                    case .fields: records = try EvtxReader(file: bytes, threads: threads).forEachRecord(full: true) { _ in }.records
                    case .events: records = try EvtxDecoder.decode(bytes: bytes, into: DiscardingSink(), threads: threads).records
                    }
                    let elapsed = monotonicSeconds() - start
                    rates.append(Double(records) / elapsed)
                    cpuRates.append(Double(records) / max(1e-9, seconds(CLOCK_PROCESS_CPUTIME_ID) - cpuStart))
                    if raw { print(Int(rates.last!), Int(cpuRates.last!)) }
                }
                if raw { continue }
                rates.sort()
                cpuRates.sort()
                print("\(mode.rawValue), \(threads) thread(s): \(records) records, median \(Int(rates[rates.count / 2])) records/s (min \(Int(rates.first!)), max \(Int(rates.last!)), \(rates.count) runs); per CPU second \(Int(cpuRates[cpuRates.count / 2]))")
            }
        }
    }

    func monotonicSeconds() -> Double { seconds(CLOCK_MONOTONIC) }

    /// CPU time of the whole process (every decoding thread), or the monotonic clock.
    func seconds(_ clock: clockid_t) -> Double {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
