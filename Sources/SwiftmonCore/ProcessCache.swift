/// What swiftmon knows about a live process, for the events of its threads, its
/// exit and its children. Filled from the start-up scan of /proc and from the
/// kernel's exec and fork records, never from /proc on the hot path.
public struct ProcessEntry: Sendable {
    public var guid: ProcessGuid {
        didSet { guidText = guid.description }
    }
    /// `guid` as events show it, formatted once per process.
    public private(set) var guidText: String
    public var pid: UInt32
    public var image: FieldText
    public var commandLine: FieldText
    public var user: String
    /// Exact bytes of image/command line when they were not valid UTF-8.
    public var imageBytes: [UInt8]?
    public var commandLineBytes: [UInt8]?
    /// Its cgroup, container and namespaces (shared between processes), or nil
    /// when unknown.
    public var container: ProcessContainer?
    /// Its id in its own pid namespace (0 when unknown).
    public var containerPid: UInt32 = 0

    public init(guid: ProcessGuid, pid: UInt32, image: [UInt8], commandLine: [UInt8], user: String,
                guidText: String? = nil) {
        self.guid = guid
        self.guidText = guidText ?? guid.description
        self.pid = pid
        self.image = FieldText(image)
        self.commandLine = FieldText(commandLine)
        self.imageBytes = self.image.isExact ? nil : image
        self.commandLineBytes = self.commandLine.isExact ? nil : commandLine
        self.user = user
    }

    /// The entry for the process an event describes, from the image and
    /// command line the event already holds (converted once, for the event).
    public init(guid: ProcessGuid, pid: UInt32, event: Event, image: Int, commandLine: Int, user: String,
                guidText: String) {
        self.guid = guid
        self.guidText = guidText
        self.pid = pid
        self.imageBytes = event.rawBytes[image]
        self.commandLineBytes = event.rawBytes[commandLine]
        self.image = FieldText(string: event.values[image], isExact: imageBytes == nil)
        self.commandLine = FieldText(string: event.values[commandLine], isExact: commandLineBytes == nil)
        self.user = user
    }
}

/// The processes alive now, by PID. Entries of processes that exited stay a
/// little while (`retention` events later they go) so that records already in
/// flight — a child's exec that raced its parent's exit — still find them.
public struct ProcessCache: Sendable {
    private var live: [UInt32: ProcessEntry] = [:]
    private var exited: [(pid: UInt32, guid: ProcessGuid, at: UInt64)] = []
    private var exitedHead = 0
    private var clock: UInt64 = 0
    public let retention: UInt64
    public let capacity: Int

    public init(retention: UInt64 = 4096, capacity: Int = 1 << 20) {
        self.retention = retention
        self.capacity = capacity
    }

    public var count: Int { live.count }

    public subscript(pid: UInt32) -> ProcessEntry? { live[pid] }

    /// The entry for `pid` if it is the process named by `guid`.
    public func lookup(pid: UInt32, guid: ProcessGuid) -> ProcessEntry? {
        guard let info = live[pid], info.guid == guid else { return nil }
        return info
    }

    /// Just the GUID text of that entry (no copy of the entry).
    public func guidText(pid: UInt32, guid: ProcessGuid) -> String? {
        guard let index = live.index(forKey: pid), live.values[index].guid == guid else { return nil }
        return live.values[index].guidText
    }

    public mutating func insert(_ info: ProcessEntry) {
        tick()
        if live.count >= capacity, live[info.pid] == nil { return }
        live[info.pid] = info
    }

    /// Marks a process gone; its entry stays for `retention` more operations.
    public mutating func markExited(pid: UInt32, guid: ProcessGuid) {
        tick()
        exited.append((pid, guid, clock))
    }

    private mutating func tick() {
        clock &+= 1
        while exitedHead < exited.count, clock - exited[exitedHead].at > retention {
            let (pid, guid, _) = exited[exitedHead]
            if live[pid]?.guid == guid { live[pid] = nil }
            exitedHead += 1
        }
        if exitedHead > 4096, exitedHead * 2 > exited.count {
            exited.removeFirst(exitedHead)
            exitedHead = 0
        }
    }
}
