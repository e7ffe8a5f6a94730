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
    static func dataJSON(_ r: EvtxRecord) -> String {
        let values = r.values
        var out: [UInt8] = []
        out.reserveCapacity(values.bytes.count + 16 * values.count + 8)
        if case .userData(let root) = r.section {
            out.append(0x7B)
            appendQuoted(root, to: &out)
            out.append(0x3A)
        }
        out.append(0x7B)
        values.bytes.withUnsafeBufferPointer { bytes in
            for k in 0..<values.count {
                if k > 0 { out.append(0x2C) }
                let name = values.items[k].name
                if name.isEmpty {
                    out.append(contentsOf: "\"Data".utf8)
                    BinXmlValues.appendDecimal(UInt64(k + 1), to: &out)
                    out.append(0x22)
                } else {
                    let length = name.utf8.count
                    var earlier = 0
                    for j in 0..<k where values.items[j].name.utf8.count == length && values.items[j].name == name { earlier += 1 }
                    if earlier > 0 {
                        appendQuoted(name + "#\(earlier + 1)", to: &out)
                    } else {
                        appendQuoted(name, to: &out)
                    }
                }
                out.append(0x3A)
                appendQuoted(UnsafeBufferPointer(rebasing: bytes[values.range(k)]), to: &out)
            }
        }
        out.append(0x7D)
        if case .userData = r.section { out.append(0x7D) }
        return String(decoding: out, as: UTF8.self)
    }

    static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendQuoted($0, to: &out) }
    }

    /// `bytes` (valid UTF-8) as a JSON string literal, escaped as
    /// ``JSONString`` escapes: `"`, `\\`, C0 and C1 controls, DEL, U+2028/2029.
    static func appendQuoted(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(0x22)
        var plainFrom = 0
        var i = 0
        let n = bytes.count
        func escape(_ scalar: UInt32, width: Int) {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plainFrom..<i]))
            switch scalar {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(0x6E)
            case 0x0D: out.append(0x5C); out.append(0x72)
            case 0x09: out.append(0x5C); out.append(0x74)
            default:
                out.append(0x5C); out.append(0x75)
                for shift in stride(from: 12, through: 0, by: -4) {
                    out.append(BinXmlValues.hexDigit(UInt64((scalar >> UInt32(shift)) & 15), upper: false))
                }
            }
            i += width
            plainFrom = i
        }
        while i < n {
            // Eight plain bytes at a time (printable ASCII other than `"` and `\\`).
            while i + 8 <= n {
                let w = UnsafeRawPointer(bytes.baseAddress! + i).loadUnaligned(as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
                let control = (w &- ones &* 0x20) & ~w & highs  // a byte below 0x20 (or at/above 0x80)
                let high = (w | ((w & ~highs) &+ ones)) & highs  // a byte at or above 0x7F
                let q = w ^ (ones &* 0x22), bs = w ^ (ones &* 0x5C)
                let quote = (q &- ones) & ~q & highs, backslash = (bs &- ones) & ~bs & highs
                if control | high | quote | backslash != 0 { break }
                i += 8
            }
            guard i < n else { break }
            let b = bytes[i]
            if b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F {
                escape(UInt32(b), width: 1)
            } else if b == 0xC2, i + 1 < n, bytes[i + 1] >= 0x80, bytes[i + 1] < 0xA0 {
                escape(UInt32(bytes[i + 1]), width: 2)  // C1 control
            } else if b == 0xE2, i + 2 < n, bytes[i + 1] == 0x80, bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9 {
                escape(0x2000 | UInt32(bytes[i + 2] & 0x3F), width: 3)  // U+2028, U+2029
            } else {
                i += 1
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plainFrom..<n]))
        out.append(0x22)
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
