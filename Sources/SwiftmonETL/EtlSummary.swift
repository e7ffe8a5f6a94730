import SwiftmonCore

/// What a file held: every record counted by provider, id, opcode and version,
/// the logfile header, and what was lost — the contract `swiftmon etl
/// --summary --format json` gives to tools.
public struct EtlSummary: Sendable {
    public struct Key: Hashable, Comparable, Sendable {
        public let provider: Guid
        public let id: UInt16
        public let opcode: UInt8
        public let version: UInt16
        public static func < (a: Key, b: Key) -> Bool {
            (a.provider, a.id, a.opcode, a.version) < (b.provider, b.id, b.opcode, b.version)
        }
    }

    public struct Count: Sendable, Equatable {
        public let provider: Guid
        public let id: UInt16
        public let opcode: UInt8
        public let version: UInt16
        public let count: Int
    }

    public var header: EtlLogfileHeader
    /// Every record in the file, the logfile header's own included.
    public var records = 0
    public var buffers = 0
    public var compressedBuffers = 0
    /// Records by header kind.
    public var recordsByKind: [EtlHeaderKind: Int] = [:]
    /// Events produced for the sink, by EventID.
    public var eventsByID: [Int: Int] = [:]
    /// Records merged into another record's event (the second report of one
    /// process start or end): events + merged records = records.
    public var mergedRecords = 0
    public var counted: [Key: Int] = [:]
    public var errors: [EtlError] = []
    public var errorCount = 0

    public init(header: EtlLogfileHeader) { self.header = header }

    public var eventsLost: UInt32 { header.eventsLost }
    public var buffersLost: UInt32 { header.buffersLost }

    /// Counts sorted by provider, id, opcode, version.
    public var counts: [Count] {
        counted.sorted { $0.key < $1.key }.map {
            Count(provider: $0.key.provider, id: $0.key.id, opcode: $0.key.opcode, version: $0.key.version, count: $0.value)
        }
    }

    /// Counts of recent keys, in slots picked by a cheap hash of the key: a
    /// trace has few distinct keys, and hashing every record's key into
    /// ``counted`` (SipHash) was a noticeable share of the decoder's time.
    /// ``finishCounting()`` folds them into ``counted``.
    private var recent = [RecentCount?](repeating: nil, count: EtlSummary.recentSlots)
    private static let recentSlots = 64
    private struct RecentCount {
        let key: Key
        var count: Int
    }

    @inline(__always)
    mutating func count(_ r: EtlRecord) {
        records += 1
        let key = Key(provider: r.provider, id: r.id, opcode: r.opcode, version: r.version)
        var h = r.provider.high ^ (r.provider.low &* 0x0000_0100_0000_01B3)
        h ^= UInt64(r.id) << 20 ^ UInt64(r.opcode) << 40 ^ UInt64(r.version) << 48
        let slot = Int(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> 58)  // 0 ..< 64
        if let held = recent[slot] {
            if held.key == key {
                recent[slot]!.count += 1
                return
            }
            counted[held.key, default: 0] += held.count
        }
        recent[slot] = RecentCount(key: key, count: 1)
    }

    /// Folds the recent counts into ``counted``; call after the last ``count(_:)``.
    mutating func finishCounting() {
        for i in recent.indices {
            if let held = recent[i] { counted[held.key, default: 0] += held.count }
            recent[i] = nil
        }
    }

    static func isoTime(filetime: Int64) -> String {
        filetime == 0 ? "" : EventTime(nanosecondsSinceEpoch: EtlClock.nanoseconds(filetime: filetime)).iso8601Nanoseconds
    }

    /// One JSON object (the issue's `--summary --format json` contract).
    public var json: String {
        var o = JSONObjectWriter()
        o.int("records", records)
        o.int("eventsLost", Int(header.eventsLost))
        o.int("buffersLost", Int(header.buffersLost))
        o.int("buffers", buffers)
        o.int("compressedBuffers", compressedBuffers)
        o.string("osVersion", header.osVersion)
        o.int("osBuild", Int(header.buildNumber))
        o.int("pointerSize", Int(header.pointerSize))
        o.int("numberOfProcessors", Int(header.numberOfProcessors))
        o.int("bufferSize", Int(header.bufferSize))
        o.int("buffersWritten", Int(header.buffersWritten))
        o.string("logFileMode", "0x" + String(header.logFileMode, radix: 16))
        o.string("clockType", header.clockName)
        o.int("perfFrequency", Int(header.perfFrequency))
        o.int("cpuSpeedMHz", Int(header.cpuSpeedMHz))
        o.int("timerResolution", Int(header.timerResolution))
        o.string("startTime", EtlSummary.isoTime(filetime: header.startTime))
        o.string("endTime", EtlSummary.isoTime(filetime: header.endTime))
        o.string("bootTime", EtlSummary.isoTime(filetime: header.bootTime))
        o.int("timeZoneBiasMinutes", Int(header.timeZoneBias))
        o.string("loggerName", header.loggerName)
        o.string("logFileName", header.logFileName)
        o.int("errors", errorCount)
        var list = "["
        for (i, c) in counts.enumerated() {
            if i > 0 { list += "," }
            list += "{\"provider\":\"\(c.provider)\",\"id\":\(c.id),\"opcode\":\(c.opcode),\"version\":\(c.version),\"count\":\(c.count)}"
        }
        list += "]"
        o.raw("counts", list)
        return o.finish()
    }

    /// A readable table: the header facts, then one line per count.
    public var table: String {
        var out = ""
        func line(_ k: String, _ v: String) { out += padRight(k, 22) + v + "\n" }
        line("Records", "\(records)")
        line("Events lost", "\(header.eventsLost)")
        line("Buffers lost", "\(header.buffersLost)")
        line("Buffers", "\(buffers) (\(compressedBuffers) compressed, \(header.bufferSize)-byte)")
        line("OS version", header.osVersion)
        line("Pointer size", "\(header.pointerSize)")
        line("Processors", "\(header.numberOfProcessors)")
        line("Clock", "\(header.clockName), \(header.perfFrequency) Hz, CPU \(header.cpuSpeedMHz) MHz")
        line("Start time", EtlSummary.isoTime(filetime: header.startTime))
        line("End time", EtlSummary.isoTime(filetime: header.endTime))
        line("Logger", header.loggerName)
        line("Log file", header.logFileName)
        if errorCount > 0 { line("Errors", "\(errorCount)") }
        out += "\n"
        let name = padRight("PROVIDER", 46)
        out += name + "      ID  OPCODE  VERSION     COUNT\n"
        for c in counts {
            let label = (KernelGroup.name(of: c.provider).map { "\(c.provider) \($0)" } ?? c.provider.description)
            out += padRight(label, 46)
                + pad(c.id, 8) + pad(c.opcode, 8) + pad(c.version, 9) + pad(c.count, 10) + "\n"
        }
        return out
    }

    private func padRight(_ s: String, _ width: Int) -> String {
        s + String(repeating: " ", count: max(1, width - s.count))
    }

    private func pad(_ v: some BinaryInteger, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }
}

/// Writes one flat JSON object with escaped strings.
struct JSONObjectWriter {
    private var text = "{"
    private var first = true

    private mutating func key(_ k: String) {
        if !first { text += "," }
        first = false
        text += JSONString.quoted(k) + ":"
    }
    mutating func int(_ k: String, _ v: Int) { key(k); text += String(v) }
    mutating func string(_ k: String, _ v: String) { key(k); text += JSONString.quoted(v) }
    mutating func raw(_ k: String, _ v: String) { key(k); text += v }
    func finish() -> String { text + "}" }
}
