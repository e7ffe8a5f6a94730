import Foundation
import SwiftmonSystem

/// `swiftmon bench spool`: what the disk spool costs beyond the memory buffer
/// it replaces, measured on the two backlogs a syslog writer uses, with the
/// same calls in the same order: `append` (the pipeline's thread, in `emit`),
/// `takeNext` + `acknowledge` and the periodic sync (the sender). Rounds
/// alternate which backlog goes first; the spool's extra cost per event is
/// each round's difference. A figure, not a test.
public enum SpoolBenchmark {
    public struct Round: Sendable {
        /// CPU µs per event on the appending side and on the sender's side.
        public let append: Double
        public let send: Double
        public var total: Double { append + send }
    }

    public struct Result: Sendable {
        public let spool: [Round]
        public let memory: [Round]
        /// Spool total − memory total, one per round.
        public var differences: [Double] { zip(spool, memory).map { $0.total - $1.total } }

        /// Mean of the differences and its 95 % t interval.
        public var meanDifference: (mean: Double, low: Double, high: Double) {
            let d = differences
            let n = Double(d.count)
            let mean = d.reduce(0, +) / n
            guard d.count > 1 else { return (mean, mean, mean) }
            let sd = (d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot()
            let half = SpoolBenchmark.t95(degreesOfFreedom: d.count - 1) * sd / n.squareRoot()
            return (mean, mean - half, mean + half)
        }
    }

    /// Two-sided 95 % quantile of Student's t.
    static func t95(degreesOfFreedom df: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086]
        return df >= 1 && df <= table.count ? table[df - 1] : 1.96 + 2.4 / Double(max(df, 1))
    }

    public struct Options: Sendable {
        public var events = 200_000
        public var rounds = 5
        /// A ProcessCreate in syslog XML is about 1,200 bytes.
        public var messageBytes = 1200
        /// A fresh subfolder per round, removed after.
        public var directory = "/var/tmp"
        /// The sender syncs every 200 ms; 4,096 messages is that at ~20,000 events/s.
        public var syncEvery = 4096
        public init() {}
    }

    public static func run(_ options: Options, progress: (String) -> Void = { _ in }) throws -> Result {
        var message = Array("<14>1 2026-01-01T00:00:00.000000Z host sysmon 1 ProcessCreate - <Event>".utf8)
        while message.count < options.messageBytes { message.append(UInt8(ascii: "a") + UInt8(message.count % 26)) }
        var spoolRounds: [Round] = []
        var memoryRounds: [Round] = []
        for round in 1...max(1, options.rounds) {
            let order = round % 2 == 1 ? [true, false] : [false, true]
            for useSpool in order {
                let dir = options.directory + "/swiftmon-bench-spool-\(getpid())-\(round)"
                let backlog: SyslogBacklog
                if useSpool {
                    var spoolOptions = DiskSpool.Options()
                    spoolOptions.maxBytes = Int64(options.events) * Int64(options.messageBytes + 64) + (64 << 20)
                    spoolOptions.segmentBytes = 16 << 20
                    backlog = SpoolBacklog(spool: try DiskSpool(directory: dir, options: spoolOptions))
                } else {
                    backlog = MemoryBacklog(maxMessages: options.events, maxBytes: options.events * (options.messageBytes + 64))
                }
                let result = try measure(backlog, message: message, events: options.events, syncEvery: options.syncEvery)
                try backlog.close()
                if useSpool { try? FileManager.default.removeItem(atPath: dir) }
                if useSpool { spoolRounds.append(result) } else { memoryRounds.append(result) }
                progress(String(format: "round %d %@: append %.3f µs/event (pipeline thread), take+acknowledge+sync %.3f (sender), total %.3f",
                                round, useSpool ? "spool " : "memory", result.append, result.send, result.total))
            }
        }
        return Result(spool: spoolRounds, memory: memoryRounds)
    }

    private static func measure(_ backlog: SyslogBacklog, message: [UInt8], events: Int, syncEvery: Int) throws -> Round {
        let t0 = Syscalls.clockNanoseconds(CLOCK_THREAD_CPUTIME_ID)
        for n in 0..<events {
            // The sink hands each message over as a fresh array, as `frame` makes it.
            let copy = message.withUnsafeBufferPointer { Array($0) }
            guard case .stored = backlog.append(copy, sequence: UInt64(n + 1)) else {
                throw SpoolBenchmarkError(detail: "message \(n + 1) was not stored")
            }
        }
        let t1 = Syscalls.clockNanoseconds(CLOCK_THREAD_CPUTIME_ID)
        var n = 0
        while let entry = backlog.takeNext() {
            backlog.acknowledge(entry.sequence)
            n += 1
            if n % syncEvery == 0, let job = backlog.prepareSync() { try job.perform() }
        }
        if let job = backlog.prepareSync() { try job.perform() }
        let t2 = Syscalls.clockNanoseconds(CLOCK_THREAD_CPUTIME_ID)
        guard n == events else { throw SpoolBenchmarkError(detail: "took \(n) of \(events) messages back") }
        return Round(append: Double(t1 - t0) / 1000 / Double(events), send: Double(t2 - t1) / 1000 / Double(events))
    }
}

public struct SpoolBenchmarkError: Error, CustomStringConvertible {
    public let detail: String
    public var description: String { "bench spool: \(detail)" }
}
