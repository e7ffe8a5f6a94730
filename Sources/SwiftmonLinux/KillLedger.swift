import CLibbpf
import CSwiftmonRecords
import SwiftmonSystem

/// Where the record of a SIGKILL sent to swiftmon outlives swiftmon.
///
/// SIGKILL cannot be caught: the process it is sent to runs no more code, so
/// no user-space writer can save the record. The kernel side can — the BPF
/// program that sees the signal (tamper.bpf.c) writes it into the kill
/// ledger, a BPF ring buffer that is pinned in the BPF file system
/// (`/sys/fs/bpf/swiftmon/kill_ledger`, 0600 in a 0700 directory). A pinned
/// map lives until it is unlinked, whatever happens to the process that
/// made it; the next start of swiftmon reuses it, reads every record in it
/// (the ring buffer's consumer position is part of the map, so each record
/// is read once) and reports each as a SensorSignal at the time it
/// happened. Records that found the ledger full are counted in the pinned
/// `kill_ledger_lost` and reported as a loss by that start.
///
/// Why not a file, a helper process or the journal: BPF programs cannot
/// write files; a watcher process can be killed the same way; the kernel
/// logs no signals. bpffs is memory: a reboot before the next start loses
/// the ledger (the reboot itself is in the system's logs).
///
/// When bpffs is not mounted at /sys/fs/bpf, swiftmon mounts it (what
/// systemd does at boot). When the ledger cannot be pinned (no bpffs, no
/// permission), swiftmon runs without it and says why (``problem``, in event
/// 4's Sources): SIGKILLs are then not reported.
final class KillLedger {
    static let bpfFileSystemMagic: UInt64 = 0xCAFE_4A11
    let directory: String
    private(set) var problem: String?
    private var ledgerMap: OpaquePointer?
    private var lostMap: OpaquePointer?

    init(root: String = "/sys/fs/bpf", directoryName: String = "swiftmon") {
        bpfRoot = root
        directory = root + "/" + directoryName
    }

    private let bpfRoot: String

    /// Before load: makes the maps pinned ones, reusing those a previous
    /// run left (libbpf reuses a compatible pinned map at load and pins a
    /// new one otherwise). A pinned map of another layout (an older
    /// swiftmon) would stop the load: it is removed first, and said so.
    func pin(ledger: OpaquePointer?, lost: OpaquePointer?) {
        ledgerMap = ledger
        lostMap = lost
        if let reason = gaveUp {
            problem = reason
            isPinned = false
            return
        }
        problem = nil
        isPinned = false
        do {
            try mountBPFFileSystemIfNeeded()
            try Syscalls.makeDirectory(directory, mode: 0o700)
            for (map, name) in [(ledger, "kill_ledger"), (lost, "kill_ledger_lost")] {
                guard let map else { continue }
                let path = directory + "/" + name
                if let mismatch = pinnedMismatch(map, path) {
                    try Syscalls.unlink(path)
                    problem = "removed \(path) (\(mismatch)): what it held is not reported"
                }
                let rc = bpf_map__set_pin_path(map, path)
                if rc != 0 { throw SystemCallError("bpf_map__set_pin_path", path, errno: -rc) }
            }
            isPinned = true
        } catch {
            problem = "not pinned: \(error)"
            for map in [ledger, lost] where map != nil { _ = bpf_map__set_pin_path(map, nil) }
        }
    }

    /// Whether the maps will be pinned at load.
    private(set) var isPinned = false
    private var gaveUp: String?

    /// The load with pinned maps failed: the next open runs without them.
    func giveUp(_ reason: String) {
        gaveUp = "not pinned: " + reason
    }

    private func mountBPFFileSystemIfNeeded() throws {
        if try Syscalls.fileSystemType(bpfRoot) == KillLedger.bpfFileSystemMagic { return }
        try Syscalls.mountVirtualFileSystem(type: "bpf", at: bpfRoot, mode: 0o700)
    }

    /// Why the map pinned at `path` cannot be reused by `map`, or nil (also
    /// when nothing is pinned there).
    private func pinnedMismatch(_ map: OpaquePointer, _ path: String) -> String? {
        let fd = bpf_obj_get(path)
        guard fd >= 0 else { return nil }
        defer { Syscalls.close(fd) }
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return "not a map" }
        if info.type != bpf_map__type(map).rawValue || info.key_size != bpf_map__key_size(map)
            || info.value_size != bpf_map__value_size(map) || info.max_entries != bpf_map__max_entries(map)
            || info.map_flags != bpf_map__map_flags(map) {
            return "a map of another layout"
        }
        return nil
    }

    /// After load: every record the ledger holds (SIGKILLs of earlier runs,
    /// oldest first), and how many found it full, since the last reading;
    /// the loss counter starts again at zero (a kill counted between the
    /// read and the reset, a window of microseconds at start, is not reported).
    func take() -> (records: [[UInt8]], lost: UInt64) {
        guard isPinned, let ledgerMap else { return ([], 0) }
        let collector = LedgerCollector()
        let context = Unmanaged.passUnretained(collector).toOpaque()
        if let ring = ring_buffer__new(bpf_map__fd(ledgerMap), { context, data, size in
            let collector = Unmanaged<LedgerCollector>.fromOpaque(context!).takeUnretainedValue()
            collector.records.append([UInt8](UnsafeRawBufferPointer(start: data, count: size)))
            return 0
        }, context, nil) {
            _ = ring_buffer__consume(ring)
            ring_buffer__free(ring)
        }
        var lost: UInt64 = 0
        if let lostMap {
            var key: UInt32 = 0
            if bpf_map__lookup_elem(lostMap, &key, 4, &lost, 8, 0) == 0, lost > 0 {
                var zero: UInt64 = 0
                _ = bpf_map__update_elem(lostMap, &key, 4, &zero, 8, 0)
            }
        }
        return (collector.records, lost)
    }
}

private final class LedgerCollector {
    var records: [[UInt8]] = []
}
