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
    let header: EtlLogfileHeader
    let processes: WindowsProcessTable
    var connections = BoundedSet<NetworkKey>(capacity: 1 << 16)
    var fileNames = BoundedNameMap(capacity: 1 << 17)
    var registryKeys = BoundedNameMap(capacity: 1 << 17)
    /// Thread id → process id, from thread starts and rundowns.
    var threadOwners = BoundedMap<UInt32, UInt32>(capacity: 1 << 18)
    let traceLogging = TraceLoggingDecoder()
    /// Text of provider GUIDs already seen: a trace has few providers and many records.
    private var providerText: [Guid: String] = [:]

    public init(header: EtlLogfileHeader) {
        self.header = header
        self.processes = WindowsProcessTable(header: header)
    }

    /// Emits exactly one event per record: the Sysmon-shaped event its
    /// provider decoder makes, else a TraceEvent (TraceLogging records carry
    /// their decoded fields in it).
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
        try emit(specific ?? traceEvent(r))
    }

    /// The generic event for a record no decoder claims.
    func traceEvent(_ r: EtlRecord) -> Event {
        var e = Event(.traceEvent, time: r.time)
        if let text = providerText[r.provider] {
            e[2] = text
        } else {
            let text = r.provider.braced
            if providerText.count < 4096 { providerText[r.provider] = text }
            e[2] = text
        }
        e[3] = String(r.id)
        e[4] = String(r.opcode)
        e[5] = String(r.version)
        e[6] = String(r.task)
        e[7] = String(r.level)
        e[8] = "0x" + String(r.keywords, radix: 16)
        if let pid = r.processId { e[9] = String(pid) }
        if let tid = r.threadId { e[10] = String(tid) }
        e[11] = hexString(r.payload)
        if r.kind == .event, let decoded = traceLogging.decode(r) {
            e["ProviderName"] = decoded.provider
            e["Name"] = decoded.event
            e["Data"] = decoded.fields
        } else if !r.extendedData.bytes.isEmpty {
            e["Data"] = extendedDataJSON(r)
        }
        return e
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
                    let width = item.type == EtlExtendedData.Item.stackTrace64 ? 8 : 4
                    var frames: [String] = []
                    while frames.count < 4096, let v = width == 8 ? p.u64() : p.u32().map(UInt64.init) {
                        frames.append("\"0x" + String(v, radix: 16) + "\"")
                    }
                    o.raw("StackTrace", "{\"MatchId\":\(match),\"Frames\":[" + frames.joined(separator: ",") + "]}")
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
