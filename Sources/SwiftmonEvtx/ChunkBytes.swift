/// A bounds-checked little-endian view of one 64 KiB chunk. Every offset in
/// binary XML is relative to the chunk's first byte, so every read goes
/// through here and fails with an offset instead of reading past the chunk.
struct ChunkBytes {
    let bytes: UnsafeRawBufferPointer

    var count: Int { bytes.count }

    @inline(__always)
    func check(_ offset: Int, _ length: Int, _ what: StaticString) throws(BinXmlError) {
        guard offset >= 0, length >= 0, offset <= bytes.count &- length else {
            throw BinXmlError(offset: offset, "\(what) at chunk offset \(offset) (\(length) bytes) runs past the chunk")
        }
    }

    @inline(__always)
    func u8(_ o: Int, _ what: StaticString = "byte") throws(BinXmlError) -> UInt8 {
        try check(o, 1, what)
        return bytes[o]
    }

    @inline(__always)
    func u16(_ o: Int, _ what: StaticString = "16-bit value") throws(BinXmlError) -> UInt16 {
        try check(o, 2, what)
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt16.self))
    }

    @inline(__always)
    func u32(_ o: Int, _ what: StaticString = "32-bit value") throws(BinXmlError) -> UInt32 {
        try check(o, 4, what)
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self))
    }

    @inline(__always)
    func u64(_ o: Int, _ what: StaticString = "64-bit value") throws(BinXmlError) -> UInt64 {
        try check(o, 8, what)
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self))
    }

    /// Unchecked reads for offsets a caller has already checked.
    @inline(__always) func u16u(_ o: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
    @inline(__always) func u32u(_ o: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    @inline(__always) func u64u(_ o: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }

    /// `units` UTF-16LE code units at `o` as a String (unpaired surrogates become U+FFFD).
    func utf16(_ o: Int, units: Int) throws(BinXmlError) -> String {
        try check(o, units &* 2, "UTF-16 string")
        return utf16Unchecked(o, units: units)
    }

    func utf16Unchecked(_ o: Int, units: Int) -> String {
        if units == 0 { return "" }
        var out: [UInt8] = []
        out.reserveCapacity(units)
        appendUTF8(o, units: units, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `units` UTF-16LE code units at `o` to `out` as UTF-8 (an
    /// unpaired surrogate becomes U+FFFD, as `String(decoding:as:)` does):
    /// transcoded straight from the chunk, no String between. Plain ASCII, the
    /// common case, is checked and narrowed four units (eight bytes) at a time.
    func appendUTF8(_ o: Int, units: Int, to out: inout [UInt8]) {
        var k = 0
        if units >= 4 {
            // ASCII prefix: narrowed on the stack in one pass (each eight
            // bytes checked and packed to four), then appended with one copy
            // per 128 bytes (appending a repeated zero and overwriting it
            // went through the generic sequence path: 2 % of a full decode).
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { narrow in
                let raw = UnsafeMutableRawPointer(narrow.baseAddress!)
                var n = 0
                while k + 4 <= units {
                    var x = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o + 2 * k, as: UInt64.self))
                    if x & 0xFF80_FF80_FF80_FF80 != 0 { break }
                    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF
                    x = (x | (x >> 16)) & 0xFFFF_FFFF
                    raw.storeBytes(of: UInt32(truncatingIfNeeded: x).littleEndian, toByteOffset: n, as: UInt32.self)
                    n += 4
                    k += 4
                    if n == 128 {
                        out.append(contentsOf: UnsafeBufferPointer(start: narrow.baseAddress, count: n))
                        n = 0
                    }
                }
                if n > 0 { out.append(contentsOf: UnsafeBufferPointer(start: narrow.baseAddress, count: n)) }
            }
        }
        while k < units {
            let u = UInt32(u16u(o + 2 * k))
            k += 1
            if u < 0x80 {
                out.append(UInt8(u))
            } else if u < 0x800 {
                out.append(UInt8(0xC0 | (u >> 6)))
                out.append(UInt8(0x80 | (u & 0x3F)))
            } else if u & 0xF800 != 0xD800 {
                out.append(UInt8(0xE0 | (u >> 12)))
                out.append(UInt8(0x80 | ((u >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (u & 0x3F)))
            } else if u < 0xDC00, k < units, case let low = UInt32(u16u(o + 2 * k)), low & 0xFC00 == 0xDC00 {
                k += 1
                let scalar = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                out.append(UInt8(0xF0 | (scalar >> 18)))
                out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
                out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (scalar & 0x3F)))
            } else {
                out.append(0xEF); out.append(0xBF); out.append(0xBD)  // U+FFFD
            }
        }
    }
}

/// A binary XML decoding failure at a chunk offset.
struct BinXmlError: Error {
    let offset: Int
    let message: String
    init(offset: Int, _ message: String) {
        self.offset = offset
        self.message = message
    }
}
