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
public final class EventPipeline: @unchecked Sendable {
    public let capacity: Int
    public let losses: LossCounters
    private let sinks: [EventSink]
    private var filter: EventFilter

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeConsumer = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let wakeProducer = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var pending: [Event] = []
    private var stopping = false
    private var inFlight = 0
    private var thread: pthread_t?

    // Tallies, guarded by `mutex`.
    private var accepted: UInt64 = 0
    private var filteredOut: UInt64 = 0
    private var delivered: UInt64 = 0
    private var deliveredByKind: [Int: UInt64] = [:]

    public init(sinks: [EventSink], filter: EventFilter = LogEverything(), capacity: Int = 65_536,
                losses: LossCounters = LossCounters()) {
        self.sinks = sinks
        self.filter = filter
        self.capacity = max(1, capacity)
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

    /// The sinks that count their own deliveries and drops (store, syslog).
    public var reportingSinks: [DeliveryReporting] { sinks.compactMap { $0 as? DeliveryReporting } }

    /// Replaces the filter; events submitted from now on use the new one.
    public func replaceFilter(_ newFilter: EventFilter) {
        pthread_mutex_lock(mutex)
        filter = newFilter
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
        guard !events.isEmpty else { return }
        pthread_mutex_lock(mutex)
        let filter = self.filter
        pthread_mutex_unlock(mutex)
        var kept: [Event]
        if unfiltered || filter is LogEverything {
            kept = events
        } else {
            kept = []
            kept.reserveCapacity(events.count)
            for var event in events where event.kind.ruleTag == nil || filter.evaluate(&event) {
                kept.append(event)
            }
        }
        pthread_mutex_lock(mutex)
        filteredOut += UInt64(events.count - kept.count)
        let room = capacity - pending.count
        if kept.count > room {
            for event in kept[max(0, room)...] {
                losses.add(1, cause: .queueFull, kind: event.kind.name)
            }
            kept.removeLast(kept.count - max(0, room))
        }
        accepted += UInt64(kept.count)
        pending.append(contentsOf: kept)
        pthread_cond_signal(wakeConsumer)
        pthread_mutex_unlock(mutex)
    }

    public func submit(_ event: Event, unfiltered: Bool = false) { submit([event], unfiltered: unfiltered) }

    /// Waits until every queued event has been handed to the sinks.
    public func drain() {
        pthread_mutex_lock(mutex)
        while !pending.isEmpty || inFlight > 0 { pthread_cond_wait(wakeProducer, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// Delivers what is queued, flushes the sinks and ends the sink thread.
    public func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(wakeConsumer)
        pthread_mutex_unlock(mutex)
        if let t = thread { pthread_join(t, nil); thread = nil }
    }

    public struct Tally: Sendable {
        public var accepted: UInt64
        public var filteredOut: UInt64
        public var delivered: UInt64
        public var deliveredByKind: [Int: UInt64]
        public var queued: Int
    }

    public var tally: Tally {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return Tally(accepted: accepted, filteredOut: filteredOut, delivered: delivered,
                     deliveredByKind: deliveredByKind, queued: pending.count)
    }

    private func drainLoop() {
        var batch: [Event] = []
        while true {
            pthread_mutex_lock(mutex)
            while pending.isEmpty && !stopping { pthread_cond_wait(wakeConsumer, mutex) }
            if pending.isEmpty && stopping {
                pthread_mutex_unlock(mutex)
                break
            }
            swap(&batch, &pending)
            inFlight = batch.count
            pthread_mutex_unlock(mutex)

            var byKind: [Int: UInt64] = [:]
            var sinkFailures: [Int: [String: UInt64]] = [:]
            for event in batch {
                var deliveredSomewhere = sinks.isEmpty
                for (i, sink) in sinks.enumerated() {
                    do {
                        try sink.emit(event)
                        deliveredSomewhere = true
                    } catch {
                        sinkFailures[i, default: [:]][event.kind.name, default: 0] += 1
                    }
                }
                if deliveredSomewhere { byKind[event.kind.id, default: 0] += 1 }
            }
            let idle: Bool
            pthread_mutex_lock(mutex)
            idle = pending.isEmpty
            pthread_mutex_unlock(mutex)
            if idle || stopping { for sink in sinks { try? sink.flush() } }
            for (_, byName) in sinkFailures {
                for (name, n) in byName { losses.add(n, cause: .sinkError, kind: name) }
            }

            pthread_mutex_lock(mutex)
            for (k, n) in byKind { deliveredByKind[k, default: 0] += n; delivered += n }
            inFlight = 0
            batch.removeAll(keepingCapacity: true)
            pthread_cond_broadcast(wakeProducer)
            pthread_mutex_unlock(mutex)
        }
        for sink in sinks { try? sink.flush() }
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wakeProducer)
        pthread_mutex_unlock(mutex)
    }
}
