/// Aho–Corasick over lower-cased bytes: one pass over a value finds every
/// substring pattern of every `contains`-family filter on that field, so
/// hundreds of such filters cost one scan instead of one scan each.
package final class SubstringAutomaton: Sendable {
    /// Byte → input class; bytes no pattern uses share class 0.
    private let classOf: [UInt8]
    private let classCount: Int
    /// (state × classCount + class) → next state × classCount, with the sign
    /// bit set when the next state reports patterns: one load per byte.
    private let delta: [Int32]
    private let outStart: [Int32]
    private let outCount: [Int32]
    private let outIDs: [Int32]
    /// Ids of empty patterns: "found" in every non-empty value (Sysmon's FindSubString).
    private let emptyIDs: [Int32]
    package let patternCount: Int
    package var stateCount: Int { outStart.count }
    package var inputClassCount: Int { classCount }
    package var tableBytes: Int { delta.count * MemoryLayout<Int32>.size }

    package init(patterns: [(bytes: [UInt8], id: Int32)]) {
        var classes = [UInt8](repeating: 0, count: 256)
        var next = 1
        for p in patterns { for b in p.bytes where classes[Int(b)] == 0 { classes[Int(b)] = UInt8(next); next += 1 } }
        classOf = classes
        classCount = next
        patternCount = patterns.count
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
        var d = [Int32](repeating: 0, count: states * next)
        var fail = [Int32](repeating: 0, count: states)
        var outs = own
        var queue: [Int] = []
        for c in 0..<next {
            let child = children[0][c]
            if child >= 0 { d[c] = child; fail[Int(child)] = 0; queue.append(Int(child)) } else { d[c] = 0 }
        }
        var head = 0
        while head < queue.count {
            let s = queue[head]; head += 1
            outs[s] += outs[Int(fail[s])]
            for c in 0..<next {
                let child = children[s][c]
                if child >= 0 {
                    fail[Int(child)] = d[Int(fail[s]) * next + c]
                    d[s * next + c] = child
                    queue.append(Int(child))
                } else {
                    d[s * next + c] = d[Int(fail[s]) * next + c]
                }
            }
        }
        for i in d.indices {
            let target = Int(d[i])
            d[i] = Int32(target * next) | (outs[target].isEmpty ? 0 : Int32.min)
        }
        delta = d
        var start: [Int32] = [], count: [Int32] = [], ids: [Int32] = []
        for o in outs {
            start.append(Int32(ids.count)); count.append(Int32(o.count)); ids += o
        }
        outStart = start; outCount = count; outIDs = ids
    }

    /// Sets the bit of every pattern found in `v`.
    package func scan(_ v: UnsafeBufferPointer<UInt8>, into found: UnsafeMutablePointer<UInt64>) {
        if !v.isEmpty { for id in emptyIDs { found[Int(id) >> 6] |= 1 << UInt64(id & 63) } }
        let k = classCount
        classOf.withUnsafeBufferPointer { cls in
        delta.withUnsafeBufferPointer { d in
        outStart.withUnsafeBufferPointer { os in
        outCount.withUnsafeBufferPointer { oc in
        outIDs.withUnsafeBufferPointer { ids in
            var row = 0
            for b in v {
                let e = d[row + Int(cls[Int(b)])]
                row = Int(e & Int32.max)
                if e < 0 {
                    let state = row / k
                    let start = Int(os[state])
                    for i in start..<(start + Int(oc[state])) {
                        let id = ids[i]
                        found[Int(id) >> 6] |= 1 << UInt64(id & 63)
                    }
                }
            }
        }}}}}
    }
}
