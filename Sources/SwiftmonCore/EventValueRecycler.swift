/// Field-value arrays of events the outputs are done with, for the next
/// events to reuse (issue 10: no allocation per event in steady state).
///
/// An event holds one value per field in an array (``Event/values``); making
/// that array is an allocation per event, and freeing it another call into
/// the allocator. The sink thread hands the arrays of the events it has
/// written back here, emptied (their strings are released there, not on the
/// reader's thread); a producer takes them in small groups through its own
/// ``EventValueStash``. An array a sink still holds (an event it keeps) is
/// not shared: emptying it makes a new one, so a kept event never changes.
///
/// Bounded: at most ``limit`` arrays wait here (each holds room for the
/// kind with the most fields), the rest are freed.
public final class EventValueRecycler: @unchecked Sendable {  // `free` is guarded by `lock`
    /// The recycler the pipeline and the live builders share.
    public static let shared = EventValueRecycler()

    /// Room each recycled array keeps: the most fields any kind has.
    public static let arrayCapacity = EventKind.all.map(\.fields.count).max() ?? 64

    public let limit: Int
    /// Arrays kept through a quiet second (``trim(keeping:)``): two of a
    /// producer's groups.
    public static let quietKept = 2 * EventValueStash.group
    private let lock = Lock()
    private var free: [[String]] = []

    public init(limit: Int = 1024) {
        self.limit = limit
        free.reserveCapacity(limit)
    }

    /// How many arrays wait to be reused.
    public var count: Int { lock.withLock { free.count } }

    /// Takes the value arrays of `events[start...]`, leaving those events
    /// without values (the caller drops them next).
    public func recycle(_ events: inout [Event], from start: Int = 0) {
        var i = start
        while i < events.count {
            var values: [String] = []
            swap(&values, &events[i].values)
            recycle(&values)
            i += 1
        }
    }

    /// Takes one array (left empty).
    public func recycle(_ values: inout [String]) {
        guard values.capacity >= Self.arrayCapacity else { values = []; return }
        // Releases the values here; a buffer some other copy still holds is
        // left to that copy (this gets a fresh one).
        values.removeAll(keepingCapacity: true)
        lock.lock()
        if free.count < limit {
            free.append(values)
            lock.unlock()
            values = []
        } else {
            lock.unlock()
            values = []
        }
    }

    /// Frees all but `kept` of the waiting arrays (a quiet second after a
    /// burst: up to ``limit`` arrays may wait for producers that take no
    /// more, or fewer, until the next burst). Returns how many were freed.
    @discardableResult
    public func trim(keeping kept: Int) -> Int {
        let freed: [[String]] = lock.withLock {
            guard free.count > kept else { return [] }
            let tail = Array(free[kept...])
            free.removeLast(free.count - kept)
            return tail
        }
        return freed.count  // freed here, outside the lock
    }

    /// Moves up to `n` arrays into `stash`.
    func take(into stash: inout [[String]], upTo n: Int) {
        lock.withLock {
            let k = min(n, free.count)
            guard k > 0 else { return }
            stash.append(contentsOf: free[(free.count - k)...])
            free.removeLast(k)
        }
    }
}

/// One producer thread's supply of recycled value arrays: it takes them from
/// the recycler a group at a time (one lock per ``group`` events).
public struct EventValueStash {
    private let recycler: EventValueRecycler
    private var arrays: [[String]] = []
    public static let group = 64

    public init(recycler: EventValueRecycler = .shared) {
        self.recycler = recycler
        arrays.reserveCapacity(Self.group)
    }

    /// An empty array with room for any kind's values.
    mutating func next() -> [String] {
        if arrays.isEmpty { recycler.take(into: &arrays, upTo: Self.group) }
        if !arrays.isEmpty { return arrays.removeLast() }
        var values: [String] = []
        values.reserveCapacity(EventValueRecycler.arrayCapacity)
        return values
    }
}
