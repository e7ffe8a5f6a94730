import SwiftmonCore

/// One JSON object per line: `EventID`, `EventName`, then every field under
/// its Sysmon name in schema order, all values as strings.
///
/// Bytes that are not valid UTF-8 (hostile file names) are written as the
/// escapes `\udc80`…`\udcff`, the surrogate-escape convention: readers that
/// know it (Python's `surrogateescape`) recover the exact bytes, and no valid
/// text can produce them, so nothing is ambiguous.
public final class JSONLinesSink: EventSink, DeliveryReporting, ReopenableOutput {
    private let output: FileOutput

    public init(output: FileOutput) { self.output = output }

    public func emit(_ event: Event) throws {
        try output.appendEvent { JSONLinesSink.render(event, into: &$0) }
    }

    public func flush() throws { try output.flush() }
    public func close() { output.close() }

    public var deliveryName: String { "json \(output.path)" }
    public var deliveryCounts: SinkDeliveryCounts { output.deliveryCounts }
    public var destinationClosed: Bool { output.destinationClosed }
    public func reopen() { output.requestReopen() }

    public static func render(_ event: Event) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        render(event, into: &out)
        return out
    }

    public static func render(_ event: Event, into out: inout [UInt8]) {
        let id = event.kind.id
        let prefix = (id >= 0 && id < prefixTable.count ? prefixTable[id] : nil) ?? JSONLinesSink.prefixes(for: event.kind)
        let fieldCount = min(prefix.keyEnds.count, event.kind.fieldCount)
        if !event.rawBytes.isEmpty {
            renderAppending(event, prefix, fieldCount, into: &out)
            return
        }
        // Written through one pointer into room made once per event: at most
        // 6 bytes per value byte (`\u00XX`) and 2 quotes per value. (Two
        // `append(contentsOf:)` per field, each a capacity check and a call,
        // were most of the render: issue 10's profile of the live sensor.)
        // (8 more: a key is copied a word at a time, its last word stored
        // whole, the bytes past the key overwritten by its value.)
        var bound = prefix.head.count + prefix.keyBytes.count + 2 + 8
        for i in 0..<fieldCount { bound += 2 + 6 * event.utf8Count(i) }
        appendWritten(bound: bound, to: &out) { p in
            prefix.head.withUnsafeBufferPointer { copy($0, to: &p) }
            prefix.keyBytes.withUnsafeBufferPointer { keys in
                prefix.keyEnds.withUnsafeBufferPointer { ends in
                    var keyStart = 0
                    for i in 0..<fieldCount {
                        copyWords(keys.baseAddress! + keyStart, count: ends[i] - keyStart, to: &p)
                        keyStart = ends[i]
                        event.withUTF8(i) { writeText($0, to: &p) }
                    }
                }
            }
            p[0] = UInt8(ascii: "}")
            p[1] = 0x0A
            p += 2
        }
    }

    /// Appends what `write` writes through one pointer, given room for `bound`
    /// bytes (made once, the unused rest removed after).
    @inline(__always)
    static func appendWritten(bound: Int, to out: inout [UInt8], _ write: (inout UnsafeMutablePointer<UInt8>) -> Void) {
        let start = out.count
        ZeroFill.append(bound, to: &out)
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int in
            let first = buffer.baseAddress! + start
            var p = first
            write(&p)
            return p - first
        }
        out.removeLast(bound - written)
    }

    /// The same, appending, for an event that holds exact bytes that are not
    /// valid UTF-8 (rare: hostile names).
    private static func renderAppending(_ event: Event, _ prefix: Prefixes, _ fieldCount: Int, into out: inout [UInt8]) {
        out.append(contentsOf: prefix.head)
        prefix.keyBytes.withUnsafeBufferPointer { keys in
            prefix.keyEnds.withUnsafeBufferPointer { ends in
                var start = 0
                for i in 0..<fieldCount {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: keys[start..<ends[i]]))
                    start = ends[i]
                    if let bytes = event.rawBytes[i] {
                        appendBytes(bytes, to: &out)
                    } else {
                        event.withUTF8(i) { appendText($0, to: &out) }
                    }
                }
            }
        }
        out.append(UInt8(ascii: "}"))
        out.append(0x0A)
    }

    /// `count` bytes from `source` to `p` a word at a time, inline (a key is
    /// 10-30 bytes: a `memcpy` call per field cost more than its bytes).
    /// Reads and writes up to 7 bytes past `count`: `source` must have them
    /// (the key table is padded) and `p` room for them (overwritten next).
    @inline(__always)
    static func copyWords(_ source: UnsafePointer<UInt8>, count: Int, to p: inout UnsafeMutablePointer<UInt8>) {
        let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(p)
        var k = 0
        while k < count {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: k, as: UInt64.self), toByteOffset: k, as: UInt64.self)
            k += 8
        }
        p += count
    }

    @inline(__always)
    static func copy(_ bytes: UnsafeBufferPointer<UInt8>, to p: inout UnsafeMutablePointer<UInt8>) {
        if let base = bytes.baseAddress { p.update(from: base, count: bytes.count) }
        p += bytes.count
    }

    /// A JSON string literal for valid UTF-8 bytes, written at `p` (room
    /// checked by the caller: 2 + 6 bytes per byte of `bytes`).
    @inline(__always)
    static func writeText(_ bytes: UnsafeBufferPointer<UInt8>, to p: inout UnsafeMutablePointer<UInt8>) {
        p.pointee = UInt8(ascii: "\"")
        p += 1
        writeEscapedText(bytes, to: &p)
        p.pointee = UInt8(ascii: "\"")
        p += 1
    }

    /// The inside of that literal. Hot path (issue 10), byte-level: eight
    /// bytes are loaded, checked and stored at a time (no copy call per
    /// run, as `JSONBytes` does for EventData); a word with a byte to escape
    /// keeps its plain bytes before it, that byte is escaped, and the next
    /// word starts after it (paths are full of backslashes). A value of
    /// eight bytes or more ends with the word of its last eight, stored over
    /// what it repeats when it is plain; shorter values go byte by byte.
    /// Room as ``writeText(_:to:)`` says: a word is stored only while eight
    /// or more bytes of the value are left, within their worst-case room.
    @inline(__always)
    static func writeEscapedText(_ bytes: UnsafeBufferPointer<UInt8>, to p: inout UnsafeMutablePointer<UInt8>) {
        let n = bytes.count
        guard let base = bytes.baseAddress, n > 0 else { return }
        let source = UnsafeRawPointer(base)
        var i = 0
        while i + 8 <= n {
            let w = source.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            UnsafeMutableRawPointer(p).storeBytes(of: w, as: UInt64.self)
            let special = escapeMask(w)
            if special == 0 {
                p += 8
                i += 8
                continue
            }
            let plain = special.trailingZeroBitCount &>> 3
            p += plain
            i += plain
            writeEscaped(base[i], to: &p)  // exact up to the first marked byte: it needs its escape
            i += 1
        }
        guard i < n else { return }
        if n >= 8 {
            // The word of the last eight bytes: when plain, the bytes of it
            // before `i` were written as themselves, so storing it whole at
            // their place repeats them and adds the rest.
            let last = source.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            if escapeMask(last) == 0 {
                UnsafeMutableRawPointer(p - (i - (n - 8))).storeBytes(of: last, as: UInt64.self)
                p += n - i
                return
            }
        }
        while i < n {
            let b = base[i]
            if needsEscape(b) {
                writeEscaped(b, to: &p)
            } else {
                p.pointee = b
                p += 1
            }
            i += 1
        }
    }

    /// A byte that ``needsEscape(_:)``, escaped at `p` (2 or 6 bytes).
    static func writeEscaped(_ b: UInt8, to p: inout UnsafeMutablePointer<UInt8>) {
        let short: UInt8
        switch b {
        case UInt8(ascii: "\""): short = 0x22
        case UInt8(ascii: "\\"): short = 0x5C
        case 0x0A: short = UInt8(ascii: "n")
        case 0x0D: short = UInt8(ascii: "r")
        case 0x09: short = UInt8(ascii: "t")
        default:
            p[0] = 0x5C; p[1] = UInt8(ascii: "u"); p[2] = 0x30; p[3] = 0x30
            p[4] = hex[Int(b >> 4)]
            p[5] = hex[Int(b & 15)]
            p += 6
            return
        }
        p[0] = 0x5C
        p[1] = short
        p += 2
    }

    /// The constant bytes of each kind's object: `{"EventID":1,"EventName":"…"`
    /// and `,"Field":` per field, built once.
    struct Prefixes {
        let head: [UInt8]
        /// `,"Field":` of every field, one after another; field i's ends at `keyEnds[i]`.
        let keyBytes: [UInt8]
        let keyEnds: [Int]
    }

    static func prefixes(for kind: EventKind) -> Prefixes {
        var head = Array("{\"EventID\":\(kind.id),\"EventName\":".utf8)
        appendString(kind.name, to: &head)
        var keyBytes: [UInt8] = []
        var keyEnds: [Int] = []
        for name in kind.fields {
            keyBytes.append(UInt8(ascii: ","))
            appendString(name, to: &keyBytes)
            keyBytes.append(UInt8(ascii: ":"))
            keyEnds.append(keyBytes.count)
        }
        keyBytes += repeatElement(0, count: 8)  // read past the last key by ``copyWords``
        return Prefixes(head: head, keyBytes: keyBytes, keyEnds: keyEnds)
    }

    /// By EventID (an array: no hashing per event).
    static let prefixTable: [Prefixes?] = {
        var table = [Prefixes?](repeating: nil, count: (EventKind.all.map(\.id).max() ?? 0) + 1)
        for kind in EventKind.all where kind.id >= 0 { table[kind.id] = prefixes(for: kind) }
        return table
    }()

    static let hex = Array("0123456789abcdef".utf8)

    /// A JSON string literal for valid text.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        // A native string's bytes in place (no copy of the string); others copied once.
        if s.utf8.withContiguousStorageIfAvailable({ appendText($0, to: &out) }) == nil {
            var text = s
            text.withUTF8 { appendText($0, to: &out) }
        }
    }

    /// A JSON string literal for valid UTF-8 bytes, appended.
    static func appendText(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        appendWritten(bound: 2 + 6 * bytes.count, to: &out) { writeText(bytes, to: &$0) }
    }

    @inline(__always)
    static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F }

    /// Whether any of the 8 bytes of `w` needs an escape (``needsEscape``).
    @inline(__always)
    static func wordNeedsEscape(_ w: UInt64) -> Bool { escapeMask(w) != 0 }

    /// The bytes of `w` (little-endian) that need an escape: a byte below
    /// 0x20, or one equal to 0x22, 0x5C or 0x7F, each as its high bit, found
    /// with the "has a zero byte" trick. Exact up to the first such byte
    /// (a borrow can mark only bytes above a marked one): its index is
    /// `trailingZeroBitCount / 8`. Bytes from 0x80 are never marked.
    @inline(__always)
    static func escapeMask(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let below20 = (w &- 0x2020_2020_2020_2020) & ~w & highs
        return below20 | hasZero(w ^ 0x2222_2222_2222_2222) | hasZero(w ^ 0x5C5C_5C5C_5C5C_5C5C)
            | hasZero(w ^ 0x7F7F_7F7F_7F7F_7F7F)
    }

    /// A JSON string literal for bytes that may not be valid UTF-8.
    static func appendBytes(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        FieldText.forEachSegment(bytes) { segment in
            switch segment {
            case .text(var text):
                text.withUTF8 { b in appendWritten(bound: 6 * b.count, to: &out) { writeEscapedText(b, to: &$0) } }
            case .invalid(let byte):
                out += Array("\\udc".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 15)])
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
