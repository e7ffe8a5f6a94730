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
    }

    /// Every job's value scanned by its automaton, each found pattern's bit
    /// set in `found`: the same bits as one ``scan(_:into:)`` per job.
    ///
    /// The jobs are spread over four lanes (longest first, each to the least
    /// loaded lane) walked in one loop: the scan's cost is the latency of one
    /// dependent table load per byte, and four independent chains overlap, so
    /// an event's fields cost about as much as its longest one alone. `jobs`
    /// is reordered.
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
        // Longest first (insertion sort: a handful of fields).
        if count > 1 {
            for j in 1..<count {
                let job = jobs[j]
                var k = j
                while k > 0 && jobs[k - 1].bytes.count < job.bytes.count { jobs[k] = jobs[k - 1]; k -= 1 }
                jobs[k] = job
            }
        }
        if count == 1 {
            let t = jobs[0].tables, v = jobs[0].bytes
            var row = 0
            for i in 0..<v.count {
                let e = t.delta[row &+ Int(t.classOf[Int(v[i])])]
                row = Int(e & Int32.max)
                if e < 0 { t.report(e, into: found) }
            }
            return
        }
        // Lane of each job; a lane runs its jobs in order.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { laneOf in
            var load = (0, 0, 0, 0)
            for j in 0..<count {
                var lane = 0
                var least = load.0
                if load.1 < least { lane = 1; least = load.1 }
                if load.2 < least { lane = 2; least = load.2 }
                if load.3 < least { lane = 3; least = load.3 }
                laneOf[j] = lane
                switch lane {
                case 0: load.0 += jobs[j].bytes.count
                case 1: load.1 += jobs[j].bytes.count
                case 2: load.2 += jobs[j].bytes.count
                default: load.3 += jobs[j].bytes.count
                }
            }
            let idle = Tables.idle
            let zero = idle.classOf  // a zero byte
            // Per lane: next job index to look at, tables, position, bytes left, row, stride.
            var next = (0, 0, 0, 0)
            var t0 = idle, t1 = idle, t2 = idle, t3 = idle
            var p0 = zero, p1 = zero, p2 = zero, p3 = zero
            var left0 = 0, left1 = 0, left2 = 0, left3 = 0
            var r0 = 0, r1 = 0, r2 = 0, r3 = 0
            var s0 = 0, s1 = 0, s2 = 0, s3 = 0
            /// The lane's next job, or nil.
            func take(_ lane: Int, _ from: inout Int) -> Job? {
                while from < count {
                    let j = from
                    from += 1
                    if laneOf[j] == lane { return jobs[j] }
                }
                return nil
            }
            while true {
                if left0 == 0 {
                    if let job = take(0, &next.0) { t0 = job.tables; p0 = job.bytes.baseAddress!; left0 = job.bytes.count; r0 = 0; s0 = 1 }
                    else { t0 = idle; p0 = zero; s0 = 0; r0 = 0 }
                }
                if left1 == 0 {
                    if let job = take(1, &next.1) { t1 = job.tables; p1 = job.bytes.baseAddress!; left1 = job.bytes.count; r1 = 0; s1 = 1 }
                    else { t1 = idle; p1 = zero; s1 = 0; r1 = 0 }
                }
                if left2 == 0 {
                    if let job = take(2, &next.2) { t2 = job.tables; p2 = job.bytes.baseAddress!; left2 = job.bytes.count; r2 = 0; s2 = 1 }
                    else { t2 = idle; p2 = zero; s2 = 0; r2 = 0 }
                }
                if left3 == 0 {
                    if let job = take(3, &next.3) { t3 = job.tables; p3 = job.bytes.baseAddress!; left3 = job.bytes.count; r3 = 0; s3 = 1 }
                    else { t3 = idle; p3 = zero; s3 = 0; r3 = 0 }
                }
                // Steps until the first active lane runs out.
                var steps = Int.max
                if s0 != 0 { steps = min(steps, left0) }
                if s1 != 0 { steps = min(steps, left1) }
                if s2 != 0 { steps = min(steps, left2) }
                if s3 != 0 { steps = min(steps, left3) }
                if steps == Int.max { return }
                let c0 = t0.classOf, d0 = t0.delta, c1 = t1.classOf, d1 = t1.delta
                let c2 = t2.classOf, d2 = t2.delta, c3 = t3.classOf, d3 = t3.delta
                var n = steps
                while n > 0 {
                    let e0 = d0[r0 &+ Int(c0[Int(p0.pointee)])]
                    let e1 = d1[r1 &+ Int(c1[Int(p1.pointee)])]
                    let e2 = d2[r2 &+ Int(c2[Int(p2.pointee)])]
                    let e3 = d3[r3 &+ Int(c3[Int(p3.pointee)])]
                    r0 = Int(e0 & Int32.max); r1 = Int(e1 & Int32.max)
                    r2 = Int(e2 & Int32.max); r3 = Int(e3 & Int32.max)
                    if (e0 | e1 | e2 | e3) < 0 {
                        if e0 < 0 { t0.report(e0, into: found) }
                        if e1 < 0 { t1.report(e1, into: found) }
                        if e2 < 0 { t2.report(e2, into: found) }
                        if e3 < 0 { t3.report(e3, into: found) }
                    }
                    p0 += s0; p1 += s1; p2 += s2; p3 += s3
                    n &-= 1
                }
                left0 -= steps * s0; left1 -= steps * s1; left2 -= steps * s2; left3 -= steps * s3
            }
        }
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
