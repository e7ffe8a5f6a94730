/// JSON string literals written from UTF-8 bytes, escaped exactly as
/// `SwiftmonCore.JSONString` escapes a String (`"`, `\\`, `\n`, `\r`, `\t`;
/// other C0 controls, DEL, C1 controls and U+2028/2029 as `\u00xx`), in two
/// steps: the length, then the bytes into storage of that length. The hot
/// path of an event's EventData: plain runs are found eight bytes at a time.
enum JSONBytes {
    /// Where the next byte that needs a look is, from `i` (eight plain
    /// printable ASCII bytes are skipped at a time).
    @inline(__always)
    static func skipPlain(_ bytes: UnsafeBufferPointer<UInt8>, from i: Int) -> Int {
        var i = i
        let n = bytes.count
        guard let base = bytes.baseAddress else { return i }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= n {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let control = (w &- ones &* 0x20) & ~w & highs  // a byte below 0x20 (maybe)
            let high = (w | ((w & ~highs) &+ ones)) & highs  // a byte at or above 0x7F
            let q = w ^ (ones &* 0x22), bs = w ^ (ones &* 0x5C)
            let quote = (q &- ones) & ~q & highs, backslash = (bs &- ones) & ~bs & highs
            if control | high | quote | backslash != 0 { break }
            i += 8
        }
        while i < n {
            let b = bytes[i]
            if b < 0x20 || b >= 0x7F || b == 0x22 || b == 0x5C { break }
            i += 1
        }
        return i
    }

    /// The escape at `i` (a byte that needs a look): the scalar it stands for
    /// and its width in bytes, or nil when it is written as it is.
    @inline(__always)
    static func escape(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (scalar: UInt32, width: Int)? {
        let b = bytes[i], n = bytes.count
        if b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F { return (UInt32(b), 1) }
        if b == 0xC2, i + 1 < n, bytes[i + 1] >= 0x80, bytes[i + 1] < 0xA0 { return (UInt32(bytes[i + 1]), 2) }  // C1
        if b == 0xE2, i + 2 < n, bytes[i + 1] == 0x80, bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9 {
            return (0x2000 | UInt32(bytes[i + 2] & 0x3F), 3)  // U+2028, U+2029
        }
        return nil
    }

    @inline(__always)
    static func escapedLength(_ scalar: UInt32) -> Int {
        switch scalar {
        case 0x22, 0x5C, 0x0A, 0x0D, 0x09: return 2
        default: return 6
        }
    }

    /// Length of `bytes` as a quoted, escaped JSON string.
    static func quotedLength(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var length = bytes.count + 2
        var i = skipPlain(bytes, from: 0)
        while i < bytes.count {
            if let e = escape(bytes, at: i) {
                length += escapedLength(e.scalar) - e.width
                i += e.width
            } else {
                i += 1
            }
            i = skipPlain(bytes, from: i)
        }
        return length
    }

    static func quotedLength(_ s: String) -> Int {
        var s = s
        return s.withUTF8 { quotedLength($0) }
    }

    /// Writes `bytes` quoted and escaped at `out[n...]`; returns the end.
    static func writeQuoted(_ bytes: UnsafeBufferPointer<UInt8>, to out: UnsafeMutableBufferPointer<UInt8>, at n: Int) -> Int {
        var n = n
        out[n] = 0x22; n += 1
        var plainFrom = 0
        var i = skipPlain(bytes, from: 0)
        func copyPlain(upTo end: Int) {
            let count = end - plainFrom
            if count > 0 {
                (out.baseAddress! + n).update(from: bytes.baseAddress! + plainFrom, count: count)
                n += count
            }
        }
        while i < bytes.count {
            if let e = escape(bytes, at: i) {
                copyPlain(upTo: i)
                out[n] = 0x5C
                switch e.scalar {
                case 0x22: out[n + 1] = 0x22; n += 2
                case 0x5C: out[n + 1] = 0x5C; n += 2
                case 0x0A: out[n + 1] = 0x6E; n += 2
                case 0x0D: out[n + 1] = 0x72; n += 2
                case 0x09: out[n + 1] = 0x74; n += 2
                default:
                    out[n + 1] = 0x75
                    for d in 0..<4 {
                        out[n + 2 + d] = BinXmlValues.hexDigit(UInt64((e.scalar >> UInt32(12 - 4 * d)) & 15), upper: false)
                    }
                    n += 6
                }
                i += e.width
                plainFrom = i
            } else {
                i += 1
            }
            i = skipPlain(bytes, from: i)
        }
        copyPlain(upTo: bytes.count)
        out[n] = 0x22; n += 1
        return n
    }

    static func writeQuoted(_ s: String, to out: UnsafeMutableBufferPointer<UInt8>, at n: Int) -> Int {
        var s = s
        return s.withUTF8 { writeQuoted($0, to: out, at: n) }
    }
}
