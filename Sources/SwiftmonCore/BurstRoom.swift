/// The room event arrays keep between bursts.
///
/// The arrays that carry events from the ring buffer to the outputs (the
/// reader's drain arrays, the pipeline's queue and its sink thread's batch)
/// reuse their storage from batch to batch: no allocation per batch. A storm
/// grows them to tens of thousands of events (megabytes, measured in
/// scripts/bench-memory.sh); once it is over (a quiet second, see
/// ``MonitorSession/tick()``), each empty one goes back to ``keptEvents``.
public enum BurstRoom {
    /// Events an empty array keeps room for between bursts.
    public static let keptEvents = 1024

    /// Whether an array with room for `capacity` events holds a burst's room:
    /// more than twice ``keptEvents`` (the allocator may round a request of
    /// ``keptEvents`` up, and a trimmed array must not count as one to trim).
    public static func holdsBurstRoom(_ capacity: Int) -> Bool { capacity > 2 * keptEvents }

    /// Gives back the room of `array`, when it is empty and holds a burst's;
    /// returns whether it did.
    @discardableResult
    public static func trim(_ array: inout [Event]) -> Bool {
        guard array.isEmpty, holdsBurstRoom(array.capacity) else { return false }
        array = []
        array.reserveCapacity(keptEvents)
        return true
    }
}
