import ArgumentParser
import Foundation
import SwiftmonSinks
import SwiftmonSystem

/// `swiftmon bench spool`: CPU per event of the syslog disk spool alone —
/// the append the pipeline's thread pays in `emit`, and the take, acknowledge
/// and periodic sync the sender pays — for messages the size of a rendered
/// ProcessCreate. (scripts/bench-spool.sh measures the same on the exec storm.)
struct BenchSpool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Append, send-side read and acknowledge N messages through a fresh disk spool; CPU µs per event."
    )

    @Option(help: "Messages per round.") var events = 200_000
    @Option(help: "Rounds (the spread is reported).") var rounds = 5
    @Option(help: "Bytes per message (a ProcessCreate in syslog XML is about 1,200).") var size = 1200
    @Option(help: "Folder for the spool (a fresh subfolder each round, removed after).") var directory = "/var/tmp"
    @Option(help: "Messages between syncs (the sender syncs every 200 ms; 4,096 is that at ~20,000 events/s).") var syncEvery = 4096

    func run() throws {
        var message = Array("<14>1 2026-01-01T00:00:00.000000Z host sysmon 1 ProcessCreate - <Event>".utf8)
        while message.count < size { message.append(UInt8(ascii: "a") + UInt8(message.count % 26)) }
        var appendCosts: [Double] = []
        var sendCosts: [Double] = []
        for round in 1...max(1, rounds) {
            let dir = directory + "/swiftmon-bench-spool-\(getpid())-\(round)"
            var options = DiskSpool.Options()
            options.maxBytes = Int64(events) * Int64(size + 64) + (64 << 20)
            options.segmentBytes = 16 << 20
            let spool = try DiskSpool(directory: dir, options: options)
            let t0 = Syscalls.processCPUMicroseconds()
            for n in 0..<events { _ = try spool.append(message, sequence: UInt64(n + 1)) }
            let t1 = Syscalls.processCPUMicroseconds()
            var n = 0
            while let entry = spool.takeNext() {
                spool.acknowledge(entry.sequence)
                n += 1
                if n % syncEvery == 0 { try spool.prepareSync().perform() }
            }
            try spool.prepareSync().perform()
            let t2 = Syscalls.processCPUMicroseconds()
            try spool.close()
            try? FileManager.default.removeItem(atPath: dir)
            let append = Double(t1 - t0) / Double(events)
            let send = Double(t2 - t1) / Double(events)
            appendCosts.append(append)
            sendCosts.append(send)
            print(String(format: "round %d: append %.3f µs/event (pipeline thread), take+acknowledge+sync %.3f µs/event (sender), total %.3f",
                         round, append, send, append + send))
        }
        func summary(_ values: [Double]) -> String {
            let mean = values.reduce(0, +) / Double(values.count)
            let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            return String(format: "%.3f ± %.3f (min %.3f, max %.3f)", mean, sd, values.min()!, values.max()!)
        }
        let totals = zip(appendCosts, sendCosts).map { $0 + $1 }
        print("spool, \(events) messages of \(size) bytes, \(rounds) rounds, CPU µs per event (mean ± sd):")
        print("  append: \(summary(appendCosts)); sender: \(summary(sendCosts)); total: \(summary(totals))")
    }
}
