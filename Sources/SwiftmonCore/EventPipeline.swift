#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Decides whether an event is logged, and names the rule that matched
/// (a compiled Sysmon configuration). Must be safe to call from one thread
/// while another thread swaps in a new filter.
public protocol EventFilter: Sendable {
    /// True when the event is to be logged; may set its `RuleName`.
    func evaluate(_ event: inout Event) -> Bool
}

/// A detection stage after the filter (Sigma rules): looks at each event the
/// filter kept and appends the alerts it raises (their own events, e.g. 210).
/// Called on the producer's thread; must be safe to call from any one thread.
public protocol EventDetector: Sendable {
    func detect(_ event: Event, into alerts: inout [Event])
}

/// Logs everything: the filter when no configuration applies.
public struct LogEverything: EventFilter {
    public init() {}
    public func evaluate(_ event: inout Event) -> Bool { true }
}

/// The path from a source to the sinks: filter on the producer's thread, then a
/// bounded queue, then one thread that hands each event to every sink.
///
/// A slow sink never stalls the producer (the kernel ring buffer reader): what
/// does not fit in the queue is counted as lost, per event kind. A sink that
/// throws loses that event for itself only; the others still get it.
public final class EventPipeline: @unchecked Sendable {  // `filter` and the vars below `mutex` are guarded by it, unless marked
    public let capacity: Int
    public let losses: LossCounters
    private let outputs: [OutputAccount]
    private var filter: EventFilter  // guarded by `mutex`
    /// `filter is LogEverything`, decided once per filter: the dynamic cast
    /// cost about 2 µs per drain (perf, exec storm). Guarded by `mutex`.
    private var filterLogsEverything: Bool
    /// Runs on what the filter kept; its alerts follow their event into the queue.
    private let detector: EventDetector?
    /// Room beyond ``capacity`` that only alerts may use, so that a full queue
    /// drops ordinary events before any alert (alerts lost are counted apart).
    public let alertReserve: Int

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeConsumer = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let wakeProducer = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var pending: [Event] = []
    private var stopping = false
    private var inFlight = 0
    private var thread: pthread_t?  // only start() and stop() touch it, on the controlling thread
    private var closedReported = false  // the sink thread's only
    private var lastAlertFlush: Int64 = 0  // the sink thread's only
    /// Set by ``trimAfterBurst()``: the sink thread gives back its batch's room.
    private var trimDue = false  // guarded by `mutex`
    /// The room of the sink thread's batch array after its last batch.
    private var batchRoom = 0  // guarded by `mutex`

    // Tallies, guarded by `mutex`.
    private var accepted: UInt64 = 0
    private var filteredOut: UInt64 = 0
    private var dispatched: UInt64 = 0
    private var dispatchedByKind: [Int: UInt64] = [:]

    /// Where the sink thread hands back the value arrays of the events it
    /// has written (nil: they are freed). Set before start().
    public var recycler: EventValueRecycler? = .shared

    /// Called once, on the sink thread, when an output's destination has
    /// gone for good (the reader of a pipe closed it): a live run ends then.
    public var onDestinationClosed: (@Sendable () -> Void)?  // set before start(), then read on the sink thread only

    public init(sinks: [EventSink], filter: EventFilter = LogEverything(), capacity: Int = 65_536,
                losses: LossCounters = LossCounters(), detector: EventDetector? = nil) {
        self.outputs = sinks.enumerated().map { OutputAccount(sink: $1, index: $0) }
        self.filter = filter
        self.filterLogsEverything = filter is LogEverything
        self.detector = detector
        self.capacity = max(1, capacity)
        self.alertReserve = detector == nil ? 0 : max(64, self.capacity / 8)
        self.losses = losses
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeConsumer, nil)
        pthread_cond_init(wakeProducer, nil)
        pending.reserveCapacity(min(self.capacity, 65_536))
    }

    deinit {
        pthread_cond_destroy(wakeConsumer)
        pthread_cond_destroy(wakeProducer)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wakeConsumer.deallocate()
        wakeProducer.deallocate()
    }

    /// What each output wrote and lost, by cause.
    public var outputReports: [OutputReport] { outputs.map(\.report) }

    /// Asks every file output to open its path again before its next write
    /// (SIGUSR1, after logrotate moved the files away).
    public func reopenOutputs() {
        for output in outputs { (output.sink as? ReopenableOutput)?.reopen() }
    }

    /// Replaces the filter; events submitted from now on use the new one.
    public func replaceFilter(_ newFilter: EventFilter) {
        pthread_mutex_lock(mutex)
        filter = newFilter
        filterLogsEverything = newFilter is LogEverything
        pthread_mutex_unlock(mutex)
    }

    /// Starts the thread that feeds the sinks.
    public func start() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let pipeline = Unmanaged<EventPipeline>.fromOpaque(raw!).takeRetainedValue()
            pipeline.drainLoop()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread = tid
    }

    /// Filters and queues events. Never blocks on the sinks: a full queue
    /// counts the overflow as lost. Events the monitor itself reports (state,
    /// errors) pass `unfiltered`.
    public func submit(_ events: [Event], unfiltered: Bool = false) {
        var events = events
        submit(taking: &events, unfiltered: unfiltered)
    }

    /// The same, moving the events out of `events` (left empty, its room
    /// kept): the filter sets `RuleName` in place and the queue holds the
    /// only copy of each event, so no event's values are copied and the sink
    /// thread can hand their arrays back for reuse (``recycler``). The
    /// reader's path.
    public func submit(taking events: inout [Event], unfiltered: Bool = false) {
        guard !events.isEmpty else { return }
        pthread_mutex_lock(mutex)
        let filter = self.filter
        let logsEverything = filterLogsEverything
        pthread_mutex_unlock(mutex)
        let submitted = events.count
        if !(unfiltered || logsEverything) {
            // Kept events move to the front, in order; the rest are dropped.
            var kept = 0
            for i in events.indices where events[i].kind.ruleTag == nil || filter.evaluate(&events[i]) {
                if kept != i { events.swapAt(kept, i) }
                kept += 1
            }
            if kept < submitted {
                recycler?.recycle(&events, from: kept)
                events.removeLast(submitted - kept)
            }
        }
        let keptOrdinary = events.count
        var alertCount = 0
        if let detector, !unfiltered {
            var withAlerts: [Event] = []
            var alerts: [Event] = []
            for i in events.indices {
                detector.detect(events[i], into: &alerts)
                if !alerts.isEmpty {
                    if withAlerts.isEmpty {
                        withAlerts.reserveCapacity(events.count + alerts.count)
                        withAlerts.append(contentsOf: events[..<i])
                    }
                    alertCount += alerts.count
                    withAlerts.append(events[i])
                    withAlerts.append(contentsOf: alerts)
                    alerts.removeAll(keepingCapacity: true)
                } else if !withAlerts.isEmpty {
                    withAlerts.append(events[i])
                }
            }
            if alertCount > 0 { events = withAlerts }
        }
        pthread_mutex_lock(mutex)
        filteredOut += UInt64(submitted - keptOrdinary)
        if alertCount == 0 {
            let room = max(0, capacity - pending.count)
            if events.count > room {
                for event in events[room...] {
                    losses.add(1, cause: .queueFull, kind: event.kind.name)
                }
                events.removeLast(events.count - room)
            }
        } else {
            // Ordinary events fit in `capacity`; alerts also in the reserve beyond it.
            var queued = pending.count
            var admitted: [Event] = []
            admitted.reserveCapacity(events.count)
            for event in events {
                let limit = event.kind == .sigmaMatch ? capacity + alertReserve : capacity
                if queued < limit {
                    admitted.append(event)
                    queued += 1
                } else {
                    losses.add(1, cause: .queueFull, kind: event.kind.name)
                }
            }
            events = admitted
        }
        accepted += UInt64(events.count)
        // Nothing kept (the filter dropped every event of the drain): the
        // sink thread sleeps on. Waking it anyway cost two context switches
        // per drain on a host whose configuration logs little.
        let wake = !events.isEmpty
        if pending.isEmpty {
            // The sink thread keeps up (the usual case): the batch becomes the
            // queue and the caller gets the queue's empty buffer — no event
            // copied (a copy retains and releases each event's storage).
            let room = events.capacity
            swap(&pending, &events)
            if events.capacity < room { events.reserveCapacity(room) }  // until the buffers that circulate are all this big
        } else {
            pending.append(contentsOf: events)
            // Before the sink thread can take them: the queue's copy is the only one.
            events.removeAll(keepingCapacity: true)
        }
        pthread_mutex_unlock(mutex)
        // After the unlock: a sink thread woken while the mutex is still held
        // wakes only to block on it (a second sleep and a futex wake-up per
        // drain, seen as more voluntary switches on the sink thread than
        // wake-ups the reader gave it). The queue's state is already set
        // under the lock, so the signal cannot be missed.
        if wake { pthread_cond_signal(wakeConsumer) }
    }

    public func submit(_ event: Event, unfiltered: Bool = false) { submit([event], unfiltered: unfiltered) }

    /// Waits until every queued event has been handed to the sinks.
    public func drain() {
        pthread_mutex_lock(mutex)
        while !pending.isEmpty || inFlight > 0 { pthread_cond_wait(wakeProducer, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// Delivers what is queued, flushes and closes the sinks (each delivers
    /// or counts what it still holds) and ends the sink thread.
    public func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(wakeConsumer)
        pthread_mutex_unlock(mutex)
        if let t = thread { pthread_join(t, nil); thread = nil }
        for output in outputs { output.close() }
    }

    public struct Tally: Sendable {
        /// Events that passed the filter and found room in the queue.
        public var accepted: UInt64
        public var filteredOut: UInt64
        /// Events handed to the outputs (each output's report says what it wrote).
        public var dispatched: UInt64
        public var dispatchedByKind: [Int: UInt64]
        public var queued: Int
    }

    public var tally: Tally {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return Tally(accepted: accepted, filteredOut: filteredOut, dispatched: dispatched,
                     dispatchedByKind: dispatchedByKind, queued: pending.count)
    }

    private func drainLoop() {
        var batch: [Event] = []
        // Events written per kind in one batch; its room is kept between batches.
        var byKind: [Int: UInt64] = [:]
        while true {
            pthread_mutex_lock(mutex)
            while pending.isEmpty && !stopping && !trimDue { pthread_cond_wait(wakeConsumer, mutex) }
            if pending.isEmpty && stopping {
                pthread_mutex_unlock(mutex)
                break
            }
            if trimDue && pending.isEmpty {
                trimDue = false
                batchRoom = BurstRoom.keptEvents
                pthread_mutex_unlock(mutex)
                BurstRoom.trim(&batch)
                continue
            }
            trimDue = false
            swap(&batch, &pending)
            inFlight = batch.count
            pthread_mutex_unlock(mutex)

            byKind.removeAll(keepingCapacity: true)
            // An alert (SigmaMatch) is flushed as soon as its run of alerts is
            // written, not when the batch ends or the queue next runs dry: under
            // load that can be a whole queue (tens of ms) later. At most one such
            // flush per millisecond; one held back by that goes out with the next.
            var alertUnflushed = false
            // By index, each event lent to the outputs in place (a `for event
            // in batch` copy retains and releases its storage per event); the
            // count per kind in runs of one kind (a storm's batches are runs).
            var runKind = Int.min, run: UInt64 = 0
            // Through the buffer: the array's subscript made a copy of each
            // event (a retain and a release of its three arrays) to lend it.
            batch.withUnsafeBufferPointer { batch in
                for i in batch.indices {
                    let isAlert = batch[i].kind.id == EventKind.sigmaMatch.id
                    if alertUnflushed && !isAlert {
                        let now = Self.monotonicNanoseconds()
                        if now - lastAlertFlush >= 1_000_000 {
                            for output in outputs { output.flush() }
                            lastAlertFlush = now
                            alertUnflushed = false
                        }
                    }
                    for output in outputs { output.emit(batch[i]) }
                    let id = batch[i].kind.id
                    if id != runKind {
                        if run > 0 { byKind[runKind, default: 0] += run }
                        runKind = id
                        run = 0
                    }
                    run += 1
                    if isAlert { alertUnflushed = true }
                }
            }
            if run > 0 { byKind[runKind, default: 0] += run }
            let idle: Bool
            pthread_mutex_lock(mutex)
            idle = pending.isEmpty
            pthread_mutex_unlock(mutex)
            if idle || stopping || alertUnflushed {
                for output in outputs { output.flush() }
                if alertUnflushed { lastAlertFlush = Self.monotonicNanoseconds() }
            }
            noticeClosedDestinations()

            // The events' values go back for reuse (released here, on this
            // thread, not on the reader's).
            recycler?.recycle(&batch)
            batch.removeAll(keepingCapacity: true)

            pthread_mutex_lock(mutex)
            for (k, n) in byKind { dispatchedByKind[k, default: 0] += n; dispatched += n }
            inFlight = 0
            batchRoom = batch.capacity
            pthread_cond_broadcast(wakeProducer)
            pthread_mutex_unlock(mutex)
        }
        for output in outputs { output.flush() }
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wakeProducer)
        pthread_mutex_unlock(mutex)
    }

    /// Gives back the room a burst left in the queue's array and the sink
    /// thread's (each back to ``BurstRoom/keptEvents``), when the queue is
    /// empty. For a quiet second after a burst: the sink thread is woken
    /// only when its array holds a burst's room.
    public func trimAfterBurst() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard pending.isEmpty, inFlight == 0 else { return }
        BurstRoom.trim(&pending)
        if BurstRoom.holdsBurstRoom(batchRoom) {
            trimDue = true
            pthread_cond_signal(wakeConsumer)
        }
    }

    /// The room (events) of the queue's array and of the sink thread's batch.
    public var reservedRoom: (queue: Int, batch: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (pending.capacity, batchRoom)
    }

    private static func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    private func noticeClosedDestinations() {
        guard !closedReported, outputs.contains(where: \.destinationClosed) else { return }
        closedReported = true
        onDestinationClosed?()
    }
}
