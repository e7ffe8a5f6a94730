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
