/// What swiftmon knows about a live process, for the events of its threads, its
/// exit and its children. Filled from the start-up scan of /proc and from the
/// kernel's exec and fork records, never from /proc on the hot path.
///
/// One is kept per live process (tens of thousands on a busy host), so it is
/// kept small: 88 bytes inline (was 144); the GUID's text formatted when an
/// event asks for it (~0.1 µs) rather than held (38 bytes and an allocation
/// per process); the rare exact bytes of non-UTF-8 text in one optional box;
/// the image shared between processes that run the same one (the cache
/// interns it).
public struct ProcessEntry: Sendable {
    public var guid: ProcessGuid
    public var pid: UInt32
    /// Its id in its own pid namespace (0 when unknown).
    public var containerPid: UInt32 = 0
    fileprivate var imageText: String
    fileprivate var commandLineText: String
    public var user: String
    /// Exact bytes of image/command line when they were not valid UTF-8 (rare).
    private var inexact: InexactBytes?
    /// Its cgroup, container and namespaces (shared between processes), or nil
    /// when unknown.
    public var container: ProcessContainer?

    /// `guid` as events show it.
    public var guidText: String { guid.description }
    public var image: FieldText { FieldText(string: imageText, isExact: inexact?.image == nil) }
    public var commandLine: FieldText { FieldText(string: commandLineText, isExact: inexact?.commandLine == nil) }
    public var imageBytes: [UInt8]? { inexact?.image }
    public var commandLineBytes: [UInt8]? { inexact?.commandLine }

    public init(guid: ProcessGuid, pid: UInt32, image: [UInt8], commandLine: [UInt8], user: String) {
        self.guid = guid
        self.pid = pid
        let imageText = FieldText(image), commandLineText = FieldText(commandLine)
        self.imageText = imageText.string
        self.commandLineText = commandLineText.string
        self.user = user
        inexact = InexactBytes.unlessBothNil(image: imageText.isExact ? nil : image,
                                             commandLine: commandLineText.isExact ? nil : commandLine)
    }

    /// The entry for the process an event describes, from the image and
    /// command line the event already holds. `commandLine` nil: the caller
    /// keeps the command line elsewhere for now (the entry's is empty until
    /// ``setCommandLine(utf8:)``).
    public init(guid: ProcessGuid, pid: UInt32, event: Event, image: Int, commandLine: Int?, user: String) {
        self.guid = guid
        self.pid = pid
        imageText = event[image]
        commandLineText = commandLine.map { event[$0] } ?? ""
        self.user = user
        inexact = InexactBytes.unlessBothNil(image: event.rawBytes[image], commandLine: commandLine.flatMap { event.rawBytes[$0] })
    }

    /// Sets the command line from valid UTF-8 (one the caller held as bytes).
    public mutating func setCommandLine(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        commandLineText = String(decoding: bytes, as: UTF8.self)
    }
}

/// The exact bytes of an entry's image and command line that were not valid UTF-8.
private final class InexactBytes: Sendable {
    let image: [UInt8]?
    let commandLine: [UInt8]?

    private init(image: [UInt8]?, commandLine: [UInt8]?) {
        self.image = image
        self.commandLine = commandLine
    }

    static func unlessBothNil(image: [UInt8]?, commandLine: [UInt8]?) -> InexactBytes? {
        image == nil && commandLine == nil ? nil : InexactBytes(image: image, commandLine: commandLine)
    }
}

/// The processes alive now, by PID. Entries of processes that exited stay a
/// little while (`retention` events later they go) so that records already in
/// flight — a child's exec that raced its parent's exit — still find them.
///
/// The entries are held dense, in one array, and found through a small
/// pid → position table: a dictionary of the entries themselves keeps room
/// for up to twice as many as it holds (its load stays under 3/4, its size a
/// power of two), 88 bytes each — 5.8 MiB for 32,000 processes where the
/// array and the table take 3.3 (measured in scripts/bench-memory.sh).
public struct ProcessCache: Sendable {
    @usableFromInline var entries: ContiguousArray<ProcessEntry> = []
    /// Where each live pid's entry is in `entries` (not a dictionary:
    /// ``PidTable``).
    @usableFromInline var positions = PidTable()
    /// The most entries held since the storage was last made smaller.
    private var liveHighWater = 0
    /// One copy of each image path (up to `internLimit`), shared by the
    /// entries of every process that runs it.
    private var images: Set<String> = []
    private static let internLimit = 8192
    private var exited: [(pid: UInt32, guid: ProcessGuid, at: UInt64)] = []
    private var exitedHead = 0
    private var clock: UInt64 = 0
    public let retention: UInt64
    public let capacity: Int

    public init(retention: UInt64 = 4096, capacity: Int = 1 << 20) {
        self.retention = retention
        self.capacity = capacity
    }

    public var count: Int { entries.count }

    /// Entries the storage has room for without growing (what it costs:
    /// this many times `MemoryLayout<ProcessEntry>.stride`, plus the table).
    public var reservedEntries: Int { entries.capacity }

    public subscript(pid: UInt32) -> ProcessEntry? {
        guard let at = positions[pid] else { return nil }
        return entries[Int(at)]
    }

    /// The entry for `pid` if it is the process named by `guid`.
    public func lookup(pid: UInt32, guid: ProcessGuid) -> ProcessEntry? {
        guard let at = positions[pid] else { return nil }
        let info = entries[Int(at)]
        return info.guid == guid ? info : nil
    }

    /// Runs `body` on the entry for `pid` if it is the process named by
    /// `guid`, lent in place (``lookup(pid:guid:)`` returns a copy: a retain
    /// and a release of each of its references, per record on the reader's
    /// hot path). Nil when there is no such entry.
    @inlinable
    public func withEntry<R>(pid: UInt32, guid: ProcessGuid, _ body: (ProcessEntry) throws -> R) rethrows -> R? {
        guard let at = positions[pid] else { return nil }
        return try entries.withUnsafeBufferPointer { entries in
            entries[Int(at)].guid == guid ? try body(entries[Int(at)]) : nil
        }
    }

    /// Runs `body` on the entry for `pid`, in place, if it is the process
    /// named by `guid`; returns whether there was one. (A ``lookup(pid:guid:)``
    /// and ``update(_:)`` pair copies the entry twice.) Not an operation for
    /// the retention clock.
    @discardableResult
    public mutating func modifyEntry(pid: UInt32, guid: ProcessGuid, _ body: (inout ProcessEntry) -> Void) -> Bool {
        guard let at = positions[pid], entries[Int(at)].guid == guid else { return false }
        body(&entries[Int(at)])
        return true
    }

    /// Replaces the entry of the process `entry` names, if it is still held
    /// (no other effect: not an operation for the retention clock).
    public mutating func update(_ entry: ProcessEntry) {
        guard let at = positions[entry.pid], entries[Int(at)].guid == entry.guid else { return }
        entries[Int(at)] = entry
    }

    /// Takes `info` (consumed: the caller's last use of an entry moves it
    /// in, with no copy of its references). `imageFromCache`: its image is
    /// another entry's (a fork's child inherits its parent's), already
    /// shared as far as it can be — not hashed again (SipHash over the
    /// whole path, per fork in an exec storm).
    public mutating func insert(_ info: consuming ProcessEntry, imageFromCache: Bool = false) {
        tick()
        guard info.pid != PidTable.empty else { return }  // no process has it (``PidTable``)
        // Strings of up to 15 UTF-8 bytes are held inline: only longer ones are worth sharing.
        if !imageFromCache, info.imageText.utf8.count > 15 {
            if let shared = images.firstIndex(of: info.imageText) {
                info.imageText = images[shared]
            } else if images.count < Self.internLimit {
                images.insert(info.imageText)
            }
        }
        if let at = positions[info.pid] {
            entries[Int(at)] = info
            return
        }
        if entries.count >= capacity { return }
        if entries.count == entries.capacity {
            // A quarter more, not twice as much: the room that waits unused
            // is a quarter at most (the copy is of plain values, no retains).
            entries.reserveCapacity(entries.count + entries.count / 4 + 64)
        }
        positions.set(info.pid, UInt32(entries.count))
        entries.append(info)
        liveHighWater = max(liveHighWater, entries.count)
    }

    /// Set when the cache gave back the room of many entries that exited
    /// (the caller may then hand the freed memory back to the system).
    public private(set) var shrank = false

    public mutating func takeShrank() -> Bool {
        defer { shrank = false }
        return shrank
    }

    /// Marks a process gone; its entry stays for `retention` more operations.
    public mutating func markExited(pid: UInt32, guid: ProcessGuid) {
        tick()
        exited.append((pid, guid, clock))
    }

    /// Takes `pid`'s entry out if it is still `guid`'s: the last entry moves
    /// into its place.
    private mutating func remove(pid: UInt32, guid: ProcessGuid) {
        guard let at = positions[pid], entries[Int(at)].guid == guid else { return }
        positions.remove(pid)
        // The last entry is moved out and into the gap (swapAt copied both
        // entries through a temporary: a retain and a release of each of
        // their references, per exit).
        let moved = entries.removeLast()
        if Int(at) < entries.count {
            positions.set(moved.pid, at)
            entries[Int(at)] = moved
        }
    }

    private mutating func tick() {
        clock &+= 1
        while exitedHead < exited.count, clock - exited[exitedHead].at > retention {
            let (pid, guid, _) = exited[exitedHead]
            remove(pid: pid, guid: guid)
            exitedHead += 1
        }
        if exitedHead > 4096, exitedHead * 2 > exited.count {
            exited.removeFirst(exitedHead)
            exitedHead = 0
            if exited.capacity > 4 * max(exited.count, 1024) { exited = Array(exited) }  // a copy holds only what is left
        }
        // Neither the array nor the table gives back its room when entries
        // go: after a burst (32,000 processes, then their exits) they would
        // hold it for good. Once they hold less than a quarter of their most,
        // both are copied to new ones sized for what is left.
        if liveHighWater > 4096, entries.count * 4 < liveHighWater {
            var smaller = ContiguousArray<ProcessEntry>()
            smaller.reserveCapacity(entries.count + entries.count / 4 + 64)
            smaller.append(contentsOf: entries)
            entries = smaller
            var table = PidTable(minimumCapacity: entries.count * 2)
            for (at, entry) in entries.enumerated() { table.set(entry.pid, UInt32(at)) }
            positions = table
            liveHighWater = entries.count
            if images.count > entries.count { images = Set(entries.lazy.map(\.imageText).filter { $0.utf8.count > 15 }) }
            shrank = true
        }
    }
}

extension Event {
    /// Writes `entry`'s image into the field at `i`; with ``setCommandLine(_:of:)``
    /// the process values an event takes from the cache. A text of more than
    /// 15 bytes is copied into the event's arena rather than shared: a
    /// shared String would be retained here, on the reader's thread, and
    /// released on the sink's, its reference count bouncing between the
    /// cores once per event. Values are the same either way; an absent
    /// (empty) text leaves the field absent.
    public mutating func setImage(_ i: Int, of entry: ProcessEntry) {
        setEntryText(i, entry.imageText, exact: entry.imageBytes)
    }

    /// The same for the entry's command line.
    public mutating func setCommandLine(_ i: Int, of entry: ProcessEntry) {
        setEntryText(i, entry.commandLineText, exact: entry.commandLineBytes)
    }

    private mutating func setEntryText(_ i: Int, _ text: String, exact: [UInt8]?) {
        if let exact { set(i, bytes: exact); return }
        guard !text.isEmpty else { return }
        // A native String's bytes are valid UTF-8, in place.
        if text.utf8.count > 15, text.utf8.withContiguousStorageIfAvailable({ setValidUTF8(i, $0) }) != nil { return }
        self[i] = text
    }
}
