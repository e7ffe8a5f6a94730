/// A Windows GUID as it is laid out in ETW structures: the first three groups
/// little-endian, the last eight bytes in order.
public struct Guid: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let high: UInt64  // bytes 0..7 in canonical (text) order
    public let low: UInt64   // bytes 8..15 in canonical order

    public static let zero = Guid(high: 0, low: 0)

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Reads the 16-byte Windows layout at `offset` (caller checks bounds).
    init(windowsBytes p: UnsafeRawBufferPointer, at offset: Int) {
        let d1 = UInt64(p.loadLE(UInt32.self, offset))
        let d2 = UInt64(p.loadLE(UInt16.self, offset + 4))
        let d3 = UInt64(p.loadLE(UInt16.self, offset + 6))
        high = d1 << 32 | d2 << 16 | d3
        low = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
    }

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, with or without braces.
    public init?(_ text: String) {
        var digits: [UInt8] = []
        for c in text.utf8 where c != UInt8(ascii: "-") && c != UInt8(ascii: "{") && c != UInt8(ascii: "}") {
            digits.append(c)
        }
        guard digits.count == 32 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for (i, c) in digits.enumerated() {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x61...0x66: v = c - 0x61 + 10
            case 0x41...0x46: v = c - 0x41 + 10
            default: return nil
            }
            if i < 16 { h = h << 4 | UInt64(v) } else { l = l << 4 | UInt64(v) }
        }
        high = h
        low = l
    }

    public static func < (a: Guid, b: Guid) -> Bool { (a.high, a.low) < (b.high, b.low) }

    /// Lower case, no braces: `3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c`.
    public var description: String { format(upper: false) }

    /// Windows' registry form: `{3D6FA8D0-FE05-11D0-9DDA-00C04FD7BA7C}`.
    public var braced: String { "{" + format(upper: true) + "}" }

    func format(upper: Bool) -> String {
        let digits: [UInt8] = upper ? Array("0123456789ABCDEF".utf8) : Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(36)
        for i in 0..<32 {
            if i == 8 || i == 12 || i == 16 || i == 20 { out.append(UInt8(ascii: "-")) }
            let word = i < 16 ? high : low
            let shift = UInt64(60 - 4 * (i % 16))
            out.append(digits[Int((word >> shift) & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
