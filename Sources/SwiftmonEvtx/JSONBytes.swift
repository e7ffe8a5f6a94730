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

    /// The bytes of `w` that need a look (not printable ASCII other than
    /// `"` and `\\`), each as its high bit. Exact up to the first such
    /// byte (later bytes may be marked too): its index is
    /// `trailingZeroBitCount / 8` of a little-endian word.
    @inline(__always)
    static func special(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let control = (w &- ones &* 0x20) & ~w & highs  // a byte below 0x20 (maybe)
        let high = (w | ((w & ~highs) &+ ones)) & highs  // a byte at or above 0x7F
        let q = w ^ (ones &* 0x22), bs = w ^ (ones &* 0x5C)
        let quote = (q &- ones) & ~q & highs, backslash = (bs &- ones) & ~bs & highs
        return control | high | quote | backslash
    }

    /// Whether none of the eight bytes of `w` needs a look.
    @inline(__always)
    static func isPlain(_ w: UInt64) -> Bool { special(w) == 0 }

    /// Writes `bytes` quoted and escaped at `out[n...]` (room for the
    /// escaped length, at most six bytes per byte and the quotes, and for
    /// eight bytes past the closing quote); returns the end. Eight bytes are
    /// loaded, checked and stored at a time (no copy call per run — the
    /// values of a record are short, and a call per value cost more than
    /// its bytes); the plain bytes before the first that needs a look are
    /// kept, that one is written, and the next word starts after it (paths
    /// are full of backslashes). `readable` bytes from the start of `bytes`
    /// may be read (at least `bytes.count`): a last word shorter than eight
    /// is then read whole, its bytes past the end taken as plain (what is
    /// stored past the end is overwritten by what comes next). Otherwise a
    /// value of eight bytes or more ends with the word of its last eight,
    /// stored over what it repeats when it is plain.
    static func writeQuoted(_ bytes: UnsafeBufferPointer<UInt8>, readable: Int? = nil, to out: UnsafeMutableBufferPointer<UInt8>, at n: Int) -> Int {
        var n = n
        out[n] = 0x22; n += 1
        let count = bytes.count
        guard let source = bytes.baseAddress, count > 0 else { out[n] = 0x22; return n + 1 }
        let readable = max(count, readable ?? count)
        // Each byte takes at most six out (an escape of two or three bytes
        // six), and a store eight: room for eight past any byte's escape.
        precondition(out.count - n >= 8 + 6 * count, "JSONBytes.writeQuoted: room")
        let target = UnsafeMutableRawPointer(out.baseAddress!)
        var i = 0
        while i < count {
            let w: UInt64, kept: Int
            if i + 8 <= count {
                w = UInt64(littleEndian: UnsafeRawPointer(source + i).loadUnaligned(as: UInt64.self))
                kept = 8
            } else if i + 8 <= readable {
                // The last 1–7 bytes, in one word whose bytes past the end
                // (the high ones: little-endian) count as plain spaces.
                kept = count - i
                let mask = ~UInt64(0) >> UInt64(64 - 8 * kept)
                w = (UInt64(littleEndian: UnsafeRawPointer(source + i).loadUnaligned(as: UInt64.self)) & mask)
                    | (0x2020_2020_2020_2020 & ~mask)
            } else {
                if count >= 8 {
                    // The word of the last eight bytes: if plain, every byte of it
                    // was written as itself, so the store repeats those before `i`.
                    let last = UnsafeRawPointer(source + count - 8).loadUnaligned(as: UInt64.self)
                    if isPlain(last) {
                        target.storeBytes(of: last, toByteOffset: n + count - i - 8, as: UInt64.self)
                        n += count - i
                        break
                    }
                }
                (n, i) = writeOne(bytes, at: i, to: out, at: n)
                continue
            }
            let s = special(w)
            let plain = s == 0 ? kept : s.trailingZeroBitCount >> 3
            target.storeBytes(of: w.littleEndian, toByteOffset: n, as: UInt64.self)
            n += plain
            i += plain
            if plain < kept { (n, i) = writeOne(bytes, at: i, to: out, at: n) }
        }
        out[n] = 0x22; n += 1
        return n
    }

    /// The byte at `i` (one that needs a look) written at `out[n...]`:
    /// escaped with the bytes it stands for, or as it is; returns where both go on.
    @inline(__always)
    static func writeOne(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int, to out: UnsafeMutableBufferPointer<UInt8>, at n: Int) -> (Int, Int) {
        guard let e = escape(bytes, at: i) else {
            out[n] = bytes[i]
            return (n + 1, i + 1)
        }
        out[n] = 0x5C
        switch e.scalar {
        case 0x22: out[n + 1] = 0x22; return (n + 2, i + 1)
        case 0x5C: out[n + 1] = 0x5C; return (n + 2, i + 1)
        case 0x0A: out[n + 1] = 0x6E; return (n + 2, i + 1)
        case 0x0D: out[n + 1] = 0x72; return (n + 2, i + 1)
        case 0x09: out[n + 1] = 0x74; return (n + 2, i + 1)
        default:
            out[n + 1] = 0x75
            for d in 0..<4 {
                out[n + 2 + d] = BinXmlValues.hexDigit(UInt64((e.scalar >> UInt32(12 - 4 * d)) & 15), upper: false)
            }
            return (n + 6, i + e.width)
        }
    }

    static func writeQuoted(_ s: String, to out: UnsafeMutableBufferPointer<UInt8>, at n: Int) -> Int {
        var s = s
        return s.withUTF8 { writeQuoted($0, to: out, at: n) }
    }
}
