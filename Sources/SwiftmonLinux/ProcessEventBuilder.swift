import CSwiftmonRecords
import SwiftmonCore

/// Turns the kernel's process records into Sysmon events, keeping the process
/// cache that gives each event its process's image, user and parent. Runs on
/// the ring-buffer reader's thread only; reads nothing from /proc.
final class ProcessEventBuilder {
    let host: HostIdentity
    let users: UserNames
    let hasher: FileHasher?
    /// Cgroup id and namespaces → the container values events carry.
    let containers: ContainerResolver
    // The mutable state below is this reader thread's alone and no access
    // to it overlaps another (a body lent an entry must not touch the
    // cache: ``withCachedEntry(pid:guid:_:)``): its run-time exclusivity
    // checks are left out. Hot path (issue 10): six to eight checks per
    // exec (swift_beginAccess, the access set in thread-local storage) were
    // ~6 % of `bench decode`'s instructions with the sink's and the
    // recycler's.
    @exclusivity(unchecked) private(set) var cache = ProcessCache()
    // The login session rarely changes between execs: format it once.
    @exclusivity(unchecked) private var lastLoginUID: UInt32 = 0xFFFF_FFFE
    @exclusivity(unchecked) private var lastLogon = (guid: "", id: "")
    /// Value arrays of events the outputs have written, for the next events.
    @exclusivity(unchecked) var valueStash = EventValueStash()
    /// One buffer for an exec's image, directory and command line in turn:
    /// each is assembled here from the record's bytes, then copied into the
    /// event's byte arena (no String per exec; see ``Event/setUTF8(_:_:)``).
    @exclusivity(unchecked) private var scratch: [UInt8] = []
    /// The UtcTime text of the current millisecond, shared by its events.
    @exclusivity(unchecked) var utcTimes = UtcTimeTextCache()
    /// Command lines of recent execs as bytes, not yet in their cache entries.
    @exclusivity(unchecked) var pendingCommandLines = PendingCommandLines()

    init(host: HostIdentity, users: UserNames, hasher: FileHasher?, containers: ContainerResolver? = nil) {
        self.host = host
        self.users = users
        self.hasher = hasher
        self.containers = containers ?? ContainerResolver(hierarchy: CgroupHierarchy.mounted())
    }

    func seed(with scanner: ProcScanner) -> Int { scanner.scan(into: &cache) }

    /// Whether the cache gave back the room of many exited processes since the last call.
    func cacheShrank() -> Bool { cache.takeShrank() }

    /// A scanner of /proc that fills entries the way this builder does.
    func scanner() -> ProcScanner { ProcScanner(host: host, users: users, containers: containers) }

    /// For sources other than the kernel records (the netlink fallback).
    func remember(_ entry: ProcessEntry) { cache.insert(entry) }
    func forget(pid: UInt32, guid: ProcessGuid) { cache.markExited(pid: pid, guid: guid) }

    func events(for record: KernelRecord, into out: inout [Event]) {
        switch record {
        case .exec(let r): out.append(processCreate(r))
        case .fork(let r): fork(r, into: &out)
        case .exit(let r): exit(r, into: &out)
        case .path, .network, .access, .bpf, .signal, .protectedFile: break  // other concerns' builders (SensorEventBuilder)
        }
    }

    private func processCreate(_ r: ExecRecord) -> Event {
        let h = r.raw.header
        let guid = host.guid(pid: h.pid, startBootNanoseconds: h.start_boot_ns)
        let creds = r.raw.credentials
        let user = users.name(creds.euid)

        typealias F = ProcessCreateField
        let time = host.time(bootNanoseconds: h.time_boot_ns)
        var e = newEvent(.processCreate, time: time)
        e.setGuid(F.processGuid, guid)
        e[F.processId] = String(h.pid)
        KernelText.path(fromComponents: r.imageComponents, truncated: h.has(SM_FLAG_IMAGE_TRUNCATED), into: &scratch)
        e.setUTF8(F.image, scratch)
        if let hasher, let hashes = hasher.hashes(
            path: scratch,
            identity: .init(device: UInt64(r.raw.image_device), inode: r.raw.image_inode,
                            ctimeNanoseconds: r.raw.image_ctime_ns)) {
            e[F.hashes] = hashes
        }
        if h.has(SM_FLAG_ARGS_UNREADABLE) {
            e[F.commandLine] = "…[command line unreadable]"
        } else {
            KernelText.commandLine(fromArguments: r.arguments, total: r.raw.args_total,
                                   truncated: h.has(SM_FLAG_ARGS_TRUNCATED), into: &scratch)
            e.setUTF8(F.commandLine, scratch)
        }
        let commandLinePending = holdCommandLine(of: guid, e, F.commandLine)
        KernelText.path(fromComponents: r.cwdComponents, truncated: h.has(SM_FLAG_CWD_TRUNCATED), into: &scratch)
        e.setUTF8(F.currentDirectory, scratch)
        e[F.user] = user
        if creds.login_uid != lastLoginUID {
            lastLoginUID = creds.login_uid
            lastLogon = (host.logonGuid(loginUID: creds.login_uid), String(creds.login_uid))
        }
        e[F.logonGuid] = lastLogon.guid
        e[F.logonId] = lastLogon.id
        e[F.terminalSessionId] = String(creds.session_id)
        e[F.integrityLevel] = "no level"  // what Sysmon for Linux writes
        let parentGuid = host.guid(pid: r.raw.parent_pid, startBootNanoseconds: r.raw.parent_start_boot_ns)
        e[F.parentProcessId] = String(r.raw.parent_pid)
        e.setGuid(F.parentProcessGuid, parentGuid)
        // The parent's entry read in place (no copy of it per exec).
        withCachedEntry(pid: r.raw.parent_pid, guid: parentGuid) { parent in
            e.setImage(F.parentImage, of: parent)
            if !pendingCommandLines.copy(of: parentGuid, into: &e, F.parentCommandLine) {
                e.setCommandLine(F.parentCommandLine, of: parent)
            }
            e[F.parentUser] = parent.user
        }
        switch r.raw.elf_class {
        case 1: e[F.architecture] = "32-bit"
        case 2: e[F.architecture] = "64-bit"
        default: break
        }
        let container = containers.container(r.raw.container)
        e.setContainer(container, pid: h.pid, containerPid: r.raw.container.ns_pid)
        var entry = ProcessEntry(guid: guid, pid: h.pid, event: e, image: F.image,
                                 commandLine: commandLinePending ? nil : F.commandLine, user: user)
        entry.container = container
        entry.containerPid = r.raw.container.ns_pid
        cache.insert(entry)
        return e
    }

    private func fork(_ r: ForkRecord, into out: inout [Event]) {
        let h = r.raw.header
        let guid = host.guid(pid: h.pid, startBootNanoseconds: h.start_boot_ns)
        if r.isThread {
            let time = host.time(bootNanoseconds: h.time_boot_ns)
            var e = newEvent(.threadCreate, time: time)
            let user = users.name(r.raw.credentials.euid)
            if withCachedEntry(pid: h.pid, guid: guid, { e.fill(process: guid, pid: h.pid, from: $0) }) == nil {
                e.fill(process: guid, pid: h.pid, from: nil, fallbackUser: user)
            }
            e[ThreadField.createThreadId] = String(h.tid)
            out.append(e)
            return
        }
        // A new process runs its parent's image until it execs: it inherits
        // the parent's entry under its own GUID. No event: ProcessCreate comes
        // with exec, as in Sysmon for Linux.
        let parentGuid = host.guid(pid: r.raw.parent_pid, startBootNanoseconds: r.raw.parent_start_boot_ns)
        let user = users.name(r.raw.credentials.euid)
        // The child inherits the parent's entry, command line included: it
        // becomes text in the parent's entry now (once per parent).
        materializeCommandLine(of: parentGuid)
        var entry = withCachedEntry(pid: r.raw.parent_pid, guid: parentGuid, { $0 })
            ?? ProcessEntry(guid: guid, pid: h.pid, image: [], commandLine: [], user: user)
        entry.guid = guid
        entry.pid = h.pid
        entry.user = user
        // Its own cgroup (clone3 may place it elsewhere) and namespaces (a
        // new pid namespace's first process is its pid 1).
        if let container = containers.container(r.raw.container) { entry.container = container }
        entry.containerPid = r.raw.container.ns_pid
        cache.insert(entry, imageFromCache: true)
    }

    private func exit(_ r: ExitRecord, into out: inout [Event]) {
        let h = r.raw.header
        let guid = host.guid(pid: h.pid, startBootNanoseconds: h.start_boot_ns)
        let time = host.time(bootNanoseconds: h.time_boot_ns)
        if r.isThread {
            var e = newEvent(.threadTerminate, time: time)
            fill(&e, process: guid, pid: h.pid)
            e[ThreadField.terminateThreadId] = String(h.tid)
            out.append(e)
        }
        guard r.isLastThread else { return }
        var e = newEvent(.processTerminate, time: time)
        fill(&e, process: guid, pid: h.pid)
        e[ProcessTerminateField.exitCode] = String(ProcessEventBuilder.exitStatus(r.raw.exit_code))
        out.append(e)
        cache.markExited(pid: h.pid, guid: guid)
    }

    /// ``ProcessCache/withEntry(pid:guid:_:)`` on this builder's cache, lent
    /// through an inout access: a read of a class's stored struct copies it
    /// for the call (a retain and a release of each of the cache's four
    /// buffers per record: the live sensor's profile). The reader's thread
    /// owns the cache; `body` must not touch it.
    func withCachedEntry<R>(pid: UInt32, guid: ProcessGuid, _ body: (ProcessEntry) -> R) -> R? {
        func lend(_ cache: inout ProcessCache) -> R? { cache.withEntry(pid: pid, guid: guid, body) }
        return lend(&cache)
    }

    /// Fills `e`'s process fields from the cache entry of `guid`, read in
    /// place (no copy of the entry per event), or with what the record says
    /// when there is none.
    private func fill(_ e: inout Event, process guid: ProcessGuid, pid: UInt32) {
        if withCachedEntry(pid: pid, guid: guid, { e.fill(process: guid, pid: pid, from: $0) }) == nil {
            e.fill(process: guid, pid: pid, from: nil, fallbackUser: nil)
        }
    }

    /// Keeps the command line the exec's event holds as bytes among the
    /// pending ones, instead of making it text for the cache entry (a String
    /// per exec: issue 10's last allocation). Returns whether it did; the one
    /// it displaces becomes text in its entry if that process is still cached.
    private func holdCommandLine(of guid: ProcessGuid, _ e: Event, _ field: Int) -> Bool {
        guard e.isHeldAsBytes(field), e.utf8Count(field) <= PendingCommandLines.longest else { return false }
        if let owner = pendingCommandLines.owner(ofSlotFor: guid.pid), owner != guid {
            materializeCommandLine(of: owner)
        }
        e.withUTF8(field) { pendingCommandLines.hold($0, for: guid) }
        return true
    }

    /// Moves `guid`'s pending command line, if any, into its cache entry as text.
    func materializeCommandLine(of guid: ProcessGuid) {
        guard pendingCommandLines.owner(ofSlotFor: guid.pid) == guid else { return }
        cache.modifyEntry(pid: guid.pid, guid: guid) { entry in
            pendingCommandLines.withBytes(ofSlotFor: guid.pid) { entry.setCommandLine(utf8: $0) }
        }
        pendingCommandLines.release(slotFor: guid.pid)
    }

    /// An event of `kind` with every field absent but UtcTime, its value
    /// storage one the outputs handed back and its UtcTime bytes in its arena
    /// (no allocation in steady state).
    func newEvent(_ kind: EventKind, time: EventTime) -> Event {
        var e = Event(kind, time: time, utcTime: Event.absent, stash: &valueStash)
        utcTimes.write(time, into: &e)
        return e
    }

    /// wait(2)'s status → the exit code a shell shows: the status of a normal
    /// exit, 128 + the signal number for a process killed by a signal.
    static func exitStatus(_ code: UInt32) -> Int {
        let signal = Int(code & 0x7F)
        return signal == 0 ? Int((code >> 8) & 0xFF) : 128 + signal
    }
}

extension Event {
    /// ProcessGuid, ProcessId, Image and User of the process an event
    /// belongs to; the GUID written as bytes (``Event/setGuid(_:_:)``).
    mutating func fill(process guid: ProcessGuid, pid: UInt32, from entry: ProcessEntry?, fallbackUser: String?) {
        if let entry {
            fill(process: guid, pid: pid, from: entry)
            return
        }
        let fields = Self.processFields(of: kind)
        setGuid(fields.processGuid, guid)
        self[fields.processId] = String(pid)
        if let fallbackUser { self[fields.user] = fallbackUser }
        setContainer(nil, pid: pid, containerPid: 0)
    }

    /// The same from a cache entry lent in place. (An entry passed as an
    /// Optional was copied into it: a retain and a release of each of its
    /// references per event, ThreadCreate and ProcessTerminate on the hot path.)
    mutating func fill(process guid: ProcessGuid, pid: UInt32, from entry: borrowing ProcessEntry) {
        let fields = Self.processFields(of: kind)
        setGuid(fields.processGuid, guid)
        self[fields.processId] = String(pid)
        setImage(fields.image, of: entry)
        self[fields.user] = entry.user
        setContainer(entry.container, pid: pid, containerPid: entry.containerPid)
    }

    private static func processFields(of kind: EventKind) -> ProcessFieldPositions {
        guard let fields = ProcessFieldPositions.of(kind) else {
            preconditionFailure("\(kind.name) has no ProcessGuid, ProcessId, Image or User")
        }
        return fields
    }

    mutating func set(parent: ProcessEntry) {
        setText("ParentImage", parent.image, exact: parent.imageBytes)
        setText("ParentCommandLine", parent.commandLine, exact: parent.commandLineBytes)
        self["ParentUser"] = parent.user
    }

    mutating func setText(_ field: String, _ text: FieldText, exact: [UInt8]?) {
        guard let i = kind.index(of: field) else { preconditionFailure("\(kind.name) has no field \(field)") }
        setText(i, text, exact: exact)
    }

    mutating func setText(_ i: Int, _ text: FieldText, exact: [UInt8]?) {
        if let exact { set(i, bytes: exact) } else if !text.string.isEmpty { self[i] = text.string }
    }
}

/// Where ProcessGuid, ProcessId, Image and User are in each kind that has
/// them, by EventID, looked up once (not by name per event).
struct ProcessFieldPositions {
    let processGuid: Int
    let processId: Int
    let image: Int
    let user: Int

    private static let table: [ProcessFieldPositions?] = {
        var table = [ProcessFieldPositions?](repeating: nil, count: (EventKind.all.map(\.id).max() ?? 0) + 1)
        for kind in EventKind.all where kind.id >= 0 {
            if let g = kind.index(of: "ProcessGuid"), let p = kind.index(of: "ProcessId"),
               let i = kind.index(of: "Image"), let u = kind.index(of: "User") {
                table[kind.id] = ProcessFieldPositions(processGuid: g, processId: p, image: i, user: u)
            }
        }
        return table
    }()

    static func of(_ kind: EventKind) -> ProcessFieldPositions? {
        kind.id >= 0 && kind.id < table.count ? table[kind.id] : nil
    }
}

/// Command lines of recent execs, as bytes, by pid modulo ``slots``: the
/// process cache would hold each as a String from its exec on (an allocation
/// per exec, issue 10), but a command line is read again only as the
/// ParentCommandLine of the process's children. It stays here, in a buffer
/// that is reused, until the process forks (its children inherit its cache
/// entry) or a later exec takes its slot while the process is still cached;
/// then it becomes text in the entry. A short-lived process that starts no
/// child never has its command line made text. Bounded: ``slots`` buffers
/// of at most ``longest`` bytes (longer command lines go to the entry at once).
/// The reader's thread only.
struct PendingCommandLines {
    static let slots = 4096
    static let longest = 512
    private var owners = [ProcessGuid?](repeating: nil, count: slots)
    private var buffers = [[UInt8]](repeating: [], count: slots)

    @inline(__always)
    private static func slot(_ pid: UInt32) -> Int { Int(pid) & (slots - 1) }

    func owner(ofSlotFor pid: UInt32) -> ProcessGuid? { owners[Self.slot(pid)] }

    mutating func hold(_ bytes: UnsafeBufferPointer<UInt8>, for guid: ProcessGuid) {
        let k = Self.slot(guid.pid)
        owners[k] = guid
        buffers[k].removeAll(keepingCapacity: true)
        buffers[k].append(contentsOf: bytes)
    }

    func withBytes(ofSlotFor pid: UInt32, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        buffers[Self.slot(pid)].withUnsafeBufferPointer(body)
    }

    mutating func release(slotFor pid: UInt32) { owners[Self.slot(pid)] = nil }

    /// Writes `guid`'s command line into `event`'s `field` if it is held here.
    func copy(of guid: ProcessGuid, into event: inout Event, _ field: Int) -> Bool {
        let k = Self.slot(guid.pid)
        guard owners[k] == guid else { return false }
        if buffers[k].isEmpty { return true }  // an empty command line: the field stays absent, as from an entry
        buffers[k].withUnsafeBufferPointer { event.setValidUTF8(field, $0) }
        return true
    }
}

enum ProcessTerminateField {
    static let exitCode = EventKind.processTerminate.index(of: "ExitCode")!
}

enum ThreadField {
    static let createThreadId = EventKind.threadCreate.index(of: "ThreadId")!
    static let terminateThreadId = EventKind.threadTerminate.index(of: "ThreadId")!
}

/// Positions of ProcessCreate's fields, looked up once.
enum ProcessCreateField {
    static let kind = EventKind.processCreate
    static let processGuid = kind.index(of: "ProcessGuid")!
    static let processId = kind.index(of: "ProcessId")!
    static let image = kind.index(of: "Image")!
    static let commandLine = kind.index(of: "CommandLine")!
    static let currentDirectory = kind.index(of: "CurrentDirectory")!
    static let user = kind.index(of: "User")!
    static let logonGuid = kind.index(of: "LogonGuid")!
    static let logonId = kind.index(of: "LogonId")!
    static let terminalSessionId = kind.index(of: "TerminalSessionId")!
    static let hashes = kind.index(of: "Hashes")!
    static let integrityLevel = kind.index(of: "IntegrityLevel")!
    static let parentProcessGuid = kind.index(of: "ParentProcessGuid")!
    static let parentProcessId = kind.index(of: "ParentProcessId")!
    static let parentImage = kind.index(of: "ParentImage")!
    static let parentCommandLine = kind.index(of: "ParentCommandLine")!
    static let parentUser = kind.index(of: "ParentUser")!
    static let architecture = kind.index(of: "Architecture")!
}
