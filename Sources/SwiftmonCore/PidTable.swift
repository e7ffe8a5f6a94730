/// pid → position, for the process cache: an open-addressing table (linear
/// probing, deletion by backward shift) of 8-byte slots in one buffer.
///
/// Hot path (issue 10): each exec, fork and exit looks pids up two to four
/// times; `[UInt32: UInt32]` hashes each key with SipHash and was ~4 % of
/// the live sensor's profile in an exec storm. Pids are small, dense-ish
/// integers: one multiply (Fibonacci hashing) spreads them well enough.
/// Room as a dictionary's: a power of two, at most 3/4 full.
@usableFromInline
struct PidTable: Sendable {
    /// Key `empty` marks a free slot: no pid reaches it (pid_max is at most
    /// 2^22); a record that says otherwise is never held (set ignores it,
    /// lookups do not find it) rather than trusted or trapped on.
    @usableFromInline static let empty = UInt32.max
    /// Keys and values interleaved, `2 * slotCount` words (none until the first pid).
    @usableFromInline var storage: [UInt32] = []
    @usableFromInline var shift: UInt32 = 32
    @usableFromInline private(set) var count = 0

    init() {}

    /// Room for `minimumCapacity` pids before it grows.
    init(minimumCapacity: Int) {
        if minimumCapacity > 0 { resize(slots: Self.slots(for: minimumCapacity)) }
    }

    @usableFromInline var slotCount: Int { storage.count / 2 }

    /// The smallest power of two (at least 16) that holds `n` pids at most 3/4 full.
    static func slots(for n: Int) -> Int {
        var slots = 16
        while slots * 3 < n * 4 { slots *= 2 }
        return slots
    }

    @inlinable @inline(__always)
    func home(_ pid: UInt32) -> Int { Int((pid &* 0x9E37_79B1) &>> shift) }

    @inlinable
    subscript(pid: UInt32) -> UInt32? {
        guard count > 0, pid != Self.empty else { return nil }
        return storage.withUnsafeBufferPointer { s in
            let mask = s.count / 2 - 1
            var i = home(pid)
            while true {
                let key = s[2 * i]
                if key == pid { return s[2 * i + 1] }
                if key == Self.empty { return nil }
                i = (i + 1) & mask
            }
        }
    }

    /// Sets `pid`'s position (adds the pid or replaces its position).
    mutating func set(_ pid: UInt32, _ position: UInt32) {
        guard pid != Self.empty else { return }
        if (count + 1) * 4 > slotCount * 3 { resize(slots: max(16, 2 * slotCount)) }
        let shift = self.shift
        let added = storage.withUnsafeMutableBufferPointer { s -> Bool in
            let mask = s.count / 2 - 1
            var i = Int((pid &* 0x9E37_79B1) &>> shift)
            while true {
                let key = s[2 * i]
                if key == pid { s[2 * i + 1] = position; return false }
                if key == Self.empty {
                    s[2 * i] = pid
                    s[2 * i + 1] = position
                    return true
                }
                i = (i + 1) & mask
            }
        }
        if added { count += 1 }
    }

    /// Takes `pid` out; later keys of its run move back so that every probe
    /// still finds its key before an empty slot.
    mutating func remove(_ pid: UInt32) {
        guard count > 0, pid != Self.empty else { return }
        let shift = self.shift
        let removed = storage.withUnsafeMutableBufferPointer { s -> Bool in
            let mask = s.count / 2 - 1
            var i = Int((pid &* 0x9E37_79B1) &>> shift)
            while true {
                let key = s[2 * i]
                if key == Self.empty { return false }
                if key == pid { break }
                i = (i + 1) & mask
            }
            // Backward shift: fill the hole with a later key of the run whose
            // home is not between the hole and it (cyclically).
            var hole = i
            var j = i
            while true {
                j = (j + 1) & mask
                let key = s[2 * j]
                if key == Self.empty { break }
                let h = Int((key &* 0x9E37_79B1) &>> shift)
                // The key at j may move to the hole when its home is not in (hole, j].
                let homeInRange = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
                if !homeInRange {
                    s[2 * hole] = key
                    s[2 * hole + 1] = s[2 * j + 1]
                    hole = j
                }
            }
            s[2 * hole] = Self.empty
            s[2 * hole + 1] = 0
            return true
        }
        if removed { count -= 1 }
    }

    /// Rebuilt with `slots` slots (a power of two), every pid kept.
    private mutating func resize(slots: Int) {
        let old = storage
        storage = [UInt32](repeating: Self.empty, count: 2 * slots)
        shift = UInt32(32 - slots.trailingZeroBitCount)
        count = 0
        var k = 0
        while k < old.count {
            if old[k] != Self.empty { set(old[k], old[k + 1]) }
            k += 2
        }
    }
}
