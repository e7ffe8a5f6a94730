/// One event in Sysmon's schema: a kind, the time it happened and one value
/// per field of the kind, in schema order. An absent value is `-`.
///
/// A value is held either as a `String` or, on the live hot path (issue 10),
/// as UTF-8 bytes in the event's own byte arena (``setUTF8(_:_:)``): a GUID or
/// a command line longer than 15 bytes would otherwise be one allocation each
/// per event, where the arena is one reused buffer (recycled with the event,
/// see ``EventValueRecycler``). Every read API (``subscript(_:)-(Int)``,
/// ``values``) gives text whichever way a value is held; renderers and the
/// rules read the bytes in place with ``withUTF8(_:_:)``.
public struct Event: Sendable {
    public let kind: EventKind
    /// When it happened, in nanoseconds since the Unix epoch (UTC).
    public let time: EventTime
    /// One text per ``EventKind/fields`` entry; a field held as bytes has `""` here.
    /// (`@usableFromInline`, and the readers below `@inlinable`: the sinks
    /// and rules in other modules read values through them per field, and
    /// an unspecialized generic call per field cost more than the whole
    /// render — `bench decode` profile: generic metadata lookups.)
    @usableFromInline var texts: [String]
    /// Empty, or the byte-valued fields: first a table with one 8-byte entry
    /// per field (UInt32 start, UInt32 count; start 0 = the field is text),
    /// then the fields' bytes, each valid UTF-8.
    @usableFromInline var arena: [UInt8]
    /// The exact bytes of values that were not valid UTF-8, by field index.
    /// The value holds a readable escaped form of them (see ``FieldText``);
    /// sinks that can carry bytes losslessly (JSON) use these instead.
    public private(set) var rawBytes: [Int: [UInt8]]

    /// (A literal, not a stored global: events are filled with it per
    /// field, and a stored String's value is retained per copy — a call per
    /// field per event — where the compiler knows a literal needs none.)
    @inlinable public static var absent: String { "-" }

    /// An event with every field absent but `UtcTime`.
    public init(_ kind: EventKind, time: EventTime) {
        self.init(kind, time: time, utcTime: kind.utcTimeIndex == nil ? Event.absent : time.sysmonText)
    }

    /// The same with `UtcTime` already written (``UtcTimeTextCache`` gives
    /// the events of one millisecond one shared text).
    public init(_ kind: EventKind, time: EventTime, utcTime: String) {
        self.kind = kind
        self.time = time
        self.texts = Array(repeating: Event.absent, count: kind.fieldCount)
        self.arena = []
        self.rawBytes = [:]
        if let i = kind.utcTimeIndex { texts[i] = utcTime }
    }

    /// The same, its value storage taken from `stash` (what the outputs
    /// handed back, see ``EventValueRecycler``): no allocation per event.
    public init(_ kind: EventKind, time: EventTime, utcTime: String, stash: inout EventValueStash) {
        self.kind = kind
        self.time = time
        self.rawBytes = [:]
        // Filled in place, with no local copy: a second reference to the
        // array while it is written made the UtcTime write copy it (bench
        // allocation stacks: one allocation per event, and the copy, sized
        // for its kind only, often too small to be reused).
        // Moved out of the storage (swap), not copied: a second reference
        // would make the first write copy the buffer.
        var storage = stash.next()
        self.texts = []
        self.arena = []
        swap(&self.texts, &storage.texts)
        swap(&self.arena, &storage.arena)
        // Recycled texts are all absent already, as many as their last
        // kind's fields: only a difference in count is made up.
        let n = kind.fieldCount
        if self.texts.count > n {
            self.texts.removeLast(self.texts.count - n)
        } else if self.texts.count < n {
            self.texts.append(contentsOf: repeatElement(Event.absent, count: n - self.texts.count))
        }
        if let i = kind.utcTimeIndex { self.texts[i] = utcTime }
    }

    /// The values as texts, in schema order. Free for an event with no
    /// byte-valued field; otherwise the byte-valued ones are made Strings
    /// here (readers on a hot path use ``withUTF8(_:_:)`` instead).
    public var values: [String] {
        if arena.isEmpty { return texts }
        var out = texts
        for i in out.indices where span(i).start != 0 { out[i] = self[i] }
        return out
    }

    /// The value of `field`, or `nil` when the kind has no such field.
    public subscript(field: String) -> String? {
        get { kind.index(of: field).map { self[$0] } }
        set {
            guard let i = kind.index(of: field) else {
                preconditionFailure("\(kind.name) has no field \(field)")
            }
            self[i] = newValue ?? Event.absent
        }
    }

    public subscript(index: Int) -> String {
        @inlinable get {
            if !arena.isEmpty {
                let s = span(index)
                if s.start != 0 {
                    return arena.withUnsafeBufferPointer {
                        String(decoding: UnsafeBufferPointer(rebasing: $0[s.start..<s.start + s.count]), as: UTF8.self)
                    }
                }
            }
            return texts[index]
        }
        set {
            texts[index] = newValue
            if !arena.isEmpty { setSpan(index, start: 0, count: 0) }
            if !rawBytes.isEmpty { rawBytes[index] = nil }
        }
    }

    /// The UTF-8 bytes of the value at `index`, in place (no copy of a
    /// String's storage, no String made of arena bytes).
    @inlinable
    public func withUTF8<R>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if !arena.isEmpty {
            let s = span(index)
            if s.start != 0 {
                return try arena.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[s.start..<s.start + s.count])) }
            }
        }
        return try texts.withUnsafeBufferPointer { texts in
            if let r = try texts[index].utf8.withContiguousStorageIfAvailable(body) { return r }
            var copy = texts[index]  // a small (inline) string: its bytes copied once
            return try copy.withUTF8(body)
        }
    }

    /// The number of UTF-8 bytes of the value at `index`.
    @inlinable
    public func utf8Count(_ index: Int) -> Int {
        if !arena.isEmpty {
            let s = span(index)
            if s.start != 0 { return s.count }
        }
        return texts[index].utf8.count
    }

    /// Whether the value at `index` is absent (`-`).
    @inlinable
    public func isAbsent(_ index: Int) -> Bool {
        withUTF8(index) { $0.count == 1 && $0[0] == UInt8(ascii: "-") }
    }

    /// Whether the value at `index` is held as bytes in the arena.
    @inlinable
    public func isHeldAsBytes(_ index: Int) -> Bool { !arena.isEmpty && span(index).start != 0 }

    /// Sets `field` from bytes read from the kernel (paths, command lines): kept
    /// exactly when they are not valid UTF-8.
    public mutating func set(_ field: String, bytes: [UInt8]) {
        guard let i = kind.index(of: field) else {
            preconditionFailure("\(kind.name) has no field \(field)")
        }
        set(i, bytes: bytes)
    }

    /// Sets the field at `i` (see ``EventKind/index(of:)``) from kernel bytes,
    /// as a String.
    public mutating func set(_ i: Int, bytes: [UInt8]) {
        let text = FieldText(bytes)
        self[i] = text.string
        if !text.isExact { rawBytes[i] = bytes }
    }

    /// Sets the field at `i` from bytes, held as bytes in the arena when they
    /// are valid UTF-8 (no String made); otherwise as ``set(_:bytes:)`` does.
    public mutating func setUTF8(_ i: Int, _ bytes: [UInt8]) {
        let valid = bytes.withUnsafeBufferPointer { FieldText.isValidUTF8($0) }
        guard valid else { set(i, bytes: bytes); return }
        bytes.withUnsafeBufferPointer { appendToArena(i, $0) }
    }

    /// The same from a buffer of bytes already known to be valid UTF-8 (the
    /// caller wrote them: a formatted GUID, digits).
    public mutating func setValidUTF8(_ i: Int, _ bytes: UnsafeBufferPointer<UInt8>) {
        appendToArena(i, bytes)
    }

    /// Writes the value at `i` in place into the arena: `body` is given room
    /// for `capacity` bytes and returns how many it wrote (valid UTF-8).
    /// (Written on the stack, then copied: room made in the arena first
    /// was a zero fill and a trim per value — a GUID's 38 bytes, two or three
    /// per event.)
    public mutating func writeUTF8(_ i: Int, capacity: Int, _ body: (UnsafeMutableBufferPointer<UInt8>) -> Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { room in
            let n = body(room)
            appendToArena(i, UnsafeBufferPointer(rebasing: room[..<n]))
        }
    }

    /// Makes room in the arena for its field table and `capacity` more bytes
    /// of values, so that values set after it up to that size take one
    /// allocation (the arena otherwise grows by doubling as values come).
    public mutating func reserveArena(capacity: Int) {
        let table = arena.isEmpty ? 8 * kind.fieldCount : 0
        arena.reserveCapacity(arena.count + table + capacity)
    }

    private mutating func appendToArena(_ i: Int, _ bytes: UnsafeBufferPointer<UInt8>) {
        prepareArena()
        let start = arena.count
        arena.append(contentsOf: bytes)
        finishArenaValue(i, start: start, count: bytes.count)
    }

    @inline(__always)
    private mutating func prepareArena() {
        if arena.isEmpty { ZeroFill.append(8 * kind.fieldCount, to: &arena) }
    }

    @inline(__always)
    private mutating func finishArenaValue(_ i: Int, start: Int, count: Int) {
        setSpan(i, start: start, count: count)
        if !texts[i].isEmpty { texts[i] = "" }  // releases the text it held (an immortal literal in the common case)
        if !rawBytes.isEmpty { rawBytes[i] = nil }
    }

    @inlinable
    func span(_ i: Int) -> (start: Int, count: Int) {
        arena.withUnsafeBytes { raw in
            (Int(raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt32.self)),
             Int(raw.loadUnaligned(fromByteOffset: 8 * i + 4, as: UInt32.self)))
        }
    }

    @inline(__always)
    private mutating func setSpan(_ i: Int, start: Int, count: Int) {
        arena.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(start), toByteOffset: 8 * i, as: UInt32.self)
            raw.storeBytes(of: UInt32(count), toByteOffset: 8 * i + 4, as: UInt32.self)
        }
    }

    /// Copies the value (and exact bytes) of `source[sourceField]` into `field`.
    public mutating func copy(_ field: String, from other: Event, _ sourceField: String) {
        guard let i = kind.index(of: field), let j = other.kind.index(of: sourceField) else { return }
        copy(i, from: other, j)
    }

    /// The same by position: bytes stay bytes, text stays text.
    public mutating func copy(_ i: Int, from other: Event, _ j: Int) {
        if let raw = other.rawBytes[j] {
            self[i] = other.texts[j]
            rawBytes[i] = raw
        } else if other.isHeldAsBytes(j) {
            other.withUTF8(j) { appendToArena(i, $0) }
        } else {
            self[i] = other.texts[j]
        }
    }

    /// Fields with their values, in schema order.
    public var fields: Zip2Sequence<[String], [String]> { zip(kind.fields, values) }
}
