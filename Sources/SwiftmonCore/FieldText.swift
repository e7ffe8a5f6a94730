/// Turns bytes from the kernel (paths, command lines) into field text.
///
/// Valid UTF-8 is kept as it is. When the bytes are not valid UTF-8 the text
/// shows each invalid byte as `\xNN` and each backslash as `\\`, so the readable
/// form is unambiguous; ``isExact`` is then false and the event keeps the bytes
/// themselves for sinks that can carry them (JSON writes them as `\udcNN`).
public struct FieldText: Sendable {
    public let string: String
    public let isExact: Bool

    public init(_ bytes: [UInt8]) {
        if let valid = String(validating: bytes, as: UTF8.self) {
            string = valid
            isExact = true
            return
        }
        var out = String()
        out.reserveCapacity(bytes.count + 16)
        FieldText.forEachSegment(bytes) { segment in
            switch segment {
            case .text(let text):
                for ch in text.unicodeScalars {
                    if ch == "\\" { out += "\\\\" } else { out.unicodeScalars.append(ch) }
                }
            case .invalid(let byte): out += "\\x" + FieldText.hex2(byte)
            }
        }
        string = out
        isExact = false
    }

    /// A value already converted: text, and whether it is the exact bytes.
    init(string: String, isExact: Bool) {
        self.string = string
        self.isExact = isExact
    }

    public init(_ bytes: UnsafeRawBufferPointer) { self.init([UInt8](bytes)) }
    public init(_ bytes: ArraySlice<UInt8>) { self.init([UInt8](bytes)) }

    /// A run of valid UTF-8, or one byte that is not part of any.
    public enum Segment { case text(String), invalid(UInt8) }

    /// Splits `bytes` into maximal valid UTF-8 runs and single invalid bytes.
    public static func forEachSegment(_ bytes: [UInt8], _ body: (Segment) -> Void) {
        var start = 0
        var i = 0
        while i < bytes.count {
            let n = validSequenceLength(bytes, at: i)
            if n > 0 { i += n; continue }
            if start < i { body(.text(String(decoding: bytes[start..<i], as: UTF8.self))) }
            body(.invalid(bytes[i]))
            i += 1
            start = i
        }
        if start < bytes.count { body(.text(String(decoding: bytes[start...], as: UTF8.self))) }
    }

    /// Whether `bytes` are well-formed UTF-8, without making a String (an
    /// ASCII run is checked 8 bytes at a time).
    public static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return true }
        var i = 0
        while i < n {
            if i + 8 <= n {
                let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                if word & 0x8080_8080_8080_8080 == 0 { i += 8; continue }
            }
            if base[i] < 0x80 { i += 1; continue }
            let k = validSequenceLength(bytes, at: i)
            if k == 0 { return false }
            i += k
        }
        return true
    }

    /// Length of the well-formed UTF-8 sequence at `i`, or 0 when there is none.
    static func validSequenceLength(_ b: [UInt8], at i: Int) -> Int {
        b.withUnsafeBufferPointer { validSequenceLength($0, at: i) }
    }

    static func validSequenceLength(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let c = b[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            i + k < b.count && b[i + k] >= lo && b[i + k] <= hi
        }
        switch c {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }

    static let hexDigits = Array("0123456789abcdef".utf8)
    static func hex2(_ b: UInt8) -> String {
        String(decoding: [hexDigits[Int(b >> 4)], hexDigits[Int(b & 15)]], as: UTF8.self)
    }
}

extension FieldText {
    /// A decimal number as `T(text)` reads it — an optional sign, then ASCII
    /// digits, nil on anything else or overflow — from a value's bytes, without
    /// making a String of them (the store's process ids, the importer's
    /// EventIDs and EventRecordIDs).
    @inlinable  // specialised where it is called: per event on the import and store paths
    public static func integer<T: FixedWidthInteger>(_ bytes: UnsafeBufferPointer<UInt8>, as type: T.Type = Int.self) -> T? {
        var k = 0
        var negative = false
        if k < bytes.count, bytes[k] == UInt8(ascii: "+") || bytes[k] == UInt8(ascii: "-") {
            negative = bytes[k] == UInt8(ascii: "-")
            k += 1
        }
        guard k < bytes.count else { return nil }
        var value: T = 0
        while k < bytes.count {
            let d = bytes[k] &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(T(d)) : m.addingReportingOverflow(T(d))
            guard !o1, !o2 else { return nil }
            value = s
            k += 1
        }
        return value
    }
}

extension FieldText {
    /// The decimal digits of `value`, as `String(value)` writes them, lent to
    /// `body` from the stack: the one digit writer of the renderers (Sysmon
    /// XML's System numbers, .evtx integer and SID values, EventRecordIDs).
    @inlinable  // per value on the XML and .evtx paths
    public static func withDecimalDigits<R>(_ value: UInt64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        return withUnsafeMutableBytes(of: &digits) { buffer in
            var v = value, k = 24
            repeat {
                k -= 1
                buffer[k] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
                v /= 10
            } while v > 0
            return body(UnsafeRawBufferPointer(rebasing: buffer[k...]))
        }
    }

    /// Appends the decimal text of `value` to `out`.
    @inlinable
    public static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        withDecimalDigits(value) { out.append(contentsOf: $0) }
    }

    /// The decimal text of `value` as a String (up to 15 bytes are held
    /// inline: no allocation, unlike the generic integer description).
    @inlinable
    public static func decimal(_ value: UInt64) -> String {
        withDecimalDigits(value) { String(decoding: $0, as: UTF8.self) }
    }
}
