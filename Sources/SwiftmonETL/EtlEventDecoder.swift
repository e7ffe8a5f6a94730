import SwiftmonCore

/// Layer 2: turns records into swiftmon events. Records of providers it knows
/// become Sysmon-shaped events; every other record becomes a
/// ``EventKind/traceEvent`` with its header fields and payload in hex, so
/// nothing is silently dropped.
///
/// A future live Windows source feeds EVENT_RECORDs from ProcessTrace into
/// this type unchanged: it needs nothing file-specific beyond the logfile
/// header's identity facts (boot time, for ProcessGuid).
public final class EtlEventDecoder {
    // Its state is marked `@exclusivity(unchecked)`: every record reads and
    // writes several of these properties, and the run-time check of each
    // access (a thread-local access set) cost as much as the work it
    // guarded (callgrind: about 5 % of a decode). The decoder is used by one
    // thread at a time; no access to one of these properties stays open
    // across a call that reaches the same property (the checks never fired
    // in the tests and the fuzzing that ran with them on), and the one call
    // out, `emit`, is made with none open. A decoder must not be used again
    // from inside `emit`.
    let header: EtlLogfileHeader
    let processes: WindowsProcessTable
    @exclusivity(unchecked) var connections = BoundedSet<NetworkKey>(capacity: 1 << 16)
    @exclusivity(unchecked) var fileNames = BoundedNameMap(capacity: 1 << 17)
    @exclusivity(unchecked) var registryKeys = BoundedNameMap(capacity: 1 << 17)
    /// Thread id → process id, from thread starts and rundowns.
    @exclusivity(unchecked) var threadOwners = BoundedMap<UInt32, UInt32>(capacity: 1 << 18)
    let traceLogging = TraceLoggingDecoder()
    /// Text of provider GUIDs already seen: a trace has few providers and many records.
    @exclusivity(unchecked) private var providerText: [Guid: String] = [:]
    /// NT device paths → drive letters, from the trace's SystemConfig records.
    @exclusivity(unchecked) var paths = WindowsPathMap()
    /// Records come in time order, many to a millisecond: their events share
    /// one `UtcTime` text instead of each formatting (and allocating) its own.
    @exclusivity(unchecked) private var utcTimes = UtcTimeTextCache()
    /// The `Keywords` text of the last TraceEvent: a provider writes the same
    /// keywords record after record, and "0x" + 16 digits is a heap string.
    @exclusivity(unchecked) private var lastKeywords: UInt64 = 0
    @exclusivity(unchecked) private var lastKeywordsText = "0x0"
    /// Keywords texts already made: providers alternate between a few
    /// keywords values (the .NET runtime's events in a PerfView trace).
    @exclusivity(unchecked) private var keywordsText: [UInt64: String] = [:]
    /// The TraceEvent kind and the decimal texts of the header numbers below
    /// 1024 (ids, opcodes, versions, tasks, levels), held by the decoder: a
    /// global or another module's static is reached through a lazy
    /// initialisation check on every use, on every record.
    private let traceKind = EventKind.traceEvent
    private let smallDecimals: [String] = (0..<1024).map { String($0) }
    /// Reused for text built byte by byte (stack traces).
    @exclusivity(unchecked) private var scratch: [UInt8] = []
    /// The last record's provider GUID, process and thread id texts: records
    /// come in runs from one provider and one thread.
    @exclusivity(unchecked) private var lastProvider = Guid.zero
    @exclusivity(unchecked) private var lastProviderText = Guid.zero.braced
    @exclusivity(unchecked) private var lastProcessId: UInt32 = 0
    @exclusivity(unchecked) private var lastProcessIdText = "0"
    @exclusivity(unchecked) private var lastThreadId: UInt32 = 0
    @exclusivity(unchecked) private var lastThreadIdText = "0"

    /// Whether a process start (or end) that both the classic kernel provider
    /// and Microsoft-Windows-Kernel-Process report becomes one event. Set by
    /// ``prepare(_:)`` once it has seen both providers report processes; a
    /// live source that enables both sets it itself.
    @exclusivity(unchecked) public var mergesProcessReports = false
    /// Records whose fields went into another record's event (the second
    /// report of a process start or end): every record is one event or is
    /// counted here.
    @exclusivity(unchecked) public private(set) var mergedRecords = 0
    @exclusivity(unchecked) private var sawClassicProcessReports = false
    @exclusivity(unchecked) private var sawManifestProcessReports = false
    /// Events held back, in order, while the first report of a process start
    /// or end waits for its partner (see ``deliver(_:_:_:)``).
    @exclusivity(unchecked) private var held: [Held] = []
    @exclusivity(unchecked) private var heldStart = 0
    /// Indices in ``held`` of the reports still waiting (few): the per-record
    /// checks look at these, not at every held event.
    @exclusivity(unchecked) private var openHeld: [Int] = []

    /// How long (trace time) a first report waits for its partner. Both are
    /// written in the same kernel path, microseconds apart.
    static let mergeWindowNanoseconds: Int64 = 100_000_000
    /// At most this many events wait; beyond it the oldest report is given up.
    static let maxHeld = 1 << 16

    private enum ProcessReportSource { case classic, manifest }

    private struct Held {
        var event: Event
        /// Still waiting for a partner report.
        var open: Bool
        var source: ProcessReportSource?
        var deadline: Int64
    }

    public init(header: EtlLogfileHeader) {
        self.header = header
        self.processes = WindowsProcessTable(header: header)
    }

    /// A first look at a record before decoding starts (an .etl file is
    /// walked twice): learns the machine facts that the kernel writes only
    /// at the end of a trace (volume names, the Windows directory) and which
    /// providers report processes.
    public func prepare(_ r: EtlRecord) {
        switch r.provider {
        case KernelGroup.systemConfig where r.kind != .event:
            learnSystemConfig(r)
        case KernelGroup.process where r.kind != .event && [1, 2, 39].contains(r.opcode):
            sawClassicProcessReports = true
        case EtlEventDecoder.kernelProcessProvider where r.kind == .event && (r.id == 1 || r.id == 2):
            sawManifestProcessReports = true
        default:
            return
        }
        if sawClassicProcessReports && sawManifestProcessReports { mergesProcessReports = true }
    }

    /// Emits one event per record: the Sysmon-shaped event its provider
    /// decoder makes, else a TraceEvent (TraceLogging records carry their
    /// decoded fields in it) — except the second report of a process start
    /// or end, which is merged into the first's event (``mergedRecords``).
    /// Call ``finish(emit:)`` after the last record.
    public func decode(_ r: EtlRecord, emit: (Event) throws -> Void) throws {
        let specific: Event?
        switch r.kind {
        case .system, .compactSystem, .perfInfo, .classic, .instance:
            specific = decodeKernel(r)
        case .event:
            specific = r.provider == EtlEventDecoder.kernelProcessProvider ? decodeKernelProcessProvider(r) : nil
        case .message, .other:
            specific = nil
        }
        guard let specific else { return try deliver(traceEvent(r), r, emit) }
        try deliver(specific, r, emit)
    }

    /// Emits the events still held back.
    public func finish(emit: (Event) throws -> Void) throws {
        for i in openHeld { held[i].open = false }
        openHeld.removeAll()
        try drain(emit)
    }

    /// Passes `event` on, or holds it: a process start or end reported by
    /// one provider waits (with every event after it, to keep their order)
    /// for the other provider's report of the same process, which is merged
    /// into it instead of becoming a second event.
    private func deliver(_ event: Event, _ r: EtlRecord, _ emit: (Event) throws -> Void) throws {
        // Rundowns (DCStart) have no manifest counterpart: they never wait.
        let kindID = event.kind.id
        let processReport = mergesProcessReports
            && (kindID == EtlEventDecoder.processCreateID || kindID == EtlEventDecoder.processTerminateID)
            && (r.kind == .event || r.opcode != 3)
        // Nothing held (and so nothing waiting): most events go straight on.
        if !processReport && heldStart == held.count { return try emit(event) }
        let now = r.time.nanoseconds
        if let first = openHeld.first, held[first].deadline < now {
            // Deadlines grow with the index: the expired ones lead.
            while let i = openHeld.first, held[i].deadline < now {
                held[i].open = false
                openHeld.removeFirst()
            }
            try drain(emit)
        }
        let source: ProcessReportSource?
        if processReport {
            source = r.kind == .event ? .manifest : .classic
        } else {
            source = nil
        }
        if let source {
            let guid = event["ProcessGuid"]
            for (n, i) in openHeld.enumerated()
            where held[i].source != source && held[i].event.kind == event.kind && held[i].event["ProcessGuid"] == guid {
                held[i].event = mergedProcessReports(held[i].event, held[i].source == .manifest, event)
                held[i].open = false
                openHeld.remove(at: n)
                mergedRecords += 1
                return try drain(emit)
            }
        }
        if source == nil && heldStart == held.count { return try emit(event) }
        if held.count - heldStart >= EtlEventDecoder.maxHeld, let i = openHeld.first {
            held[i].open = false
            openHeld.removeFirst()
        }
        if source != nil { openHeld.append(held.count) }
        held.append(Held(event: event, open: source != nil, source: source, deadline: now &+ EtlEventDecoder.mergeWindowNanoseconds))
        try drain(emit)
    }

    private func drain(_ emit: (Event) throws -> Void) throws {
        while heldStart < held.count && !held[heldStart].open {
            let e = held[heldStart].event
            heldStart += 1
            try emit(e)
        }
        if heldStart == held.count {
            held.removeAll(keepingCapacity: true)
            heldStart = 0
        } else if heldStart >= 4096 && heldStart * 2 >= held.count {
            // Waits that overlap without end: drop what was emitted.
            held.removeFirst(heldStart)
            openHeld = openHeld.map { $0 - heldStart }
            heldStart = 0
        }
    }

    /// One event from two reports of the same process start or end: the
    /// manifest report's time (for a start: the creation time from its
    /// payload), every field either report has, the full image path rather
    /// than the classic report's short name.
    private func mergedProcessReports(_ first: Event, _ firstIsManifest: Bool, _ second: Event) -> Event {
        let (manifest, classic) = firstIsManifest ? (first, second) : (second, first)
        var e = newEvent(first.kind, manifest.time)
        let utc = first.kind.index(of: "UtcTime")
        // A full path rather than a short name of the same file; the NT path
        // goes with the image it belongs to.
        func classicImage(_ field: String) -> Bool {
            guard let m = manifest[field], let c = classic[field] else { return false }
            return m == Event.absent || (c != Event.absent && c.contains("\\") && !m.contains("\\"))
        }
        let imageFromClassic = classicImage("Image"), parentFromClassic = classicImage("ParentImage")
        for (i, name) in first.kind.fields.enumerated() where i != utc {
            let m = manifest.values[i], c = classic.values[i]
            let useClassic: Bool
            switch name {
            case "Image", "ImageNtPath": useClassic = imageFromClassic
            case "ParentImage": useClassic = parentFromClassic
            default: useClassic = m == Event.absent && c != Event.absent
            }
            e.copy(name, from: useClassic ? classic : manifest, name)
        }
        return e
    }

    /// A new event of `kind` with every field absent but `UtcTime`.
    @inline(__always)
    func newEvent(_ kind: EventKind, _ time: EventTime) -> Event {
        Event(kind, time: time, utcTime: kind.utcTimeIndex == nil ? Event.absent : utcTimes.text(for: time))
    }

    /// Positions of the TraceEvent fields set by name elsewhere.
    private static let processCreateID = EventKind.processCreate.id
    private static let processTerminateID = EventKind.processTerminate.id
    private static let traceProviderName = EventKind.traceEvent.index(of: "ProviderName")!
    private static let traceName = EventKind.traceEvent.index(of: "Name")!
    private static let traceData = EventKind.traceEvent.index(of: "Data")!

    /// The generic event for a record no decoder claims.
    func traceEvent(_ r: EtlRecord) -> Event {
        var e = newEvent(traceKind, r.time)
        if r.provider != lastProvider {
            lastProvider = r.provider
            if let text = providerText[r.provider] {
                lastProviderText = text
            } else {
                lastProviderText = r.provider.braced
                if providerText.count < 4096 { providerText[r.provider] = lastProviderText }
            }
        }
        e[2] = lastProviderText
        e[3] = decimalText(r.id)
        e[4] = decimalText(r.opcode)
        e[5] = decimalText(r.version)
        e[6] = decimalText(r.task)
        e[7] = decimalText(r.level)
        if r.keywords != lastKeywords {
            lastKeywords = r.keywords
            if let text = keywordsText[r.keywords] {
                lastKeywordsText = text
            } else {
                lastKeywordsText = "0x" + String(r.keywords, radix: 16)
                if keywordsText.count < 4096 { keywordsText[r.keywords] = lastKeywordsText }
            }
        }
        e[8] = lastKeywordsText
        if let pid = r.processId {
            if pid != lastProcessId { lastProcessId = pid; lastProcessIdText = String(pid) }
            e[9] = lastProcessIdText
        }
        if let tid = r.threadId {
            if tid != lastThreadId { lastThreadId = tid; lastThreadIdText = String(tid) }
            e[10] = lastThreadIdText
        }
        e[11] = hexString(r.payload)
        if r.kind == .event, let decoded = traceLogging.decode(r) {
            e[EtlEventDecoder.traceProviderName] = decoded.provider
            e[EtlEventDecoder.traceName] = decoded.event
            e[EtlEventDecoder.traceData] = decoded.fields
        } else if !r.extendedData.bytes.isEmpty {
            e[EtlEventDecoder.traceData] = extendedDataJSON(r)
        }
        return e
    }

    /// `{"MatchId":…,"Frames":["0x…",…]}` for a stack-trace item (at most
    /// 4096 frames), written digit by digit into one reused byte buffer
    /// rather than as a String per frame joined into another: a trace with
    /// stacks carries dozens of frames on each record that has one.
    private func stackTraceJSON(match: UInt64, _ p: inout EtlPayload, width: Int) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: "{\"MatchId\":\(match),\"Frames\":[".utf8)
        var frames = 0
        while frames < 4096, let v = width == 8 ? p.u64() : p.u32().map(UInt64.init) {
            if frames > 0 { scratch.append(UInt8(ascii: ",")) }
            scratch.append(UInt8(ascii: "\""))
            scratch.append(UInt8(ascii: "0"))
            scratch.append(UInt8(ascii: "x"))
            appendLowerHex(v, to: &scratch)
            scratch.append(UInt8(ascii: "\""))
            frames += 1
        }
        scratch.append(UInt8(ascii: "]"))
        scratch.append(UInt8(ascii: "}"))
        return String(decoding: scratch, as: UTF8.self)
    }

    /// The extended data items of a record as one JSON object, so that stack
    /// traces, related activity ids and SIDs are not lost in the generic event.
    func extendedDataJSON(_ r: EtlRecord) -> String {
        var o = JSONObjectWriter()
        for item in r.extendedData {
            var p = EtlPayload(item.data, pointerSize: r.pointerSize)
            switch item.type {
            case EtlExtendedData.Item.relatedActivityId:
                if let g = p.guid() { o.string("RelatedActivityId", g.braced); continue }
            case EtlExtendedData.Item.sid:
                if let sid = p.sid() { o.string("Sid", sid); continue }
            case EtlExtendedData.Item.terminalSessionId:
                if let v = p.u32() { o.int("TerminalSessionId", Int(v)); continue }
            case EtlExtendedData.Item.instanceInfo:
                if let id = p.u32(), let parent = p.u32(), let g = p.guid() {
                    o.raw("InstanceInfo", "{\"InstanceId\":\(id),\"ParentInstanceId\":\(parent),\"ParentGuid\":\"\(g.braced)\"}")
                    continue
                }
            case EtlExtendedData.Item.stackTrace32, EtlExtendedData.Item.stackTrace64:
                if let match = p.u64() {
                    o.raw("StackTrace", stackTraceJSON(match: match, &p, width: item.type == EtlExtendedData.Item.stackTrace64 ? 8 : 4))
                    continue
                }
            case EtlExtendedData.Item.processStartKey, EtlExtendedData.Item.eventKey, EtlExtendedData.Item.psmKey:
                if let v = p.u64() { o.string(item.typeName, String(v)); continue }
            case EtlExtendedData.Item.providerTraits:
                if p.u16() != nil { o.string("ProviderName", String(decoding: p.ansiString(), as: UTF8.self)); continue }
            default:
                break
            }
            o.string(item.typeName, hexString(item.data))
        }
        return o.finish()
    }
}

/// Appends `v` in lower-case hex without leading zeros ("0" for 0), as
/// `String(v, radix: 16)` writes it.
@inline(__always)
func appendLowerHex(_ v: UInt64, to out: inout [UInt8]) {
    let digits = v == 0 ? 1 : (64 - v.leadingZeroBitCount + 3) / 4
    var shift = (digits - 1) * 4
    while shift >= 0 {
        let d = UInt8(truncatingIfNeeded: (v >> UInt64(shift)) & 15)
        out.append(d < 10 ? 0x30 + d : 0x57 + d)
        shift -= 4
    }
}

extension EtlEventDecoder {
    /// The decimal text of a header number: made once for those below 1024.
    @inline(__always)
    func decimalText<T: BinaryInteger>(_ v: T) -> String {
        v < 1024 ? smallDecimals[Int(v)] : String(v)
    }
}
