/// Aho–Corasick over lower-cased bytes: one pass over a value finds every
/// substring pattern of every `contains`-family filter on that field, so
/// hundreds of such filters cost one scan instead of one scan each.
///
/// This is the rule engines' hot path, and it needs bytes: the tables live in
/// one contiguous allocation read through raw pointers (no bounds checks, no
/// reference counting, no closures per scan), and the scan loop is one table
/// load per input byte. That load's latency is the whole cost (each byte's
/// load needs the previous one's result), so ``scan(_:into:pairedWith:_:)``
/// walks two values through their automata in one loop: two independent
/// chains the processor overlaps.
package final class SubstringAutomaton: @unchecked Sendable {  // the memory is written in init, only read after, freed in deinit
    /// Byte → input class; bytes no pattern uses share class 0.
    private let classOf: UnsafeMutablePointer<UInt8>
    private let classCount: Int
    /// (state × classCount + class) → next state × classCount, with the sign
    /// bit set when the next state reports patterns: one load per byte.
    /// States are numbered breadth-first, so the shallow states a scan spends
    /// most of its bytes in sit together.
    private let delta: UnsafeMutablePointer<Int32>
    private let deltaCount: Int
    /// Per state: its reported patterns are `outIDs[outStart[s] ..< outStart[s + 1]]`.
    private let outStart: UnsafeMutablePointer<Int32>
    private let outIDs: UnsafeMutablePointer<Int32>
    /// Ids of empty patterns: "found" in every non-empty value (Sysmon's FindSubString).
    private let emptyIDs: [Int32]
    package let patternCount: Int
    package let stateCount: Int
    package var inputClassCount: Int { classCount }
    package var tableBytes: Int { deltaCount * MemoryLayout<Int32>.size }

    package init(patterns: [(bytes: [UInt8], id: Int32)]) {
        var classes = [UInt8](repeating: 0, count: 256)
        var next = 1
        for p in patterns { for b in p.bytes where classes[Int(b)] == 0 { classes[Int(b)] = UInt8(next); next += 1 } }
        classCount = next
        patternCount = patterns.count
        // The trie, in insertion order.
        var children: [[Int32]] = [Array(repeating: -1, count: next)]
        var own: [[Int32]] = [[]]
        var empty: [Int32] = []
        for p in patterns {
            if p.bytes.isEmpty { empty.append(p.id); continue }
            var s = 0
            for b in p.bytes {
                let c = Int(classes[Int(b)])
                if children[s][c] < 0 {
                    children.append(Array(repeating: -1, count: next))
                    own.append([])
                    children[s][c] = Int32(children.count - 1)
                }
                s = Int(children[s][c])
            }
            own[s].append(p.id)
        }
        emptyIDs = empty
        let states = children.count
        stateCount = states
        // Breadth-first order: `order[k]` is the k-th state visited; failure
        // links and transitions computed in that order (a state's failure
        // target is shallower, so already complete).
        var order: [Int] = [0]
        var head = 0
        while head < order.count {
            let s = order[head]; head += 1
            for c in 0..<next where children[s][c] >= 0 { order.append(Int(children[s][c])) }
        }
        var number = [Int](repeating: 0, count: states)
        for (k, s) in order.enumerated() { number[s] = k }
        var d = [Int32](repeating: 0, count: states * next)  // by old state number
        var fail = [Int32](repeating: 0, count: states)
        var outs = own
        for s in order {
            if s != 0 { outs[s] += outs[Int(fail[s])] }
            for c in 0..<next {
                let child = children[s][c]
                if child >= 0 {
                    if s != 0 { fail[Int(child)] = d[Int(fail[s]) * next + c] }
                    d[s * next + c] = child
                } else {
                    d[s * next + c] = s == 0 ? 0 : d[Int(fail[s]) * next + c]
                }
            }
        }
        deltaCount = states * next
        delta = .allocate(capacity: max(deltaCount, 1))
        for s in 0..<states {
            for c in 0..<next {
                let target = Int(d[s * next + c])
                delta[number[s] * next + c] = Int32(number[target] * next) | (outs[target].isEmpty ? 0 : Int32.min)
            }
        }
        outStart = .allocate(capacity: states + 1)
        var ids: [Int32] = []
        for k in 0..<states {
            outStart[k] = Int32(ids.count)
            ids += outs[order[k]]
        }
        outStart[states] = Int32(ids.count)
        outIDs = .allocate(capacity: max(ids.count, 1))
        for (i, id) in ids.enumerated() { outIDs[i] = id }
        classOf = .allocate(capacity: 256)
        for i in 0..<256 { classOf[i] = classes[i] }
    }

    deinit {
        classOf.deallocate(); delta.deallocate(); outStart.deallocate(); outIDs.deallocate()
    }

    @inline(__always)
    private func report(_ entry: Int32, into found: UnsafeMutablePointer<UInt64>) {
        let state = Int(entry & Int32.max) / classCount
        var i = Int(outStart[state])
        let end = Int(outStart[state + 1])
        while i < end {
            let id = outIDs[i]
            found[Int(id) >> 6] |= 1 << UInt64(id & 63)
            i += 1
        }
    }

    /// Sets the bit of every pattern found in `v`.
    package func scan(_ v: UnsafeBufferPointer<UInt8>, into found: UnsafeMutablePointer<UInt64>) {
        guard let base = v.baseAddress, v.count > 0 else { return }
        for id in emptyIDs { found[Int(id) >> 6] |= 1 << UInt64(id & 63) }
        scanTail(base, 0, v.count, row: 0, into: found)
    }

    /// The scan from byte `i` of `bytes` on, starting in table row `row`.
    @inline(__always)
    private func scanTail(_ bytes: UnsafePointer<UInt8>, _ from: Int, _ n: Int, row start: Int, into found: UnsafeMutablePointer<UInt64>) {
        let cls = classOf, d = delta
        var row = start
        var i = from
        while i < n {
            let e = d[row &+ Int(cls[Int(bytes[i])])]
            row = Int(e & Int32.max)
            if e < 0 { report(e, into: found) }
            i &+= 1
        }
    }

    /// `scan(v, into: found)` and `other.scan(w, into: otherFound)` in one
    /// loop, so the two chains of dependent table loads overlap.
    package func scan(_ v: UnsafeBufferPointer<UInt8>, into found: UnsafeMutablePointer<UInt64>,
                      pairedWith other: SubstringAutomaton, _ w: UnsafeBufferPointer<UInt8>, into otherFound: UnsafeMutablePointer<UInt64>) {
        guard let a = v.baseAddress, v.count > 0 else { other.scan(w, into: otherFound); return }
        guard let b = w.baseAddress, w.count > 0 else { scan(v, into: found); return }
        for id in emptyIDs { found[Int(id) >> 6] |= 1 << UInt64(id & 63) }
        for id in other.emptyIDs { otherFound[Int(id) >> 6] |= 1 << UInt64(id & 63) }
        let clsA = classOf, dA = delta, clsB = other.classOf, dB = other.delta
        let common = min(v.count, w.count)
        var rowA = 0, rowB = 0
        var i = 0
        while i < common {
            let ea = dA[rowA &+ Int(clsA[Int(a[i])])]
            let eb = dB[rowB &+ Int(clsB[Int(b[i])])]
            rowA = Int(ea & Int32.max)
            rowB = Int(eb & Int32.max)
            if (ea | eb) < 0 {
                if ea < 0 { report(ea, into: found) }
                if eb < 0 { other.report(eb, into: otherFound) }
            }
            i &+= 1
        }
        if v.count > common { scanTail(a, common, v.count, row: rowA, into: found) }
        if w.count > common { other.scanTail(b, common, w.count, row: rowB, into: otherFound) }
    }
}
