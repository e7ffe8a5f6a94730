import SwiftmonCore

/// Substitution values: their checks and their text, as Windows writes them
/// in an event's XML (numbers in decimal, hex integers as `0x…` in lower case,
/// GUIDs braced in upper case, SIDs as `S-1-…`, times in ISO 8601 UTC, binary
/// as upper-case hex, array items joined by commas).
enum BinXmlValues {
    /// Fixed sizes of the scalar types (0: variable).
    static func naturalSize(_ type: UInt8) -> Int {
        switch type & 0x7F {
        case 0x03, 0x04: return 1
        case 0x05, 0x06: return 2
        case 0x07, 0x08, 0x0B, 0x0D, 0x14: return 4
        case 0x09, 0x0A, 0x0C, 0x11, 0x15: return 8
        case 0x0F, 0x12: return 16
        default: return 0
        }
    }

    /// Whether ``validate(_:type:offset:size:)`` accepts a value of the
    /// common types without a call: the types a Security or Sysmon record's
    /// values mostly have, by the same rules; anything else is checked by it.
    @inline(__always)
    static func plainlyValid(type: UInt8, size: Int) -> Bool {
        switch type {
        case 0x00, 0x21: return true
        case 0x01: return size & 1 == 0
        case 0x04: return size >= 1
        case 0x06: return size >= 2
        case 0x08, 0x14: return size >= 4
        case 0x0A, 0x11, 0x15: return size >= 8
        case 0x0F: return size >= 16
        default: return false
        }
    }

    /// Rejects a value whose size cannot hold its type.
    static func validate(_ c: ChunkBytes, type: UInt8, offset: Int, size: Int) throws(BinXmlError) {
        let natural = naturalSize(type)
        if type & 0x80 != 0 {
            if natural > 0, size % natural != 0 {
                throw BinXmlError(offset: offset, "array of type 0x\(String(type, radix: 16)) with \(size) bytes at chunk offset \(offset)")
            }
            return
        }
        switch type {
        case 0x01:
            if size % 2 != 0 { throw BinXmlError(offset: offset, "UTF-16 string of odd size \(size) at chunk offset \(offset)") }
        case 0x10:
            if size != 4 && size != 8 { throw BinXmlError(offset: offset, "size_t value of \(size) bytes at chunk offset \(offset)") }
        case 0x13:
            if size < 8 || 8 + 4 * Int(c.bytes[offset + 1]) > size {
                throw BinXmlError(offset: offset, "SID of \(size) bytes at chunk offset \(offset)")
            }
        default:
            if natural > 0, size < natural {
                throw BinXmlError(offset: offset, "value of type 0x\(String(type, radix: 16)) with \(size) bytes at chunk offset \(offset)")
            }
        }
    }

    /// The value as an unsigned integer, for the integer types.
    static func integer(_ c: ChunkBytes, _ v: ValueRef) -> UInt64? {
        let o = Int(v.offset)
        switch v.type {
        case 0x03: return UInt64(bitPattern: Int64(Int8(bitPattern: c.bytes[o])))
        case 0x04: return UInt64(c.bytes[o])
        case 0x05: return UInt64(bitPattern: Int64(Int16(bitPattern: c.u16u(o))))
        case 0x06: return UInt64(c.u16u(o))
        case 0x07: return UInt64(bitPattern: Int64(Int32(bitPattern: c.u32u(o))))
        case 0x08, 0x14: return UInt64(c.u32u(o))
        case 0x09, 0x0A, 0x15: return c.u64u(o)
        case 0x10: return v.size == 4 ? UInt64(c.u32u(o)) : c.u64u(o)
        default: return nil
        }
    }

    /// The value of a FILETIME (or SYSTEMTIME) in nanoseconds since the Unix epoch.
    static func time(_ c: ChunkBytes, _ v: ValueRef) -> Int64? {
        let o = Int(v.offset)
        switch v.type {
        case 0x11: return nanoseconds(filetime: c.u64u(o))
        case 0x12: return systemTime(c, o)
        default: return nil
        }
    }

    static func nanoseconds(filetime: UInt64) -> Int64 {
        // 100 ns ticks since 1601-01-01; 11644473600 s to the Unix epoch.
        let ticks = Int64(bitPattern: filetime & 0x7FFF_FFFF_FFFF_FFFF)
        return (ticks - 116_444_736_000_000_000).multipliedReportingOverflow(by: 100).partialValue
    }

    static func systemTime(_ c: ChunkBytes, _ o: Int) -> Int64 {
        let year = Int64(c.u16u(o)), month = Int64(c.u16u(o + 2)), day = Int64(c.u16u(o + 6))
        let hour = Int64(c.u16u(o + 8)), minute = Int64(c.u16u(o + 10)), second = Int64(c.u16u(o + 12))
        let ms = Int64(c.u16u(o + 14))
        let days = EventTime.daysSinceEpoch(year: year, month: month, day: day)
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
        return (seconds * 1000 + ms) &* 1_000_000
    }

    /// The text of `v`.
    static func text(_ c: ChunkBytes, _ v: ValueRef) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(Int(v.size) + 8)
        append(c, v, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the text of `v` as UTF-8 to `out`: values are rendered straight
    /// from the chunk's bytes into the record's byte buffer, no String between.
    static func append(_ c: ChunkBytes, _ v: ValueRef, to out: inout [UInt8]) {
        let o = Int(v.offset), size = Int(v.size)
        switch v.type {
        case 0x00: return
        case 0x01:
            var n = size / 2
            while n > 0, c.u16u(o + 2 * (n - 1)) == 0 { n -= 1 }  // the NUL some writers include
            c.appendUTF8(o, units: n, to: &out)
        case 0x02: appendANSI(c, o, size, to: &out)
        case 0x03, 0x05, 0x07, 0x09: appendDecimal(Int64(bitPattern: integer(c, v) ?? 0), to: &out)
        case 0x04, 0x06, 0x08, 0x0A: appendDecimal(integer(c, v) ?? 0, to: &out)
        case 0x0B: out.append(contentsOf: String(Float(bitPattern: c.u32u(o))).utf8)
        case 0x0C: out.append(contentsOf: String(Double(bitPattern: c.u64u(o))).utf8)
        case 0x0D: out.append(contentsOf: c.u32u(o) != 0 ? "true".utf8 : "false".utf8)
        case 0x0E, 0x20, 0x23: appendHex(c, o, size, to: &out)
        case 0x0F: appendGuid(c, o, to: &out)
        case 0x10, 0x14, 0x15:
            out.append(0x30); out.append(0x78)  // 0x
            appendLowerHex(integer(c, v) ?? 0, to: &out)
        case 0x11, 0x12: out.append(contentsOf: EventTime(nanosecondsSinceEpoch: time(c, v) ?? 0).iso8601Nanoseconds.utf8)
        case 0x13: appendSid(c, o, to: &out)
        case 0x81:
            // UTF-16 strings, each ended by a NUL; joined by commas.
            let units = size / 2
            var start = 0, k = 0
            var first = true
            while k < units {
                if c.u16u(o + 2 * k) == 0 {
                    if !first { out.append(0x2C) }
                    first = false
                    c.appendUTF8(o + 2 * start, units: k - start, to: &out)
                    start = k + 1
                }
                k += 1
            }
            if start < units {
                if !first { out.append(0x2C) }
                c.appendUTF8(o + 2 * start, units: units - start, to: &out)
            }
        case 0x83...0x95:
            let scalar = v.type & 0x7F
            let width = naturalSize(scalar)
            guard width > 0 else { return appendHex(c, o, size, to: &out) }
            var k = 0
            while k + width <= size {
                if k > 0 { out.append(0x2C) }
                append(c, ValueRef(type: scalar, offset: Int32(o + k), size: Int32(width)), to: &out)
                k += width
            }
        default: appendHex(c, o, size, to: &out)
        }
    }

    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 {
            out.append(0x2D)
            appendDecimal(UInt64(0) &- UInt64(bitPattern: value), to: &out)
        } else {
            appendDecimal(UInt64(value), to: &out)
        }
    }

    @inline(__always)
    static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        FieldText.appendDecimal(value, to: &out)
    }

    static func appendLowerHex(_ value: UInt64, to out: inout [UInt8]) {
        var shift = 60
        while shift > 0, (value >> UInt64(shift)) & 15 == 0 { shift -= 4 }
        while shift >= 0 {
            out.append(hexDigit((value >> UInt64(shift)) & 15, upper: false))
            shift -= 4
        }
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt64, upper: Bool) -> UInt8 {
        nibble < 10 ? 0x30 + UInt8(nibble) : (upper ? 0x37 : 0x57) + UInt8(nibble)
    }

    /// An ANSI string: NULs dropped, Windows-1252 read as Latin-1 unless it is UTF-8.
    static func appendANSI(_ c: ChunkBytes, _ o: Int, _ size: Int, to out: inout [UInt8]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        for k in 0..<size where c.bytes[o + k] != 0 { bytes.append(c.bytes[o + k]) }
        if String(validating: bytes, as: UTF8.self) != nil {
            out.append(contentsOf: bytes)
            return
        }
        for b in bytes {
            if b < 0x80 {
                out.append(b)
            } else {
                out.append(0xC0 | (b >> 6))
                out.append(0x80 | (b & 0x3F))
            }
        }
    }

    static func appendHex(_ c: ChunkBytes, _ o: Int, _ size: Int, to out: inout [UInt8]) {
        for k in 0..<size {
            let b = UInt64(c.bytes[o + k])
            out.append(hexDigit(b >> 4, upper: true))
            out.append(hexDigit(b & 15, upper: true))
        }
    }

    static func hex(_ c: ChunkBytes, _ o: Int, _ size: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(2 * size)
        appendHex(c, o, size, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`: the first three groups little-endian.
    static func appendGuid(_ c: ChunkBytes, _ o: Int, to out: inout [UInt8]) {
        @inline(__always) func byte(_ i: Int) {
            let b = UInt64(c.bytes[o + i])
            out.append(hexDigit(b >> 4, upper: true))
            out.append(hexDigit(b & 15, upper: true))
        }
        out.append(0x7B)
        byte(3); byte(2); byte(1); byte(0); out.append(0x2D)
        byte(5); byte(4); out.append(0x2D)
        byte(7); byte(6); out.append(0x2D)
        byte(8); byte(9); out.append(0x2D)
        for i in 10..<16 { byte(i) }
        out.append(0x7D)
    }

    /// `S-revision-authority-sub…`: the authority is 48-bit big-endian, the
    /// sub-authorities 32-bit little-endian.
    static func appendSid(_ c: ChunkBytes, _ o: Int, to out: inout [UInt8]) {
        let revision = c.bytes[o]
        let count = Int(c.bytes[o + 1])
        var authority: UInt64 = 0
        for k in 0..<6 { authority = authority << 8 | UInt64(c.bytes[o + 2 + k]) }
        out.append(0x53); out.append(0x2D)  // S-
        appendDecimal(UInt64(revision), to: &out)
        out.append(0x2D)
        appendDecimal(authority, to: &out)
        for k in 0..<count {
            out.append(0x2D)
            appendDecimal(UInt64(c.u32u(o + 8 + 4 * k)), to: &out)
        }
    }
}
