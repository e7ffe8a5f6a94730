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
        // ASCII fast path: most names and values are plain ASCII.
        var ascii = true
        for k in 0..<units where bytes[o + 2 * k + 1] != 0 || bytes[o + 2 * k] >= 0x80 {
            ascii = false
            break
        }
        if ascii {
            return String(unsafeUninitializedCapacity: units) { out in
                for k in 0..<units { out[k] = bytes[o + 2 * k] }
                return units
            }
        }
        var units16 = [UInt16]()
        units16.reserveCapacity(units)
        for k in 0..<units { units16.append(u16u(o + 2 * k)) }
        return String(decoding: units16, as: UTF16.self)
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
