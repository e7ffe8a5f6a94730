/// The prefix a syslog collector writes before a message, in the forms in use:
///
/// - RFC 3164 / rsyslog's traditional file format: `[<pri>]Mmm dd hh:mm:ss host tag[pid]: `
/// - RFC 5424: `<pri>1 2024-01-31T23:59:59.123Z host app procid msgid [sd|-] `
/// - rsyslog's high-precision file format: `2024-01-31T23:59:59.123456+00:00 host tag[pid]: `
///
/// Only the host and where the message starts are needed: the event carries
/// its own time and host (`Computer`), which win.
enum SyslogPrefix {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].map { Array($0.utf8) }

    /// Splits on runs of spaces; at most `limit` tokens, as byte ranges.
    static func tokens(_ bytes: UnsafeRawBufferPointer, limit: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        while i < bytes.count, out.count < limit {
            while i < bytes.count, bytes[i] == 0x20 { i += 1 }
            let start = i
            while i < bytes.count, bytes[i] != 0x20 { i += 1 }
            if i > start { out.append(start..<i) }
        }
        return out
    }

    /// Where the header (after `<pri>`) starts, or nil when `<pri>` is malformed.
    static func afterPriority(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count > 0, bytes[0] == UInt8(ascii: "<") else { return 0 }
        var i = 1
        while i < bytes.count, i <= 4, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
        guard i > 1, i < bytes.count, bytes[i] == UInt8(ascii: ">") else { return nil }
        return i + 1
    }

    enum Form { case rfc3164, rfc5424, iso }

    /// The form, the start of the header after `<pri>`, and the header's tokens.
    static func header(_ bytes: UnsafeRawBufferPointer) -> (form: Form, start: Int, tokens: [Range<Int>])? {
        guard let start = afterPriority(bytes) else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
        let t = tokens(rest, limit: 7).map { ($0.lowerBound + start)..<($0.upperBound + start) }
        guard t.count >= 2 else { return nil }
        func text(_ r: Range<Int>) -> [UInt8] { Array(UnsafeRawBufferPointer(rebasing: bytes[r])) }
        if t[0].count == 1, bytes[t[0].lowerBound] == UInt8(ascii: "1"), start > 0, t.count >= 3 { return (.rfc5424, start, t) }
        if t.count >= 4, months.contains(text(t[0])), t[1].count <= 2, t[2].count == 8, bytes[t[2].lowerBound + 2] == UInt8(ascii: ":") {
            return (.rfc3164, start, t)
        }
        if t[0].count >= 19, bytes[t[0].lowerBound + 4] == UInt8(ascii: "-"), bytes[t[0].lowerBound + 10] == UInt8(ascii: "T") {
            return (.iso, start, t)
        }
        return nil
    }

    /// The host name of a syslog prefix, or nil when `prefix` is none.
    static func host(_ prefix: UnsafeRawBufferPointer) -> String? {
        guard let (form, _, t) = header(prefix) else { return nil }
        let index: Int
        switch form {
        case .rfc5424: index = 2
        case .rfc3164: index = 3
        case .iso: index = 1
        }
        guard index < t.count else { return nil }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: prefix[t[index]]), as: UTF8.self)
        return name == "-" ? nil : name
    }

    /// Text before `<Event>` that is not a known prefix but still looks like a
    /// tagged message (`tag: `, `tag[pid]: `): accepted, host unknown.
    static func isPlausible(_ prefix: UnsafeRawBufferPointer) -> Bool {
        var end = prefix.count
        while end > 0, prefix[end - 1] == 0x20 { end -= 1 }
        return end > 0 && prefix[end - 1] == UInt8(ascii: ":")
    }

    /// Where the message of a syslog line starts, or nil when the line has no syslog header.
    static func messageStart(_ line: UnsafeRawBufferPointer) -> Int? {
        guard let (form, _, t) = header(line) else { return nil }
        switch form {
        case .rfc5424:
            // VERSION TIMESTAMP HOST APP PROCID MSGID SD MSG; SD may hold spaces inside [..].
            guard t.count >= 6 else { return nil }
            var i = t[5].upperBound
            while i < line.count, line[i] == 0x20 { i += 1 }
            if i < line.count, line[i] == UInt8(ascii: "[") {
                var quoted = false
                while i < line.count {
                    let b = line[i]
                    if b == 0x5C { i += 2; continue }
                    if b == 0x22 { quoted.toggle() }
                    if b == UInt8(ascii: "]"), !quoted {
                        i += 1
                        if i >= line.count || line[i] != UInt8(ascii: "[") { break }
                    }
                    i += 1
                }
            } else {
                i += 1  // "-"
            }
            while i < line.count, line[i] == 0x20 { i += 1 }
            return min(i, line.count)
        case .rfc3164, .iso:
            // host tag[pid]: MSG — the message starts after the first ": " past the host.
            let hostIndex = form == .rfc3164 ? 3 : 1
            guard hostIndex < t.count else { return nil }
            var i = t[hostIndex].upperBound
            while i + 1 < line.count {
                if line[i] == UInt8(ascii: ":"), line[i + 1] == 0x20 { return i + 2 }
                i += 1
            }
            return line.count
        }
    }
}
