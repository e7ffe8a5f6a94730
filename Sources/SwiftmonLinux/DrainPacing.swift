/// The reader's pace between drains: whether a drain pauses before the
/// reader waits again, and how long (``LinuxEventLoop/coalescingPause``).
/// The event loop passes its clock readings in, so a test can replay a flow.
///
/// The rate a drain saw is the bytes it read over the time since the
/// previous drain's read ended — before that drain's pause, since records
/// keep coming while the reader sleeps. (Measured from the end of the pause,
/// as the loop did before, the interval missed the pause: the rate came out
/// up to ~10× too high and the ring buffer's cap held the pause at 10 ms.)
struct DrainPacing {
    /// The pause after the last drain that paused (µs); grows while a storm lasts.
    private(set) var pause = LinuxEventLoop.coalescingMicroseconds
    /// When the last drain that read events ended, its pause included
    /// (monotonic ns): a wake-up within the base pause of it is a close one.
    private var drainEnded: Int64 = .min / 2
    /// When that drain's read ended, and the ring-buffer bytes read by then.
    private var readEnded: Int64 = .min / 2
    private var bytesAtReadEnd: UInt64 = 0

    /// After a drain that read `events` (at least one).
    /// - Parameters:
    ///   - woke: when the drain began (monotonic ns).
    ///   - now: when its read ended.
    ///   - bytesRead: the ring-buffer bytes read since the source opened (0 without one).
    ///   - ringBufferBytes: the ring buffer's size; nil for a source without one.
    /// - Returns: the pause to sleep now (µs), or nil for a lone event after a
    ///   quiet spell (read at once; the reader waits again straight away).
    mutating func drained(events: Int, woke: Int64, readEnded now: Int64,
                          bytesRead: UInt64, ringBufferBytes: Int?) -> UInt32? {
        let bytes = bytesRead &- bytesAtReadEnd
        let interval = now - readEnded
        readEnded = now
        bytesAtReadEnd = bytesRead
        let base = LinuxEventLoop.coalescingMicroseconds
        guard events >= 2 || woke - drainEnded < Int64(base) * 1000 else {
            pause = base
            drainEnded = woke
            return nil
        }
        pause = LinuxEventLoop.coalescingPause(previous: pause, eventsRead: events, bytesRead: bytes,
                                               overNanoseconds: interval, ringBufferBytes: ringBufferBytes)
        return pause
    }

    /// The pause ``drained(events:woke:readEnded:bytesRead:ringBufferBytes:)``
    /// asked for ended at `now`.
    mutating func paused(until now: Int64) { drainEnded = now }
}
