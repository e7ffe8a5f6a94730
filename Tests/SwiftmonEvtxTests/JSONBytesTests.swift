import XCTest
import SwiftmonTestSupport
@testable import SwiftmonEvtx

/// `JSONBytes.writeQuoted`'s word-at-a-time paths against a byte-by-byte
/// escaper written from its contract, on hostile bytes: every byte value,
/// invalid UTF-8, the multi-byte escapes cut at every position, long plain
/// runs, every start offset mod 8 and every length mod 8, with and without
/// readable bytes (themselves hostile) after the value.
final class JSONBytesTests: XCTestCase {
    /// The contract, one byte at a time: `"` `\` `\n` `\r` `\t` short, other
    /// C0, DEL, C1 (0xC2 0x80–0x9F) and U+2028/2029 as `\uxxxx`, the rest as it is.
    static func reference(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        func u(_ v: UInt32) { out += Array(("\\u" + String(format: "%04x", v)).utf8) }
        var i = 0
        while i < b.count {
            let c = b[i]
            switch c {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case _ where c < 0x20 || c == 0x7F: u(UInt32(c))
            case 0xC2 where i + 1 < b.count && (0x80..<0xA0).contains(b[i + 1]):
                u(UInt32(b[i + 1])); i += 1
            case 0xE2 where i + 2 < b.count && b[i + 1] == 0x80 && (b[i + 2] == 0xA8 || b[i + 2] == 0xA9):
                u(0x2000 | UInt32(b[i + 2] & 0x3F)); i += 2
            default: out.append(c)
            }
            i += 1
        }
        return out + [0x22]
    }

    /// `value` written from offset `shift` of a buffer that holds `after` behind it.
    static func written(_ value: [UInt8], shift: Int, after: [UInt8], readable: Bool) -> [UInt8] {
        let source = [UInt8](repeating: 0x41, count: shift) + value + after
        let room = 1 + 6 * value.count + 8 + 1
        let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: room)
        defer { out.deallocate() }
        out.initialize(repeating: 0xEE)
        let end = source.withUnsafeBufferPointer { all in
            JSONBytes.writeQuoted(UnsafeBufferPointer(rebasing: all[shift..<shift + value.count]),
                                  readable: readable ? all.count - shift : nil, to: out, at: 0)
        }
        return Array(out[0..<end])
    }

    func check(_ value: [UInt8], after: [UInt8], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let expected = Self.reference(value)
        for shift in 0..<8 {
            for readable in [false, true] {
                let got = Self.written(value, shift: shift, after: after, readable: readable)
                if got != expected {
                    XCTFail("\(what) shift \(shift) readable \(readable): \(value) gave \(got), not \(expected)", file: file, line: line)
                    return
                }
            }
        }
    }

    /// Every byte value alone, and at every position of plain runs of 1–24 bytes.
    func testEveryByteAtEveryPosition() {
        for b in 0...255 {
            let byte = UInt8(b)
            check([byte], after: [], "byte \(b) alone")
            for length in 1...24 {
                for at in 0..<length {
                    var value = [UInt8](repeating: 0x61, count: length)
                    value[at] = byte
                    check(value, after: [0x22, 0x5C, 0x00, 0xC2, 0x80, 0x7F, 0x0A, 0xE2], "byte \(b) at \(at) of \(length)")
                }
            }
        }
    }

    /// The escapes of two and three bytes whole and cut, at every position.
    func testMultiByteEscapesCutAtEveryPosition() {
        let pieces: [[UInt8]] = [[0xC2, 0x80], [0xC2, 0x9F], [0xC2, 0xA0], [0xE2, 0x80, 0xA8], [0xE2, 0x80, 0xA9],
                                 [0xE2, 0x80, 0xA7], [0xF0, 0x9F, 0x98, 0x80]]
        for piece in pieces {
            for length in 0...20 {
                for at in 0...length {
                    var value = [UInt8](repeating: 0x7A, count: length)
                    value.insert(contentsOf: piece, at: at)
                    check(value, after: [], "\(piece) at \(at) of \(length)")
                    check(Array(value.dropLast()), after: [piece.last!, 0x22], "\(piece) at \(at) of \(length), last byte after the end")
                }
            }
        }
    }

    /// Random values and random bytes after them: mostly plain, mostly
    /// anything, long plain runs, invalid UTF-8.
    func testRandomHostileValues() {
        var g = SplitMix64(state: 14)
        let hostile: [UInt8] = [0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x22, 0x5C, 0x7E, 0x7F, 0x80, 0x9F, 0xA0, 0xA8, 0xA9,
                                0xC2, 0xE2, 0xFF]
        for round in 0..<20_000 {
            let length = round % 50 == 0 ? 64 + g.below(200) : g.below(40)
            let mode = g.below(3)
            var value: [UInt8] = []
            for _ in 0..<length {
                switch mode {
                case 0: value.append(g.below(20) == 0 ? hostile[g.below(hostile.count)] : UInt8(0x20 + g.below(0x5F)))
                case 1: value.append(UInt8(truncatingIfNeeded: g.next()))
                default: value.append(g.below(2) == 0 ? hostile[g.below(hostile.count)] : 0x61)
                }
            }
            let after = (0..<g.below(12)).map { _ in hostile[g.below(hostile.count)] }
            check(value, after: after, "round \(round)")
        }
    }
}
