import SwiftmonCore

/// What the decoders know about the processes of a trace: image, command line,
/// user and ProcessGuid by pid, learned from process start and rundown events.
///
/// ProcessGuid for Windows traces: 16 bytes derived deterministically from
/// the trace's machine identity (the boot time, processor count and CPU speed
/// in the logfile header: one boot of one machine), the pid, and the
/// process's start key: its creation time (FILETIME) when the event carries
/// it or the record is the process start itself, else the kernel's
/// UniqueProcessKey (rundown events), else the time the trace first saw the
/// pid. Same trace, same GUIDs; a reused pid gets a new GUID. The first group
/// is the machine identity's hash, so GUIDs of one machine share it, as
/// Sysmon's do.
final class WindowsProcessTable {
    struct Process {
        var guid: String
        var image: String
        var commandLine: String
        var user: String
        var startNanoseconds: Int64
        var imageIsFullPath = false
        /// The image path as the trace has it, when ``image`` shows it mapped
        /// to a drive letter (``WindowsPathMap``); else `-`.
        var imageNtPath = Event.absent
        /// A ProcessTerminate was emitted for it.
        var endReported = false
    }

    private var byPid: [UInt32: Process] = [:]
    private let machine: UInt64
    /// Bounded: a hostile trace cannot grow the table without limit.
    static let capacity = 1 << 16

    init(header: EtlLogfileHeader) {
        var h = Fnv64()
        h.add(UInt64(bitPattern: header.bootTime))
        h.add(UInt64(header.numberOfProcessors))
        h.add(UInt64(header.cpuSpeedMHz))
        machine = h.value
    }

    func guid(pid: UInt32, startKey: UInt64) -> String {
        var a = Fnv64()
        a.add(machine)
        a.add(UInt64(pid))
        a.add(startKey)
        var b = Fnv64(seed: 0x9E37_79B9_7F4A_7C15)
        b.add(startKey)
        b.add(UInt64(pid))
        b.add(machine)
        return Guid(high: (machine & 0xFFFF_FFFF_0000_0000) | (a.value >> 32), low: b.value ^ (a.value << 32)).braced
    }

    func lookup(_ pid: UInt32) -> Process? { byPid[pid] }

    /// Records a process start. A second report of the same start (the classic
    /// kernel event and the Kernel-Process manifest event both) keeps the GUID.
    @discardableResult
    func started(pid: UInt32, startKey: UInt64, at ns: Int64, image: String?, commandLine: String?, user: String?,
                 imageNtPath: String? = nil) -> Process {
        if var known = byPid[pid], (known.startNanoseconds &- ns).magnitude < 2_000_000_000 {
            if let image, image != Event.absent, !known.imageIsFullPath || image.contains("\\") {
                known.image = image
                known.imageNtPath = imageNtPath ?? Event.absent
            }
            if let commandLine, commandLine != Event.absent { known.commandLine = commandLine }
            if let user, user != Event.absent { known.user = user }
            byPid[pid] = known
            return known
        }
        if byPid.count >= WindowsProcessTable.capacity { byPid.removeAll(keepingCapacity: true) }
        let p = Process(guid: guid(pid: pid, startKey: startKey), image: image ?? Event.absent,
                        commandLine: commandLine ?? Event.absent, user: user ?? Event.absent,
                        startNanoseconds: ns, imageNtPath: imageNtPath ?? Event.absent)
        byPid[pid] = p
        return p
    }

    /// Fills in the image and user of a known process where the table has
    /// none yet (a process first seen by a thread or image event), and
    /// returns it; nil when the pid is unknown.
    @discardableResult
    func learned(pid: UInt32, image: String?, user: String?) -> Process? {
        guard var p = byPid[pid] else { return nil }
        if p.image == Event.absent, let image, !image.isEmpty { p.image = image }
        if p.user == Event.absent, let user { p.user = user }
        byPid[pid] = p
        return p
    }

    /// The process as known, or one made up now, so that a process started
    /// before the trace still gets a stable GUID.
    func known(_ pid: UInt32, seenAt ns: Int64) -> Process {
        if let p = byPid[pid] { return p }
        return started(pid: pid, startKey: UInt64(bitPattern: ns), at: ns, image: nil, commandLine: nil, user: nil)
    }

    /// An image mapped into `pid`: when it is the process's own executable
    /// (same file name), its full path replaces the short image name.
    func imageLoaded(pid: UInt32, path: String, ntPath: String?) {
        guard var p = byPid[pid], !p.imageIsFullPath, p.image != Event.absent else { return }
        let name = path.split(separator: "\\").last.map(String.init) ?? path
        if name.lowercased() == (p.image.split(separator: "\\").last.map(String.init) ?? p.image).lowercased() {
            p.image = path
            p.imageNtPath = ntPath ?? Event.absent
            p.imageIsFullPath = true
            byPid[pid] = p
        }
    }

    /// Kept after the end on purpose: a second report of the same exit (classic
    /// and manifest providers both) and late events keep the same GUID. A new
    /// start of the pid replaces the entry.
    func ended(_ pid: UInt32) { byPid[pid]?.endReported = true }
}

/// 64-bit FNV-1a over 64-bit words (little-endian bytes).
struct Fnv64 {
    var value: UInt64
    init(seed: UInt64 = 0xcbf2_9ce4_8422_2325) { value = seed }
    mutating func add(_ v: UInt64) {
        var x = v
        for _ in 0..<8 {
            value ^= x & 0xFF
            value &*= 0x0000_0100_0000_01B3
            x >>= 8
        }
    }
}

/// Names for the well-known service SIDs, as Sysmon shows `User`; other SIDs
/// are shown as SIDs (no account database to resolve them on Linux).
func windowsUser(sid: String?) -> String {
    guard let sid else { return Event.absent }
    switch sid {
    case "S-1-5-18": return "NT AUTHORITY\\SYSTEM"
    case "S-1-5-19": return "NT AUTHORITY\\LOCAL SERVICE"
    case "S-1-5-20": return "NT AUTHORITY\\NETWORK SERVICE"
    default: return sid
    }
}
