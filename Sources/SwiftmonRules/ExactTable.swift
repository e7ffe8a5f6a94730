/// The exact-match filters of one field in one OR block (`is`, `is any`,
/// `image` against the value's file name) and the gates that need a value
/// equal to a pattern, as a hash table: "which is the first filter whose
/// value equals this one, and which gates does it open".
///
/// A trie answers that too, but a walk is one dependent load (and a search
/// of the node's labels) per byte of the value, for as long as the value
/// shares a prefix with some pattern — `c:\windows\system32\…` command lines
/// walk deep. A hash of the value is computed once per event (shared by every
/// block of the kind, eight bytes per step) and each table answers with one
/// probe and one comparison. Tries keep only `begin with` / `end with`,
/// which makes their walks shorter and their root shortcut more common.
///
/// On the rule engine's hot path and read through raw buffers like the
/// tries; written only by its Builder, read-only afterwards. The table is
/// fixed by the configuration, so a hostile value cannot lengthen a probe
/// beyond the longest cluster the configuration's own patterns made.
final class ExactTable: @unchecked Sendable {  // the buffers are written in init, only read after, freed in deinit
    struct Entry {
        var hash: UInt64
        var start: Int32        // into `bytes`
        var length: Int32       // -1: an empty slot
        var first: Int32        // lowest filter number equal to the pattern, or ByteTrie.none
        var gateStart: Int32    // into `gateItems`
        var gateCount: Int32
    }
    private let entries: UnsafeBufferPointer<Entry>
    private let mask: Int
    private let bytes: UnsafeBufferPointer<UInt8>
    private let gateItems: UnsafeBufferPointer<Int32>
    let count: Int
    /// The patterns' lengths below 256 (a 256-bit set), and whether any is
    /// longer: most values have a length no pattern has, and are neither
    /// hashed nor probed (``mayHold(_:)``).
    private let lengths: (UInt64, UInt64, UInt64, UInt64)
    private let anyLonger: Bool

    var isEmpty: Bool { count == 0 }

    private init(entries: [Entry], bytes: [UInt8], gateItems: [Int32], count: Int, lengths: [UInt64], anyLonger: Bool) {
        self.entries = KindRules.freeze(entries)
        mask = entries.count - 1
        self.bytes = KindRules.freeze(bytes)
        self.gateItems = KindRules.freeze(gateItems)
        self.count = count
        self.lengths = (lengths[0], lengths[1], lengths[2], lengths[3])
        self.anyLonger = anyLonger
    }

    /// False when no pattern has `length` bytes: nothing can be equal.
    @inline(__always)
    func mayHold(_ length: Int) -> Bool {
        if length >= 256 { return anyLonger }
        let word: UInt64
        switch length >> 6 {
        case 0: word = lengths.0
        case 1: word = lengths.1
        case 2: word = lengths.2
        default: word = lengths.3
        }
        return word & (1 << UInt64(length & 63)) != 0
    }

    deinit { entries.deallocate(); bytes.deallocate(); gateItems.deallocate() }

    struct Builder {
        var keys: [[UInt8]: (first: Int32, gates: [Int32])] = [:]

        mutating func addExact(_ pattern: some Sequence<UInt8>, _ number: Int32) {
            let key = Array(pattern)
            let old = keys[key]?.first ?? ByteTrie.none
            keys[key, default: (ByteTrie.none, [])].first = min(old, number)
        }
        mutating func addGate(_ pattern: some Sequence<UInt8>, _ number: Int32) {
            keys[Array(pattern), default: (ByteTrie.none, [])].gates.append(number)
        }

        func build() -> ExactTable {
            // Load at most one half: a miss (the common case) ends at an
            // empty slot after a probe or two.
            var capacity = 2
            while capacity < keys.count * 2 { capacity *= 2 }
            let empty = Entry(hash: 0, start: 0, length: -1, first: ByteTrie.none, gateStart: 0, gateCount: 0)
            var entries = [Entry](repeating: empty, count: capacity)
            var bytes: [UInt8] = [], gateItems: [Int32] = []
            var lengths: [UInt64] = [0, 0, 0, 0], anyLonger = false
            // A fixed order, so the layout does not depend on the dictionary's seed.
            for (key, value) in keys.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                let h = key.withUnsafeBufferPointer { ExactTable.hash($0) }
                var i = Int(truncatingIfNeeded: h) & (capacity - 1)
                while entries[i].length >= 0 { i = (i + 1) & (capacity - 1) }
                entries[i] = Entry(hash: h, start: Int32(bytes.count), length: Int32(key.count), first: value.first,
                                   gateStart: Int32(gateItems.count), gateCount: Int32(value.gates.count))
                bytes += key
                gateItems += value.gates
                if key.count >= 256 { anyLonger = true } else { lengths[key.count >> 6] |= 1 << UInt64(key.count & 63) }
            }
            return ExactTable(entries: entries, bytes: bytes, gateItems: gateItems, count: keys.count,
                              lengths: lengths, anyLonger: anyLonger)
        }
    }

    /// A 64-bit hash of `v`: eight bytes per multiply, the tail read as
    /// (overlapping) whole words, the length mixed in. Equal bytes give equal
    /// hashes; a probe still compares the bytes.
    @inline(__always)
    static func hash(_ v: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let k0: UInt64 = 0x9E37_79B9_7F4A_7C15, k1: UInt64 = 0xBF58_476D_1CE4_E5B9, k2: UInt64 = 0x94D0_49BB_1331_11EB
        let n = v.count
        var h = UInt64(n) &* k0
        guard let p = v.baseAddress, n > 0 else { return h ^ (h >> 31) }
        let raw = UnsafeRawPointer(p)
        if n >= 8 {
            var i = 0
            while i + 8 <= n {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* k1
                h ^= h >> 29
                i += 8
            }
            if i < n {
                h = (h ^ raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)) &* k2
                h ^= h >> 29
            }
        } else {
            var t: UInt64
            if n >= 4 {
                t = UInt64(raw.loadUnaligned(as: UInt32.self)) | UInt64(raw.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)) << 32
            } else {
                t = UInt64(p[0]) | UInt64(p[n >> 1]) << 8 | UInt64(p[n - 1]) << 16
            }
            h = (h ^ t) &* k1
            h ^= h >> 29
        }
        h = h &* k2
        return h ^ (h >> 32)
    }

    /// The lowest exact filter number equal to `v` if below `bound`, else
    /// `bound`; marks in `gates` every gate item of a pattern equal to `v`.
    /// `hash` is ``hash(_:)`` of `v`.
    @inline(__always)
    func first(_ v: UnsafeBufferPointer<UInt8>, hash h: UInt64, bound: Int32, gates: UnsafeMutablePointer<UInt64>) -> Int32 {
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = entries[i]
            if e.length < 0 { return bound }
            if e.hash == h && Int(e.length) == v.count
                && (v.count == 0 || Bytes.memcmpBytes(v.baseAddress!, bytes.baseAddress! + Int(e.start), v.count)) {
                var k = Int(e.gateStart)
                let end = k + Int(e.gateCount)
                while k < end {
                    let item = Int(gateItems[k])
                    gates[item >> 6] |= 1 << UInt64(item & 63)
                    k += 1
                }
                return e.first < bound ? e.first : bound
            }
            i = (i + 1) & mask
        }
    }
}
