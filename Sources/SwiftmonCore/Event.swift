/// One event in Sysmon's schema: a kind, the time it happened and one text
/// value per field of the kind, in schema order. An absent value is `-`.
public struct Event: Sendable {
    public let kind: EventKind
    /// When it happened, in nanoseconds since the Unix epoch (UTC).
    public let time: EventTime
    /// One value per ``EventKind/fields`` entry.
    public internal(set) var values: [String]  // set by EventValueRecycler too
    /// The exact bytes of values that were not valid UTF-8, by field index.
    /// ``values`` holds a readable escaped form of them (see ``FieldText``);
    /// sinks that can carry bytes losslessly (JSON) use these instead.
    public private(set) var rawBytes: [Int: [UInt8]]

    public static let absent = "-"

    /// An event with every field absent but `UtcTime`.
    public init(_ kind: EventKind, time: EventTime) {
        self.init(kind, time: time, utcTime: kind.utcTimeIndex == nil ? Event.absent : time.sysmonText)
    }

    /// The same with `UtcTime` already written (``UtcTimeTextCache`` gives
    /// the events of one millisecond one shared text).
    public init(_ kind: EventKind, time: EventTime, utcTime: String) {
        self.kind = kind
        self.time = time
        self.values = Array(repeating: Event.absent, count: kind.fields.count)
        self.rawBytes = [:]
        if let i = kind.utcTimeIndex { values[i] = utcTime }
    }

    /// The same, its values array taken from `stash` (arrays the outputs
    /// handed back, see ``EventValueRecycler``): no allocation per event.
    public init(_ kind: EventKind, time: EventTime, utcTime: String, stash: inout EventValueStash) {
        self.kind = kind
        self.time = time
        self.rawBytes = [:]
        // Filled in place, with no local copy: a second reference to the
        // array while it is written made the UtcTime write copy it (bench
        // allocation stacks: one allocation per event, and the copy, sized
        // for its kind only, often too small to be reused).
        self.values = stash.next()
        self.values.append(contentsOf: repeatElement(Event.absent, count: kind.fields.count))
        if let i = kind.utcTimeIndex { self.values[i] = utcTime }
    }

    /// The value of `field`, or `nil` when the kind has no such field.
    public subscript(field: String) -> String? {
        get { kind.index(of: field).map { values[$0] } }
        set {
            guard let i = kind.index(of: field) else {
                preconditionFailure("\(kind.name) has no field \(field)")
            }
            values[i] = newValue ?? Event.absent
            if !rawBytes.isEmpty { rawBytes[i] = nil }
        }
    }

    public subscript(index: Int) -> String {
        get { values[index] }
        set {
            values[index] = newValue
            if !rawBytes.isEmpty { rawBytes[index] = nil }
        }
    }

    /// Sets `field` from bytes read from the kernel (paths, command lines): kept
    /// exactly when they are not valid UTF-8.
    public mutating func set(_ field: String, bytes: [UInt8]) {
        guard let i = kind.index(of: field) else {
            preconditionFailure("\(kind.name) has no field \(field)")
        }
        set(i, bytes: bytes)
    }

    /// Sets the field at `i` (see ``EventKind/index(of:)``) from kernel bytes.
    public mutating func set(_ i: Int, bytes: [UInt8]) {
        let text = FieldText(bytes)
        values[i] = text.string
        if text.isExact {
            if !rawBytes.isEmpty { rawBytes[i] = nil }
        } else {
            rawBytes[i] = bytes
        }
    }

    /// Copies the value (and exact bytes) of `source[sourceField]` into `field`.
    public mutating func copy(_ field: String, from other: Event, _ sourceField: String) {
        guard let i = kind.index(of: field), let j = other.kind.index(of: sourceField) else { return }
        values[i] = other.values[j]
        rawBytes[i] = other.rawBytes[j]
    }

    /// Fields with their values, in schema order.
    public var fields: Zip2Sequence<[String], [String]> { zip(kind.fields, values) }
}
