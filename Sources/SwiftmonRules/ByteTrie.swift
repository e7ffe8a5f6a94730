/// A trie over lower-cased bytes that answers, in one walk over a value,
/// "which is the first (lowest-numbered) filter whose value equals / is a
/// prefix of this one". OR-combined rule blocks use it to test hundreds of
/// `is`, `begin with`, `end with` and `image` filters in one pass instead of
/// one comparison each.
/// A class so that handing it around costs one reference count, not one per
/// table; written only by its Builder, read-only afterwards.
final class ByteTrie: @unchecked Sendable {  // the buffers are written in init, only read after, freed in deinit
    static let none = Int32.max

    // The walk is on the rule engine's hot path and needs bytes: the tables
    // are frozen into raw buffers once, so a walk reads them without a
    // closure, a bounds check or a reference count per table; what a step
    // reads of a node sits in one 16-byte record (one cache line, not four).
    struct Node {
        /// First child: nodes are numbered breadth-first with each node's
        /// children consecutive in byte order, so its children are nodes
        /// `childStart ..< childStart + childCount` and their bytes are
        /// `labels[childStart ..< childStart + childCount]`: a step reads the
        /// labels and then the child, with no edge-target table between.
        var childStart: Int32
        var childCount: UInt16
        /// 1: prefix gates end here; 2: exact gates end here.
        var gateFlags: UInt8
        /// When ≥ 2: the walk from here follows a chain of this many edges
        /// through nodes with one child that decide nothing (no filter or
        /// gate ends at them), whose bytes are compared as a run (see
        /// ``runStart``) instead of one node per byte. 0: step as usual.
        var runLength: UInt8
        /// Lowest filter number whose pattern is a prefix ending at this node.
        var prefixMin: Int32
        /// Lowest filter number whose pattern ends exactly at this node (`is`).
        var exactMin: Int32
    }
    private let nodes: UnsafeBufferPointer<Node>
    /// Per node: the byte of the edge into it.
    private let labels: UnsafeBufferPointer<UInt8>
    /// Gates: items (compound rules) that can only match when this node's
    /// pattern is equal to / a prefix of the value. Every one is reported.
    private let exactGateStart: UnsafeBufferPointer<Int32>, exactGateCount: UnsafeBufferPointer<Int32>
    private let prefixGateStart: UnsafeBufferPointer<Int32>, prefixGateCount: UnsafeBufferPointer<Int32>
    private let gateItems: UnsafeBufferPointer<Int32>
    /// Per node with a run: its bytes are `runBytes[runStart[n] ..< runStart[n] + runLength]`
    /// and the walk lands on node `runEnd[n]`.
    private let runStart: UnsafeBufferPointer<Int32>
    private let runEnd: UnsafeBufferPointer<Int32>
    private let runBytes: UnsafeBufferPointer<UInt8>

    /// The longest run: a node's ``Node/runLength`` is one byte.
    static let maximumRun = 255

    init(childStart: [Int32] = [], childCount: [UInt16] = [], labels: [UInt8] = [],
         exactMin: [Int32] = [], prefixMin: [Int32] = [], exactGateStart: [Int32] = [], exactGateCount: [Int32] = [],
         prefixGateStart: [Int32] = [], prefixGateCount: [Int32] = [], gateItems: [Int32] = []) {
        // Runs: a node is silent when it decides nothing and has one child.
        // Only nodes a walk can stand on get one (the root, the children of
        // nodes without a run, the ends of runs), so every edge is in at most
        // one run and the run bytes are at most one per node.
        let count = exactMin.count
        func silent(_ n: Int) -> Bool {
            childCount[n] == 1 && exactMin[n] == ByteTrie.none && prefixMin[n] == ByteTrie.none
                && exactGateCount[n] == 0 && prefixGateCount[n] == 0
        }
        var runLength = [UInt8](repeating: 0, count: count)
        var runStart = [Int32](repeating: 0, count: count), runEnd = [Int32](repeating: 0, count: count)
        var runBytes: [UInt8] = []
        var standable = count > 0 ? [0] : []
        var head = 0
        while head < standable.count {
            let n = standable[head]; head += 1
            var chain: [UInt8] = []
            var end = n
            if childCount[n] == 1 {
                repeat {
                    end = Int(childStart[end])
                    chain.append(labels[end])
                } while chain.count < ByteTrie.maximumRun && silent(end)
            }
            if chain.count >= 2 {
                runLength[n] = UInt8(chain.count)
                runStart[n] = Int32(runBytes.count)
                runEnd[n] = Int32(end)
                runBytes += chain
                standable.append(end)
            } else {
                let first = Int(childStart[n])
                for c in first..<(first + Int(childCount[n])) { standable.append(c) }
            }
        }
        nodes = KindRules.freeze(exactMin.indices.map { n in
            Node(childStart: childStart[n], childCount: childCount[n],
                 gateFlags: (prefixGateCount[n] > 0 ? 1 : 0) | (exactGateCount[n] > 0 ? 2 : 0),
                 runLength: runLength[n], prefixMin: prefixMin[n], exactMin: exactMin[n])
        })
        self.runStart = KindRules.freeze(runStart)
        self.runEnd = KindRules.freeze(runEnd)
        self.runBytes = KindRules.freeze(runBytes)
        self.labels = KindRules.freeze(labels)
        var root: [UInt64] = [0, 0, 0, 0]
        if let r = childStart.first, let c = childCount.first {
            for k in Int(r)..<Int(r) + Int(c) { root[Int(labels[k]) >> 6] |= 1 << UInt64(labels[k] & 63) }
        }
        rootBytes = (root[0], root[1], root[2], root[3])
        rootDecidesNothing = (prefixMin.first.map { $0 == ByteTrie.none } ?? true) && (prefixGateCount.first ?? 0) == 0
        self.exactGateStart = KindRules.freeze(exactGateStart); self.exactGateCount = KindRules.freeze(exactGateCount)
        self.prefixGateStart = KindRules.freeze(prefixGateStart); self.prefixGateCount = KindRules.freeze(prefixGateCount)
        self.gateItems = KindRules.freeze(gateItems)
    }

    deinit {
        nodes.deallocate(); labels.deallocate()
        exactGateStart.deallocate(); exactGateCount.deallocate()
        prefixGateStart.deallocate(); prefixGateCount.deallocate(); gateItems.deallocate()
        runStart.deallocate(); runEnd.deallocate(); runBytes.deallocate()
    }

    /// How many nodes start a run, and the run bytes in all (for tests).
    var runStatistics: (runs: Int, bytes: Int) { (nodes.reduce(0) { $0 + ($1.runLength > 0 ? 1 : 0) }, runBytes.count) }

    var isEmpty: Bool { nodes.isEmpty }

    /// The first bytes the root has a child for (a 256-bit set), and whether
    /// the root itself decides nothing for a non-empty value (no prefix
    /// filter or gate of the empty pattern). Most walks of real values end at
    /// the root (a Linux path against Windows paths, a command line against
    /// `is` values): ``mayMatch(_:reversed:)`` tells so without the walk.
    private let rootBytes: (UInt64, UInt64, UInt64, UInt64)
    private let rootDecidesNothing: Bool

    /// False when a walk of `v` cannot match or open a gate: `v` is not
    /// empty, the root decides nothing and has no child for `v`'s first byte
    /// (its last when `reversed`). True when a walk must tell.
    @inline(__always)
    func mayMatch(_ v: UnsafeBufferPointer<UInt8>, reversed: Bool) -> Bool {
        if !rootDecidesNothing || v.isEmpty { return true }
        let b = Int(reversed ? v[v.count - 1] : v[0])
        let word: UInt64
        switch b >> 6 {
        case 0: word = rootBytes.0
        case 1: word = rootBytes.1
        case 2: word = rootBytes.2
        default: word = rootBytes.3
        }
        return word & (1 << UInt64(b & 63)) != 0
    }

    struct Builder {
        var children: [[UInt8: Int]] = [[:]]
        var exact: [Int32] = [ByteTrie.none]
        var prefix: [Int32] = [ByteTrie.none]
        var exactGates: [[Int32]] = [[]]
        var prefixGates: [[Int32]] = [[]]
        var count = 0

        mutating func node(for pattern: some Sequence<UInt8>) -> Int {
            var n = 0
            for b in pattern {
                if let next = children[n][b] { n = next; continue }
                children.append([:]); exact.append(ByteTrie.none); prefix.append(ByteTrie.none)
                exactGates.append([]); prefixGates.append([])
                children[n][b] = children.count - 1
                n = children.count - 1
            }
            return n
        }
        mutating func addExact(_ pattern: some Sequence<UInt8>, _ number: Int32) {
            let n = node(for: pattern); exact[n] = min(exact[n], number); count += 1
        }
        mutating func addPrefix(_ pattern: some Sequence<UInt8>, _ number: Int32) {
            let n = node(for: pattern); prefix[n] = min(prefix[n], number); count += 1
        }

        mutating func addExactGate(_ pattern: some Sequence<UInt8>, _ number: Int32) {
            let n = node(for: pattern); exactGates[n].append(number); count += 1
        }
        mutating func addPrefixGate(_ pattern: some Sequence<UInt8>, _ number: Int32) {
            let n = node(for: pattern); prefixGates[n].append(number); count += 1
        }

        func build() -> ByteTrie {
            if count == 0 { return ByteTrie() }
            // Breadth-first numbering, children in byte order.
            var order: [Int] = [0]
            var head = 0
            while head < order.count {
                let n = order[head]; head += 1
                for (_, child) in children[n].sorted(by: { $0.key < $1.key }) { order.append(child) }
            }
            var number = [Int](repeating: 0, count: children.count)
            for (k, n) in order.enumerated() { number[n] = k }
            var childStart = [Int32](repeating: 0, count: order.count)
            var childCount = [UInt16](repeating: 0, count: order.count)
            var labels = [UInt8](repeating: 0, count: order.count)
            var es: [Int32] = [], ec: [Int32] = [], ps: [Int32] = [], pc: [Int32] = [], items: [Int32] = []
            var ex: [Int32] = [], px: [Int32] = []
            for (k, n) in order.enumerated() {
                let edges = children[n].sorted(by: { $0.key < $1.key })
                childStart[k] = Int32(edges.first.map { number[$0.value] } ?? 0)
                childCount[k] = UInt16(edges.count)
                for (b, child) in edges { labels[number[child]] = b }
                ex.append(exact[n]); px.append(prefix[n])
                es.append(Int32(items.count)); ec.append(Int32(exactGates[n].count)); items += exactGates[n]
                ps.append(Int32(items.count)); pc.append(Int32(prefixGates[n].count)); items += prefixGates[n]
            }
            return ByteTrie(childStart: childStart, childCount: childCount, labels: labels,
                            exactMin: ex, prefixMin: px, exactGateStart: es, exactGateCount: ec,
                            prefixGateStart: ps, prefixGateCount: pc, gateItems: items)
        }
    }

    /// The child of `node` on byte `b`, or -1: a short scan for small fan-out,
    /// binary search for the wide nodes under common directory prefixes.
    @inline(__always)
    private static func child(_ node: Node, _ b: UInt8, _ labels: UnsafeBufferPointer<UInt8>) -> Int {
        var lo = Int(node.childStart)
        var hi = lo + Int(node.childCount)
        if hi - lo <= 8 {
            while lo < hi {
                let e = labels[lo]
                if e == b { return lo }
                if e > b { return -1 }
                lo += 1
            }
            return -1
        }
        while lo < hi {
            let mid = (lo + hi) >> 1
            let e = labels[mid]
            if e == b { return mid }
            if e < b { lo = mid + 1 } else { hi = mid }
        }
        return -1
    }

    @inline(__always)
    private func mark(_ start: Int32, _ count: Int32, _ gates: UnsafeMutablePointer<UInt64>) {
        var i = Int(start)
        let end = i + Int(count)
        while i < end {
            let item = Int(gateItems[i])
            gates[item >> 6] |= 1 << UInt64(item & 63)
            i += 1
        }
    }

    /// Lowest filter number matching `v` read front to back (or back to
    /// front): prefixes of it and patterns equal to it; below `bound` only.
    /// Marks in `gates` every gate item whose pattern matches.
    func first(in v: UnsafeBufferPointer<UInt8>, reversed: Bool, bound: Int32, gates: UnsafeMutablePointer<UInt64>) -> Int32 {
        if nodes.isEmpty { return bound }
        let labels = self.labels
        var node = nodes[0]
        var index = 0
        var best = min(bound, node.prefixMin)
        if node.gateFlags & 1 != 0 { mark(prefixGateStart[0], prefixGateCount[0], gates) }
        let n = v.count
        var i = 0
        while i < n {
            if node.runLength != 0 {
                // A chain of silent nodes: the value must carry all of its
                // bytes; ending or differing inside it finds nothing more
                // (its nodes decide nothing).
                let k = Int(node.runLength)
                if n - i < k { return best }
                let run = runBytes.baseAddress! + Int(runStart[index])
                var t = 0
                if reversed {
                    while t < k && v[n - 1 - i - t] == run[t] { t += 1 }
                } else {
                    while t < k && v[i + t] == run[t] { t += 1 }
                }
                if t < k { return best }
                i += k
                index = Int(runEnd[index])
                node = nodes[index]
                if node.prefixMin < best { best = node.prefixMin }
                if node.gateFlags & 1 != 0 { mark(prefixGateStart[index], prefixGateCount[index], gates) }
                continue
            }
            let b = reversed ? v[n - 1 - i] : v[i]
            let next = ByteTrie.child(node, b, labels)
            if next < 0 { return best }
            index = next
            node = nodes[next]
            if node.prefixMin < best { best = node.prefixMin }
            if node.gateFlags & 1 != 0 { mark(prefixGateStart[next], prefixGateCount[next], gates) }
            i += 1
        }
        if node.gateFlags & 2 != 0 { mark(exactGateStart[index], exactGateCount[index], gates) }
        return node.exactMin < best ? node.exactMin : best
    }
}
