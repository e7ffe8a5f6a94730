/// A string as a JSON string literal: quoted, with `"`, `\\`, control
/// characters (C0, DEL, C1) and U+2028/2029 escaped. One implementation for
/// every JSON that is written outside the event sinks (summaries, payload
/// objects of decoded traces and logs).
public enum JSONString {
    /// Whether `s` can be written between quotes as it is: no quote, backslash,
    /// control character (C0, DEL, C1) or U+2028/2029. Checked on the UTF-8
    /// bytes: the common case is copied whole.
    public static func isPlain(_ s: String) -> Bool {
        var previous: UInt8 = 0, beforePrevious: UInt8 = 0
        for b in s.utf8 {
            if b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F { return false }
            if previous == 0xC2 && b < 0xA0 && b >= 0x80 { return false }  // C1 controls
            if beforePrevious == 0xE2 && previous == 0x80 && (b == 0xA8 || b == 0xA9) { return false }
            beforePrevious = previous
            previous = b
        }
        return true
    }

    /// Appends `s` quoted and escaped to `out`.
    public static func append(_ s: String, to out: inout String) {
        if isPlain(s) {
            out += "\""
            out += s
            out += "\""
        } else {
            out += quoted(s)
        }
    }

    public static func quoted(_ s: String) -> String {
        if isPlain(s) { return "\"" + s + "\"" }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || (u.value >= 0x7F && u.value < 0xA0) || u.value == 0x2028 || u.value == 0x2029:
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
