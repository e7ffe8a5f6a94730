import Testing
@testable import SwiftmonLinux

/// The event loop's pause rule (LinuxEventLoop.coalescingPause): it grows
/// while a storm lasts, never past what a quarter of the ring buffer holds at
/// the observed rate, and never below the base pause.
@Suite struct CoalescingPauseTests {
    let base = LinuxEventLoop.coalescingMicroseconds
    let ring16M = 16 << 20

    /// One storm drain: `events` events of `bytes` bytes read over the
    /// previous pause (plus 1 ms of reading).
    func next(after previous: UInt32, events: Int = 200, bytes: UInt64, ring: Int?) -> UInt32 {
        LinuxEventLoop.coalescingPause(previous: previous, eventsRead: events, bytesRead: bytes,
                                       overNanoseconds: Int64(previous) * 1000 + 1_000_000, ringBufferBytes: ring)
    }

    @Test func aStormWithHeadroomDoublesThePauseUpToTheLongest() {
        // 200 events of ~300 bytes per pause: 60 kB, far from 4 MiB.
        var pause = base
        var seen: [UInt32] = []
        for _ in 0..<5 {
            pause = next(after: pause, bytes: 60_000, ring: ring16M)
            seen.append(pause)
        }
        #expect(seen == [20_000, 40_000, 50_000, 50_000, 50_000])
    }

    @Test func theRingBuffersHeadroomCapsThePause() {
        // 1 MiB ring: a quarter is 262,144 bytes. 100,000 bytes over 21 ms
        // (20 ms pause + 1 ms) fill it in 21 × 2.62 = 55 ms: the 40 ms step stays.
        #expect(next(after: 20_000, bytes: 100_000, ring: 1 << 20) == 40_000)
        // 200,000 bytes over 21 ms: 27.5 ms of headroom caps the 40 ms step.
        let capped = next(after: 20_000, bytes: 200_000, ring: 1 << 20)
        #expect(capped == 27_525)
        // The bytes expected during the capped pause stay under a quarter.
        #expect(Double(capped) * 200_000 / 21_000 <= Double(1 << 18))
    }

    @Test func theCapNeverGoesBelowTheBasePause() {
        // A flow that would fill a quarter of a 1 MiB ring in 2 ms: base pause, as before.
        #expect(next(after: 10_000, bytes: 1_500_000, ring: 1 << 20) == base)
        #expect(next(after: 50_000, bytes: 10_000_000, ring: 1 << 20) == base)
    }

    @Test func aFlowThatEasesFallsBackToTheBasePause() {
        // Fewer than stormEvents in the drain.
        #expect(next(after: 40_000, events: LinuxEventLoop.stormEvents - 1, bytes: 3_000, ring: ring16M) == base)
        // A burst after a quiet spell: the interval (5 s) says nothing of its rate.
        #expect(LinuxEventLoop.coalescingPause(previous: 40_000, eventsRead: 500, bytesRead: 150_000,
                                               overNanoseconds: 5_000_000_000, ringBufferBytes: ring16M) == base)
        // A source without a ring buffer (netlink fallback) keeps the base pause.
        #expect(next(after: 20_000, bytes: 60_000, ring: nil) == base)
    }
}
