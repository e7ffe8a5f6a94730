// Little-endian reads over raw bytes. Every structure in an .etl file is
// little-endian; callers check bounds before reading (see EtlPayload for the
// checked reader used on untrusted payloads).

extension UnsafeRawBufferPointer {
    @inline(__always)
    func loadLE<T: FixedWidthInteger>(_ type: T.Type, _ offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

/// A bounds-checked reader over one record's payload. Reads past the end
/// return nil instead of trapping: payloads come from untrusted files.
public struct EtlPayload {
    public let bytes: UnsafeRawBufferPointer
    public var position: Int = 0
    /// Pointer width of the record's producer: 4 or 8.
    public let pointerSize: Int

    public init(_ bytes: UnsafeRawBufferPointer, pointerSize: Int) {
        self.bytes = bytes
        self.pointerSize = pointerSize
    }

    public var remaining: Int { bytes.count - position }

    public mutating func skip(_ n: Int) -> Bool {
        guard n >= 0, n <= remaining else { position = bytes.count; return false }
        position += n
        return true
    }

    public mutating func u8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func u16() -> UInt16? {
        guard remaining >= 2 else { return nil }
        defer { position += 2 }
        return bytes.loadLE(UInt16.self, position)
    }

    public mutating func u32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        defer { position += 4 }
        return bytes.loadLE(UInt32.self, position)
    }

    public mutating func u64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        defer { position += 8 }
        return bytes.loadLE(UInt64.self, position)
    }

    /// A pointer-sized value, widened.
    public mutating func pointer() -> UInt64? {
        pointerSize == 8 ? u64() : u32().map(UInt64.init)
    }

    public mutating func guid() -> Guid? {
        guard remaining >= 16 else { return nil }
        defer { position += 16 }
        return Guid(windowsBytes: bytes, at: position)
    }

    /// Raw bytes of `count` length.
    public mutating func take(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
    }

    /// A NUL-terminated 8-bit string (Windows ANSI; kept as bytes, shown as UTF-8
    /// when valid). The terminator is consumed; a missing one ends at the payload end.
    public mutating func ansiString() -> [UInt8] {
        var end = position
        while end < bytes.count && bytes[end] != 0 { end += 1 }
        let out = Array(bytes[position..<end])
        position = min(bytes.count, end + 1)
        return out
    }

    /// A NUL-terminated UTF-16LE string, decoded (unpaired surrogates become U+FFFD).
    /// The terminator is consumed; a missing one ends at the payload end.
    public mutating func utf16String() -> String {
        let b = bytes, start = position
        var end = start
        var ascii = true
        while b.count - end >= 2 {
            let u = b.loadLE(UInt16.self, end)
            if u == 0 { break }
            if u >= 0x80 { ascii = false }
            end += 2
        }
        position = b.count - end >= 2 ? end + 2 : b.count
        let count = (end - start) / 2
        if count == 0 { return "" }
        if ascii {
            // Paths and names are nearly always ASCII: written straight into
            // the string's storage, without the UTF-16 transcoder and a
            // temporary array of code units.
            return String(unsafeUninitializedCapacity: count) { out in
                for i in 0..<count { out[i] = UInt8(truncatingIfNeeded: b.loadLE(UInt16.self, start + 2 * i)) }
                return count
            }
        }
        var units: [UInt16] = []
        units.reserveCapacity(count)
        for i in 0..<count { units.append(b.loadLE(UInt16.self, start + 2 * i)) }
        return String(decoding: units, as: UTF16.self)
    }

    /// A UTF-16LE string of exactly `count` code units (not terminated).
    public mutating func utf16String(count: Int) -> String? {
        guard count >= 0, count <= remaining / 2 else { return nil }
        var units: [UInt16] = []
        units.reserveCapacity(count)
        for _ in 0..<count {
            units.append(bytes.loadLE(UInt16.self, position))
            position += 2
        }
        return String(decoding: units, as: UTF16.self)
    }

    /// A Windows SID in its binary form, as `S-1-5-21-…`.
    public mutating func sid() -> String? {
        guard remaining >= 8 else { return nil }
        let revision = bytes[position]
        let subCount = Int(bytes[position + 1])
        // SID_REVISION is 1 and SID_MAX_SUB_AUTHORITIES 15: anything else is not a SID.
        guard revision == 1, subCount <= 15, remaining >= 8 + 4 * subCount else { return nil }
        var authority: UInt64 = 0
        for k in 2..<8 { authority = authority << 8 | UInt64(bytes[position + k]) }
        var text = "S-\(revision)-\(authority)"
        for k in 0..<subCount { text += "-\(bytes.loadLE(UInt32.self, position + 8 + 4 * k))" }
        position += 8 + 4 * subCount
        return text
    }

    /// The user SID of classic kernel events: a TOKEN_USER (two pointers, which
    /// may be null in the trace) then the SID, or a single zero ULONG when
    /// there is no SID.
    public mutating func kernelUserSid() -> String? {
        let start = position
        if skip(2 * pointerSize), let sid = sid() { return sid }
        position = start
        if remaining >= 4 && bytes.loadLE(UInt32.self, position) == 0 { position += 4 }
        return nil
    }
}

/// Lower-case hex of bytes, for payloads no decoder understands: most
/// records of a trace end up here. Four bytes become their eight digits in
/// one 64-bit register (each byte's two nibbles spread into two bytes, high
/// nibble first, then turned into digits all at once); no table, no branch.
func hexString(_ bytes: UnsafeRawBufferPointer) -> String {
    if bytes.isEmpty { return "" }
    let count = bytes.count
    return String(unsafeUninitializedCapacity: count * 2) { out in
        let to = UnsafeMutableRawPointer(out.baseAddress!)
        let from = bytes.baseAddress!
        var i = 0
        while count - i >= 4 {
            let digits = hexDigitWord(of: UInt64(from.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian))
            to.storeBytes(of: digits.littleEndian, toByteOffset: 2 * i, as: UInt64.self)
            i += 4
        }
        if i < count {
            var tail: UInt64 = 0
            for k in 0..<(count - i) { tail |= UInt64(from.load(fromByteOffset: i + k, as: UInt8.self)) << UInt64(8 * k) }
            let digits = hexDigitWord(of: tail)
            for k in 0..<(2 * (count - i)) {
                to.storeBytes(of: UInt8(truncatingIfNeeded: digits >> UInt64(8 * k)), toByteOffset: 2 * i + k, as: UInt8.self)
            }
        }
        return count * 2
    }
}

/// The eight lower-case hex digits of the four bytes in the low half of
/// `v` (byte 0 first), as a little-endian word: byte 2k is byte k's high
/// digit, byte 2k+1 its low one.
@inline(__always)
func hexDigitWord(of v: UInt64) -> UInt64 {
    // Byte k into the low byte of 16-bit lane k.
    var x = (v | v << 16) & 0x0000_FFFF_0000_FFFF
    x = (x | x << 8) & 0x00FF_00FF_00FF_00FF
    // High nibble to the lane's low byte (it comes first), low nibble above it.
    let nibbles = (x >> 4) & 0x000F_000F_000F_000F | (x & 0x000F_000F_000F_000F) << 8
    // Each byte n (0...15) becomes "0"+n, or "a"+(n-10) when n > 9: n+6
    // carries into bit 4 exactly then. No byte overflows into the next.
    let letters = ((nibbles &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
    return nibbles &+ 0x3030_3030_3030_3030 &+ letters &* 0x27
}
