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
        for item in r.data {
            let i: Int
            if next < fields.count, fields[next] == item.name {
                i = next
            } else {
                guard let found = kind.index(of: item.name) else { return nil }
                i = found
            }
            e[i] = item.value
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
    static func dataJSON(_ r: EvtxRecord) -> String {
        var s = "{"
        s.reserveCapacity(r.data.reduce(16) { $0 + $1.name.utf8.count + $1.value.utf8.count + 6 })
        for (k, item) in r.data.enumerated() {
            var key = item.name.isEmpty ? "Data\(k + 1)" : item.name
            if !item.name.isEmpty {
                let earlier = r.data[..<k].reduce(0) { $0 + ($1.name == item.name ? 1 : 0) }
                if earlier > 0 { key += "#\(earlier + 1)" }
            }
            if k > 0 { s += "," }
            JSONString.append(key, to: &s)
            s += ":"
            JSONString.append(item.value, to: &s)
        }
        s += "}"
        if case .userData(let root) = r.section { return "{" + JSONString.quoted(root) + ":" + s + "}" }
        return s
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
