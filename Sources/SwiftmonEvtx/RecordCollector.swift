/// Collects an ``EvtxRecord`` from the XML of one record as it is expanded:
/// the fields of `System` and the items of `EventData`/`UserData`. Nothing
/// else of the tree is built; values are rendered only when they are kept.
struct RecordCollector: BinXmlVisitor {
    let chunk: ChunkBytes
    /// Whether EventData/UserData and the descriptive System fields are wanted
    /// (false when only counting by provider and EventID).
    let full: Bool
    var record: EvtxRecord

    /// Element names from the root; `path.count` is the current depth.
    private var path: [String] = []
    private var hadChild: [Bool] = []
    /// The attribute whose value is being read, if any.
    private var attributeName: String?
    private var attributeValue = Accumulator()
    /// The text of the current element, when it is one whose text is kept.
    private var capturing = false
    private var content = Accumulator()
    /// `Name` attribute of the current `<Data>` element.
    private var dataName: String?

    init(chunk: ChunkBytes, full: Bool, record: EvtxRecord) {
        self.chunk = chunk
        self.full = full
        self.record = record
        path.reserveCapacity(8)
        hadChild.reserveCapacity(8)
    }

    /// Text and values met inside one element or attribute, in order.
    struct Accumulator {
        var pieces = 0
        var value: ValueRef?
        var text = ""

        mutating func reset() { pieces = 0; value = nil; text = "" }

        mutating func add(_ s: String, _ chunk: ChunkBytes) {
            if pieces == 1, let v = value { text = BinXmlValues.text(chunk, v); value = nil }
            if pieces == 0 { text = s } else { text += s }
            pieces += 1
        }

        mutating func add(_ v: ValueRef, _ chunk: ChunkBytes) {
            if pieces == 0 {
                value = v
            } else {
                if pieces == 1, let first = value { text = BinXmlValues.text(chunk, first); value = nil }
                text += BinXmlValues.text(chunk, v)
            }
            pieces += 1
        }

        func string(_ chunk: ChunkBytes) -> String {
            if let v = value { return BinXmlValues.text(chunk, v) }
            return text
        }

        func integer(_ chunk: ChunkBytes) -> UInt64? {
            if let v = value, let n = BinXmlValues.integer(chunk, v) { return n }
            let s = string(chunk)
            if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt64(s.dropFirst(2), radix: 16) }
            return UInt64(s)
        }
    }

    mutating func open(_ name: String) {
        finishAttribute()
        if let last = hadChild.indices.last { hadChild[last] = true }
        path.append(name)
        hadChild.append(false)
        dataName = nil
        capturing = wantsText(depth: path.count)
        if capturing { content.reset() }
    }

    /// Which elements' text is kept.
    private func wantsText(depth: Int) -> Bool {
        guard depth >= 3 else { return false }
        switch path[1] {
        case "System":
            guard depth == 3 else { return false }
            switch path[2] {
            case "EventID": return true
            case "Version", "Level", "Task", "Opcode", "Keywords", "EventRecordID", "Channel", "Computer": return full
            default: return false
            }
        case "EventData": return full && depth == 3
        case "UserData": return full && depth >= 4
        default: return false
        }
    }

    mutating func attribute(_ name: String) {
        finishAttribute()
        attributeName = name
        attributeValue.reset()
    }

    mutating func closeStart() { finishAttribute() }

    mutating func closeEmpty() {
        finishAttribute()
        end()
    }

    mutating func end() {
        guard !path.isEmpty else { return }
        if capturing { finishElement() }
        path.removeLast()
        hadChild.removeLast()
        capturing = false
    }

    mutating func text(_ text: String) {
        if attributeName != nil {
            attributeValue.add(text, chunk)
        } else if capturing {
            content.add(text, chunk)
        }
    }

    mutating func value(_ value: ValueRef) {
        if attributeName != nil {
            attributeValue.add(value, chunk)
        } else if capturing {
            content.add(value, chunk)
        }
    }

    private mutating func finishAttribute() {
        guard let name = attributeName else { return }
        attributeName = nil
        let depth = path.count
        if depth == 2, path[1] == "UserData" { return }
        guard depth >= 3 else { return }
        if path[1] == "EventData" {
            if depth == 3, name == "Name" { dataName = attributeValue.string(chunk) }
            return
        }
        guard path[1] == "System", depth == 3 else { return }
        let v = attributeValue
        switch (path[2], name) {
        case ("Provider", "Name"): record.providerName = v.string(chunk)
        case ("Provider", "Guid"): if full { record.providerGuid = v.string(chunk) }
        case ("Provider", "EventSourceName"): if full { record.eventSourceName = v.string(chunk) }
        case ("EventID", "Qualifiers"): if full { record.qualifiers = v.integer(chunk).map { UInt32(truncatingIfNeeded: $0) } }
        case ("TimeCreated", "SystemTime"):
            if full {
                if let ref = v.value, let t = BinXmlValues.time(chunk, ref) { record.timeCreated = t }
                else { record.timeCreated = EvtxTimeText.parse(v.string(chunk)) }
            }
        case ("Correlation", "ActivityID"): if full { record.activityID = v.string(chunk) }
        case ("Correlation", "RelatedActivityID"): if full { record.relatedActivityID = v.string(chunk) }
        case ("Execution", "ProcessID"): if full { record.processID = v.integer(chunk).map { UInt32(truncatingIfNeeded: $0) } }
        case ("Execution", "ThreadID"): if full { record.threadID = v.integer(chunk).map { UInt32(truncatingIfNeeded: $0) } }
        case ("Security", "UserID"): if full { record.userID = v.string(chunk) }
        default: break
        }
    }

    private mutating func finishElement() {
        let depth = path.count
        switch path[1] {
        case "System":
            let c = content
            switch path[2] {
            case "EventID": record.eventID = c.integer(chunk).map { UInt32(truncatingIfNeeded: $0) }
            case "Version": record.version = c.integer(chunk).map { UInt32(truncatingIfNeeded: $0) }
            case "Level": record.level = c.integer(chunk).map { UInt32(truncatingIfNeeded: $0) }
            case "Task": record.task = c.integer(chunk).map { UInt32(truncatingIfNeeded: $0) }
            case "Opcode": record.opcode = c.integer(chunk).map { UInt32(truncatingIfNeeded: $0) }
            case "Keywords": record.keywords = c.string(chunk)
            case "EventRecordID": record.eventRecordID = c.integer(chunk)
            case "Channel": record.channel = c.string(chunk)
            case "Computer": record.computer = c.string(chunk)
            default: break
            }
        case "EventData":
            record.section = .eventData
            let name = path[2] == "Data" ? (dataName ?? "") : path[2]
            record.data.append(EvtxRecord.DataItem(name: name, value: content.string(chunk)))
        case "UserData":
            record.section = .userData(path[2])
            if !hadChild[depth - 1] {
                record.data.append(EvtxRecord.DataItem(name: path[depth - 1], value: content.string(chunk)))
            }
        default:
            break
        }
        _ = depth
    }
}

/// ISO 8601 UTC text (`2019-01-01T00:00:00.1234567Z`) back to nanoseconds, for a
/// `SystemTime` written as text rather than as a FILETIME value.
enum EvtxTimeText {
    static func parse(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count >= 19 else { return nil }
        func num(_ from: Int, _ n: Int) -> Int64? {
            var v: Int64 = 0
            for k in from..<(from + n) {
                guard b[k] >= 0x30, b[k] <= 0x39 else { return nil }
                v = v * 10 + Int64(b[k] - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2),
              let mi = num(14, 2), let se = num(17, 2) else { return nil }
        var fraction: Int64 = 0
        var digits = 0
        var k = 20
        if b.count > 19, b[19] == UInt8(ascii: ".") {
            while k < b.count, b[k] >= 0x30, b[k] <= 0x39, digits < 9 {
                fraction = fraction * 10 + Int64(b[k] - 0x30); digits += 1; k += 1
            }
        }
        for _ in digits..<9 { fraction *= 10 }
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
        return (((days * 24 + h) * 60 + mi) * 60 + se) * 1_000_000_000 + fraction
    }
}
