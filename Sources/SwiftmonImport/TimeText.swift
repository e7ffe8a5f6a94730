import SwiftmonCore

/// Parses the times Sysmon writes — `UtcTime` `2024-01-31 23:59:59.123` and
/// `SystemTime` `2024-01-31T23:59:59.123456789Z` — into ns since the epoch
/// (UTC), straight from the bytes.
enum TimeText {
    static func parse(_ b: UnsafeRawBufferPointer) -> Int64? {
        guard b.count >= 19 else { return nil }
        func digits(_ at: Int, _ n: Int) -> Int64? {
            var v: Int64 = 0
            for k in at..<(at + n) {
                let d = b[k]
                guard d >= 0x30, d <= 0x39 else { return nil }
                v = v * 10 + Int64(d - 0x30)
            }
            return v
        }
        guard let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
              let day = digits(8, 2), b[10] == UInt8(ascii: " ") || b[10] == UInt8(ascii: "T"),
              let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2), b[16] == UInt8(ascii: ":"),
              let second = digits(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60,
              (1678...2261).contains(year)  // what nanoseconds since 1970 in an Int64 can hold
        else { return nil }
        var nanos: Int64 = 0
        var i = 19
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var scale: Int64 = 100_000_000
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                nanos += Int64(b[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
        }
        let days = EventTime.daysSinceEpoch(year: year, month: month, day: day)
        return (days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000_000 + nanos
    }
}
