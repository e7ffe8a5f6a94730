import SwiftmonCore

/// Collects an ``EvtxRecord`` from the XML of one record as it is expanded:
/// the fields of `System` and the items of `EventData`/`UserData`. Nothing
/// else of the tree is built. Names arrive as indices with a ``NameCode``
/// (compared as numbers); data values are rendered once, as UTF-8, straight
/// into the record's value buffer. One collector serves every record of a
/// chunk (its stacks are reused).
struct RecordCollector {
    let chunk: ChunkBytes
    /// Whether EventData/UserData and the descriptive System fields are wanted
    /// (false when only counting by provider and EventID).
    let full: Bool
    var record = EvtxRecord(recordID: 0, written: 0, fileOffset: 0)
    /// The chunk's names and texts (filled as the chunk's XML is compiled).
    var strings = ChunkStrings()

    /// The open elements from the root; `stack.count` is the current depth.
    private var stack: [Frame] = []
    private struct Frame {
        /// Index in the chunk's names.
        let index: Int32
        let code: NameCode
        var hadChild = false
    }
    /// Whether an attribute's value is being read, and which one when it is kept.
    private var inAttribute = false
    private var attribute: NameCode?
    private var attributeValue = Accumulator()
    /// What the text of the current element goes to.
    private var capture = Capture.none
    private enum Capture { case none, system, data }
    private var content = Accumulator()
    /// `Name` attribute of the current `<Data>` element.
    private var dataName: String?
    /// Bytes of `record.values` up to the last finished item.
    var committed = 0
    /// Reused for the text of System fields decoded through a ``TemplatePlan``.
    var scratch: [UInt8] = []
    var lastStrings = RecentStrings()
    /// The plan whose `names` array ``record``'s data names currently are
    /// (shared, not copied: see ``apply(_:of:values:)``); nil when they are
    /// the record's own.
    var namesShared: ObjectIdentifier?

    init(chunk: ChunkBytes, full: Bool) {
        self.chunk = chunk
        self.full = full
        stack.reserveCapacity(16)
    }

    /// Starts the next record. The value buffers of the last record, when
    /// ``finish(keepData:)`` left them here, are reused (emptied, their
    /// storage kept): a record whose event is made from them here allocates
    /// none of its own.
    mutating func begin(_ r: EvtxRecord, capacity: Int) {
        var values = DataValues()
        swap(&values, &record.values)
        record = r
        swap(&values, &record.values)
        reset(capacity: capacity)
    }

    /// The same for a record with this framing. Right after
    /// ``finish(keepData:)`` (the common case), ``record`` is a new record
    /// already: only its framing is set (no record made, copied in and
    /// destroyed per record); after a record begun and not finished (a plan
    /// giving up, the interpreter starting again) it is made anew.
    mutating func begin(recordID: UInt64, written: Int64, fileOffset: Int, capacity: Int) {
        guard pristine else {
            begin(EvtxRecord(recordID: recordID, written: written, fileOffset: fileOffset), capacity: capacity)
            return
        }
        record.recordID = recordID
        record.written = written
        record.fileOffset = fileOffset
        reset(capacity: capacity)
    }

    /// Whether ``record`` is as `EvtxRecord(recordID:written:fileOffset:)`
    /// made it, but for its framing and value buffers (true after ``finish(keepData:)``).
    private var pristine = true

    private mutating func reset(capacity: Int) {
        pristine = false
        record.values.removeAll()
        if full {
            // One allocation each for the record's values and items (a record has a few dozen at most).
            if record.values.bytes.capacity < capacity { record.values.bytes.reserveCapacity(capacity) }
            if record.values.ends.capacity < 24 { record.values.ends.reserveCapacity(24) }
        }
        stack.removeAll(keepingCapacity: true)
        inAttribute = false
        attribute = nil
        capture = .none
        dataName = nil
        committed = 0
        namesShared = nil
    }

    /// Ends the record collected since ``begin(_:capacity:)``: its last
    /// item's bytes committed, its names its own where a plan's array names
    /// more items. ``record`` is then complete (an event can be made of it).
    mutating func complete() {
        if record.values.bytes.count > committed { record.values.bytes.removeSubrange(committed...) }
        if record.values.names.count > record.values.ends.count { ownNames() }
    }

    /// The record collected since ``begin(_:capacity:)``, completed. `keepData: false`: without its data items — their
    /// buffers stay here for the next record (the caller made the event of
    /// the record, which holds the values, before).
    mutating func finish(keepData: Bool = true) -> EvtxRecord {
        complete()
        var r = EvtxRecord(recordID: 0, written: 0, fileOffset: 0)
        swap(&r, &record)
        if !keepData { swap(&r.values, &record.values) }
        pristine = true
        return r
    }

    /// Text and values met inside one attribute or System element, in order.
    struct Accumulator {
        var pieces = 0
        /// The only piece, when it is a value.
        var value: ValueRef?
        /// The only piece, when it is literal text (index in the chunk's texts).
        var text: Int32 = -1
        /// Two pieces or more: their UTF-8.
        var bytes: [UInt8] = []

        mutating func reset() {
            pieces = 0
            value = nil
            text = -1
            if !bytes.isEmpty { bytes.removeAll(keepingCapacity: true) }
        }

        private mutating func spill(_ c: ChunkBytes, _ s: ChunkStrings) {
            guard pieces == 1 else { return }
            if let v = value {
                BinXmlValues.append(c, v, to: &bytes)
                value = nil
            } else if text >= 0 {
                bytes.append(contentsOf: s.texts[Int(text)].utf8)
                text = -1
            }
        }

        mutating func add(text i: Int32, _ c: ChunkBytes, _ s: ChunkStrings) {
            if pieces == 0 { text = i } else { spill(c, s); bytes.append(contentsOf: s.texts[Int(i)].utf8) }
            pieces += 1
        }

        mutating func add(_ v: ValueRef, _ c: ChunkBytes, _ s: ChunkStrings) {
            if pieces == 0 { value = v } else { spill(c, s); BinXmlValues.append(c, v, to: &bytes) }
            pieces += 1
        }

        /// The text of the pieces. A single value is rendered into `bytes`
        /// (empty until then, and reused from record to record), so making
        /// its String allocates once, not twice.
        mutating func string(_ c: ChunkBytes, _ s: ChunkStrings) -> String {
            if let v = value {
                bytes.removeAll(keepingCapacity: true)
                BinXmlValues.append(c, v, to: &bytes)
                value = nil
                return String(decoding: bytes, as: UTF8.self)
            }
            if text >= 0 { return s.texts[Int(text)] }
            return pieces == 0 ? "" : String(decoding: bytes, as: UTF8.self)
        }

        mutating func integer(_ c: ChunkBytes, _ s: ChunkStrings) -> UInt64? {
            if let v = value, let n = BinXmlValues.integer(c, v) { return n }
            let t = string(c, s)
            if t.hasPrefix("0x") || t.hasPrefix("0X") { return UInt64(t.dropFirst(2), radix: 16) }
            return UInt64(t)
        }
    }

    mutating func open(_ index: Int32) {
        finishAttribute()
        if !stack.isEmpty { stack[stack.count - 1].hadChild = true }
        stack.append(Frame(index: index, code: strings.names[Int(index)].code))
        dataName = nil
        capture = wantsText()
        switch capture {
        case .none: break
        case .system: content.reset()
        case .data:
            if record.values.bytes.count > committed { record.values.bytes.removeSubrange(committed...) }
        }
    }

    /// Which elements' text is kept, and where to.
    private func wantsText() -> Capture {
        let depth = stack.count
        guard depth >= 3 else { return .none }
        switch stack[1].code {
        case .system:
            guard depth == 3 else { return .none }
            switch stack[2].code {
            case .eventID: return .system
            case .version, .level, .task, .opcode, .keywords, .eventRecordID, .channel, .computer: return full ? .system : .none
            default: return .none
            }
        case .eventData: return full && depth == 3 ? .data : .none
        case .userData: return full && depth >= 4 ? .data : .none
        default: return .none
        }
    }

    mutating func attribute(_ index: Int32) {
        finishAttribute()
        inAttribute = true
        let code = strings.names[Int(index)].code
        attribute = wantsAttribute(code) ? code : nil
        if attribute != nil { attributeValue.reset() }
    }

    /// Whether the value of attribute `name` of the current element is kept.
    private func wantsAttribute(_ name: NameCode) -> Bool {
        guard stack.count == 3 else { return false }
        switch (stack[1].code, stack[2].code, name) {
        case (.eventData, _, .name): return full
        case (.system, .provider, .name): return true
        case (.system, .provider, .guid), (.system, .provider, .eventSourceName),
             (.system, .eventID, .qualifiers), (.system, .timeCreated, .systemTime),
             (.system, .correlation, .activityID), (.system, .correlation, .relatedActivityID),
             (.system, .execution, .processID), (.system, .execution, .threadID),
             (.system, .security, .userID):
            return full
        default: return false
        }
    }

    mutating func closeStart() { finishAttribute() }

    mutating func closeEmpty() {
        finishAttribute()
        end()
    }

    mutating func end() {
        // A damaged stream can end an element inside its start tag: the
        // attribute ends with it (read later, it would name an element no
        // longer open).
        finishAttribute()
        guard !stack.isEmpty else { return }
        if capture != .none { finishElement() }
        stack.removeLast()
        capture = .none
    }

    mutating func text(_ index: Int32) {
        if inAttribute {
            if attribute != nil { attributeValue.add(text: index, chunk, strings) }
        } else {
            switch capture {
            case .none: break
            case .system: content.add(text: index, chunk, strings)
            case .data: record.values.bytes.append(contentsOf: strings.texts[Int(index)].utf8)
            }
        }
    }

    mutating func value(_ value: ValueRef) {
        if inAttribute {
            if attribute != nil { attributeValue.add(value, chunk, strings) }
        } else {
            switch capture {
            case .none: break
            case .system: content.add(value, chunk, strings)
            case .data: BinXmlValues.append(chunk, value, to: &record.values.bytes)
            }
        }
    }

    private mutating func finishAttribute() {
        guard inAttribute else { return }
        inAttribute = false
        guard let name = attribute else { return }
        attribute = nil
        // `strings` and `attributeValue` are read in place (no copies: this
        // runs for every kept attribute of every record).
        if stack[1].code == .eventData {
            dataName = attributeValue.string(chunk, strings)
            return
        }
        switch (stack[2].code, name) {
        case (.provider, .name): record.providerName = attributeValue.string(chunk, strings)
        case (.provider, .guid): record.providerGuid = attributeValue.string(chunk, strings)
        case (.provider, .eventSourceName): record.eventSourceName = attributeValue.string(chunk, strings)
        case (.eventID, .qualifiers): record.qualifiers = attributeValue.integer(chunk, strings).map { UInt32(truncatingIfNeeded: $0) }
        case (.timeCreated, .systemTime):
            if let ref = attributeValue.value, let t = BinXmlValues.time(chunk, ref) { record.timeCreated = t }
            else { record.timeCreated = EvtxTimeText.parse(attributeValue.string(chunk, strings)) }
        case (.correlation, .activityID): record.activityID = attributeValue.string(chunk, strings)
        case (.correlation, .relatedActivityID): record.relatedActivityID = attributeValue.string(chunk, strings)
        case (.execution, .processID): record.processID = attributeValue.integer(chunk, strings).map { UInt32(truncatingIfNeeded: $0) }
        case (.execution, .threadID): record.threadID = attributeValue.integer(chunk, strings).map { UInt32(truncatingIfNeeded: $0) }
        case (.security, .userID): record.userID = attributeValue.string(chunk, strings)
        default: break
        }
    }

    private mutating func finishElement() {
        let depth = stack.count
        switch stack[1].code {
        case .system:
            switch stack[2].code {
            case .eventID: record.eventID = content.integer(chunk, strings).map { UInt32(truncatingIfNeeded: $0) }
            case .version: record.version = content.integer(chunk, strings).map { UInt32(truncatingIfNeeded: $0) }
            case .level: record.level = content.integer(chunk, strings).map { UInt32(truncatingIfNeeded: $0) }
            case .task: record.task = content.integer(chunk, strings).map { UInt32(truncatingIfNeeded: $0) }
            case .opcode: record.opcode = content.integer(chunk, strings).map { UInt32(truncatingIfNeeded: $0) }
            case .keywords: record.keywords = content.string(chunk, strings)
            case .eventRecordID: record.eventRecordID = content.integer(chunk, strings)
            case .channel: record.channel = content.string(chunk, strings)
            case .computer: record.computer = content.string(chunk, strings)
            default: break
            }
        case .eventData:
            record.section = .eventData
            let name = stack[2].code == .data ? (dataName ?? "") : strings.names[Int(stack[2].index)].string
            commit(name)
        case .userData:
            record.section = .userData(strings.names[Int(stack[2].index)].string)
            if !stack[depth - 1].hadChild {
                commit(strings.names[Int(stack[depth - 1].index)].string)
            } else if record.values.bytes.count > committed {
                record.values.bytes.removeSubrange(committed...)
            }
        default:
            break
        }
    }

    /// Ends the current data item: its value is the bytes since the last one.
    mutating func commit(_ name: String) {
        if namesShared != nil { ownNames() }
        committed = record.values.bytes.count
        record.values.names.append(name)
        record.values.ends.append(committed)
    }

    /// The names of the items so far as the record's own array (a plan's
    /// array, shared until now, may name items not yet there).
    mutating func ownNames() {
        namesShared = nil
        let n = record.values.ends.count
        if record.values.names.count != n { record.values.names = Array(record.values.names[0..<n]) }
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
        let days = EventTime.daysSinceEpoch(year: y, month: mo, day: d)
        return (((days * 24 + h) * 60 + mi) * 60 + se) * 1_000_000_000 + fraction
    }
}
