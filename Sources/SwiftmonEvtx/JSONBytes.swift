/// JSON string literals written from UTF-8 bytes, escaped exactly as
/// `SwiftmonCore.JSONString` escapes a String (`"`, `\\`, `\n`, `\r`, `\t`;
/// other C0 controls, DEL, C1 controls and U+2028/2029 as `\u00xx`). The hot
/// path of an event's EventData: plain runs are found eight bytes at a time.
enum JSONBytes {
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

    /// Whether none of the eight bytes of `w` needs a look (each is
    /// printable ASCII other than `"` and `\\`).
    @inline(__always)
    static func isPlain(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let control = (w &- ones &* 0x20) & ~w & highs  // a byte below 0x20 (maybe)
        let high = (w | ((w & ~highs) &+ ones)) & highs  // a byte at or above 0x7F
        let q = w ^ (ones &* 0x22), bs = w ^ (ones &* 0x5C)
        let quote = (q &- ones) & ~q & highs, backslash = (bs &- ones) & ~bs & highs
        return control | high | quote | backslash == 0
    }

    /// Writes `bytes` quoted and escaped at `out[n...]` (room for the
    /// escaped length, at most six bytes per byte and the quotes); returns
    /// the end. Plain runs are copied eight bytes at a time as they are
    /// checked (one load, one store: no copy call per run — the values of
    /// a record are short, and a call per value cost more than its bytes).
    static func writeQuoted(_ bytes: UnsafeBufferPointer<UInt8>, to out: UnsafeMutableBufferPointer<UInt8>, at n: Int) -> Int {
        var n = n
        out[n] = 0x22; n += 1
        let count = bytes.count
        guard let source = bytes.baseAddress, count > 0 else { out[n] = 0x22; return n + 1 }
        let target = UnsafeMutableRawPointer(out.baseAddress!)
        var i = 0
        while i < count {
            if i + 8 <= count {
                let w = UnsafeRawPointer(source + i).loadUnaligned(as: UInt64.self)
                if isPlain(w) {
                    // Eight input bytes, eight output bytes: within the room.
                    target.storeBytes(of: w, toByteOffset: n, as: UInt64.self)
                    n += 8
                    i += 8
                    continue
                }
            }
            // Byte by byte up to the next eight (or the end).
            let stop = min(count, i + 8)
            while i < stop {
                let b = source[i]
                if b >= 0x20 && b < 0x7F && b != 0x22 && b != 0x5C {
                    out[n] = b; n += 1; i += 1
                    continue
                }
                guard let e = escape(bytes, at: i) else {
                    out[n] = b; n += 1; i += 1
                    continue
                }
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
                // An escape of two or three bytes may end past `stop`: the
                // next round starts after it.
                i += e.width
            }
        }
        out[n] = 0x22; n += 1
        return n
    }

    static func writeQuoted(_ s: String, to out: UnsafeMutableBufferPointer<UInt8>, at n: Int) -> Int {
        var s = s
        return s.withUTF8 { writeQuoted($0, to: out, at: n) }
    }
}
