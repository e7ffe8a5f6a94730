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

    /// Events of one millisecond share one UtcTime text; the next millisecond
    /// (also before the epoch) gets its own, the same as ``EventTime/sysmonText``.
    func testUtcTimeTextCachePerMillisecond() {
        var cache = UtcTimeTextCache()
        let a = EventTime(nanosecondsSinceEpoch: 1_706_745_599_123_000_000)
        let b = EventTime(nanosecondsSinceEpoch: 1_706_745_599_123_999_999)
        let c = EventTime(nanosecondsSinceEpoch: 1_706_745_599_124_000_000)
        XCTAssertEqual(cache.text(for: a), "2024-01-31 23:59:59.123")
        XCTAssertEqual(cache.text(for: b), "2024-01-31 23:59:59.123")
        XCTAssertEqual(cache.text(for: c), "2024-01-31 23:59:59.124")
        XCTAssertEqual(cache.text(for: a), "2024-01-31 23:59:59.123", "going back formats again")
        for ns: Int64 in [-1, -999_999, -1_000_000, -1_000_001, 0, 999_999] {
            let t = EventTime(nanosecondsSinceEpoch: ns)
            XCTAssertEqual(cache.text(for: t), t.sysmonText, "\(ns)")
        }
        XCTAssertEqual(Event(.processCreate, time: c, utcTime: cache.text(for: c))["UtcTime"], "2024-01-31 23:59:59.124")
        XCTAssertEqual(Event(.processCreate, time: c)["UtcTime"], "2024-01-31 23:59:59.124")
    }
}
