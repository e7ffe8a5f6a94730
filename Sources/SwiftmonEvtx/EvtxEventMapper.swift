import SwiftmonCore

/// Records → swiftmon events, one event per record.
///
/// - Sysmon (`Microsoft-Windows-Sysmon`): the event of the record's EventID
///   (ProcessCreate for 1, …), each `<Data Name=…>` into the field of that
///   name, values exactly as Windows rendered them. Fields an older Sysmon did
///   not write stay `-`. A record with a field its kind does not have (a
///   newer Sysmon schema) becomes a WindowsEvent instead, so nothing is lost.
/// - Security 4688 (a process was created) → ProcessCreate, System 7045 (a
///   service was installed) → ServiceInstall, by the mapping in docs/evtx.md.
/// - Every other record (PowerShell 4104 script blocks included) → WindowsEvent
///   (211): provider, EventID, the System fields and the EventData as JSON.
public enum EvtxEventMapper {
    public static let sysmonProvider = "Microsoft-Windows-Sysmon"
    public static let securityProvider = "Microsoft-Windows-Security-Auditing"
    public static let serviceControlManager = "Service Control Manager"

    public static func event(_ r: EvtxRecord) -> Event {
        let time = EventTime(nanosecondsSinceEpoch: r.timeCreated ?? r.written)
        switch (r.providerName, r.eventID) {
        case (sysmonProvider?, let id?):
            if let kind = EventKind.withID(Int(id)), kind != .windowsEvent, let e = sysmon(r, kind, time) { return e }
        case (securityProvider?, 4688?):
            return securityProcessCreate(r, time)
        case (serviceControlManager?, 7045?):
            return serviceInstall(r, time)
        default:
            break
        }
        return windowsEvent(r, time)
    }

    /// A Sysmon record field for field, or nil when it has a field `kind` lacks.
    static func sysmon(_ r: EvtxRecord, _ kind: EventKind, _ time: EventTime) -> Event? {
        var e = Event(kind, time: time)
        let fields = kind.fields
        // Records carry the fields in schema order: try the next one first.
        var next = 0
        let values = r.values
        for k in 0..<values.count {
            let name = values.items[k].name
            let i: Int
            if next < fields.count, fields[next].utf8.count == name.utf8.count, fields[next] == name {
                i = next
            } else {
                guard let found = kind.index(of: name) else { return nil }
                i = found
            }
            e[i] = values.string(k)
            next = i + 1
        }
        return e
    }

    /// Security 4688 as a ProcessCreate (see docs/evtx.md for the table).
    static func securityProcessCreate(_ r: EvtxRecord, _ time: EventTime) -> Event {
        var e = Event(.processCreate, time: time)
        if let v = r.value("NewProcessId").flatMap(decimal) { e["ProcessId"] = v }
        if let v = r.value("NewProcessName") { e["Image"] = v }
        if let v = r.value("CommandLine") { e["CommandLine"] = v }
        // Windows 10 and later name the new process's account in Target*; S-1-0-0
        // (NULL SID) there means it runs as the subject.
        let target = r.value("TargetUserSid").map { $0 != "S-1-0-0" && !$0.isEmpty } ?? false
        let prefix = target ? "Target" : "Subject"
        if let user = r.value("\(prefix)UserName") {
            let domain = r.value("\(prefix)DomainName") ?? ""
            e["User"] = domain.isEmpty || domain == "-" ? user : "\(domain)\\\(user)"
        }
        if let v = r.value("\(prefix)LogonId") { e["LogonId"] = v }
        if let v = r.value("MandatoryLabel") { e["IntegrityLevel"] = integrityLevel(v) }
        if let v = r.value("ProcessId").flatMap(decimal) { e["ParentProcessId"] = v }
        if let v = r.value("ParentProcessName") { e["ParentImage"] = v }
        return e
    }

    /// System 7045 as a ServiceInstall: ServiceName, ImagePath → ServiceFile,
    /// the installing account's SID as User, services.exe's pid as ProcessId.
    static func serviceInstall(_ r: EvtxRecord, _ time: EventTime) -> Event {
        var e = Event(.serviceInstall, time: time)
        if let v = r.value("ServiceName") { e["ServiceName"] = v }
        if let v = r.value("ImagePath") { e["ServiceFile"] = v }
        if let v = r.userID { e["User"] = v }
        if let v = r.processID { e["ProcessId"] = String(v) }
        e["Manager"] = "Service Control Manager"
        return e
    }

    /// Any record: its System fields and its data as a JSON object.
    static func windowsEvent(_ r: EvtxRecord, _ time: EventTime) -> Event {
        var e = Event(.windowsEvent, time: time)
        func set(_ i: Int, _ v: String?) { if let v { e[i] = v } }
        set(2, r.providerName)
        set(3, r.providerGuid)
        set(4, r.eventID.map { String($0) })
        set(5, r.version.map { String($0) })
        set(6, r.level.map { String($0) })
        set(7, r.task.map { String($0) })
        set(8, r.opcode.map { String($0) })
        set(9, r.keywords)
        set(10, (r.eventRecordID ?? r.recordID).description)
        set(11, r.channel)
        set(12, r.computer)
        set(13, r.processID.map { String($0) })
        set(14, r.threadID.map { String($0) })
        set(15, r.userID)
        if r.section != .none { e[16] = dataJSON(r) }
        return e
    }

    /// `{"Name":"value",…}` in record order; a `<Data>` without a name is keyed
    /// by its position (`Data1`, `Data2`, …); a repeated name gets `#2`, `#3`… appended.
    /// UserData is `{"<element>":{…leaves…}}`.
    ///
    /// Written in two passes over the record's value bytes: the exact length,
    /// then the text straight into the String's storage (no buffer between;
    /// this runs once per record).
    static func dataJSON(_ r: EvtxRecord) -> String {
        let values = r.values
        var root: String?
        if case .userData(let name) = r.section { root = name }
        // Keys that need more than the name: an unnamed <Data> (`DataN`) or a repeated name (`name#N`).
        var repeated = false
        for k in 0..<values.count where !repeated {
            let name = values.items[k].name
            let length = name.utf8.count
            for j in 0..<k where values.items[j].name.utf8.count == length && values.items[j].name == name {
                repeated = true
                break
            }
        }
        func key(_ k: Int) -> String {
            let name = values.items[k].name
            if name.isEmpty { return "Data\(k + 1)" }
            guard repeated else { return name }
            let earlier = values.items[..<k].reduce(0) { $0 + ($1.name == name ? 1 : 0) }
            return earlier > 0 ? name + "#\(earlier + 1)" : name
        }
        return values.bytes.withUnsafeBufferPointer { bytes in
            var length = 2 + values.count + max(0, values.count - 1)  // braces, `:` per item, `,` between
            if let root { length += JSONBytes.quotedLength(root) + 3 }
            for k in 0..<values.count {
                length += JSONBytes.quotedLength(key(k))
                length += JSONBytes.quotedLength(UnsafeBufferPointer(rebasing: bytes[values.range(k)]))
            }
            return String(unsafeUninitializedCapacity: length) { out in
                var n = 0
                if let root {
                    out[n] = 0x7B; n += 1
                    n = JSONBytes.writeQuoted(root, to: out, at: n)
                    out[n] = 0x3A; n += 1
                }
                out[n] = 0x7B; n += 1
                for k in 0..<values.count {
                    if k > 0 { out[n] = 0x2C; n += 1 }
                    n = JSONBytes.writeQuoted(key(k), to: out, at: n)
                    out[n] = 0x3A; n += 1
                    n = JSONBytes.writeQuoted(UnsafeBufferPointer(rebasing: bytes[values.range(k)]), to: out, at: n)
                }
                out[n] = 0x7D; n += 1
                if root != nil { out[n] = 0x7D; n += 1 }
                return n
            }
        }
    }

    /// `0x15b4` → `5556`.
    static func decimal(_ hex: String) -> String? {
        if hex.hasPrefix("0x") || hex.hasPrefix("0X") { return UInt64(hex.dropFirst(2), radix: 16).map { String($0) } }
        return UInt64(hex).map { String($0) }
    }

    /// A mandatory label SID as Sysmon names the integrity level.
    static func integrityLevel(_ sid: String) -> String {
        switch sid {
        case "S-1-16-0": return "Untrusted"
        case "S-1-16-4096": return "Low"
        case "S-1-16-8192": return "Medium"
        case "S-1-16-8448": return "MediumPlus"
        case "S-1-16-12288": return "High"
        case "S-1-16-16384": return "System"
        case "S-1-16-20480": return "Protected"
        default: return sid
        }
    }
}
