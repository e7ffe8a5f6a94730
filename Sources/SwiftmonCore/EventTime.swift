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
        // Written in place: this runs once per event, so no temporary arrays.
        String(unsafeUninitializedCapacity: 32) { write(fractionDigits: fractionDigits, separator: separator, zulu: zulu, into: $0) }
    }

    /// ``sysmonText``'s bytes appended to `out` (23 bytes).
    public func appendSysmonText(to out: inout [UInt8]) { append(fractionDigits: 3, separator: UInt8(ascii: " "), zulu: false, to: &out) }

    /// ``iso8601Nanoseconds``'s bytes appended to `out` (30 bytes).
    public func appendISO8601Nanoseconds(to out: inout [UInt8]) { append(fractionDigits: 9, separator: UInt8(ascii: "T"), zulu: true, to: &out) }

    func append(fractionDigits: Int, separator: UInt8, zulu: Bool, to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: 32))
        let n = out.withUnsafeMutableBufferPointer {
            write(fractionDigits: fractionDigits, separator: separator, zulu: zulu,
                  into: UnsafeMutableBufferPointer(rebasing: $0[start..<start + 32]))
        }
        out.removeLast(32 - n)
    }

    /// Writes the text into `out` (room for 32 bytes); returns its length.
    func write(fractionDigits: Int, separator: UInt8, zulu: Bool, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let seconds = nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000
        let fraction = nanoseconds - seconds * 1_000_000_000
        let (days, secondOfDay) = (seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400,
                                   ((seconds % 86_400) + 86_400) % 86_400)
        let date = EventTime.civilDate(daysSinceEpoch: days)
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
        put(Int(date.year), 4); byte(0x2D)
        put(Int(date.month), 2); byte(0x2D)
        put(Int(date.day), 2); byte(separator)
        put(Int(secondOfDay / 3600), 2); byte(0x3A)
        put(Int(secondOfDay / 60 % 60), 2); byte(0x3A)
        put(Int(secondOfDay % 60), 2); byte(0x2E)
        var f = Int(fraction)
        for _ in 0..<(9 - fractionDigits) { f /= 10 }
        put(f, fractionDigits)
        if zulu { byte(0x5A) }
        return n
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date ("days from civil"):
    /// plain arithmetic, no time zone; the one copy every parser of dates uses.
    @inlinable
    public static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01: plain
    /// arithmetic (the "days from civil" inverse), no time-zone machinery on
    /// the per-event path.
    static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// The `UtcTime` text of the last millisecond asked for. A storm's events
/// come many to a millisecond, and each would otherwise format (and allocate)
/// the same 23 bytes. One per thread that builds events.
public struct UtcTimeTextCache: Sendable {
    private var millisecond: Int64 = .min
    private var text = ""
    private var bytesMillisecond: Int64 = .min
    private var bytes: [UInt8] = []

    public init() {}

    /// Sets `event`'s UtcTime as bytes in its arena (no String per
    /// millisecond: a 23-byte String is an allocation).
    public mutating func write(_ time: EventTime, into event: inout Event) {
        guard let i = event.kind.utcTimeIndex else { return }
        let ns = time.nanoseconds
        let ms = ns >= 0 ? ns / 1_000_000 : (ns - 999_999) / 1_000_000
        if ms != bytesMillisecond {
            bytesMillisecond = ms
            bytes.removeAll(keepingCapacity: true)
            time.appendSysmonText(to: &bytes)
        }
        bytes.withUnsafeBufferPointer { event.setValidUTF8(i, $0) }
    }

    public mutating func text(for time: EventTime) -> String {
        // Floor division: UtcTime shows the millisecond the time falls in.
        let ns = time.nanoseconds
        let ms = ns >= 0 ? ns / 1_000_000 : (ns - 999_999) / 1_000_000
        if ms != millisecond {
            millisecond = ms
            text = time.sysmonText
        }
        return text
    }
}
