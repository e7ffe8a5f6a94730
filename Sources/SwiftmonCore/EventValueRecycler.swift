/// Value storage of events the outputs are done with, for the next events to
/// reuse (issue 10: no allocation per event in steady state).
///
/// An event holds one text per field in an array and its byte-valued fields
/// in a byte arena (``Event``); making them is an allocation each per event,
/// and freeing them more calls into the allocator. The sink thread hands the
/// storage of the events it has written back here, emptied (their strings
/// are released there, not on the reader's thread); a producer takes them in
/// small groups through its own ``EventValueStash``. Storage a sink still
/// holds (an event it keeps) is not shared: emptying it makes a new one, so a
/// kept event never changes.
///
/// Bounded: at most ``limit`` storages wait here (each with room for the
/// kind with the most fields, and an arena of at most ``arenaKeepLimit``
/// bytes), the rest are freed.
public final class EventValueRecycler: @unchecked Sendable {  // `free` is guarded by `lock`
    /// The recycler the pipeline and the live builders share.
    public static let shared = EventValueRecycler()

    /// Room each recycled array keeps: the most fields any kind has.
    public static let arrayCapacity = EventKind.all.map(\.fields.count).max() ?? 64

    /// Room a new arena starts with: an exec's GUIDs, image, directory and
    /// a command line of a few hundred bytes.
    public static let arenaCapacity = 2048
    /// An arena that grew past this (a 100 KiB command line) is freed, not kept.
    public static let arenaKeepLimit = 64 * 1024

    /// One event's value storage: its texts and its byte arena. Recycled
    /// texts are empty, or all ``Event/absent`` (as many as the kind they
    /// last held had fields: an event of that kind takes them as they are).
    public struct Storage {
        var texts: [String]
        var arena: [UInt8]
    }

    public let limit: Int
    /// Arrays kept through a quiet second (``trim(keeping:)``): two of a
    /// producer's groups.
    public static let quietKept = 2 * EventValueStash.group
    private let lock = Lock()
    /// Touched only under `lock`: its run-time exclusivity checks (per
    /// event recycled, issue 10) are left out.
    @exclusivity(unchecked) private var free: [Storage] = []

    public init(limit: Int = 1024) {
        self.limit = limit
        free.reserveCapacity(limit)
    }

    /// How many arrays wait to be reused.
    public var count: Int { lock.withLock { free.count } }

    /// Takes the value storage of `events[start...]`, leaving those events
    /// without values (the caller drops them next).
    ///
    /// `refillingTexts`: each event's texts are set back to absent in place,
    /// not emptied; the next event of the same kind then takes them as they
    /// are. Cheaper where the arrays are mostly the caller's alone (the
    /// .evtx reader: generic emptying and refilling cost 2,000 instructions
    /// an event, the most of a Security record's making after its JSON);
    /// dearer where other copies often hold them (an array held elsewhere is
    /// copied first, where emptying makes a new one), as on the live path.
    public func recycle(_ events: inout [Event], from start: Int = 0, refillingTexts: Bool = false) {
        var i = start
        while i < events.count {
            var storage = Storage(texts: [], arena: [])
            swap(&storage.texts, &events[i].texts)
            swap(&storage.arena, &events[i].arena)
            recycle(&storage, refillingTexts: refillingTexts)
            i += 1
        }
    }

    /// Takes one array of texts (left empty), with a new arena.
    public func recycle(_ values: inout [String]) {
        var storage = Storage(texts: [], arena: [])
        swap(&storage.texts, &values)
        recycle(&storage)
    }

    /// Takes one storage (left empty).
    func recycle(_ storage: inout Storage, refillingTexts: Bool = false) {
        guard storage.texts.capacity >= Self.arrayCapacity else { storage = Storage(texts: [], arena: []); return }
        // Releases the values here; a buffer some other copy still holds is
        // left to that copy (emptying gives this a fresh one; refilling
        // copies it first).
        if refillingTexts {
            // Each value replaced by the absent literal (which needs no
            // release later), the count kept.
            storage.texts.withUnsafeMutableBufferPointer { texts in
                for i in texts.indices { texts[i] = Event.absent }
            }
        } else {
            storage.texts.removeAll(keepingCapacity: true)
        }
        if storage.arena.capacity < Self.arenaCapacity || storage.arena.capacity > Self.arenaKeepLimit {
            storage.arena = []
            storage.arena.reserveCapacity(Self.arenaCapacity)
        } else {
            storage.arena.removeAll(keepingCapacity: true)
        }
        lock.lock()
        if free.count < limit {
            free.append(storage)
            lock.unlock()
        } else {
            lock.unlock()
        }
        storage = Storage(texts: [], arena: [])
    }

    /// Frees all but `kept` of the waiting storages (a quiet second after a
    /// burst: up to ``limit`` may wait for producers that take no more, or
    /// fewer, until the next burst). Returns how many were freed.
    @discardableResult
    public func trim(keeping kept: Int) -> Int {
        let freed: [Storage] = lock.withLock {
            guard free.count > kept else { return [] }
            let tail = Array(free[kept...])
            free.removeLast(free.count - kept)
            return tail
        }
        return freed.count  // freed here, outside the lock
    }

    /// Moves up to `n` storages into `stash`.
    func take(into stash: inout [Storage], upTo n: Int) {
        lock.withLock {
            let k = min(n, free.count)
            guard k > 0 else { return }
            stash.append(contentsOf: free[(free.count - k)...])
            free.removeLast(k)
        }
    }
}

/// One producer thread's supply of recycled value storage: it takes it from
/// the recycler a group at a time (one lock per ``group`` events).
public struct EventValueStash {
    private let recycler: EventValueRecycler
    private var arrays: [EventValueRecycler.Storage] = []
    public static let group = 64

    public init(recycler: EventValueRecycler = .shared) {
        self.recycler = recycler
        arrays.reserveCapacity(Self.group)
    }

    /// Storage with room for any kind's values: an empty arena, texts all
    /// absent (see ``EventValueRecycler/Storage``).
    mutating func next() -> EventValueRecycler.Storage {
        if arrays.isEmpty { recycler.take(into: &arrays, upTo: Self.group) }
        if !arrays.isEmpty { return arrays.removeLast() }
        var storage = EventValueRecycler.Storage(texts: [], arena: [])
        storage.texts.reserveCapacity(EventValueRecycler.arrayCapacity)
        storage.arena.reserveCapacity(EventValueRecycler.arenaCapacity)
        return storage
    }
}
