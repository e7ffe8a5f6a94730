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
        var maker = EvtxEventMaker()
        return maker.event(r)
    }

    static func event(_ r: EvtxRecord, time: EventTime, utcTime: String) -> Event? {
        var stash: EventValueStash?
        return event(r, time: time, utcTime: utcTime, stash: &stash)
    }

    /// The same with the events' value storage taken from `stash` when there is one.
    static func event(_ r: EvtxRecord, time: EventTime, utcTime: String, stash: inout EventValueStash?) -> Event? {
        switch (r.providerName, r.eventID) {
        case (sysmonProvider?, let id?):
            if let kind = EventKind.withID(Int(id)), kind != .windowsEvent { return sysmon(r, kind, time, utcTime, stash: &stash) }
        case (securityProvider?, 4688?):
            var e = newEvent(.processCreate, time, utcTime, &stash)
            securityProcessCreate(r, into: &e)
            return e
        case (serviceControlManager?, 7045?):
            var e = newEvent(.serviceInstall, time, utcTime, &stash)
            serviceInstall(r, into: &e)
            return e
        default:
            break
        }
        return nil
    }

    /// An event of `kind` with every field absent but `UtcTime` (`utcTime`,
    /// the text of `time`), its value storage taken from `stash` when there
    /// is one: ``EvtxReader`` hands the storage of a chunk's events, once
    /// delivered, back to the makers (no allocation and free of a value
    /// array and an arena per record).
    @inline(__always)
    static func newEvent(_ kind: EventKind, _ time: EventTime, _ utcTime: String, _ stash: inout EventValueStash?) -> Event {
        let text = kind.utcTimeIndex == nil ? Event.absent : utcTime
        if stash != nil { return Event(kind, time: time, utcTime: text, stash: &stash!) }
        return Event(kind, time: time, utcTime: text)
    }

    /// A Sysmon record field for field, or nil when it has a field `kind` lacks.
    /// Values go into the event as UTF-8 bytes (its arena), straight from the
    /// record's value buffer: no String per value (the reader wrote them, so
    /// they are valid UTF-8: UTF-16 transcoded with U+FFFD for unpaired
    /// surrogates, ANSI as UTF-8 or Latin-1).
    static func sysmon(_ r: EvtxRecord, _ kind: EventKind, _ time: EventTime, _ utcTime: String, stash: inout EventValueStash?) -> Event? {
        var e = newEvent(kind, time, utcTime, &stash)
        let fields = kind.fields
        let values = r.values
        e.reserveArena(capacity: values.bytes.count)  // the values in one allocation
        let complete = values.bytes.withUnsafeBufferPointer { bytes -> Bool in
            // Records carry the fields in schema order: try the next one first.
            var next = 0
            for k in 0..<values.count {
                let name = values.names[k]
                let i: Int
                if next < fields.count, fields[next].utf8.count == name.utf8.count, fields[next] == name {
                    i = next
                } else {
                    guard let found = kind.index(of: name) else { return false }
                    i = found
                }
                e.setValidUTF8(i, UnsafeBufferPointer(rebasing: bytes[values.range(k)]))
                next = i + 1
            }
            return true
        }
        return complete ? e : nil
    }

    /// Security 4688 as a ProcessCreate (see docs/evtx.md for the table),
    /// into `e` (a ProcessCreate with every field absent but `UtcTime`).
    static func securityProcessCreate(_ r: EvtxRecord, into e: inout Event) {
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
    }

    /// System 7045 as a ServiceInstall: ServiceName, ImagePath → ServiceFile,
    /// the installing account's SID as User, services.exe's pid as ProcessId
    /// (into `e`, a ServiceInstall with every field absent but `UtcTime`).
    static func serviceInstall(_ r: EvtxRecord, into e: inout Event) {
        if let v = r.value("ServiceName") { e["ServiceName"] = v }
        if let v = r.value("ImagePath") { e["ServiceFile"] = v }
        if let v = r.userID { e["User"] = v }
        if let v = r.processID { e["ProcessId"] = String(v) }
        e["Manager"] = "Service Control Manager"
    }

    /// Any record: its System fields and its data as a JSON object (`data`).
    static func windowsEvent(_ r: EvtxRecord, _ time: EventTime, _ utcTime: String, data: String?) -> Event {
        var numbers = NumberTexts()
        var stash: EventValueStash?
        return windowsEvent(r, time, utcTime, data: data, numbers: &numbers, stash: &stash)
    }

    static func windowsEvent(_ r: EvtxRecord, _ time: EventTime, _ utcTime: String, data: String?, numbers: inout NumberTexts,
                             stash: inout EventValueStash?) -> Event {
        var e = newEvent(.windowsEvent, time, utcTime, &stash)
        func set(_ i: Int, _ v: String?) { if let v { e[i] = v } }
        set(2, r.providerName)
        set(3, r.providerGuid)
        set(4, r.eventID.map { numbers.text(0, $0) })
        set(5, r.version.map { numbers.text(1, $0) })
        set(6, r.level.map { numbers.text(2, $0) })
        set(7, r.task.map { numbers.text(3, $0) })
        set(8, r.opcode.map { numbers.text(4, $0) })
        set(9, r.keywords)
        set(10, FieldText.decimal(r.eventRecordID ?? r.recordID))
        set(11, r.channel)
        set(12, r.computer)
        set(13, r.processID.map { numbers.text(5, $0) })
        set(14, r.threadID.map { numbers.text(6, $0) })
        set(15, r.userID)
        set(16, data)
        return e
    }

    /// `{"Name":"value",…}` in record order; a `<Data>` without a name is keyed
    /// by its position (`Data1`, `Data2`, …); a repeated name gets `#2`, `#3`… appended.
    /// UserData is `{"<element>":{…leaves…}}`.
    static func dataJSON(_ r: EvtxRecord) -> String {
        var maker = EvtxEventMaker()
        return maker.dataJSON(r)
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

/// Makes events of records as ``EvtxEventMapper`` describes, keeping what
/// repeats from record to record: the `UtcTime` text of the last millisecond,
/// the JSON keys of the data names last seen (rendered once per set of names,
/// not per record), and one byte buffer the EventData JSON is written into.
/// One per decoding thread (not shared).
public struct EvtxEventMaker {
    private var utcTimes = UtcTimeTextCache()
    private var numbers = NumberTexts()
    private let buffer = ByteBuffer()
    /// Value storage of events delivered before (see ``EvtxReader``); nil: each event its own.
    private var stash: EventValueStash?
    /// Keys of the name lists met, the frequent ones first (at most
    /// ``keyCacheSize``; a Security log has a few dozen, one per event type).
    private var keySets: [DataKeys] = []
    static let keyCacheSize = 64
    /// The keys last found for a list of names, by the address of the
    /// names' storage (a plan's array, shared by its records, each chunk's
    /// plans their own): one comparison instead of walking `keySets`. An
    /// entry holds the array it was found for, so that address cannot be
    /// reused by another list while the entry is there.
    private var keysByStorage = [StoredKeys?](repeating: nil, count: 64)
    private struct StoredKeys {
        let names: [String]
        let keys: DataKeys
    }

    public init() {}

    /// A maker whose events take their value storage from `recycler`.
    init(recycler: EventValueRecycler) {
        stash = EventValueStash(recycler: recycler)
    }

    public mutating func event(_ r: EvtxRecord) -> Event {
        let time = EventTime(nanosecondsSinceEpoch: r.timeCreated ?? r.written)
        let utcTime = utcTimes.text(for: time)
        if let e = EvtxEventMapper.event(r, time: time, utcTime: utcTime, stash: &stash) { return e }
        var e = EvtxEventMapper.windowsEvent(r, time, utcTime, data: nil, numbers: &numbers, stash: &stash)
        if r.section != .none {
            // The EventData JSON goes from the reused buffer into the event's
            // arena (valid UTF-8: the reader's values, escaped): no String.
            let json = writeDataJSON(r)
            e.reserveArena(capacity: json.count)
            e.setValidUTF8(EvtxEventMaker.dataField, json)
        }
        return e
    }

    /// WindowsEvent's `EventData` field (16).
    static let dataField = EventKind.windowsEvent.index(of: "EventData")!

    /// The JSON keys of one list of data names: each `"key":` (escaped, with
    /// `DataN` for an unnamed item and `#N` for a repeated name) one after
    /// the other in `bytes`, item `k`'s ending at `ends[k]`.
    final class DataKeys {
        let names: [String]
        let bytes: [UInt8]
        let ends: [Int]

        init(_ names: [String]) {
            self.names = names
            var bytes: [UInt8] = [], ends: [Int] = []
            var seen: [String: Int] = [:]
            for (k, name) in names.enumerated() {
                var key = name
                if name.isEmpty {
                    key = "Data\(k + 1)"
                } else {
                    let earlier = seen[name, default: 0]
                    seen[name] = earlier + 1
                    if earlier > 0 { key += "#\(earlier + 1)" }
                }
                bytes += JSONString.quoted(key).utf8
                bytes.append(0x3A)
                ends.append(bytes.count)
            }
            self.bytes = bytes
            self.ends = ends
        }

        /// Whether `other` (the first `count` of them) are these names.
        func matches(_ other: [String], count: Int) -> Bool {
            guard count == names.count else { return false }
            // Plans hand every record of a template their one array of
            // names: the same storage is the same list, in one comparison.
            let same = other.withUnsafeBufferPointer { a in names.withUnsafeBufferPointer { $0.baseAddress == a.baseAddress } }
            if same { return true }
            for k in 0..<count where other[k] != names[k] { return false }
            return true
        }
    }

    private mutating func keys(_ values: DataValues) -> DataKeys {
        let address = values.names.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        let slot = Int(truncatingIfNeeded: (UInt64(address) >> 4) & 63)
        if address != 0, let known = keysByStorage[slot], known.names.count == values.count,
           known.names.withUnsafeBufferPointer({ UInt(bitPattern: $0.baseAddress) }) == address {
            return known.keys
        }
        let found = keys(searching: values)
        if address != 0, values.names.count == values.count { keysByStorage[slot] = StoredKeys(names: values.names, keys: found) }
        return found
    }

    private mutating func keys(searching values: DataValues) -> DataKeys {
        for i in keySets.indices where keySets[i].matches(values.names, count: values.count) {
            let found = keySets[i]
            if i > 0 { keySets.swapAt(i, i - 1) }  // the frequent ones move to the front
            return found
        }
        let made = DataKeys(values.names.count == values.count ? values.names : Array(values.names[0..<values.count]))
        if keySets.count >= EvtxEventMaker.keyCacheSize { keySets.removeLast() }
        keySets.append(made)
        return made
    }

    /// The record's data as a JSON object (see ``EvtxEventMapper/dataJSON(_:)``).
    public mutating func dataJSON(_ r: EvtxRecord) -> String {
        String(decoding: writeDataJSON(r), as: UTF8.self)
    }

    /// The same written into the reused buffer in one pass: its bytes there,
    /// valid until the next call.
    mutating func writeDataJSON(_ r: EvtxRecord) -> UnsafeBufferPointer<UInt8> {
        let keys = keys(r.values)
        var root: String?
        if case .userData(let name) = r.section { root = name }
        // Escaping grows a byte to six at most (`\u00xx` for one byte, or for two of a C1 control).
        // Eight more: a value's last word is stored whole (JSONBytes.writeQuoted).
        var bound = 6 * r.values.bytes.count + 3 * r.values.count + keys.bytes.count + 4 + 8  // quotes, commas, braces
        if let root { bound += 6 * root.utf8.count + 4 }
        let out = buffer.reserve(bound)
        var n = 0
        if let root {
            out[n] = 0x7B; n += 1
            n = JSONBytes.writeQuoted(root, to: out, at: n)
            out[n] = 0x3A; n += 1
        }
        out[n] = 0x7B; n += 1
        r.values.bytes.withUnsafeBufferPointer { bytes in
            keys.bytes.withUnsafeBufferPointer { keyBytes in
                var keyStart = 0, valueStart = 0
                for k in 0..<r.values.count {
                    if k > 0 { out[n] = 0x2C; n += 1 }
                    let keyEnd = keys.ends[k], valueEnd = r.values.ends[k]
                    (out.baseAddress! + n).update(from: keyBytes.baseAddress! + keyStart, count: keyEnd - keyStart)
                    n += keyEnd - keyStart
                    // The values lie one after the other: the next ones may be read past this one's end.
                    n = JSONBytes.writeQuoted(UnsafeBufferPointer(rebasing: bytes[valueStart..<valueEnd]),
                                              readable: bytes.count - valueStart, to: out, at: n)
                    keyStart = keyEnd
                    valueStart = valueEnd
                }
            }
        }
        out[n] = 0x7D; n += 1
        if root != nil { out[n] = 0x7D; n += 1 }
        return UnsafeBufferPointer(rebasing: out[0..<n])
    }
}

/// A growable byte buffer reused from record to record.
final class ByteBuffer {
    private var storage = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 4096)

    /// The storage, at least `capacity` bytes (contents not kept when it grows).
    func reserve(_ capacity: Int) -> UnsafeMutableBufferPointer<UInt8> {
        if storage.count < capacity {
            storage.deallocate()
            storage = .allocate(capacity: max(capacity, 2 * storage.count))
        }
        return storage
    }

    deinit { storage.deallocate() }
}

/// The decimal text of the last value of a few small System numbers
/// (EventID, Version, Level, Task, Opcode, the writer's ProcessID and
/// ThreadID), which repeat from record to record.
struct NumberTexts {
    private var values = [UInt32](repeating: 0, count: 7)
    private var texts = [String](repeating: "0", count: 7)

    mutating func text(_ slot: Int, _ value: UInt32) -> String {
        if values[slot] == value { return texts[slot] }
        let s = FieldText.decimal(UInt64(value))
        values[slot] = value
        texts[slot] = s
        return s
    }
}
