import Testing
@testable import SwiftmonLinux

/// The event loop's pacing (DrainPacing): the rate that caps the storm pause
/// is measured over the pause as well as the read, so a steady flow that a
/// quarter of the ring buffer holds for 50 ms lets the pause grow.
@Suite struct DrainPacingTests {
    let base = LinuxEventLoop.coalescingMicroseconds

    /// Replays `drains` drains of a steady flow of `bytesPerMillisecond`
    /// (records of 320 bytes), each read taking 1 ms and the next wake-up
    /// coming as its pause ends; returns the pause after each drain.
    func replay(bytesPerMillisecond: Int64, ring: Int, drains: Int = 6) -> [UInt32] {
        var pacing = DrainPacing()
        var now: Int64 = 1_000_000_000
        var lastReadEnd = now - 10_000_000
        var bytesRead: UInt64 = 0
        var pauses: [UInt32] = []
        for _ in 0..<drains {
            let woke = now
            now += 1_000_000
            let arrived = bytesPerMillisecond * (now - lastReadEnd) / 1_000_000
            lastReadEnd = now
            bytesRead += UInt64(arrived)
            guard let pause = pacing.drained(events: Int(arrived / 320), woke: woke, readEnded: now,
                                             bytesRead: bytesRead, ringBufferBytes: ring) else {
                pauses.append(0)
                continue
            }
            pauses.append(pause)
            now += Int64(pause) * 1000
            pacing.paused(until: now)
        }
        return pauses
    }

    @Test func aFlowThatAQuarterOfTheRingHoldsGrowsThePause() {
        // 4,000 bytes/ms into a 1 MiB ring: a quarter (262,144 bytes) lasts
        // 65 ms. Measured from the end of each pause, the same flow looked
        // ~10× faster and the pause stayed at 10 ms.
        #expect(replay(bytesPerMillisecond: 4_000, ring: 1 << 20) == [base, 20_000, 40_000, 50_000, 50_000, 50_000])
    }

    @Test func thePauseNeverLetsAQuarterOfTheRingFill() {
        // 7,000 bytes/ms: a quarter lasts 37 ms, so the pause stops short of 40 ms.
        let pauses = replay(bytesPerMillisecond: 7_000, ring: 1 << 20)
        #expect(pauses.max()! > base)
        for pause in pauses where pause > base {
            // The bytes expected during the pause stay under a quarter.
            #expect(7.0 * Double(pause) <= Double(1 << 18))
        }
        // 30,000 bytes/ms: a quarter lasts 9 ms; the pause stays at the base.
        #expect(replay(bytesPerMillisecond: 30_000, ring: 1 << 20).allSatisfy { $0 == base })
    }

    @Test func aLoneEventAfterAQuietSpellIsNotHeldBack() {
        var pacing = DrainPacing()
        let t: Int64 = 5_000_000_000
        #expect(pacing.drained(events: 1, woke: t, readEnded: t + 50_000, bytesRead: 320, ringBufferBytes: 1 << 24) == nil)
        // A second event within the base pause of the first: this drain pauses.
        #expect(pacing.drained(events: 1, woke: t + 2_000_000, readEnded: t + 2_050_000, bytesRead: 640,
                               ringBufferBytes: 1 << 24) == base)
        pacing.paused(until: t + 12_050_000)
        // Two events in one drain pause at once, whatever came before.
        var fresh = DrainPacing()
        #expect(fresh.drained(events: 2, woke: t, readEnded: t + 50_000, bytesRead: 640, ringBufferBytes: 1 << 24) == base)
        // A lone event long after the last pause: read at once, the pause back to the base.
        #expect(pacing.drained(events: 1, woke: t + 2_000_000_000, readEnded: t + 2_000_050_000, bytesRead: 960,
                               ringBufferBytes: 1 << 24) == nil)
        #expect(pacing.pause == base)
    }
}
