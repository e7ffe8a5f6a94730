import CSwiftmonRecords
import Glibc
import SwiftmonCore

/// What `swiftmon run` asks of the Linux sensor.
public struct SensorOptions: Sendable {
    /// Size of the kernel ring buffer in bytes: a power of two, ≥ one page.
    public var ringBufferBytes: Int = 16 << 20
    /// Events that may wait between the reader and the sinks.
    public var queueCapacity: Int = 262_144
    /// Sysmon's HashAlgorithms text ("sha256,md5"), or empty for none.
    public var hashAlgorithms: String = ""
    /// Seconds between status lines on stderr; 0 for none.
    public var statusInterval: Int = 5
    public var verbose = false
    /// Optional probes not to load (program names, e.g. image_sys_exit).
    public var disabledProbes: [String] = []
    /// EventIDs the configuration may log (nil: all). Probes whose events
    /// are all outside it stay attached but idle.
    public var loggedEventIDs: Set<Int>?
    /// Where events come from: the eBPF sensor, the netlink/fanotify
    /// fallback, or the sensor with the fallback when it cannot load.
    public var source: SensorSource = .auto
    public var version = "0.1.0"

    public init() {}
}

/// Totals at the end of a run, for `--stats`.
public struct SensorStatistics: Sendable {
    public var records: UInt64 = 0
    public var malformedRecords: UInt64 = 0
    public var tally: EventPipeline.Tally?
    public var losses: [LossCause: [String: UInt64]] = [:]
    public var cpuMicroseconds: Int64 = 0
    public var wallSeconds: Double = 0
    public var attachedPrograms: [String] = []
    /// Optional probes that could not load or attach, with the reason.
    public var skippedPrograms: [String] = []

    public var report: String {
        var lines: [String] = []
        lines.append("swiftmon statistics")
        lines.append("  kernel records read:  \(records)")
        if malformedRecords > 0 { lines.append("  malformed records:    \(malformedRecords)") }
        if let t = tally {
            lines.append("  events delivered:     \(t.delivered)")
            for (id, n) in t.deliveredByKind.sorted(by: { $0.key < $1.key }) {
                lines.append("    \(EventKind.withID(id)?.name ?? String(id)): \(n)")
            }
            lines.append("  events filtered out:  \(t.filteredOut)")
        }
        let lost = losses.values.reduce(0) { $0 + $1.values.reduce(0, +) }
        lines.append("  events lost:          \(lost)" + (lost > 0 ? " (\(LossCounters.describe(losses)))" : ""))
        lines.append("  CPU time:             \(cpuMicroseconds / 1000) ms over \(String(format1: wallSeconds)) s")
        if let t = tally, t.delivered > 0 {
            // Start-up (loading, the /proc scan) is included: a short run overstates it.
            lines.append("  CPU per event:        \(String(format1: Double(cpuMicroseconds) / Double(t.delivered))) µs per delivered event, \(String(format1: Double(cpuMicroseconds) / Double(max(1, records)))) µs per kernel record")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A live monitoring session on Linux: loads the sensor, seeds the process
/// cache, then waits on one epoll set (ring buffer, signals, a timer) until
/// SIGINT or SIGTERM. Idle, it sleeps in epoll_wait: no polling.
public final class SensorSession {
    public let options: SensorOptions
    public let pipeline: EventPipeline
    /// Called on SIGHUP; returns a new filter to swap in, or nil to keep the
    /// old one (it reports its own problems through `emitError`).
    public var onReload: ((SensorSession) -> EventFilter?)?
    /// Called once the monitor has announced itself (event 4), before the
    /// first kernel record is read: where event 16 for the configuration goes.
    public var onStart: ((SensorSession) -> Void)?

    private var sensor: BPFSensor?
    private var fallback: FallbackSources?
    private var builder: ProcessEventBuilder?
    private let host: HostIdentity
    private var statistics = SensorStatistics()
    private var reportedLosses: [LossCause: [String: UInt64]] = [:]
    private let losses: LossCounters
    private let handler = BatchingHandler()

    /// How long the reader lets records gather after a wake-up (≤ this much
    /// latency added to an event's delivery).
    static let coalescingMicroseconds: UInt32 = 10_000

    public init(options: SensorOptions, pipeline: EventPipeline) {
        self.options = options
        self.pipeline = pipeline
        self.losses = pipeline.losses
        self.host = SensorSession.readHostIdentity()
    }

    nonisolated(unsafe) private static var signalDescriptor: Int32 = -1

    /// Routes SIGINT, SIGTERM and SIGHUP to the session's event loop. Call it
    /// before any thread starts (outputs start writer threads): a thread that
    /// does not block them would take their default action and kill swiftmon
    /// without its clean stop.
    public static func takeOverSignals() throws {
        if signalDescriptor < 0 {
            signalDescriptor = try Syscalls.signalDescriptor(for: [SIGINT, SIGTERM, SIGHUP])
        }
    }

    /// Checks what a live session needs before anything is loaded, so a
    /// missing requirement stops `swiftmon run` at once with what to do.
    public static func checkRequirements(source: SensorSource = .ebpf) -> String? {
        if geteuid() != 0 {
            return "swiftmon run needs root: it loads eBPF programs into the kernel. Run it as root (sudo swiftmon run)."
        }
        if source == .ebpf, access("/sys/kernel/btf/vmlinux", R_OK) != 0 {
            return "this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): swiftmon's eBPF sensor needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or later)."
        }
        return nil
    }

    /// Loads and attaches the sensor (or, by choice or when it cannot load
    /// under `--source auto`, starts the fallback sources). Throws
    /// `SensorError` naming the stage.
    public func start() throws {
        let hasher = try options.hashAlgorithms.isEmpty
            ? nil : FileHasher(algorithms: FileHasher.parse(options.hashAlgorithms))
        if options.source == .netlink { return try startFallback(hasher: hasher, reason: "chosen with --source netlink") }
        do {
            try startSensor(hasher: hasher)
        } catch let error as SensorError where options.source == .auto && error.stage != .configure {
            fputs("swiftmon: the eBPF sensor cannot start (\(error)); using the netlink and fanotify fallback\n", stderr)
            sensor?.close()
            sensor = nil
            try startFallback(hasher: hasher, reason: "eBPF sensor failed: \(error.stage.rawValue)")
        }
    }

    private func startSensor(hasher: FileHasher?) throws {
        LibbpfLog.verbose = options.verbose
        let sensor = try BPFSensor(ringBufferBytes: options.ringBufferBytes, disabledPrograms: options.disabledProbes)
        try sensor.load()
        try sensor.attach()
        self.sensor = sensor
        statistics.attachedPrograms = sensor.attachedPrograms

        let users = UserNames()
        users.refreshIfChanged()
        let builder = ProcessEventBuilder(host: host, users: users, hasher: hasher)
        // After attach, so that no process falls between the scan and the hooks.
        let seeded = builder.seed(with: ProcScanner(host: host, users: users))
        self.builder = builder
        handler.builder = SensorEventBuilder(processes: builder)
        updateLoggedKinds(options.loggedEventIDs)
        statistics.skippedPrograms = sensor.skippedPrograms.map { "\($0.name) (\($0.reason))" }
        if options.verbose {
            fputs("swiftmon: attached \(sensor.attachedPrograms.joined(separator: ", ")); \(seeded) running processes in the cache\n", stderr)
            for skipped in statistics.skippedPrograms {
                fputs("swiftmon: optional probe skipped: \(skipped)\n", stderr)
            }
        }
    }

    private func startFallback(hasher: FileHasher?, reason: String) throws {
        let users = UserNames()
        users.refreshIfChanged()
        let builder = ProcessEventBuilder(host: host, users: users, hasher: hasher)
        let fallback = try FallbackSources(processes: builder, reason: reason)
        let seeded = builder.seed(with: ProcScanner(host: host, users: users))
        self.builder = builder
        self.fallback = fallback
        if options.verbose {
            fputs("swiftmon: sources: \(fallback.description); \(seeded) running processes in the cache\n", stderr)
        }
    }

    /// Runs until SIGINT/SIGTERM. Signals are taken through a signalfd, so the
    /// caller must not have installed handlers for them.
    public func run() throws -> SensorStatistics {
        guard sensor != nil || fallback != nil else { preconditionFailure("start() first") }
        let started = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
        let cpuAtStart = Syscalls.processCPUMicroseconds()
        try SensorSession.takeOverSignals()
        let signals = SensorSession.signalDescriptor
        let timer = try Syscalls.periodicTimer(intervalMilliseconds: 1000)
        let epoll = try Syscalls.epollCreate()
        defer {
            Syscalls.closeDescriptor(epoll)
            Syscalls.closeDescriptor(timer)
        }
        enum Token: UInt64 { case ring = 1, signal, timer }
        if let sensor { try Syscalls.epollAdd(epoll, try sensor.openRingBuffer(handler), token: Token.ring.rawValue) }
        for fd in fallback?.descriptors ?? [] { try Syscalls.epollAdd(epoll, fd, token: Token.ring.rawValue) }
        try Syscalls.epollAdd(epoll, signals, token: Token.signal.rawValue)
        try Syscalls.epollAdd(epoll, timer, token: Token.timer.rawValue)

        pipeline.start()
        pipeline.submit(stateEvent("Started"), unfiltered: true)
        onStart?(self)

        let interactive = isatty(2) == 1 && options.statusInterval > 0
        var ticks = 0
        var lastStatusDelivered: UInt64 = 0
        var running = true
        while running {
            for token in try Syscalls.epollWait(epoll, timeoutMilliseconds: -1) {
                switch Token(rawValue: token) {
                case .ring:
                    try drainRingBuffer()
                    // The kernel wakes a reader that has caught up on every
                    // record. Pausing a moment after a drain lets a burst
                    // collect, so a storm costs one wake-up per few hundred
                    // records instead of one each; idle, nothing wakes us.
                    usleep(SensorSession.coalescingMicroseconds)
                case .signal:
                    for signal in Syscalls.readSignals(signals) {
                        if signal == SIGHUP {
                            try drainRingBuffer()
                            if let filter = onReload?(self) { pipeline.replaceFilter(filter) }
                        } else {
                            running = false
                        }
                    }
                case .timer:
                    Syscalls.drainTimer(timer)
                    reportLosses()
                    builder?.users.refreshIfChanged()
                    ticks += 1
                    if interactive, ticks % options.statusInterval == 0 {
                        let t = pipeline.tally
                        let rate = Double(t.delivered - lastStatusDelivered) / Double(options.statusInterval)
                        lastStatusDelivered = t.delivered
                        fputs("swiftmon: \(t.delivered) events (\(String(format1: rate))/s), \(losses.total) lost\n", stderr)
                    }
                case nil:
                    break
                }
            }
        }
        // Stop: take what is still in the ring buffer, report the last losses.
        try drainRingBuffer()
        reportLosses()
        pipeline.submit(stateEvent("Stopped"), unfiltered: true)
        pipeline.stop()
        sensor?.close()
        self.sensor = nil
        fallback = nil

        statistics.tally = pipeline.tally
        statistics.losses = losses.snapshot()
        statistics.records = handler.records
        statistics.malformedRecords = handler.malformed
        statistics.cpuMicroseconds = Syscalls.processCPUMicroseconds() - cpuAtStart
        statistics.wallSeconds = Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC) - started) / 1e9
        return statistics
    }

    /// Tells the sensor which EventIDs the configuration may log now (nil:
    /// all), at start and after a reload: the kernel stops building records
    /// nobody will see, and starts again when a new configuration wants them.
    public func updateLoggedKinds(_ ids: Set<Int>?) {
        guard let sensor else { return }
        sensor.route(loggedEventIDs: ids)
        handler.builder?.buildsExecutableImageLoads = ids?.contains(EventKind.imageLoad.id) ?? true
        if options.verbose, !sensor.idleHandlers.isEmpty {
            fputs("swiftmon: idle (the configuration logs none of their events): \(sensor.idleHandlers.sorted().joined(separator: ", "))\n", stderr)
        }
    }

    /// Reports a problem as event 255 (and nothing else: the caller prints).
    public func emitError(id: Int, _ description: String) {
        var e = Event(.error, time: .now())
        e["ID"] = String(id)
        e["Description"] = description
        pipeline.submit(e, unfiltered: true)
    }

    /// Emits event 16 for a configuration that took effect.
    public func emitConfigurationChange(path: String, hash: String) {
        var e = Event(.configurationChange, time: .now())
        e["Configuration"] = path
        e["ConfigurationFileHash"] = hash
        pipeline.submit(e, unfiltered: true)
    }

    private func drainRingBuffer() throws {
        if let fallback { fallback.drain(into: &handler.batch) }
        try sensor?.consume()
        if !handler.batch.isEmpty {
            pipeline.submit(handler.batch)
            handler.batch.removeAll(keepingCapacity: true)
        }
        if handler.malformed > 0 {
            losses.set(handler.malformed, cause: .kernelBufferFull, kind: "malformed record")
        }
    }

    /// Reads the kernel's loss counters; any loss since the last report
    /// becomes an event 255 with the counts per kind and cause.
    private func reportLosses() {
        for (kind, n) in sensor?.lostRecords() ?? [:] {
            losses.set(n, cause: .kernelBufferFull, kind: KernelRecord.kindName(kind))
        }
        // Sinks that buffer (store, syslog) drop on their own threads: their
        // running totals join the report, by sink and reason.
        for sink in pipeline.reportingSinks {
            for (reason, n) in sink.deliveryCounts.dropped {
                losses.set(n, cause: .sinkError, kind: "\(sink.deliveryName) \(reason)")
            }
        }
        let now = losses.snapshot()
        let delta = LossCounters.delta(now, since: reportedLosses)
        reportedLosses = now
        guard !delta.isEmpty else { return }
        let n = delta.values.reduce(0) { $0 + $1.values.reduce(0, +) }
        emitError(id: ErrorEventID.eventsLost, "\(n) events lost: \(LossCounters.describe(delta))")
    }

    private func stateEvent(_ state: String) -> Event {
        var e = Event(.serviceStateChange, time: .now())
        e["State"] = state
        e["Version"] = options.version
        e["SchemaVersion"] = "4.90"
        if let fallback {
            e["Sources"] = fallback.description
        } else {
            e["Sources"] = "ebpf(" + statistics.attachedPrograms.joined(separator: ",") + ")"
                + (statistics.skippedPrograms.isEmpty ? "" : " skipped(" + statistics.skippedPrograms.joined(separator: ",") + ")")
                + ((sensor?.idleHandlers.isEmpty ?? true) ? "" : " idle(" + sensor!.idleHandlers.sorted().joined(separator: ",") + ")")
        }
        return e
    }

    static func readHostIdentity() -> HostIdentity {
        var machine: UInt32 = 0
        for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
            if let bytes = ProcFile.read(path, limit: 64),
               let word = HostIdentity.machineWord(fromMachineID: String(decoding: bytes, as: UTF8.self)) {
                machine = word
                break
            }
        }
        let ticks = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        let offset = Syscalls.clockNanoseconds(CLOCK_REALTIME) - Syscalls.clockNanoseconds(CLOCK_BOOTTIME)
        return HostIdentity(machine: machine, ticksPerSecond: ticks, bootEpochNanoseconds: offset)
    }
}

/// The IDs in event 255's `ID` field.
public enum ErrorEventID {
    public static let eventsLost = 1
    public static let configurationRejected = 2
    public static let sinkFailed = 3
}

/// Collects the events of one ring-buffer drain.
final class BatchingHandler: RecordHandler {
    var builder: SensorEventBuilder?
    var batch: [Event] = []
    var records: UInt64 = 0
    var malformed: UInt64 = 0

    override func handle(_ bytes: UnsafeRawBufferPointer) {
        records += 1
        guard let record = KernelRecord(bytes) else {
            malformed += 1
            return
        }
        builder?.events(for: record, into: &batch)
    }
}

extension String {
    init(format1 value: Double) {
        let scaled = (value * 10).rounded() / 10
        self = String(scaled)
    }
}
