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
    public var data: [DataItem] = []

    public init(recordID: UInt64, written: Int64, fileOffset: Int) {
        self.recordID = recordID
        self.written = written
        self.fileOffset = fileOffset
    }

    /// The value of the first data item named `name`.
    public func value(_ name: String) -> String? {
        for item in data where item.name == name { return item.value }
        return nil
    }
}
