/// Aho–Corasick over lower-cased bytes: one pass over a value finds every
/// substring pattern of every `contains`-family filter on that field, so
/// hundreds of such filters cost one scan instead of one scan each.
///
/// The scan is a chain of dependent table loads, so the table's footprint in
/// the cache is what it costs: transitions are stored class-major
/// (`class × states + state`) as 16-bit state numbers when there are fewer
/// than 32,768 states (32-bit otherwise). The few shallow states most bytes
/// land in then share cache lines across classes, and the next index is the
/// loaded state plus a per-byte offset read off the dependency chain.
package final class SubstringAutomaton: Sendable {
    /// Byte → its class's first index in the table (class × states); bytes no
    /// pattern uses share class 0.
    private let classBase: [Int32]
    private let classCount: Int
    private let states: Int
    /// Next state, with ``reportBit`` set when it reports patterns: one of the
    /// two is empty.
    private let narrow: [UInt16]
    private let wide: [UInt32]
    private let outStart: [Int32]
    private let outCount: [Int32]
    private let outIDs: [Int32]
    /// Ids of empty patterns: "found" in every non-empty value (Sysmon's FindSubString).
    private let emptyIDs: [Int32]
    /// Patterns given to `init`, for figures.
    package let patternCount: Int

    package var stateCount: Int { states }
    package var inputClassCount: Int { classCount }
    /// Bytes of the transition table the scan walks.
    package var tableBytes: Int { narrow.count * 2 + wide.count * 4 }

    static let narrowLimit = 1 << 15

    package init(patterns: [(bytes: [UInt8], id: Int32)]) {
        var classes = [Int](repeating: 0, count: 256)
        var next = 1
        for p in patterns { for b in p.bytes where classes[Int(b)] == 0 { classes[Int(b)] = next; next += 1 } }
        classCount = next
        patternCount = patterns.count
        var children: [[Int32]] = [Array(repeating: -1, count: next)]
        var own: [[Int32]] = [[]]
        var empty: [Int32] = []
        for p in patterns {
            if p.bytes.isEmpty { empty.append(p.id); continue }
            var s = 0
            for b in p.bytes {
                let c = classes[Int(b)]
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
        // Breadth-first numbering, so that shallow (hot) states are the low numbers.
        var order: [Int] = [0]
        var head = 0
        while head < order.count {
            let s = order[head]; head += 1
            for c in 0..<next where children[s][c] >= 0 { order.append(Int(children[s][c])) }
        }
        var renumber = [Int](repeating: 0, count: children.count)
        for (newNumber, old) in order.enumerated() { renumber[old] = newNumber }
        let count = children.count
        states = count
        // Row-major goto/fail construction in the new numbering, then stored class-major.
        var d = [Int32](repeating: 0, count: count * next)
        var fail = [Int32](repeating: 0, count: count)
        var outs = [[Int32]](repeating: [], count: count)
        for old in 0..<count { outs[renumber[old]] = own[old] }
        var queue: [Int] = []
        for c in 0..<next {
            let child = children[0][c]
            if child >= 0 { let n = Int32(renumber[Int(child)]); d[c] = n; fail[Int(n)] = 0; queue.append(Int(child)) } else { d[c] = 0 }
        }
        head = 0
        while head < queue.count {
            let old = queue[head]; head += 1
            let s = renumber[old]
            outs[s] += outs[Int(fail[s])]
            for c in 0..<next {
                let child = children[old][c]
                if child >= 0 {
                    let n = renumber[Int(child)]
                    fail[n] = d[Int(fail[s]) * next + c]
                    d[s * next + c] = Int32(n)
                    queue.append(Int(child))
                } else {
                    d[s * next + c] = d[Int(fail[s]) * next + c]
                }
            }
        }
        let narrowTable = count < Self.narrowLimit
        var n16: [UInt16] = [], n32: [UInt32] = []
        if narrowTable { n16 = [UInt16](repeating: 0, count: count * next) } else { n32 = [UInt32](repeating: 0, count: count * next) }
        for s in 0..<count {
            for c in 0..<next {
                let target = Int(d[s * next + c])
                let reports = !outs[target].isEmpty
                if narrowTable {
                    n16[c * count + s] = UInt16(target) | (reports ? 0x8000 : 0)
                } else {
                    n32[c * count + s] = UInt32(target) | (reports ? 0x8000_0000 : 0)
                }
            }
        }
        narrow = n16
        wide = n32
        classBase = classes.map { Int32($0 * count) }
        var start: [Int32] = [], countOut: [Int32] = [], ids: [Int32] = []
        for o in outs {
            start.append(Int32(ids.count)); countOut.append(Int32(o.count)); ids += o
        }
        outStart = start; outCount = countOut; outIDs = ids
    }

    /// Sets the bit of every pattern found in `v`.
    package func scan(_ v: UnsafeBufferPointer<UInt8>, into found: UnsafeMutablePointer<UInt64>) {
        if !v.isEmpty { for id in emptyIDs { found[Int(id) >> 6] |= 1 << UInt64(id & 63) } }
        if !narrow.isEmpty {
            narrow.withUnsafeBufferPointer { walk(v, $0, reportBit: 0x8000, into: found) }
        } else if !wide.isEmpty {
            wide.withUnsafeBufferPointer { walk(v, $0, reportBit: 0x8000_0000, into: found) }
        }
    }

    @inline(__always)
    private func walk<Entry: FixedWidthInteger & UnsignedInteger>(_ v: UnsafeBufferPointer<UInt8>, _ table: UnsafeBufferPointer<Entry>,
                                                                   reportBit: Entry, into found: UnsafeMutablePointer<UInt64>) {
        classBase.withUnsafeBufferPointer { base in
        outStart.withUnsafeBufferPointer { os in
        outCount.withUnsafeBufferPointer { oc in
        outIDs.withUnsafeBufferPointer { ids in
            var state = 0
            for b in v {
                let e = table[Int(base[Int(b)]) &+ state]
                state = Int(e & ~reportBit)
                if e & reportBit != 0 {
                    let start = Int(os[state])
                    for i in start..<(start + Int(oc[state])) {
                        let id = ids[i]
                        found[Int(id) >> 6] |= 1 << UInt64(id & 63)
                    }
                }
            }
        }}}}
    }
}
