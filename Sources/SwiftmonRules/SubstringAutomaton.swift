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
    private let emptyIDBuffer: UnsafeMutableBufferPointer<Int32>
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
        emptyIDBuffer = .allocate(capacity: max(empty.count, 1))
        _ = emptyIDBuffer.initialize(from: empty)
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
        classOf.deallocate(); delta.deallocate(); outStart.deallocate(); outIDs.deallocate(); emptyIDBuffer.deallocate()
    }

    /// The tables a scan reads, as a value: a multi-field scan holds several
    /// without a reference count each. Valid while the automaton lives.
    package struct Tables: @unchecked Sendable {  // read-only pointers into the automaton's tables
        fileprivate let classOf: UnsafePointer<UInt8>
        fileprivate let delta: UnsafePointer<Int32>
        fileprivate let classCount: Int
        fileprivate let outStart: UnsafePointer<Int32>
        fileprivate let outIDs: UnsafePointer<Int32>
        fileprivate let emptyIDs: UnsafeBufferPointer<Int32>
        fileprivate let emptyCount: Int

        @inline(__always)
        fileprivate func report(_ entry: Int32, into found: UnsafeMutablePointer<UInt64>) {
            let state = Int(entry & Int32.max) / classCount
            var i = Int(outStart[state])
            let end = Int(outStart[state + 1])
            while i < end {
                let id = outIDs[i]
                found[Int(id) >> 6] |= 1 << UInt64(id & 63)
                i += 1
            }
        }

        /// A one-state automaton that never reports: what an idle lane of
        /// ``SubstringAutomaton/scan(_:into:)`` walks (on one zero byte, in place).
        fileprivate static let idle: Tables = {
            let classes = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
            classes.initialize(repeating: 0, count: 256)
            let delta = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
            delta.initialize(to: 0)
            let out = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
            out.initialize(repeating: 0, count: 2)
            return Tables(classOf: classes, delta: delta, classCount: 1, outStart: out, outIDs: out,
                          emptyIDs: UnsafeBufferPointer(start: out, count: 0), emptyCount: 0)
        }()
    }

    package var tables: Tables {
        Tables(classOf: classOf, delta: delta, classCount: classCount, outStart: outStart, outIDs: outIDs,
               emptyIDs: UnsafeBufferPointer(start: emptyIDBuffer.baseAddress, count: emptyIDs.count), emptyCount: emptyIDs.count)
    }

    /// One value for one automaton, for the multi-field scan.
    package struct Job {
        package var tables: Tables
        package var bytes: UnsafeBufferPointer<UInt8>
        package init(_ tables: Tables, _ bytes: UnsafeBufferPointer<UInt8>) { self.tables = tables; self.bytes = bytes }

        /// Out of line, so that the scan loop keeps only its rows, positions
        /// and table bases in registers (inlined, the report's tables pushed
        /// a row out to the stack, in the chain of dependent loads).
        @inline(never)
        static func report(_ entry: Int32, _ job: UnsafePointer<Job>, into found: UnsafeMutablePointer<UInt64>) {
            job.pointee.tables.report(entry, into: found)
        }
    }

    /// Every job's value scanned by its automaton, each found pattern's bit
    /// set in `found`: the same bits as one ``scan(_:into:)`` per job.
    ///
    /// The jobs are spread over two lanes (longest first, each to the less
    /// loaded lane) walked in one loop: the scan's cost is the latency of one
    /// dependent table load per byte, and two independent chains overlap, so
    /// an event's fields cost about half their total length. (Four lanes
    /// need more registers than x86-64 has: their rows spilled to the stack
    /// and the scan got slower.) `jobs` is reordered.
    package static func scan(_ jobs: UnsafeMutableBufferPointer<Job>, into found: UnsafeMutablePointer<UInt64>) {
        // Drop empty values (nothing found in them, not even empty patterns).
        var count = 0
        for j in jobs.indices where jobs[j].bytes.count > 0 {
            jobs[count] = jobs[j]
            count += 1
        }
        if count == 0 { return }
        for j in 0..<count {
            let t = jobs[j].tables
            var k = 0
            while k < t.emptyCount { let id = t.emptyIDs[k]; found[Int(id) >> 6] |= 1 << UInt64(id & 63); k += 1 }
        }
        // Longest first (insertion sort: a handful of fields), then each job
        // to the less loaded lane: lane A's jobs stay at the front, lane B's
        // are moved behind them.
        if count > 1 {
            for j in 1..<count {
                let job = jobs[j]
                var k = j
                while k > 0 && jobs[k - 1].bytes.count < job.bytes.count { jobs[k] = jobs[k - 1]; k -= 1 }
                jobs[k] = job
            }
        }
        withUnsafeTemporaryAllocation(of: Job.self, capacity: count) { laneB in
            var countA = 0, countB = 0, loadA = 0, loadB = 0
            for j in 0..<count {
                let job = jobs[j]
                if loadA <= loadB {
                    jobs[countA] = job; countA += 1; loadA += job.bytes.count
                } else {
                    laneB.initializeElement(at: countB, to: job); countB += 1; loadB += job.bytes.count
                }
            }
            let laneA = UnsafeMutablePointer<Job>(jobs.baseAddress!), laneBBase = laneB.baseAddress!
            var nextA = 0, nextB = 0
            var ja = UnsafePointer(laneA), jb = UnsafePointer(laneBBase)
            var pa = UnsafePointer<UInt8>(Tables.idle.classOf), pb = pa
            var leftA = 0, leftB = 0
            var rowA = 0, rowB = 0
            while true {
                if leftA == 0 && nextA < countA {
                    ja = UnsafePointer(laneA + nextA); pa = ja.pointee.bytes.baseAddress!; leftA = ja.pointee.bytes.count; rowA = 0; nextA += 1
                }
                if leftB == 0 && nextB < countB {
                    jb = UnsafePointer(laneBBase + nextB); pb = jb.pointee.bytes.baseAddress!; leftB = jb.pointee.bytes.count; rowB = 0; nextB += 1
                }
                if leftA == 0 && leftB == 0 { return }
                if leftA == 0 || leftB == 0 {
                    // One lane left: its job to the end alone.
                    let j = leftA > 0 ? ja : jb
                    var p = leftA > 0 ? pa : pb
                    var n = leftA + leftB
                    let cls = j.pointee.tables.classOf, d = j.pointee.tables.delta
                    var row = leftA > 0 ? rowA : rowB
                    while n > 0 {
                        let e = d[row &+ Int(cls[Int(p.pointee)])]
                        row = Int(e & Int32.max)
                        if e < 0 { Job.report(e, j, into: found) }
                        p += 1
                        n &-= 1
                    }
                    leftA = 0; leftB = 0
                    continue
                }
                let steps = min(leftA, leftB)
                let clsA = ja.pointee.tables.classOf, dA = ja.pointee.tables.delta
                let clsB = jb.pointee.tables.classOf, dB = jb.pointee.tables.delta
                var n = steps
                var a = pa, b = pb
                var ra = rowA, rb = rowB
                while n > 0 {
                    let ea = dA[ra &+ Int(clsA[Int(a.pointee)])]
                    let eb = dB[rb &+ Int(clsB[Int(b.pointee)])]
                    ra = Int(ea & Int32.max)
                    rb = Int(eb & Int32.max)
                    if (ea | eb) < 0 {
                        if ea < 0 { Job.report(ea, ja, into: found) }
                        if eb < 0 { Job.report(eb, jb, into: found) }
                    }
                    a += 1; b += 1
                    n &-= 1
                }
                pa = a; pb = b; rowA = ra; rowB = rb
                leftA -= steps; leftB -= steps
            }
        }
    }

    @inline(__always)
    private func report(_ entry: Int32, into found: UnsafeMutablePointer<UInt64>) {
        tables.report(entry, into: found)
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
