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
        }
        return e
    }
}
