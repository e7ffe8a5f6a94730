import CSwiftmonRecords
import SwiftmonCore
import SwiftmonSystem

/// The kernel's module records → DriverLoad (6): the module file (for
/// finit_module; `-` for an image passed in memory), its hashes when asked
/// for, and — beyond Sysmon — the process that asked and the result.
final class DriverLoadEventBuilder {
    let processes: ProcessEventBuilder

    init(processes: ProcessEventBuilder) { self.processes = processes }

    func driverLoad(_ r: PathRecord) -> Event {
        var e = processes.attributedEvent(.driverLoad, r.raw.header, euid: r.raw.euid)
        if UInt32(r.raw.op) == SM_PATH_OP_FINIT_MODULE.rawValue, !r.dir1.isEmpty {
            let path = r.path1
            e.set("ImageLoaded", bytes: path)
            if let hashes = processes.hashes(of: path, device: r.raw.device, inode: r.raw.inode, ctime: r.raw.ctime_ns) {
                e["Hashes"] = hashes
            }
        }
        // Linux modules carry an optional appended signature the kernel checks
        // at load; swiftmon does not read it.
        e["Result"] = ErrnoName.text(forResult: r.raw.result)
        return e
    }
}
