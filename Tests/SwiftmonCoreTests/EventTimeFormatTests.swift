import XCTest
@testable import SwiftmonCore

/// EventTime's text forms (formatted in place for speed; these pin the output).
final class EventTimeFormatTests: XCTestCase {
    func testSysmonAndISOForms() {
        let t = EventTime(nanosecondsSinceEpoch: 1_706_745_599_123_456_789)
        XCTAssertEqual(t.sysmonText, "2024-01-31 23:59:59.123")
        XCTAssertEqual(t.iso8601Nanoseconds, "2024-01-31T23:59:59.123456789Z")
        XCTAssertEqual(EventTime(nanosecondsSinceEpoch: 0).iso8601Nanoseconds, "1970-01-01T00:00:00.000000000Z")
        XCTAssertEqual(EventTime(nanosecondsSinceEpoch: -1).iso8601Nanoseconds, "1969-12-31T23:59:59.999999999Z")
        XCTAssertEqual(EventTime(nanosecondsSinceEpoch: -2_208_988_800_000_000_000).sysmonText, "1900-01-01 00:00:00.000")
    }
}
