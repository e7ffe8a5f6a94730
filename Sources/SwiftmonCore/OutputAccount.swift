/// One output's figures for reports: its name, what it wrote and lost, and
/// whether its destination has gone for good.
public struct OutputReport: Sendable, Equatable {
    public var name: String
    public var counts: SinkDeliveryCounts
    public var destinationClosed: Bool
    /// The last flush error of a sink that keeps no account of its own.
    public var lastError: String?
}

/// The account the pipeline keeps of one sink. A ``DeliveryReporting`` sink
/// counts its own events; for any other sink an event is written when `emit`
/// returns and lost (under the error's cause) when it throws. Used from one
/// thread (the pipeline's sink thread); ``report`` may be read from any.
public final class OutputAccount: @unchecked Sendable {  // `own`, `lastError` guarded by `lock`; `sink` used on the sink thread
    public let sink: EventSink
    public let name: String
    private let reporting: DeliveryReporting?
    private let lock = Lock()
    private var own = SinkDeliveryCounts()
    private var lastError: String?

    public init(sink: EventSink, index: Int) {
        self.sink = sink
        self.reporting = sink as? DeliveryReporting
        self.name = reporting?.deliveryName ?? "output \(index + 1) (\(type(of: sink)))"
    }

    @inline(__always)
    public func emit(_ event: Event) {
        do {
            try sink.emit(event)
            if reporting == nil { lock.withLock { own.accepted += 1; own.delivered += 1 } }
        } catch {
            if reporting != nil {
                // A reporting sink has counted this event (and any others
                // the failure cost) itself; the error is kept for the report.
                let text = "\(error)"
                lock.withLock { lastError = text }
            } else {
                let cause = error.lossCause
                lock.withLock { own.accepted += 1; own.drop(1, cause: cause) }
            }
        }
    }

    public func flush() {
        do {
            try sink.flush()
        } catch {
            // A reporting sink has counted what the failure cost; for another
            // sink the error is kept for the report (it buffers nothing the
            // pipeline counted as unwritten).
            let text = "\(error)"
            lock.withLock { lastError = text }
        }
    }

    public func close() { sink.close() }

    public var destinationClosed: Bool { reporting?.destinationClosed ?? false }

    public var report: OutputReport {
        let mine = lock.withLock { (own, lastError) }
        let counts = reporting.map { $0.deliveryCounts + mine.0 } ?? mine.0
        return OutputReport(name: name, counts: counts, destinationClosed: destinationClosed, lastError: mine.1)
    }
}
