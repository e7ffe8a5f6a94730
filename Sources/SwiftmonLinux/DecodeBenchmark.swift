import CSwiftmonRecords
import Glibc
import SwiftmonSystem
import SwiftmonCore

/// User-space cost of the hot path without the kernel: synthetic exec, fork
/// and exit records, as the BPF programs write them, decoded into events,
/// filtered and handed to a sink, on one thread. `swiftmon bench decode`
/// prints it; the exec-storm benchmark measures the whole path.
public enum DecodeBenchmark {
    public struct Figures: Sendable {
        public let records: Int
        public let events: Int
        public let seconds: Double
        /// CPU time of the whole process (all threads), user + system.
        public let cpuSeconds: Double
        public var microsecondsPerEvent: Double { seconds * 1e6 / Double(max(1, events)) }
        public var cpuMicrosecondsPerEvent: Double { cpuSeconds * 1e6 / Double(max(1, events)) }
    }

    /// With `pipeline`, events go through it (queue + sink thread) instead of
    /// straight to `sink` on this thread, to show the cost of the hand-off.
    public static func run(processes: Int, filter: EventFilter, sink: EventSink, pipeline: EventPipeline? = nil) throws -> Figures {
        let host = HostIdentity(machine: 0x1234_5678, ticksPerSecond: 100, bootEpochNanoseconds: 1_700_000_000_000_000_000)
        let builder = ProcessEventBuilder(host: host, users: UserNames(), hasher: nil)
        let records = (0..<min(processes, 4096)).flatMap { syntheticRecords(pid: UInt32(100_000 + $0)) }
        var batch: [Event] = []
        batch.reserveCapacity(256)
        var events = 0
        let start = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
        let cpuStart = Syscalls.processCPUMicroseconds()
        var done = 0
        while done < processes {
            for bytes in records {
                guard let record = bytes.withUnsafeBytes({ KernelRecord($0) }) else { continue }
                builder.events(for: record, into: &batch)
                if batch.count >= 128 { events += try deliver(&batch, filter, sink, pipeline) }
            }
            done += records.count / 3
        }
        events += try deliver(&batch, filter, sink, pipeline)
        if let pipeline { pipeline.drain() } else { try sink.flush() }
        let seconds = Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC) - start) / 1e9
        let cpu = Double(Syscalls.processCPUMicroseconds() - cpuStart) / 1e6
        return Figures(records: done * 3, events: events, seconds: seconds, cpuSeconds: cpu)
    }

    private static func deliver(_ batch: inout [Event], _ filter: EventFilter, _ sink: EventSink, _ pipeline: EventPipeline?) throws -> Int {
        if let pipeline {
            let n = batch.count
            pipeline.submit(batch)
            batch.removeAll(keepingCapacity: true)
            return n
        }
        var n = 0
        for var e in batch where e.kind.ruleTag == nil || filter.evaluate(&e) {
            try sink.emit(e)
            n += 1
        }
        batch.removeAll(keepingCapacity: true)
        return n
    }

    /// fork, exec of `/usr/bin/true ARG`, exit — the records of one short process.
    static func syntheticRecords(pid: UInt32) -> [[UInt8]] {
        func header(_ kind: sm_record_kind, size: Int) -> sm_record_header {
            var h = sm_record_header()
            h.kind = UInt16(kind.rawValue)
            h.size = UInt32(size)
            h.time_boot_ns = 5_000_000_000
            h.pid = pid
            h.tid = pid
            h.start_boot_ns = 4_000_000_000 + UInt64(pid)
            return h
        }
        var fork = sm_fork_record()
        fork.header = header(SM_RECORD_FORK, size: MemoryLayout<sm_fork_record>.size)
        fork.parent_pid = 1
        fork.parent_tid = 1
        var exec = sm_exec_record()
        let image = Array("true\0bin\0usr\0".utf8), cwd = Array("project\0home\0".utf8)
        let args = Array("/usr/bin/true\0--marker\0storm-\(pid)\0".utf8)
        exec.header = header(SM_RECORD_EXEC, size: MemoryLayout<sm_exec_record>.size + image.count + cwd.count + args.count)
        exec.parent_pid = 1
        exec.image_size = UInt16(image.count)
        exec.cwd_size = UInt16(cwd.count)
        exec.args_size = UInt32(args.count)
        exec.args_total = UInt32(args.count)
        exec.elf_class = 2
        exec.credentials.login_uid = 1000
        exec.credentials.session_id = 3
        var exit = sm_exit_record()
        exit.header = header(SM_RECORD_EXIT, size: MemoryLayout<sm_exit_record>.size)
        exit.header.flags = UInt16(SM_FLAG_GROUP_DEAD.rawValue)
        return [
            withUnsafeBytes(of: fork) { Array($0) },
            withUnsafeBytes(of: exec) { Array($0) } + image + cwd + args,
            withUnsafeBytes(of: exit) { Array($0) },
        ]
    }
}
