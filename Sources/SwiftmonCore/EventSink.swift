/// A consumer of finished events: the console, a JSON-lines file, a store…
///
/// One requirement does the work. A plain sink that cannot take an event
/// throws; the pipeline counts that as a loss for this sink, under the
/// error's ``LossCauseNaming/lossCause``, and carries on with the others. A
/// sink that buffers or sends from its own thread is also
/// ``DeliveryReporting``: it counts every event itself, lost or written.
public protocol EventSink: AnyObject {
    func emit(_ event: Event) throws
    /// Pushes out anything buffered. Called when the pipeline goes idle and at stop.
    func flush() throws
    /// Delivers or counts as lost whatever is still buffered, and lets go of
    /// the destination. Called once, when the pipeline stops.
    func close()
}

extension EventSink {
    public func flush() throws {}
    /// A plain sink buffers nothing: the pipeline's last ``flush()`` was enough.
    public func close() {}
}

/// A sink that keeps every event, for tests and for `--stats`-style tallies.
public final class CollectingSink: EventSink, @unchecked Sendable {  // `stored` is guarded by `lock`
    private let lock = Lock()
    private var stored: [Event] = []
    public init() {}
    public func emit(_ event: Event) throws { lock.withLock { stored.append(event) } }
    public var events: [Event] { lock.withLock { stored } }
}

/// Filters events and hands each one kept to every sink, on the caller's
/// thread: for offline sources (an .etl file) that want back-pressure rather
/// than a queue that drops. A sink that throws loses that event for itself
/// only; every output's account is kept as in ``EventPipeline``.
public final class FanOutSink: EventSink {
    private let outputs: [OutputAccount]
    private let filter: EventFilter
    private let detector: EventDetector?
    private var alerts: [Event] = []
    public private(set) var kept: UInt64 = 0
    public private(set) var filteredOut: UInt64 = 0

    /// `detector` (Sigma rules) sees what the filter keeps; its alerts follow their event.
    public init(sinks: [EventSink], filter: EventFilter = LogEverything(), detector: EventDetector? = nil) {
        self.outputs = sinks.enumerated().map { OutputAccount(sink: $1, index: $0) }
        self.filter = filter
        self.detector = detector
    }

    public func emit(_ event: Event) throws {
        var event = event
        guard event.kind.ruleTag == nil || filter.evaluate(&event) else {
            filteredOut += 1
            return
        }
        kept += 1
        for output in outputs { output.emit(event) }
        guard let detector else { return }
        detector.detect(event, into: &alerts)
        for alert in alerts {
            for output in outputs { output.emit(alert) }
        }
        alerts.removeAll(keepingCapacity: true)
    }

    public func flush() throws {
        for output in outputs { output.flush() }
    }

    public func close() {
        for output in outputs { output.close() }
    }

    /// What each output wrote and lost.
    public var outputReports: [OutputReport] { outputs.map(\.report) }
    /// Events lost in all outputs together.
    public var failures: UInt64 { outputReports.reduce(0) { $0 + $1.counts.droppedTotal } }
}
