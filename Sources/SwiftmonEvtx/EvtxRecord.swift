/// One event record of an .evtx file: its framing (record id, write time,
/// where it is) and what its XML says — the `System` element's fields and the
/// named values of `EventData` (or the leaves of `UserData`), in order.
public struct EvtxRecord: Sendable {
    /// The record header's identifier (equals `EventRecordID` unless the log was
    /// exported with a filter).
    public var recordID: UInt64
    /// When the record was written, nanoseconds since the Unix epoch (record header).
    public var written: Int64
    /// Byte offset of the record in the file.
    public var fileOffset: Int

    public var providerName: String?
    public var providerGuid: String?
    public var eventSourceName: String?
    public var eventID: UInt32?
    public var qualifiers: UInt32?
    public var version: UInt32?
    public var level: UInt32?
    public var task: UInt32?
    public var opcode: UInt32?
    /// `Keywords` as Windows writes it (`0x8000000000000000`).
    public var keywords: String?
    /// `TimeCreated/@SystemTime`, nanoseconds since the Unix epoch.
    public var timeCreated: Int64?
    public var eventRecordID: UInt64?
    public var activityID: String?
    public var relatedActivityID: String?
    public var processID: UInt32?
    public var threadID: UInt32?
    public var channel: String?
    public var computer: String?
    /// `Security/@UserID`, a SID.
    public var userID: String?

    public enum DataSection: Sendable, Equatable {
        case none
        case eventData
        /// `UserData` and the name of its one child element.
        case userData(String)
    }

    public struct DataItem: Sendable, Equatable {
        /// `Name` of a `<Data>`, the element name for others (`Binary`, `UserData` leaves);
        /// empty for a `<Data>` without a name.
        public var name: String
        public var value: String
    }

    public var section: DataSection = .none

    /// The data items, in record order. Kept as UTF-8 bytes (``values``) and
    /// made into Strings only when asked for.
    public var data: [DataItem] {
        get { (0..<values.count).map { DataItem(name: values.names[$0], value: values.string($0)) } }
        set { values = DataValues(newValue) }
    }

    /// The data items as the reader keeps them: every value's UTF-8 one after
    /// the other in one buffer.
    var values = DataValues()

    public init(recordID: UInt64, written: Int64, fileOffset: Int) {
        self.recordID = recordID
        self.written = written
        self.fileOffset = fileOffset
    }

    /// The value of the first data item named `name`.
    public func value(_ name: String) -> String? {
        values.index(of: name).map { values.string($0) }
    }
}

/// Data items without a String per value: their names, and where each
/// value's UTF-8 ends in `bytes` (it starts where the previous one ends).
///
/// `names` is often the very array of a ``TemplatePlan`` (every record of a
/// planned template shares it: no String retained per item, and
/// ``EvtxEventMaker`` recognises the list of names by its storage).
struct DataValues: Sendable {
    var bytes: [UInt8] = []
    var names: [String] = []
    var ends: [Int] = []

    init() {}

    init(_ data: [EvtxRecord.DataItem]) {
        for item in data {
            bytes.append(contentsOf: item.value.utf8)
            names.append(item.name)
            ends.append(bytes.count)
        }
    }

    var count: Int { ends.count }

    /// No items, the buffers' storage kept.
    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        names = []
    }

    @inline(__always)
    func range(_ i: Int) -> Range<Int> {
        (i == 0 ? 0 : ends[i - 1])..<ends[i]
    }

    func string(_ i: Int) -> String {
        let r = range(i)
        return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[r]), as: UTF8.self) }
    }

    func index(of name: String) -> Int? {
        let length = name.utf8.count
        for i in 0..<count where names[i].utf8.count == length && names[i] == name { return i }
        return nil
    }
}
