import CSwiftmonCRC32

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as the .evtx file
/// and chunk headers carry it. Every chunk's record area (up to 64 KiB) is
/// checked, so this is on the hot path: with PCLMULQDQ (x86-64 since 2010)
/// the bulk is folded 64 bytes at a time in the C shim (`CSwiftmonCRC32`,
/// ~13× the table); the table (slicing-by-8) does short inputs, the tail, and
/// CPUs without it.
enum CRC32 {
    /// Whether the carry-less multiply path is used (tests compare both paths).
    static let hasCarrylessMultiply = swiftmon_crc32_has_clmul() != 0

    /// Eight 256-entry tables, one after the other.
    static let table: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (previous >> 8) ^ t[Int(previous & 0xFF)]
            }
        }
        return t
    }()

    /// Continues `crc` (start with 0) over `bytes`.
    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        if hasCarrylessMultiply, bytes.count >= 64, let base = bytes.baseAddress {
            let bulk = bytes.count & ~15
            let state = swiftmon_crc32_clmul(~crc, base, bulk)
            return ~tableUpdate(state, UnsafeRawBufferPointer(rebasing: bytes[bulk...]))
        }
        return ~tableUpdate(~crc, bytes)
    }

    /// The table path alone (for tests and CPUs without PCLMULQDQ).
    static func updateWithTable(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        ~tableUpdate(~crc, bytes)
    }

    /// Runs the register `state` (not inverted) over `bytes`.
    private static func tableUpdate(_ state: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = state
        let n = bytes.count
        table.withUnsafeBufferPointer { t in
            var i = 0
            while i + 8 <= n {
                let lo = bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian ^ c
                let hi = bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return c
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { update(0, bytes) }
}
