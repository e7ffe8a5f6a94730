import SwiftmonCore

/// What an .evtx file held: records by provider and EventID, what could not be
/// read (with byte offsets), the header's facts — the contract of
/// `swiftmon evtx --summary --format json`.
public struct EvtxSummary: Sendable {
    public struct Key: Hashable, Comparable, Sendable {
        /// `Provider/@Name`; empty when a record has none.
        public let provider: String
        public let id: UInt32
        public static func < (a: Key, b: Key) -> Bool { (a.provider, a.id) < (b.provider, b.id) }
    }

    public let header: EvtxFileHeader
    public let physicalChunks: Int
    public var totals = EvtxReader.Totals()
    public var counted: [Key: Int] = [:]
    /// Events produced for the sink, by EventID.
    public var eventsByID: [Int: Int] = [:]

    public init(header: EvtxFileHeader, physicalChunks: Int) {
        self.header = header
        self.physicalChunks = physicalChunks
    }

    public var records: Int { totals.records }
    public var recordsFailed: Int { totals.recordsFailed }
    public var problems: [EvtxProblem] { totals.problems }

    /// Records counted but not yet in `counted`, per key met lately: a
    /// direct-mapped table by EventID. A log interleaves a few dozen keys
    /// (Security: 4624, 4672, 4907 … record after record), so a key is hashed
    /// into `counted` only when another key takes its slot, and at the end
    /// (``finishCounting()``) — not per change of key (Security profile: 2 %
    /// in hashing the provider's name).
    private var recent = [Recent](repeating: Recent(key: Key(provider: "", id: 0), count: 0), count: 64)
    private struct Recent: Sendable {
        var key: Key
        /// 0: the slot is free.
        var count: Int
    }

    @inline(__always)
    mutating func count(_ r: EvtxRecord) {
        let id = r.eventID ?? 0
        let slot = Int(id & 63)
        if recent[slot].count > 0, recent[slot].key.id == id, recent[slot].key.provider == (r.providerName ?? "") {
            recent[slot].count += 1
        } else {
            if recent[slot].count > 0 { counted[recent[slot].key, default: 0] += recent[slot].count }
            recent[slot] = Recent(key: Key(provider: r.providerName ?? "", id: id), count: 1)
        }
    }

    /// Adds the records of `recent` to `counted`.
    mutating func finishCounting() {
        for slot in recent.indices where recent[slot].count > 0 {
            counted[recent[slot].key, default: 0] += recent[slot].count
            recent[slot].count = 0
        }
    }

    public var counts: [(provider: String, id: UInt32, count: Int)] {
        counted.sorted { $0.key < $1.key }.map { ($0.key.provider, $0.key.id, $0.value) }
    }

    /// One JSON object: `records`, `recordsFailed`, `counts` first, then the
    /// chunk and header facts and every problem with its byte offset.
    public var json: String {
        var s = "{\"records\":\(records),\"recordsFailed\":\(recordsFailed),\"counts\":["
        for (i, c) in counts.enumerated() {
            if i > 0 { s += "," }
            s += "{\"provider\":\(JSONString.quoted(c.provider)),\"id\":\(c.id),\"count\":\(c.count)}"
        }
        s += "],\"chunks\":\(physicalChunks),\"chunksUsed\":\(totals.chunksUsed),\"chunksUnused\":\(totals.chunksUnused)"
        s += ",\"chunksDamaged\":\(totals.chunksDamaged),\"chunksTruncated\":\(totals.chunksTruncated)"
        s += ",\"declaredChunks\":\(header.chunkCount),\"dirty\":\(header.isDirty),\"nextRecordId\":\(header.nextRecordID)"
        s += ",\"version\":\"\(header.majorVersion).\(header.minorVersion)\""
        s += ",\"checksumErrors\":\(problems.filter { $0.kind == .fileHeaderChecksum || $0.kind == .chunkHeaderChecksum || $0.kind == .chunkRecordsChecksum }.count)"
        s += ",\"problems\":["
        for (i, p) in problems.enumerated() {
            if i > 0 { s += "," }
            s += "{\"offset\":\(p.offset),\"kind\":\"\(p.kind.rawValue)\",\"message\":\(JSONString.quoted(p.message))}"
        }
        return s + "]}"
    }

    /// A readable table.
    public var table: String {
        var out = ""
        func line(_ k: String, _ v: String) { out += k.padding(22) + v + "\n" }
        line("Records", "\(records)")
        line("Records failed", "\(recordsFailed)")
        line("Chunks", "\(physicalChunks) in the file, \(header.chunkCount) declared, \(totals.chunksUsed) used, \(totals.chunksUnused) unused, \(totals.chunksDamaged) damaged, \(totals.chunksTruncated) truncated")
        line("Version", "\(header.majorVersion).\(header.minorVersion)")
        line("Dirty", header.isDirty ? "yes" : "no")
        line("Next record id", "\(header.nextRecordID)")
        out += "\n" + "PROVIDER".padding(56) + "    ID     COUNT\n"
        for c in counts {
            out += (c.provider.isEmpty ? "-" : c.provider).padding(56) + String(c.id).leftPadding(6) + String(c.count).leftPadding(10) + "\n"
        }
        if !problems.isEmpty {
            out += "\nPROBLEMS\n"
            for p in problems { out += "\(p)\n" }
        }
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: Swift.max(1, width - count)) }
    func leftPadding(_ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - count)) + self }
}
