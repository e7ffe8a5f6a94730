/// Byte-string primitives over lower-cased UTF-8.
enum Bytes {
    typealias Buffer = UnsafeBufferPointer<UInt8>

    @inline(__always)
    static func equal(_ v: Buffer, _ p: Buffer) -> Bool {
        v.count == p.count && (v.count == 0 || memcmpBytes(v.baseAddress!, p.baseAddress!, v.count))
    }

    @inline(__always)
    static func hasPrefix(_ v: Buffer, _ p: Buffer) -> Bool {
        v.count >= p.count && (p.isEmpty || memcmpBytes(v.baseAddress!, p.baseAddress!, p.count))
    }

    @inline(__always)
    static func hasSuffix(_ v: Buffer, _ p: Buffer) -> Bool {
        v.count >= p.count && (p.isEmpty || memcmpBytes(v.baseAddress! + (v.count - p.count), p.baseAddress!, p.count))
    }

    /// Lexicographic order of code points (UTF-8 byte order).
    static func compare(_ v: Buffer, _ p: Buffer) -> Int {
        let n = min(v.count, p.count)
        for i in 0..<n where v[i] != p[i] { return v[i] < p[i] ? -1 : 1 }
        return v.count == p.count ? 0 : (v.count < p.count ? -1 : 1)
    }

    /// The part after the last `/` or `\`.
    @inline(__always)
    static func fileName(_ v: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var i = v.count
        while i > 0 {
            let b = v[i - 1]
            if b == 0x2F || b == 0x5C { break }
            i -= 1
        }
        return UnsafeBufferPointer(rebasing: v[i...])
    }

    @inline(__always)
    static func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i + 8 <= n {
            if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self) != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self) {
                return false
            }
            i += 8
        }
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }
}

/// Case folding shared by rule values and event values, so both sides are
/// folded the same way. Like Sysmon's `towlower`, it maps one character to
/// one character (simple lower-case mapping); ASCII takes a fast path.
package enum CaseFolding {
    package static func fold(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        append(s, to: &out)
        return out
    }

    @inline(__always)
    package static func append(_ s: String, to out: inout [UInt8]) {
        var ascii = true
        for b in s.utf8 where b >= 0x80 { ascii = false; break }
        if ascii {
            for b in s.utf8 { out.append(b &+ ((b &- 0x41) < 26 ? 0x20 : 0)) }
            return
        }
        for scalar in s.unicodeScalars {
            out.append(contentsOf: String(lower(scalar)).utf8)
        }
    }

    /// Folds `s` into `buffer` at `offset`; returns the bytes written.
    /// `buffer` must have room for `2 * s.utf8.count` bytes.
    @inline(__always)
    static func write(_ s: String, into buffer: UnsafeMutablePointer<UInt8>) -> Int {
        var s = s
        return s.withUTF8 { write(utf8: $0, into: buffer) }
    }

    /// The same from UTF-8 bytes (an event's value read in place).
    @inline(__always)
    static func write(utf8 src: UnsafeBufferPointer<UInt8>, into buffer: UnsafeMutablePointer<UInt8>) -> Int {
        var ascii = true
        var i = 0
        let n = src.count
        // Eight bytes at a time while they are ASCII: a byte's high bit
        // says whether it is >= 'A' (after adding 0x80 - 0x41) and whether
        // it is > 'Z' (after adding 0x80 - 0x5B); no carry crosses bytes
        // below 0x80. Upper-case bytes get 0x20 added (the hot path: every
        // field a rule reads is folded once per event).
        if let base = src.baseAddress {
            let high: UInt64 = 0x8080_8080_8080_8080
            let ones: UInt64 = 0x0101_0101_0101_0101
            while i + 8 <= n {
                let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                if word & high != 0 { break }
                let atLeastA = word &+ ones &* (0x80 - 0x41)
                let aboveZ = word &+ ones &* (0x80 - 0x5B)
                let upper = atLeastA & ~aboveZ & high
                UnsafeMutableRawPointer(buffer + i).storeBytes(of: word | (upper >> 2), as: UInt64.self)
                i += 8
            }
        }
        while i < n {
            let b = src[i]
            if b >= 0x80 { ascii = false; break }
            buffer[i] = b &+ ((b &- 0x41) < 26 ? 0x20 : 0)
            i += 1
        }
        if ascii { return n }
        var k = 0
        for scalar in String(decoding: src, as: UTF8.self).unicodeScalars {
            for b in String(lower(scalar)).utf8 { buffer[k] = b; k += 1 }
        }
        return k
    }

    static func lower(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        if scalar.isASCII {
            let v = scalar.value
            return v >= 0x41 && v <= 0x5A ? Unicode.Scalar(v + 0x20)! : scalar
        }
        let mapped = scalar.properties.lowercaseMapping.unicodeScalars
        if mapped.count == 1, let only = mapped.first { return only }
        return scalar
    }
}
