import SwiftmonCore

/// What the decoders know about the processes of a trace: image, command line,
/// user and ProcessGuid by pid, learned from process start and rundown events.
///
/// ProcessGuid for Windows traces: 16 bytes derived deterministically from
/// the trace's machine identity (the boot time in the logfile header: one
/// boot of one machine), the pid, and the process's start key (its
/// creation FILETIME when the event carries it, else the kernel's
/// UniqueProcessKey, else the time the trace first saw it). Same trace, same
/// GUIDs; a reused pid gets a new GUID. Layout (Sysmon-like): the first group
/// is a hash of the boot identity, the rest a hash of all three inputs.
final class WindowsProcessTable {
    struct Process {
        var guid: String
        var image: String
        var commandLine: String
        var user: String
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

    @discardableResult
    func started(pid: UInt32, startKey: UInt64, image: String?, commandLine: String?, user: String?) -> Process {
        if byPid.count >= WindowsProcessTable.capacity && byPid[pid] == nil { byPid.removeAll(keepingCapacity: true) }
        let p = Process(guid: guid(pid: pid, startKey: startKey), image: image ?? Event.absent,
                        commandLine: commandLine ?? Event.absent, user: user ?? Event.absent)
        byPid[pid] = p
        return p
    }

    /// The process as known, or one made up from what the event says, so that a
    /// process started before the trace still gets a stable GUID.
    func known(_ pid: UInt32, firstSeen: Int64) -> Process {
        if let p = byPid[pid] { return p }
        return started(pid: pid, startKey: UInt64(bitPattern: firstSeen), image: nil, commandLine: nil, user: nil)
    }

    func ended(_ pid: UInt32) { byPid[pid] = nil }
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
