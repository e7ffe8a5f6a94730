#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in time in nanoseconds since the Unix epoch, UTC.
public struct EventTime: Sendable, Hashable, Comparable {
    public let nanoseconds: Int64

    public init(nanosecondsSinceEpoch ns: Int64) { nanoseconds = ns }

    public static func now() -> EventTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return EventTime(nanosecondsSinceEpoch: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    public static func < (a: EventTime, b: EventTime) -> Bool { a.nanoseconds < b.nanoseconds }

    /// Sysmon's `UtcTime` layout: `2024-01-31 23:59:59.123`.
    public var sysmonText: String { format(fractionDigits: 3, separator: UInt8(ascii: " "), zulu: false) }

    /// ISO 8601 with nanoseconds, as Windows writes `SystemTime`: `2024-01-31T23:59:59.123456789Z`.
    public var iso8601Nanoseconds: String { format(fractionDigits: 9, separator: UInt8(ascii: "T"), zulu: true) }

    func format(fractionDigits: Int, separator: UInt8, zulu: Bool) -> String {
        var seconds = time_t(nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000)
        let fraction = nanoseconds - Int64(seconds) * 1_000_000_000
        var tm = tm()
        gmtime_r(&seconds, &tm)
        // Written in place: this runs once per event, so no temporary arrays.
        return String(unsafeUninitializedCapacity: 32) { out in
            var n = 0
            func put(_ value: Int, _ width: Int) {
                var v = value
                for k in stride(from: width - 1, through: 0, by: -1) {
                    out[n + k] = UInt8(truncatingIfNeeded: 0x30 + v % 10)
                    v /= 10
                }
                n += width
            }
            func byte(_ b: UInt8) { out[n] = b; n += 1 }
            put(Int(tm.tm_year) + 1900, 4); byte(0x2D)
            put(Int(tm.tm_mon) + 1, 2); byte(0x2D)
            put(Int(tm.tm_mday), 2); byte(separator)
            put(Int(tm.tm_hour), 2); byte(0x3A)
            put(Int(tm.tm_min), 2); byte(0x3A)
            put(Int(tm.tm_sec), 2); byte(0x2E)
            var f = Int(fraction)
            for _ in 0..<(9 - fractionDigits) { f /= 10 }
            put(f, fractionDigits)
            if zulu { byte(0x5A) }
            return n
        }
    }
}

