import SwiftmonCore

/// Classic kernel (NT Kernel Logger) events: Process, Thread, Image, FileIo,
/// TcpIp, UdpIp and Registry, in every version the MOF classes define.
/// The same decoder serves system, perfinfo and classic headers: what selects
/// the layout is the class GUID, the opcode (class type) and the version.
///
/// Mapping: Start and DCStart (rundown of what already ran) → Create events;
/// End and Defunct → Terminate; DCEnd (rundown at trace end: the process is
/// still alive) and everything else → TraceEvent.
extension EtlEventDecoder {
    func decodeKernel(_ r: EtlRecord) -> Event? {
        switch r.provider {
        case KernelGroup.process: return kernelProcess(r)
        case KernelGroup.thread: return kernelThread(r)
        case KernelGroup.image: return kernelImage(r)
        case KernelGroup.tcpIp: return kernelNetwork(r, tcp: true)
        case KernelGroup.udpIp: return kernelNetwork(r, tcp: false)
        case KernelGroup.fileIo: return kernelFile(r)
        case KernelGroup.registry: return kernelRegistry(r)
        case KernelGroup.systemConfig:
            learnSystemConfig(r)  // also learned before decoding (``prepare(_:)``)
            return nil
        default: return nil
        }
    }

    // MARK: Process

    private func kernelProcess(_ r: EtlRecord) -> Event? {
        guard [1, 2, 3, 39].contains(r.opcode) else {
            if r.opcode == 4 { noteRundown(r) }
            return nil
        }
        guard let p = ClassicProcess(r) else { return nil }
        let ns = r.time.nanoseconds
        if r.opcode == 1 || r.opcode == 3 {
            // A start's own time is the creation time; rundowns use the
            // kernel's process key, stable for the life of the process.
            let key = r.opcode == 1 ? UInt64(bitPattern: ns) : p.uniqueKey
            let process = processes.started(pid: p.pid, startKey: key, at: ns, image: p.image,
                                            commandLine: p.commandLine, user: windowsUser(sid: p.sid))
            var e = newEvent(.processCreate, r.time)
            e["ProcessGuid"] = process.guid
            e["ProcessId"] = String(p.pid)
            e["Image"] = process.image
            e["ImageNtPath"] = process.imageNtPath
            e["CommandLine"] = process.commandLine
            e["User"] = process.user
            if let session = p.sessionId { e["TerminalSessionId"] = String(session) }
            if let ppid = p.parentPid {
                let parent = processes.known(ppid, seenAt: ns)
                e["ParentProcessGuid"] = parent.guid
                e["ParentProcessId"] = String(ppid)
                e["ParentImage"] = parent.image
                e["ParentCommandLine"] = parent.commandLine
                e["ParentUser"] = parent.user
            }
            return e
        }
        // End and Defunct carry the image name and user: they fill in what
        // the table does not know (a process first seen by a thread event).
        // A process the trace never saw start is entered under its kernel key.
        let user = windowsUser(sid: p.sid)
        let process = processes.learned(pid: p.pid, image: p.image, user: user)
            ?? processes.started(pid: p.pid, startKey: p.uniqueKey, at: ns, image: p.image, commandLine: p.commandLine, user: user)
        // Defunct (the process object freed) after the End already reported
        // is not a second end: the record stays a TraceEvent.
        if r.opcode == 39 && process.endReported { return nil }
        var e = newEvent(.processTerminate, r.time)
        e["ProcessGuid"] = process.guid
        e["ProcessId"] = String(p.pid)
        e["Image"] = process.image
        e["User"] = process.user
        if let status = p.exitStatus { e["ExitCode"] = String(status) }
        processes.ended(p.pid)
        return e
    }

    /// DCEnd rundowns still teach the table what runs (for later events).
    private func noteRundown(_ r: EtlRecord) {
        guard let p = ClassicProcess(r),
              processes.learned(pid: p.pid, image: p.image, user: windowsUser(sid: p.sid)) == nil else { return }
        processes.started(pid: p.pid, startKey: p.uniqueKey, at: r.time.nanoseconds, image: p.image,
                          commandLine: p.commandLine, user: windowsUser(sid: p.sid))
    }

    /// Process_V0 … V4 and Defunct payloads.
    struct ClassicProcess {
        var uniqueKey: UInt64 = 0
        var pid: UInt32 = 0
        var parentPid: UInt32?
        var sessionId: UInt32?
        var exitStatus: Int32?
        var sid: String?
        var image: String?
        var commandLine: String?

        init?(_ r: EtlRecord) {
            guard let parsed = withEitherPointerSize(r, { p in ClassicProcess(&p, version: r.version) }) else { return nil }
            self = parsed
        }

        init?(_ p: inout EtlPayload, version: UInt16) {
            if version == 0 {
                guard let pid = p.pointer(), let ppid = p.pointer() else { return nil }
                self.pid = UInt32(truncatingIfNeeded: pid)
                parentPid = UInt32(truncatingIfNeeded: ppid)
            } else {
                guard let key = p.pointer(), let pid = p.u32(), let ppid = p.u32(), let session = p.u32(),
                      let status = p.u32() else { return nil }
                uniqueKey = key
                self.pid = pid
                parentPid = ppid
                sessionId = session
                exitStatus = Int32(bitPattern: status)
                if version >= 3 { guard p.pointer() != nil else { return nil } }  // DirectoryTableBase
                if version >= 4 { guard p.u32() != nil else { return nil } }      // Flags
            }
            sid = p.kernelUserSid()
            if sid == nil && p.position > 0 && p.bytes.loadLE(UInt32.self, p.position - 4) != 0 {
                return nil  // neither a SID nor the empty marker: wrong layout
            }
            let name = p.ansiString()
            image = name.isEmpty ? nil : String(decoding: name, as: UTF8.self)
            if version >= 2 {
                let cmd = p.utf16String()
                commandLine = cmd.isEmpty ? nil : cmd
            }
            if version >= 4 {
                _ = p.utf16String()  // PackageFullName
                _ = p.utf16String()  // ApplicationId
            }
            if version >= 5 { _ = p.u64() }  // Defunct: ExitTime
        }
    }

    // MARK: Thread

    private func kernelThread(_ r: EtlRecord) -> Event? {
        guard [1, 2, 3].contains(r.opcode) else { return nil }
        var p = r.payloadReader
        guard let pid = p.u32(), let tid = p.u32() else { return nil }
        return threadEvent(start: r.opcode != 2, pid: pid, tid: tid, r)
    }

    func threadEvent(start: Bool, pid: UInt32, tid: UInt32, _ r: EtlRecord) -> Event {
        if start { threadOwners.set(tid, pid) }
        let process = processes.known(pid, seenAt: r.time.nanoseconds)
        var e = newEvent(start ? .threadCreate : .threadTerminate, r.time)
        e["ProcessGuid"] = process.guid
        e["ProcessId"] = String(pid)
        e["ThreadId"] = String(tid)
        e["Image"] = process.image
        e["User"] = process.user
        return e
    }

    // MARK: Image

    private func kernelImage(_ r: EtlRecord) -> Event? {
        guard r.opcode == 10 || r.opcode == 3 else { return nil }
        let parsed = withEitherPointerSize(r) { p -> (UInt64, UInt64, UInt32, String, Int)? in
            // Image_V0_Load: BaseAddress (pointer), ModuleSize (UINT32 at
            // every width), file name. V1+: ImageBase and ImageSize both
            // pointer-sized, then the pid.
            guard let base = p.pointer() else { return nil }
            var pid: UInt32 = r.processId ?? 0
            let size: UInt64
            switch r.version {
            case 0:
                guard let v = p.u32() else { return nil }
                size = UInt64(v)
            case 1:
                guard let s = p.pointer(), let v = p.u32() else { return nil }
                size = s
                pid = v
            default:
                guard let s = p.pointer(), let v = p.u32(), p.skip(12), p.pointer() != nil, p.skip(16) else { return nil }
                size = s
                pid = v
            }
            return (base, size, pid, p.utf16String(), p.pointerSize)
        }
        guard let (base, size, pid, path, pointerSize) = parsed else { return nil }
        return imageEvent(pid: pid, base: base, size: size, pointerSize: pointerSize, path: path, r)
    }

    func imageEvent(pid: UInt32, base: UInt64, size: UInt64, pointerSize: Int, path ntPath: String, _ r: EtlRecord) -> Event {
        let kernelSpace = pointerSize == 8 ? base >= 0xFFFF_8000_0000_0000 : base >= 0x8000_0000
        let (path, original) = shownPath(ntPath)
        let baseText = "0x" + hexDigits(base, width: pointerSize * 2)
        let sizeText = "0x" + hexDigits(size, width: 1)
        if pid == 0 || kernelSpace {
            // Loaded into the kernel: a driver, reported under the System process.
            var e = newEvent(.driverLoad, r.time)
            e["ImageLoaded"] = path
            e["ImageBase"] = baseText
            e["ImageSize"] = sizeText
            if let original { e["ImageLoadedNtPath"] = original }
            let process = processes.known(pid, seenAt: r.time.nanoseconds)
            e["ProcessGuid"] = process.guid
            e["ProcessId"] = String(pid)
            e["Image"] = pid == 0 || pid == 4 ? "System" : process.image
            e["User"] = pid == 0 || pid == 4 ? "NT AUTHORITY\\SYSTEM" : process.user
            e["Result"] = "0"
            return e
        }
        processes.imageLoaded(pid: pid, path: path, ntPath: original)
        let process = processes.known(pid, seenAt: r.time.nanoseconds)
        var e = newEvent(.imageLoad, r.time)
        e["ProcessGuid"] = process.guid
        e["ProcessId"] = String(pid)
        e["Image"] = process.image
        e["ImageLoaded"] = path
        e["User"] = process.user
        e["ImageBase"] = baseText
        e["ImageSize"] = sizeText
        if let original { e["ImageLoadedNtPath"] = original }
        return e
    }

    /// A path as shown: with a drive letter when the trace says which
    /// (``WindowsPathMap``), and the path as the trace has it when it differs.
    func shownPath(_ path: String) -> (shown: String, original: String?) {
        guard let mapped = paths.map(path) else { return (path, nil) }
        return (mapped, path)
    }

    /// SystemConfig SystemPaths (33): system directory, Windows directory;
    /// VolumeMapping (35): NT device name, DOS name. Both UTF-16, NUL-terminated.
    func learnSystemConfig(_ r: EtlRecord) {
        guard r.opcode == 33 || r.opcode == 35 else { return }
        var p = r.payloadReader
        let first = p.utf16String(), second = p.utf16String()
        if r.opcode == 33 {
            paths.setWindowsDirectory(second)
        } else {
            paths.addVolume(ntPath: first, dosPath: second)
        }
    }

    // MARK: TcpIp / UdpIp

    private func kernelNetwork(_ r: EtlRecord, tcp: Bool) -> Event? {
        // v1+: IPv4 opcodes 10 send, 11 recv, 12 connect, 15 accept; +16 for IPv6.
        guard r.version >= 1 else { return nil }
        let base = r.opcode >= 26 ? r.opcode - 16 : r.opcode
        let ipv6 = r.opcode >= 26
        let initiated: Bool?
        switch (tcp, base) {
        case (true, 12): initiated = true
        case (true, 15): initiated = false
        case (_, 10): initiated = tcp ? nil : true
        case (_, 11): initiated = tcp ? nil : false
        default: return nil
        }
        var p = r.payloadReader
        guard let pid = p.u32(), p.u32() != nil,
              let daddr = p.take(ipv6 ? 16 : 4), let saddr = p.take(ipv6 ? 16 : 4),
              let dport = p.u16(), let sport = p.u16() else { return nil }
        let remote = ipText(daddr), local = ipText(saddr)
        let rport = UInt16(bigEndian: dport), lport = UInt16(bigEndian: sport)
        // One NetworkConnect per connection (connect/accept, or the first
        // send/receive of one that started before the trace).
        let key = NetworkKey(pid: pid, tcp: tcp, local: local, localPort: lport, remote: remote, remotePort: rport)
        let isNew = connections.insert(key)
        if initiated == nil || !tcp { guard isNew else { return nil } }
        let process = processes.known(pid, seenAt: r.time.nanoseconds)
        var e = newEvent(.networkConnect, r.time)
        e["ProcessGuid"] = process.guid
        e["ProcessId"] = String(pid)
        e["Image"] = process.image
        e["User"] = process.user
        e["Protocol"] = tcp ? "tcp" : "udp"
        if let initiated { e["Initiated"] = initiated ? "true" : "false" }
        e["SourceIsIpv6"] = ipv6 ? "true" : "false"
        e["SourceIp"] = local
        e["SourcePort"] = String(lport)
        e["DestinationIsIpv6"] = ipv6 ? "true" : "false"
        e["DestinationIp"] = remote
        e["DestinationPort"] = String(rport)
        return e
    }

    struct NetworkKey: Hashable {
        let pid: UInt32
        let tcp: Bool
        let local: String
        let localPort: UInt16
        let remote: String
        let remotePort: UInt16
    }

    // MARK: FileIo

    private func kernelFile(_ r: EtlRecord) -> Event? {
        var p = r.payloadReader
        switch r.opcode {
        case 0, 32, 35, 36:
            // FileIo_Name: a file object (key) and its name, for later events.
            guard let key = p.pointer() else { return nil }
            fileNames.set(key, p.utf16String())
            return nil
        case 64:
            // Create: v2 IrpPtr, TTID (pointer), FileObject; v3 IrpPtr, FileObject, TTID (u32).
            guard p.pointer() != nil else { return nil }
            let ttid: UInt32
            if r.version <= 2 {
                guard let t = p.pointer(), p.pointer() != nil else { return nil }
                ttid = UInt32(truncatingIfNeeded: t)
            } else {
                guard p.pointer() != nil, let t = p.u32() else { return nil }
                ttid = t
            }
            guard let options = p.u32(), p.skip(8) else { return nil }
            let path = p.utf16String()
            // The disposition (top byte): supersede 0, create 2, overwrite 4,
            // overwrite-if 5 make a new file; open (1) and open-if (3) may not.
            guard [0, 2, 4, 5].contains(options >> 24) else { return nil }
            var e = fileEvent(.fileCreate, r, thread: ttid)
            setPath(&e, "TargetFilename", path)
            return e
        case 70, 71, 79, 80:
            let key: UInt64, ttid: UInt32
            if r.version <= 2 {
                guard p.pointer() != nil, let t = p.pointer(), p.pointer() != nil, let k = p.pointer() else { return nil }
                key = k
                ttid = UInt32(truncatingIfNeeded: t)
            } else {
                guard p.pointer() != nil, p.pointer() != nil, let k = p.pointer(), p.pointer() != nil,
                      let t = p.u32(), p.u32() != nil else { return nil }
                key = k
                ttid = t
            }
            let known = fileNames.get(key)
            let pathInEvent = r.opcode >= 79 ? p.utf16String() : nil
            if r.opcode == 70 || r.opcode == 79 {
                var e = fileEvent(.fileDelete, r, thread: ttid)
                setPath(&e, "TargetFilename", pathInEvent ?? known)
                return e
            }
            var e = fileEvent(.fileRename, r, thread: ttid)
            setPath(&e, "SourceFilename", known)
            setPath(&e, "TargetFilename", pathInEvent)
            return e
        default:
            return nil
        }
    }

    /// Sets a path field, shown with a drive letter where the trace says
    /// which, and its `…NtPath` extra to the path as the trace has it.
    private func setPath(_ e: inout Event, _ field: String, _ path: String?) {
        guard let path, !path.isEmpty else { return }
        let (shown, original) = shownPath(path)
        e[field] = shown
        if let original { e[field + "NtPath"] = original }
    }

    /// File events name the issuing thread; its process comes from the thread
    /// table when the record header carries no usable pid.
    private func fileEvent(_ kind: EventKind, _ r: EtlRecord, thread: UInt32) -> Event {
        var e = newEvent(kind, r.time)
        let headerPid = r.processId.flatMap { $0 == UInt32.max ? nil : $0 }
        if let pid = threadOwners.get(thread) ?? headerPid {
            let process = processes.known(pid, seenAt: r.time.nanoseconds)
            e["ProcessGuid"] = process.guid
            e["ProcessId"] = String(pid)
            e["Image"] = process.image
            e["User"] = process.user
        }
        return e
    }

    // MARK: Registry

    private func kernelRegistry(_ r: EtlRecord) -> Event? {
        var p = r.payloadReader
        let status: UInt64, handle: UInt64
        switch r.version {
        case 0, 1:
            guard let s = p.pointer(), let h = p.pointer(), p.u64() != nil else { return nil }
            if r.version == 1 { guard p.u32() != nil else { return nil } }
            status = s
            handle = h
        default:
            guard p.u64() != nil, let s = p.u32(), p.u32() != nil, let h = p.pointer() else { return nil }
            status = UInt64(s)
            handle = h
        }
        let name = p.utf16String()
        switch r.opcode {
        case 22, 24:
            // KCB create / rundown: the full path of a key control block.
            registryKeys.set(handle, name)
            return nil
        case 10, 12, 14, 15:
            guard status == 0 else { return nil }  // failed operations are not changes
            let base = registryKeys.get(handle)
            let target: String
            switch (base, name.isEmpty) {
            case (let b?, true): target = b
            case (let b?, false): target = b + "\\" + name
            case (nil, _): target = name
            }
            let kind: EventKind = r.opcode == 14 ? .registryValueSet : .registryCreateDelete
            var e = newEvent(kind, r.time)
            e["EventType"] = ["CreateKey", "", "DeleteKey", "", "SetValue", "DeleteValue"][Int(r.opcode) - 10]
            e["TargetObject"] = target
            if let pid = r.processId {
                let process = processes.known(pid, seenAt: r.time.nanoseconds)
                e["ProcessGuid"] = process.guid
                e["ProcessId"] = String(pid)
                e["Image"] = process.image
                e["User"] = process.user
            }
            return e
        default:
            return nil
        }
    }
}

/// Parses a classic payload at the record's pointer width, or at the other
/// one when that does not account for the payload exactly: classic headers
/// (EVENT_TRACE_HEADER) do not say the producer's width, and 64-bit kernel
/// payloads are found under 32-bit header types (and the reverse).
func withEitherPointerSize<T>(_ r: EtlRecord, _ parse: (inout EtlPayload) -> T?) -> T? {
    var first = EtlPayload(r.payload, pointerSize: r.pointerSize)
    let a = parse(&first)
    if a != nil && first.remaining == 0 { return a }
    var second = EtlPayload(r.payload, pointerSize: r.pointerSize == 8 ? 4 : 8)
    if let b = parse(&second), second.remaining == 0 { return b }
    return a
}

/// `v` in upper-case hex, zero-padded to `width` digits.
func hexDigits(_ v: UInt64, width: Int) -> String {
    let digits = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

/// An IP address in its text form: dotted quad, or RFC 5952 IPv6.
func ipText(_ b: UnsafeRawBufferPointer) -> String {
    if b.count == 4 { return "\(b[0]).\(b[1]).\(b[2]).\(b[3])" }
    var words = [UInt16]()
    for i in stride(from: 0, to: 16, by: 2) { words.append(UInt16(b[i]) << 8 | UInt16(b[i + 1])) }
    if words[0..<5].allSatisfy({ $0 == 0 }) && words[5] == 0xFFFF {
        return "::ffff:\(b[12]).\(b[13]).\(b[14]).\(b[15])"
    }
    // The longest run of two or more zero words becomes "::".
    var bestStart = -1, bestLen = 0, i = 0
    while i < 8 {
        if words[i] == 0 {
            var j = i
            while j < 8 && words[j] == 0 { j += 1 }
            if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
            i = j
        } else { i += 1 }
    }
    func hex(_ range: Range<Int>) -> String { range.map { String(words[$0], radix: 16) }.joined(separator: ":") }
    if bestStart < 0 { return hex(0..<8) }
    return hex(0..<bestStart) + "::" + hex((bestStart + bestLen)..<8)
}

/// A map that forgets everything when it grows past its bound: names of file
/// objects, registry keys and thread owners from a hostile trace cannot
/// exhaust memory.
struct BoundedMap<Key: Hashable, Value> {
    private var items: [Key: Value] = [:]
    let capacity: Int
    init(capacity: Int) { self.capacity = capacity }
    mutating func set(_ key: Key, _ value: Value) {
        if items.count >= capacity && items[key] == nil { items.removeAll(keepingCapacity: true) }
        items[key] = value
    }
    func get(_ key: Key) -> Value? { items[key] }
}

typealias BoundedNameMap = BoundedMap<UInt64, String>

/// A set with the same bound.
struct BoundedSet<T: Hashable> {
    private var items = Set<T>()
    let capacity: Int
    init(capacity: Int) { self.capacity = capacity }
    /// True when `item` was not there yet.
    mutating func insert(_ item: T) -> Bool {
        if items.count >= capacity { items.removeAll(keepingCapacity: true) }
        return items.insert(item).inserted
    }
}
