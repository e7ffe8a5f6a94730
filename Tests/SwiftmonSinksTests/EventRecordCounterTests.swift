import Foundation
import SwiftmonCore
@testable import SwiftmonSinks
import XCTest

final class EventRecordCounterTests: XCTestCase {
    func testIDsIncreaseAcrossRestartsAndNeverRepeat() throws {
        let state = try temporaryDirectory() + "/record-id"
        var seen: [UInt64] = []
        for _ in 0..<5 {
            // Each pass is a sensor run that ends without any shutdown step (as kill -9 would).
            let counter = try EventRecordCounter(stateFile: state, blockSize: 4)
            for _ in 0..<Int.random(in: 1...9) { seen.append(try counter.nextID()) }
        }
        XCTAssertEqual(seen.first, 1)
        XCTAssertEqual(seen, seen.sorted())
        XCTAssertEqual(Set(seen).count, seen.count, "an id was handed out twice")
        XCTAssertEqual(try fileMode(state), 0o600)
    }

    func testStateFileIsReservedAheadOfUse() throws {
        let state = try temporaryDirectory() + "/record-id"
        let counter = try EventRecordCounter(stateFile: state, blockSize: 10)
        XCTAssertEqual(try String(contentsOfFile: state, encoding: .utf8), "11\n", "block 1…10 reserved before use")
        for _ in 0..<10 { _ = try counter.nextID() }
        XCTAssertEqual(try String(contentsOfFile: state, encoding: .utf8), "11\n")
        XCTAssertEqual(try counter.nextID(), 11)
        XCTAssertEqual(try String(contentsOfFile: state, encoding: .utf8), "21\n", "next block reserved when needed")
        let restarted = try EventRecordCounter(stateFile: state, blockSize: 10)
        XCTAssertEqual(try restarted.nextID(), 21)
    }

    func testCorruptStateFileIsRefusedNotReset() throws {
        let state = try temporaryDirectory() + "/record-id"
        try "garbage".write(toFile: state, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try EventRecordCounter(stateFile: state)) { error in
            XCTAssertTrue("\(error)".contains(state), "\(error)")
        }
    }

    func testUnwritableStateFileIsAClearError() throws {
        XCTAssertThrowsError(try EventRecordCounter(stateFile: "/nonexistent-swiftmon-dir/record-id")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-swiftmon-dir/record-id"), "\(error)")
        }
    }
}
