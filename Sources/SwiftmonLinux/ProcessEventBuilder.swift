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
    private(set) var cache = ProcessCache()
    // The login session rarely changes between execs: format it once.
    private var lastLoginUID: UInt32 = 0xFFFF_FFFE
    private var lastLogon = (guid: "", id: "")
    // The cache keeps no GUID text (memory per process); in a storm one parent
    // (a shell, a build tool) starts many children: format its GUID once.
    private var lastParentGuid: ProcessGuid?
    private var lastParentGuidText = ""
    /// One buffer for an exec's image, directory and command line in turn:
    /// each is assembled here from the record's bytes, then becomes its
    /// field's String (no other copy per exec).
    private var scratch: [UInt8] = []
    /// The UtcTime text of the current millisecond, shared by its events.
    var utcTimes = UtcTimeTextCache()

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
        var e = Event(.processCreate, time: time, utcTime: utcTimes.text(for: time))
        e[F.processGuid] = guid.description
        e[F.processId] = String(h.pid)
        KernelText.path(fromComponents: r.imageComponents, truncated: h.has(SM_FLAG_IMAGE_TRUNCATED), into: &scratch)
        e.set(F.image, bytes: scratch)
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
            e.set(F.commandLine, bytes: scratch)
        }
        KernelText.path(fromComponents: r.cwdComponents, truncated: h.has(SM_FLAG_CWD_TRUNCATED), into: &scratch)
        e.set(F.currentDirectory, bytes: scratch)
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
        if lastParentGuid != parentGuid {
            lastParentGuid = parentGuid
            lastParentGuidText = parentGuid.description
        }
        e[F.parentProcessGuid] = lastParentGuidText
        if let parent = cache.lookup(pid: r.raw.parent_pid, guid: parentGuid) { e.set(parent: parent) }
        switch r.raw.elf_class {
        case 1: e[F.architecture] = "32-bit"
        case 2: e[F.architecture] = "64-bit"
        default: break
        }
        let container = containers.container(r.raw.container)
        e.setContainer(container, pid: h.pid, containerPid: r.raw.container.ns_pid)
        var entry = ProcessEntry(guid: guid, pid: h.pid, event: e, image: F.image, commandLine: F.commandLine,
                                 user: user)
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
            var e = Event(.threadCreate, time: time, utcTime: utcTimes.text(for: time))
            e.fill(process: guid, pid: h.pid, from: cache.lookup(pid: h.pid, guid: guid),
                   fallbackUser: users.name(r.raw.credentials.euid))
            e["ThreadId"] = String(h.tid)
            out.append(e)
            return
        }
        // A new process runs its parent's image until it execs: it inherits
        // the parent's entry under its own GUID. No event: ProcessCreate comes
        // with exec, as in Sysmon for Linux.
        let parentGuid = host.guid(pid: r.raw.parent_pid, startBootNanoseconds: r.raw.parent_start_boot_ns)
        let user = users.name(r.raw.credentials.euid)
        var entry = cache.lookup(pid: r.raw.parent_pid, guid: parentGuid)
            ?? ProcessEntry(guid: guid, pid: h.pid, image: [], commandLine: [], user: user)
        entry.guid = guid
        entry.pid = h.pid
        entry.user = user
        // Its own cgroup (clone3 may place it elsewhere) and namespaces (a
        // new pid namespace's first process is its pid 1).
        if let container = containers.container(r.raw.container) { entry.container = container }
        entry.containerPid = r.raw.container.ns_pid
        cache.insert(entry)
    }

    private func exit(_ r: ExitRecord, into out: inout [Event]) {
        let h = r.raw.header
        let guid = host.guid(pid: h.pid, startBootNanoseconds: h.start_boot_ns)
        let entry = cache.lookup(pid: h.pid, guid: guid)
        let time = host.time(bootNanoseconds: h.time_boot_ns)
        if r.isThread {
            var e = Event(.threadTerminate, time: time, utcTime: utcTimes.text(for: time))
            e.fill(process: guid, pid: h.pid, from: entry, fallbackUser: nil)
            e["ThreadId"] = String(h.tid)
            out.append(e)
        }
        guard r.isLastThread else { return }
        var e = Event(.processTerminate, time: time, utcTime: utcTimes.text(for: time))
        e.fill(process: guid, pid: h.pid, from: entry, fallbackUser: nil)
        e["ExitCode"] = String(ProcessEventBuilder.exitStatus(r.raw.exit_code))
        out.append(e)
        cache.markExited(pid: h.pid, guid: guid)
    }

    /// wait(2)'s status → the exit code a shell shows: the status of a normal
    /// exit, 128 + the signal number for a process killed by a signal.
    static func exitStatus(_ code: UInt32) -> Int {
        let signal = Int(code & 0x7F)
        return signal == 0 ? Int((code >> 8) & 0xFF) : 128 + signal
    }
}

extension Event {
    /// ProcessGuid, ProcessId, Image and User of the process an event belongs to.
    mutating func fill(process guid: ProcessGuid, pid: UInt32, from entry: ProcessEntry?, fallbackUser: String?) {
        self["ProcessGuid"] = entry?.guidText ?? guid.description
        self["ProcessId"] = String(pid)
        if let entry {
            setText("Image", entry.image, exact: entry.imageBytes)
            self["User"] = entry.user
        } else if let fallbackUser {
            self["User"] = fallbackUser
        }
        setContainer(entry?.container, pid: pid, containerPid: entry?.containerPid ?? 0)
    }

    mutating func set(parent: ProcessEntry) {
        setText("ParentImage", parent.image, exact: parent.imageBytes)
        setText("ParentCommandLine", parent.commandLine, exact: parent.commandLineBytes)
        self["ParentUser"] = parent.user
    }

    mutating func setText(_ field: String, _ text: FieldText, exact: [UInt8]?) {
        if let exact { set(field, bytes: exact) } else if !text.string.isEmpty { self[field] = text.string }
    }
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
    static let architecture = kind.index(of: "Architecture")!
}
