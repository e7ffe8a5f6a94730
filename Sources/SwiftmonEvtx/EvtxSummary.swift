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

    /// Records of one key in a row, not yet in `counted` (records of a log come
    /// in runs of one provider and EventID: one hash per run, not per record).
    private var run: (key: Key, count: Int)?

    @inline(__always)
    mutating func count(_ r: EvtxRecord) {
        let key = Key(provider: r.providerName ?? "", id: r.eventID ?? 0)
        if let current = run, current.key.id == key.id, current.key.provider == key.provider {
            run = (current.key, current.count + 1)
        } else {
            finishCounting()
            run = (key, 1)
        }
    }

    /// Adds the current run to `counted`.
    mutating func finishCounting() {
        if let current = run { counted[current.key, default: 0] += current.count }
        run = nil
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
