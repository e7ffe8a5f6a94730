import XCTest
@testable import SwiftmonCore

/// The process cache's pid → position table must answer as a dictionary
/// would through any mix of sets, replacements and removals (removal moves
/// later keys of a probe run back: a wrong move loses a key or finds a stale one).
final class PidTableTests: XCTestCase {
    func testMatchesADictionaryThroughRandomSetsAndRemovals() {
        var generator = SplitMix(seed: 0x5EED)
        for range: UInt32 in [40, 3000, 4_194_304] {
            var table = PidTable()
            var model: [UInt32: UInt32] = [:]
            for step in 0..<60_000 {
                let pid = UInt32(generator.next() % UInt64(range))
                if generator.next() % 3 == 0 {
                    table.remove(pid)
                    model[pid] = nil
                } else {
                    let position = UInt32(truncatingIfNeeded: generator.next())
                    table.set(pid, position)
                    model[pid] = position
                }
                XCTAssertEqual(table[pid], model[pid], "range \(range) step \(step)")
                if step % 1999 == 0 {
                    XCTAssertEqual(table.count, model.count, "range \(range) step \(step)")
                    for (k, v) in model { XCTAssertEqual(table[k], v, "range \(range) step \(step) pid \(k)") }
                    for _ in 0..<200 {
                        let absent = UInt32(generator.next() % UInt64(range))
                        XCTAssertEqual(table[absent], model[absent], "range \(range) step \(step) pid \(absent)")
                    }
                }
            }
        }
    }

    func testCollidingKeysSurviveRemovalsInTheMiddleOfTheirRun() {
        // Pids that share a home slot (same top bits of pid × the multiplier
        // in a 16-slot table) wrap around the table's end.
        var table = PidTable(minimumCapacity: 4)
        XCTAssertEqual(table.slotCount, 16)
        let colliding = (UInt32(1)...200_000).filter { table.home($0) == 15 }.prefix(6)
        XCTAssertEqual(colliding.count, 6)
        for (k, pid) in colliding.enumerated() { table.set(pid, UInt32(k)) }
        table.remove(colliding[colliding.startIndex + 1])
        table.remove(colliding[colliding.startIndex + 4])
        for (k, pid) in colliding.enumerated() {
            XCTAssertEqual(table[pid], k == 1 || k == 4 ? nil : UInt32(k), "pid \(pid)")
        }
        XCTAssertEqual(table.count, 4)
        // The free-slot key is no pid: never held, never found, removing it changes nothing.
        table.set(PidTable.empty, 9)
        XCTAssertNil(table[PidTable.empty])
        table.remove(PidTable.empty)
        XCTAssertEqual(table.count, 4)
        for (k, pid) in colliding.enumerated() where k != 1 && k != 4 { XCTAssertEqual(table[pid], UInt32(k)) }
    }

    func testRoomStaysAtMostTwiceWhatIsHeldPlusAQuarter() {
        var table = PidTable()
        for pid in UInt32(1)...32_000 { table.set(pid, pid) }
        XCTAssertEqual(table.count, 32_000)
        XCTAssertLessThanOrEqual(table.slotCount, 65_536)
        XCTAssertGreaterThanOrEqual(table.slotCount * 3, 32_000 * 4)
        XCTAssertEqual(PidTable(minimumCapacity: 100).slotCount, 256)
    }
}

/// A fixed-seed generator: the same sequence on every run.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
