/// A consumer of finished events: the console, a JSON-lines file, a store…
///
/// One requirement does the work. A sink that cannot take an event throws; the
/// pipeline counts that as a loss for this sink and carries on with the others.
public protocol EventSink: AnyObject {
    func emit(_ event: Event) throws
    /// Pushes out anything buffered. Called when the pipeline goes idle and at stop.
    func flush() throws
}

extension EventSink {
    public func flush() throws {}
}

/// A sink that keeps every event, for tests and for `--stats`-style tallies.
public final class CollectingSink: EventSink, @unchecked Sendable {
    private let lock = Lock()
    private var stored: [Event] = []
    public init() {}
    public func emit(_ event: Event) throws { lock.withLock { stored.append(event) } }
    public var events: [Event] { lock.withLock { stored } }
}

/// Filters events and hands each one kept to every sink, on the caller's
/// thread: for offline sources (an .etl file) that want back-pressure rather
/// than a queue that drops. A sink that throws loses that event for itself
/// only; the failures are counted.
public final class FanOutSink: EventSink {
    private let sinks: [EventSink]
    private let filter: EventFilter
    public private(set) var kept: UInt64 = 0
    public private(set) var filteredOut: UInt64 = 0
    public private(set) var failures: UInt64 = 0

    public init(sinks: [EventSink], filter: EventFilter = LogEverything()) {
        self.sinks = sinks
        self.filter = filter
    }

    public func emit(_ event: Event) throws {
        var event = event
        guard event.kind.ruleTag == nil || filter.evaluate(&event) else {
            filteredOut += 1
            return
        }
        kept += 1
        for sink in sinks {
            do { try sink.emit(event) } catch { failures += 1 }
        }
    }

    public func flush() throws {
        for sink in sinks { try sink.flush() }
    }
}
