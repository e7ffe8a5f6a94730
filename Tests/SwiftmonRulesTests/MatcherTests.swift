import XCTest
import SwiftmonTestSupport
@testable import SwiftmonRules

/// The matchers under the rule engines (SubstringAutomaton, ByteTrie) against
/// naive matchers on random patterns and values (fixed seed): the same
/// matches, whatever the table layout and scan loop.
final class MatcherTests: XCTestCase {
    /// A fixed, portable sequence (SplitMix64), with the helpers below.
    typealias Random = SplitMix64

    static let alphabet: [UInt8] = Array("ab/.\\".utf8) + [0xFE, 0xFF]

    static func occurs(_ p: [UInt8], in v: [UInt8]) -> Bool {
        if p.isEmpty { return !v.isEmpty }
        if p.count > v.count { return false }
        for i in 0...(v.count - p.count) where Array(v[i..<(i + p.count)]) == p { return true }
        return false
    }

    static func foundIDs(_ words: [UInt64]) -> Set<Int32> {
        var ids = Set<Int32>()
        for (w, word) in words.enumerated() {
            for bit in 0..<64 where word & (1 << UInt64(bit)) != 0 { ids.insert(Int32(w * 64 + bit)) }
        }
        return ids
    }

    func testSubstringAutomatonFindsWhatANaiveSearchFinds() {
        var random = Random(state: 20261203)
        for round in 0..<300 {
            let count = 1 + random.below(round % 10 == 0 ? 200 : 12)
            var patterns: [(bytes: [UInt8], id: Int32)] = []
            for id in 0..<count { patterns.append((bytes: random.bytes(maxLength: 6, alphabet: Self.alphabet), id: Int32(id))) }
            let automaton = SubstringAutomaton(patterns: patterns)
            let otherPatterns = (0..<(1 + random.below(20))).map { (bytes: random.bytes(maxLength: 4, alphabet: Self.alphabet), id: Int32(count + $0)) }
            let other = SubstringAutomaton(patterns: otherPatterns)
            let words = (count + otherPatterns.count + 63) / 64
            for _ in 0..<20 {
                let v = random.bytes(maxLength: 40, alphabet: Self.alphabet)
                let w = random.bytes(maxLength: 40, alphabet: Self.alphabet)
                let expected = Set(patterns.filter { Self.occurs($0.bytes, in: v) }.map(\.id))
                let otherExpected = Set(otherPatterns.filter { Self.occurs($0.bytes, in: w) }.map(\.id))

                var single = [UInt64](repeating: 0, count: words)
                v.withUnsafeBufferPointer { b in single.withUnsafeMutableBufferPointer { automaton.scan(b, into: $0.baseAddress!) } }
                XCTAssertEqual(Self.foundIDs(single), expected, "round \(round): \(patterns.map(\.bytes)) in \(v)")

                // Paired scans, each side into its own bitmap and both into one.
                var first = [UInt64](repeating: 0, count: words), second = [UInt64](repeating: 0, count: words)
                var shared = [UInt64](repeating: 0, count: words)
                v.withUnsafeBufferPointer { bv in
                    w.withUnsafeBufferPointer { bw in
                        first.withUnsafeMutableBufferPointer { f in
                            second.withUnsafeMutableBufferPointer { s in
                                automaton.scan(bv, into: f.baseAddress!, pairedWith: other, bw, into: s.baseAddress!)
                            }
                        }
                        shared.withUnsafeMutableBufferPointer { s in
                            other.scan(bw, into: s.baseAddress!, pairedWith: automaton, bv, into: s.baseAddress!)
                        }
                    }
                }
                XCTAssertEqual(Self.foundIDs(first), expected, "round \(round): paired, first side")
                XCTAssertEqual(Self.foundIDs(second), otherExpected, "round \(round): paired, second side")
                XCTAssertEqual(Self.foundIDs(shared), expected.union(otherExpected), "round \(round): paired into one bitmap")
            }
        }
    }

    /// The multi-field scan (four lanes, jobs moved between lanes as they
    /// end) sets exactly the bits of one naive search per (automaton, value).
    func testMultiFieldScanFindsWhatANaiveSearchFinds() {
        var random = Random(state: 20261204)
        for round in 0..<300 {
            // 1–7 automata with disjoint pattern ids, some sharing a value length.
            var automata: [SubstringAutomaton] = []
            var patternSets: [[(bytes: [UInt8], id: Int32)]] = []
            var nextID: Int32 = 0
            for _ in 0..<(1 + random.below(7)) {
                let count = 1 + random.below(round % 10 == 0 ? 150 : 10)
                let ps = (0..<count).map { k in (bytes: random.bytes(maxLength: 5, alphabet: Self.alphabet), id: nextID + Int32(k)) }
                nextID += Int32(count)
                patternSets.append(ps)
                automata.append(SubstringAutomaton(patterns: ps))
            }
            let words = (Int(nextID) + 63) / 64
            for _ in 0..<20 {
                let values = automata.indices.map { _ in random.bytes(maxLength: random.below(4) == 0 ? 90 : 30, alphabet: Self.alphabet) }
                var expected = Set<Int32>()
                for (ps, v) in zip(patternSets, values) {
                    for p in ps where Self.occurs(p.bytes, in: v) { expected.insert(p.id) }
                }
                var found = [UInt64](repeating: 0, count: words)
                let storage = values.map { v -> UnsafeMutableBufferPointer<UInt8> in
                    let b = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(v.count, 1))
                    _ = b.initialize(from: v)
                    return b
                }
                defer { storage.forEach { $0.deallocate() } }
                var jobs = automata.indices.map { i in
                    SubstringAutomaton.Job(automata[i].tables, UnsafeBufferPointer(start: storage[i].baseAddress, count: values[i].count))
                }
                jobs.withUnsafeMutableBufferPointer { j in
                    found.withUnsafeMutableBufferPointer { SubstringAutomaton.scan(j, into: $0.baseAddress!) }
                }
                XCTAssertEqual(Self.foundIDs(found), expected, "round \(round): values \(values.map(\.count))")
                if Self.foundIDs(found) != expected { return }
            }
        }
    }

    /// Folding eight bytes at a time writes what the byte-by-byte fold does,
    /// around every ASCII letter boundary and with non-ASCII anywhere.
    func testFoldingIntoABufferMatchesTheReferenceFold() {
        var random = Random(state: 99)
        let edges: [UInt8] = [0x40, 0x41, 0x42, 0x59, 0x5A, 0x5B, 0x60, 0x61, 0x7A, 0x7B, 0x7F, 0x00, 0x20, 0x2F, 0x5C]
        let others = ["É", "Ä", "ß", "İ", "Σ", "ǅ", "🙂"]
        for round in 0..<2000 {
            var s = ""
            for _ in 0..<random.below(40) {
                switch random.below(20) {
                case 0: s += others[random.below(others.count)]
                case 1...6: s.unicodeScalars.append(Unicode.Scalar(edges[random.below(edges.count)]))
                default: s.unicodeScalars.append(Unicode.Scalar(UInt8(random.below(0x80))))
                }
            }
            let want = CaseFolding.fold(s)
            let got = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: s.utf8.count * 2 + 1) { b in
                Array(b[0..<CaseFolding.write(s, into: b.baseAddress!)])
            }
            XCTAssertEqual(got, want, "round \(round): \(Array(s.utf8))")
            if got != want { return }
        }
    }

    func testByteTrieGivesTheLowestMatchingFilterAndEveryOpenGate() {
        var random = Random(state: 7)
        var skipped = 0
        defer { XCTAssertGreaterThan(skipped, 1000, "the root shortcut must be exercised") }
        for round in 0..<300 {
            var builder = ByteTrie.Builder()
            var exact: [([UInt8], Int32)] = [], prefix: [([UInt8], Int32)] = []
            var exactGates: [([UInt8], Int32)] = [], prefixGates: [([UInt8], Int32)] = []
            let count = 1 + random.below(round % 10 == 0 ? 300 : 15)
            for n in 0..<Int32(count) {
                let p = random.bytes(maxLength: 5, alphabet: Self.alphabet)
                switch random.below(4) {
                case 0: builder.addExact(p, n); exact.append((p, n))
                case 1: builder.addPrefix(p, n); prefix.append((p, n))
                case 2: builder.addExactGate(p, n); exactGates.append((p, n))
                default: builder.addPrefixGate(p, n); prefixGates.append((p, n))
                }
            }
            let trie = builder.build()
            let words = (count + 63) / 64
            for _ in 0..<20 {
                let v = random.bytes(maxLength: 8, alphabet: Self.alphabet)
                let bound = random.below(3) == 0 ? Int32(random.below(count + 1)) : ByteTrie.none
                for reversed in [false, true] {
                    let read = reversed ? Array(v.reversed()) : v
                    var want = bound
                    for (p, n) in exact where p == read { want = min(want, n) }
                    for (p, n) in prefix where read.starts(with: p) { want = min(want, n) }
                    var wantGates = Set<Int32>()
                    for (p, n) in exactGates where p == read { wantGates.insert(n) }
                    for (p, n) in prefixGates where read.starts(with: p) { wantGates.insert(n) }
                    var gates = [UInt64](repeating: 0, count: words)
                    let got = v.withUnsafeBufferPointer { b in
                        gates.withUnsafeMutableBufferPointer { trie.first(in: b, reversed: reversed, bound: bound, gates: $0.baseAddress!) }
                    }
                    XCTAssertEqual(got, want, "round \(round): \(v) reversed \(reversed) bound \(bound)")
                    XCTAssertEqual(Self.foundIDs(gates), wantGates, "round \(round): gates for \(v) reversed \(reversed)")
                    // The evaluator skips the walk when the root rules it out:
                    // only where the walk finds nothing and opens no gate.
                    let may = v.withUnsafeBufferPointer { trie.mayMatch($0, reversed: reversed) }
                    if !may {
                        XCTAssertEqual(want, bound, "round \(round): \(v) reversed \(reversed) skipped but matches")
                        XCTAssertEqual(wantGates, [], "round \(round): \(v) reversed \(reversed) skipped but opens gates")
                    }
                    skipped += may ? 0 : 1
                }
            }
        }
    }

    /// Path-like patterns with long shared stretches (so that the walk
    /// compares runs of silent nodes instead of stepping), some longer than
    /// the longest run, against values cut, extended or changed one byte
    /// anywhere inside such a stretch: the same first filter and gates as a
    /// naive comparison with every pattern.
    func testByteTrieRunsOfSilentNodesAgreeWithANaiveWalk() {
        var random = Random(state: 20261205)
        let pieces: [[UInt8]] = ["c:\\", "windows\\", "system32\\", "program files (x86)\\", "/usr/", "bin/", "lib/x86_64-linux-gnu/",
                                 "cmd.exe", "powershell.exe", "é/", "ß", "a", "b"].map { Array($0.utf8) }
        var runs = 0, longest = 0, endsInsideRun = 0
        for round in 0..<300 {
            var builder = ByteTrie.Builder()
            var patterns: [(bytes: [UInt8], number: Int32, kind: Int)] = []
            let count = 1 + random.below(round % 10 == 0 ? 120 : 12)
            for n in 0..<Int32(count) {
                var p: [UInt8] = []
                for _ in 0..<(1 + random.below(5)) { p += pieces[random.below(pieces.count)] }
                if random.below(20) == 0 { p += [UInt8](repeating: UInt8(ascii: "z"), count: 200 + random.below(200)) + pieces[random.below(pieces.count)] }
                let kind = random.below(4)
                switch kind {
                case 0: builder.addExact(p, n)
                case 1: builder.addPrefix(p, n)
                case 2: builder.addExactGate(p, n)
                default: builder.addPrefixGate(p, n)
                }
                patterns.append((p, n, kind))
            }
            let trie = builder.build()
            let stats = trie.runStatistics
            runs += stats.runs
            let words = (count + 63) / 64
            for _ in 0..<30 {
                var v = patterns[random.below(patterns.count)].bytes
                switch random.below(5) {
                case 0: break
                case 1: v = Array(v.prefix(random.below(v.count + 1)))
                case 2: v += pieces[random.below(pieces.count)]
                case 3: if !v.isEmpty { v[random.below(v.count)] ^= UInt8(1 << random.below(8)) }
                default: v = Array(v.reversed())
                }
                longest = max(longest, v.count)
                let bound = random.below(4) == 0 ? Int32(random.below(count + 1)) : ByteTrie.none
                for reversed in [false, true] {
                    let read = reversed ? Array(v.reversed()) : v
                    var want = bound
                    var wantGates = Set<Int32>()
                    var exactHit = false
                    for p in patterns {
                        switch p.kind {
                        case 0: if p.bytes == read { want = min(want, p.number); exactHit = true }
                        case 1: if read.starts(with: p.bytes) { want = min(want, p.number) }
                        case 2: if p.bytes == read { wantGates.insert(p.number); exactHit = true }
                        default: if read.starts(with: p.bytes) { wantGates.insert(p.number) }
                        }
                    }
                    if !exactHit && patterns.contains(where: { $0.bytes.count > read.count && $0.bytes.starts(with: read) }) { endsInsideRun += 1 }
                    var gates = [UInt64](repeating: 0, count: words)
                    let got = v.withUnsafeBufferPointer { b in
                        gates.withUnsafeMutableBufferPointer { trie.first(in: b, reversed: reversed, bound: bound, gates: $0.baseAddress!) }
                    }
                    XCTAssertEqual(got, want, "round \(round): \(v) reversed \(reversed) bound \(bound)")
                    XCTAssertEqual(Self.foundIDs(gates), wantGates, "round \(round): gates for \(v) reversed \(reversed)")
                    if got != want { return }
                }
            }
        }
        XCTAssertGreaterThan(runs, 1000, "runs of silent nodes must be exercised")
        XCTAssertGreaterThan(longest, ByteTrie.maximumRun, "runs longer than one node's run must be exercised")
        XCTAssertGreaterThan(endsInsideRun, 100, "values ending inside a run must be exercised")
    }
}

private extension SplitMix64 {
    /// Bytes from a small alphabet (so that patterns overlap and share
    /// prefixes and suffixes), with the occasional byte from anywhere.
    mutating func bytes(maxLength: Int, alphabet: [UInt8]) -> [UInt8] {
        (0..<below(maxLength + 1)).map { _ in below(16) == 0 ? UInt8(truncatingIfNeeded: next()) : alphabet[below(alphabet.count)] }
    }
}
