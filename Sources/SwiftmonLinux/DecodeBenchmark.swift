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
        let builder = makeBuilder()
        var records = (0..<min(processes, 4096)).flatMap { syntheticRecords(pid: UInt32(100_000 + $0)) }
        var batch: [Event] = []
        batch.reserveCapacity(256)
        var events = 0
        var clock = SyntheticClock()
        let start = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
        let cpuStart = Syscalls.processCPUMicroseconds()
        AllocationProbe.mark(.round, wholeProcess: true)
        var done = 0
        while done < processes {
            for i in records.indices {
                if i % 3 == 0 { clock.advance() }
                clock.stamp(&records[i])
                // A record points into its bytes: built while they are valid.
                records[i].withUnsafeBytes { raw in
                    if let record = KernelRecord(raw) { builder.events(for: record, into: &batch) }
                }
                if batch.count >= 128 { events += try deliver(&batch, filter, sink, pipeline) }
            }
            done += records.count / 3
        }
        events += try deliver(&batch, filter, sink, pipeline)
        if let pipeline { pipeline.drain() } else { try sink.flush() }
        AllocationProbe.mark(.none, wholeProcess: true)
        let seconds = Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC) - start) / 1e9
        let cpu = Double(Syscalls.processCPUMicroseconds() - cpuStart) / 1e6
        return Figures(records: done * 3, events: events, seconds: seconds, cpuSeconds: cpu)
    }

    /// What one record kind cost in the allocation run: records handled and
    /// events they gave that the filter passed and the sink rendered.
    public struct PhaseCount: Sendable {
        public let phase: AllocationProbe.Phase
        public var records = 0
        public var events = 0
    }

    /// The same path one record at a time, each record's decode, build,
    /// filter and rendering (into the sink's buffer) between two
    /// ``AllocationProbe`` marks of its kind, after a warm-up pass over every
    /// synthetic process (the caches, the output buffer and the batch at
    /// their steady-state sizes). `scripts/bench-allocations.sh` counts the
    /// allocator calls between the marks.
    public static func allocationPhases(processes: Int, filter: EventFilter, sink: EventSink) throws -> [PhaseCount] {
        let builder = makeBuilder()
        var records = (0..<4096).flatMap { syntheticRecords(pid: UInt32(100_000 + $0)) }
        var batch: [Event] = []
        batch.reserveCapacity(256)
        var clock = SyntheticClock()
        var counts: [PhaseCount] = [.init(phase: .fork), .init(phase: .exec), .init(phase: .exit)]
        for pass in 0..<(1 + (processes + 4095) / 4096) {
            let measured = pass > 0
            for i in records.indices {
                if i % 3 == 0 {
                    if measured, counts[0].records >= processes { break }
                    clock.advance()
                }
                clock.stamp(&records[i])
                let slot = i % 3
                if measured { AllocationProbe.mark(counts[slot].phase) }
                records[i].withUnsafeBytes { raw in
                    if let record = KernelRecord(raw) { builder.events(for: record, into: &batch) }
                }
                let events = try deliver(&batch, filter, sink, nil)
                if measured {
                    AllocationProbe.mark(.none)
                    counts[slot].records += 1
                    counts[slot].events += events
                }
            }
        }
        try sink.flush()
        return counts
    }

    private static func deliver(_ batch: inout [Event], _ filter: EventFilter, _ sink: EventSink, _ pipeline: EventPipeline?) throws -> Int {
        if let pipeline {
            let n = batch.count
            pipeline.submit(taking: &batch)
            return n
        }
        // As the pipeline does it on its two threads: the filter in place,
        // then the values handed back for reuse once the sink has the event.
        var n = 0
        for i in batch.indices where batch[i].kind.ruleTag == nil || filter.evaluate(&batch[i]) {
            try sink.emit(batch[i])
            n += 1
        }
        EventValueRecycler.shared.recycle(&batch)
        batch.removeAll(keepingCapacity: true)
        return n
    }

    /// The builder, with the synthetic processes' parent (pid 1) in its cache
    /// as the start-up scan of /proc puts it there in a live run.
    static func makeBuilder() -> ProcessEventBuilder {
        let host = HostIdentity(machine: 0x1234_5678, ticksPerSecond: 100, bootEpochNanoseconds: 1_700_000_000_000_000_000)
        let builder = ProcessEventBuilder(host: host, users: UserNames(), hasher: nil)
        builder.remember(ProcessEntry(guid: host.guid(pid: 1, startBootNanoseconds: 0), pid: 1,
                                      image: Array("/usr/lib/systemd/systemd".utf8),
                                      commandLine: Array("/sbin/init splash".utf8), user: "root"))
        return builder
    }

    /// Record times as a storm gives them: a new process every 50 µs (20,000
    /// execs/s), its fork, exec and exit at that time.
    struct SyntheticClock {
        var bootNanoseconds: UInt64 = 5_000_000_000
        mutating func advance() { bootNanoseconds += 50_000 }
        func stamp(_ record: inout [UInt8]) {
            let t = bootNanoseconds
            record.withUnsafeMutableBytes { bytes in
                var h = bytes.loadUnaligned(as: sm_record_header.self)
                h.time_boot_ns = t
                bytes.storeBytes(of: h, as: sm_record_header.self)
            }
        }
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

/// Marks where the allocation benchmark's phases begin and end, for a uprobe
/// on `swiftmon_allocation_phase` (scripts/bench-allocations.sh) that counts
/// the allocator calls in between. Costs one call when nothing listens.
public enum AllocationProbe {
    public enum Phase: Int32, Sendable {
        case none = 0
        /// An exec record to its rendered ProcessCreate.
        case exec = 1
        /// An exit record (the last thread) to its rendered ProcessTerminate.
        case exit = 2
        /// A fork record (no event: it updates the process cache).
        case fork = 3
        /// A whole measured round, all threads.
        case round = 4

        public var name: String {
            switch self {
            case .none: return "none"
            case .exec: return "exec→ProcessCreate"
            case .exit: return "exit→ProcessTerminate"
            case .fork: return "fork (cache only)"
            case .round: return "round"
            }
        }
    }

    /// `wholeProcess`: the phase holds for every thread (a round through the
    /// pipeline), else for the calling thread only.
    @inline(__always)
    public static func mark(_ phase: Phase, wholeProcess: Bool = false) {
        swiftmonAllocationPhase(phase.rawValue, wholeProcess ? 1 : 0)
    }
}

/// The symbol the uprobe attaches to: the Swift function itself under a
/// plain name (Swift callers call it, not a C thunk), kept out of line and
/// with a store the optimizer cannot drop, so every mark is a call. Its two
/// integer arguments arrive as a C function's would (rdi, rsi on x86-64).
nonisolated(unsafe) public var swiftmonAllocationPhaseValue: Int32 = 0

@_silgen_name("swiftmon_allocation_phase")
@inline(never)
public func swiftmonAllocationPhase(_ phase: Int32, _ wholeProcess: Int32) {
    swiftmonAllocationPhaseValue = phase &+ wholeProcess
}
