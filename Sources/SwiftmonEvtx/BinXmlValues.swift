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
        // Days from civil (proleptic Gregorian).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
        return (seconds * 1000 + ms) &* 1_000_000
    }

    static let hexUpper = Array("0123456789ABCDEF".utf8)
    static let hexLower = Array("0123456789abcdef".utf8)

    /// The text of `v`.
    static func text(_ c: ChunkBytes, _ v: ValueRef) -> String {
        let o = Int(v.offset), size = Int(v.size)
        switch v.type {
        case 0x00: return ""
        case 0x01: return trimmedUTF16(c, o, units: size / 2)
        case 0x02: return ansi(c, o, size)
        case 0x03, 0x05, 0x07, 0x09: return String(Int64(bitPattern: integer(c, v) ?? 0))
        case 0x04, 0x06, 0x08, 0x0A: return String(integer(c, v) ?? 0)
        case 0x0B: return String(Float(bitPattern: c.u32u(o)))
        case 0x0C: return String(Double(bitPattern: c.u64u(o)))
        case 0x0D: return c.u32u(o) != 0 ? "true" : "false"
        case 0x0E, 0x20, 0x23: return hex(c, o, size)
        case 0x0F: return guid(c, o)
        case 0x10, 0x14, 0x15: return "0x" + String(integer(c, v) ?? 0, radix: 16)
        case 0x11, 0x12: return EventTime(nanosecondsSinceEpoch: time(c, v) ?? 0).iso8601Nanoseconds
        case 0x13: return sid(c, o)
        case 0x81: return stringArray(c, o, size)
        case 0x83...0x95:
            let scalar = v.type & 0x7F
            let width = naturalSize(scalar)
            guard width > 0 else { return hex(c, o, size) }
            var items: [String] = []
            var k = 0
            while k + width <= size {
                items.append(text(c, ValueRef(type: scalar, offset: Int32(o + k), size: Int32(width))))
                k += width
            }
            return items.joined(separator: ",")
        default: return hex(c, o, size)
        }
    }

    /// UTF-16 text without the NUL terminator some writers include.
    static func trimmedUTF16(_ c: ChunkBytes, _ o: Int, units: Int) -> String {
        var n = units
        while n > 0, c.u16u(o + 2 * (n - 1)) == 0 { n -= 1 }
        return c.utf16Unchecked(o, units: n)
    }

    static func stringArray(_ c: ChunkBytes, _ o: Int, _ size: Int) -> String {
        var items: [String] = []
        var start = 0
        var k = 0
        let units = size / 2
        while k < units {
            if c.u16u(o + 2 * k) == 0 {
                items.append(c.utf16Unchecked(o + 2 * start, units: k - start))
                start = k + 1
            }
            k += 1
        }
        if start < units { items.append(c.utf16Unchecked(o + 2 * start, units: units - start)) }
        return items.joined(separator: ",")
    }

    /// An ANSI string: NULs dropped, Windows-1252 read as Latin-1 unless it is UTF-8.
    static func ansi(_ c: ChunkBytes, _ o: Int, _ size: Int) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        for k in 0..<size where c.bytes[o + k] != 0 { bytes.append(c.bytes[o + k]) }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    static func hex(_ c: ChunkBytes, _ o: Int, _ size: Int) -> String {
        String(unsafeUninitializedCapacity: 2 * size) { out in
            for k in 0..<size {
                let b = c.bytes[o + k]
                out[2 * k] = hexUpper[Int(b >> 4)]
                out[2 * k + 1] = hexUpper[Int(b & 15)]
            }
            return 2 * size
        }
    }

    /// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`: the first three groups little-endian.
    static func guid(_ c: ChunkBytes, _ o: Int) -> String {
        let order = [3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15]
        return String(unsafeUninitializedCapacity: 38) { out in
            var n = 0
            out[n] = UInt8(ascii: "{"); n += 1
            for i in order {
                if i < 0 { out[n] = UInt8(ascii: "-"); n += 1; continue }
                let b = c.bytes[o + i]
                out[n] = hexUpper[Int(b >> 4)]
                out[n + 1] = hexUpper[Int(b & 15)]
                n += 2
            }
            out[n] = UInt8(ascii: "}"); n += 1
            return n
        }
    }

    /// `S-revision-authority-sub…`: the authority is 48-bit big-endian, the
    /// sub-authorities 32-bit little-endian.
    static func sid(_ c: ChunkBytes, _ o: Int) -> String {
        let revision = c.bytes[o]
        let count = Int(c.bytes[o + 1])
        var authority: UInt64 = 0
        for k in 0..<6 { authority = authority << 8 | UInt64(c.bytes[o + 2 + k]) }
        var text = "S-\(revision)-\(authority)"
        for k in 0..<count { text += "-\(c.u32u(o + 8 + 4 * k))" }
        return text
    }
}
