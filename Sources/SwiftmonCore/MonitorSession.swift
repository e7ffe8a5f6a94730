// @preconcurrency: for `stderr`, which libc sets before main and never reassigns.
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// A monitoring session: one source, the pipeline to the outputs, and the
/// configuration that filters. It announces itself (event 4) and its
/// configuration (16), reloads on request, reports every loss as it happens
/// (255, per cause and output), prints the status line, and stops cleanly.
///
/// It knows nothing of the platform: an event loop (epoll on Linux) calls
/// ``readSource()`` when the source has something, ``tick()`` once a second,
/// ``reload()`` on SIGHUP and ``stop(cpuMicroseconds:wallSeconds:)`` at the end,
/// and watches ``stopRequested``, which turns true when an output's reader has
/// gone (`swiftmon run | head -1`).
public final class MonitorSession {
    public struct Options: Sendable {
        /// Seconds between status lines; 0 for none.
        public var statusInterval = 5
        /// Whether status lines are printed (stderr is a terminal).
        public var printsStatus = false
        public var verbose = false
        public var version = "0.1.0"
        public init() {}
    }

    public let source: EventSource
    public let pipeline: EventPipeline
    public let options: Options
    private let configuration: FilterConfiguration?
    private var batch: [Event] = []
    private var reportedLosses: [LossCause: [String: UInt64]] = [:]
    private var ticks = 0
    private var lastStatusDispatched: UInt64 = 0
    private let stopFlag = StopFlag()
    /// Called (on any thread) when ``stopRequested`` turns true, to wake the event loop.
    public var wakeEventLoop: (@Sendable () -> Void)? {
        get { stopFlag.wake }
        set { stopFlag.wake = newValue }
    }
    /// Where notes for the operator go (reloads, refusals); stderr by default.
    public var diagnostics: (String) -> Void = { fputs("swiftmon: \($0)\n", stderr) }

    /// `initial` is the configuration already loaded (the filter the pipeline
    /// was made with); `configuration` reads it again on ``reload()``.
    public init(source: EventSource, pipeline: EventPipeline, configuration: FilterConfiguration?,
                initial: LoadedConfiguration?, options: Options) {
        self.source = source
        self.pipeline = pipeline
        self.configuration = configuration
        self.initial = initial
        self.options = options
        configurationInUse = initial.map { ConfigurationIdentity(name: $0.name, hash: $0.hash) }
        let flag = stopFlag
        pipeline.onDestinationClosed = { flag.set() }
    }

    private let initial: LoadedConfiguration?

    /// The configuration whose rules filter now (path or `<embedded default>`, SHA256).
    public private(set) var configurationInUse: ConfigurationIdentity?

    /// Events handed to the outputs per EventID over the last second.
    public private(set) var ratePerSecondByKind: [Int: Double] = [:]

    /// True once an output's destination has gone for good: the loop ends the run.
    public var stopRequested: Bool { stopFlag.isSet }

    /// Starts the outputs' thread and announces the monitor (4) and its configuration (16).
    public func start() {
        if let initial { source.updateLoggedKinds(initial.loggedEventIDs) }
        pipeline.start()
        pipeline.submit(MonitorEvents.serviceState("Started", version: options.version, sources: source.sourceDescription),
                        unfiltered: true)
        if let initial {
            pipeline.submit(MonitorEvents.configurationChange(name: initial.name, hash: initial.hash), unfiltered: true)
        }
        let earlier = source.eventsAtStart()
        if !earlier.isEmpty { pipeline.submit(earlier) }
    }

    /// Takes what the source has ready into the pipeline.
    /// Reads what the source has and hands it to the pipeline as one batch;
    /// returns how many events that was.
    @discardableResult
    public func readSource() throws -> Int {
        try source.read(into: &batch)
        let count = batch.count
        eventsSinceTick &+= count
        if count > 0 { pipeline.submit(taking: &batch) }
        return count
    }

    /// Once a second: upkeep, loss reports, the status line.
    public func tick() {
        // A quiet second (after a burst): the batch arrays give back the
        // burst's room before the source hands freed memory back.
        if eventsSinceTick < BurstRoom.keptEvents {
            BurstRoom.trim(&batch)
            pipeline.trimAfterBurst()
        }
        eventsSinceTick = 0
        source.tick()
        reportLosses()
        ticks += 1
        let tally = pipeline.tally
        let dispatched = tally.dispatched
        ratePerSecond = Double(dispatched &- dispatchedAtLastTick)
        dispatchedAtLastTick = dispatched
        var byKind: [Int: Double] = [:]
        for (id, n) in tally.dispatchedByKind { byKind[id] = Double(n &- (dispatchedByKindAtLastTick[id] ?? 0)) }
        ratePerSecondByKind = byKind
        dispatchedByKindAtLastTick = tally.dispatchedByKind
        if options.printsStatus, options.statusInterval > 0, ticks % options.statusInterval == 0 {
            let t = pipeline.tally
            let rate = Double(t.dispatched - lastStatusDispatched) / Double(options.statusInterval)
            lastStatusDispatched = t.dispatched
            diagnostics(statusLine(dispatched: t.dispatched, rate: rate))
        }
    }

    private var dispatchedAtLastTick: UInt64 = 0
    private var eventsSinceTick = 0
    private var dispatchedByKindAtLastTick: [Int: UInt64] = [:]
    /// Events handed to the outputs over the last second.
    public private(set) var ratePerSecond: Double = 0

    /// The state in one line, for a service manager's status: events so far,
    /// the rate over the last second, losses by cause.
    public var statusSummary: String { statusLine(dispatched: pipeline.tally.dispatched, rate: ratePerSecond) }

    /// "1234 events (56.0/s), 7 lost (output json standard output: ENOSPC=7)".
    func statusLine(dispatched: UInt64, rate: Double) -> String {
        let losses = pipeline.losses.snapshot()
        let total = losses.values.reduce(0) { $0 + $1.values.reduce(0, +) }
        var line = "\(dispatched) events (\(SessionStatistics.oneDecimal(rate))/s), \(total) lost"
        if total > 0 { line += " (\(LossCounters.describe(losses)))" }
        return line
    }

    /// Reads the configuration again (SIGHUP). A good one takes effect at
    /// once and is announced (16); a bad one is refused with its diagnostics
    /// (255, ID 2) and the previous rules stay. Returns what happened.
    @discardableResult
    public func reload() throws -> ReloadOutcome {
        guard let configuration, configuration.canReload else {
            diagnostics("SIGHUP: no configuration file to re-read; the embedded default stays")
            return .nothingToReload
        }
        // Events read before the signal are judged by the rules in force when they happened.
        try readSource()
        do {
            let loaded = try configuration.load()
            pipeline.replaceFilter(loaded.filter)
            source.updateLoggedKinds(loaded.loggedEventIDs)
            pipeline.submit(MonitorEvents.configurationChange(name: loaded.name, hash: loaded.hash), unfiltered: true)
            diagnostics("configuration \(loaded.name) reloaded (\(loaded.hash))")
            let identity = ConfigurationIdentity(name: loaded.name, hash: loaded.hash)
            configurationInUse = identity
            return .reloaded(identity)
        } catch {
            let message = "configuration not reloaded, the previous rules stay: \(error)"
            diagnostics(message)
            pipeline.submit(MonitorEvents.error(id: ErrorEventID.configurationRejected, message), unfiltered: true)
            return .rejected("\(error)")
        }
    }

    /// Gathers every loss counter (the source's, the queue's, each output's)
    /// and reports what is new since the last report as one event 255.
    public func reportLosses() {
        let losses = pipeline.losses
        for (cause, byKind) in source.sourceLosses() {
            for (kind, n) in byKind { losses.set(n, cause: cause, kind: kind) }
        }
        for output in pipeline.outputReports {
            for (reason, n) in output.counts.dropped {
                losses.set(n, cause: .output, kind: "\(output.name) \(reason)")
            }
        }
        let now = losses.snapshot()
        let delta = LossCounters.delta(now, since: reportedLosses)
        reportedLosses = now
        guard !delta.isEmpty else { return }
        let n = delta.values.reduce(0) { $0 + $1.values.reduce(0, +) }
        pipeline.submit(MonitorEvents.error(id: ErrorEventID.eventsLost, "\(n) events lost: \(LossCounters.describe(delta))"),
                        unfiltered: true)
    }

    /// Takes the last records, reports the last losses, announces the stop,
    /// then closes the outputs (each delivers or counts what it still holds)
    /// and the source. The statistics are final: nothing is pending.
    public func stop(cpuMicroseconds: Int64, wallSeconds: Double) throws -> SessionStatistics {
        defer { source.stop() }
        // Nothing new is made from here on: the last read drains the rest,
        // so the record accounts below are exact.
        source.stopProducing()
        try readSource()
        reportLosses()
        pipeline.submit(MonitorEvents.serviceState("Stopped", version: options.version, sources: source.sourceDescription),
                        unfiltered: true)
        pipeline.stop()
        // Outputs may have dropped more while closing: count it, for the totals.
        let losses = pipeline.losses
        for output in pipeline.outputReports {
            for (reason, n) in output.counts.dropped { losses.set(n, cause: .output, kind: "\(output.name) \(reason)") }
        }
        var statistics = SessionStatistics()
        statistics.records = source.recordsRead
        statistics.tally = pipeline.tally
        statistics.losses = losses.snapshot()
        statistics.outputs = pipeline.outputReports
        statistics.cpuMicroseconds = cpuMicroseconds
        statistics.wallSeconds = wallSeconds
        statistics.sourceCounters = source.sourceCounters()
        statistics.recordAccounts = source.recordAccounts()
        return statistics
    }
}

/// Which configuration filters: its path (or `<embedded default>`) and SHA256.
public struct ConfigurationIdentity: Sendable, Equatable {
    public var name: String
    public var hash: String
    public init(name: String, hash: String) {
        self.name = name
        self.hash = hash
    }
}

/// What a ``MonitorSession/reload()`` did.
public enum ReloadOutcome: Sendable, Equatable {
    /// The new rules filter from now on.
    case reloaded(ConfigurationIdentity)
    /// The file was refused (the message has its diagnostics); the old rules stay.
    case rejected(String)
    /// The embedded default is in use: there is no file to read again.
    case nothingToReload
}

/// A flag one thread sets (waking the event loop) and another reads.
final class StopFlag: @unchecked Sendable {  // `value` and `wakeAction` are guarded by `lock`
    private let lock = Lock()
    private var value = false
    private var wakeAction: (@Sendable () -> Void)?

    /// Sets the flag, then calls the wake action (outside the lock).
    func set() { lock.withLock { value = true; return wakeAction }?() }
    var isSet: Bool { lock.withLock { value } }
    var wake: (@Sendable () -> Void)? {
        get { lock.withLock { wakeAction } }
        set { lock.withLock { wakeAction = newValue } }
    }
}
