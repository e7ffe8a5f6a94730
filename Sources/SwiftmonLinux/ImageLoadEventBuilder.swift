import CSwiftmonRecords
import SwiftmonCore

/// The kernel's image records → ImageLoad (7): a file mapped executable.
final class ImageLoadEventBuilder {
    let processes: ProcessEventBuilder

    init(processes: ProcessEventBuilder) { self.processes = processes }

    func imageLoad(_ r: PathRecord) -> Event {
        var e = processes.attributedEvent(.imageLoad, r.raw.header, euid: r.raw.euid)
        let path = r.path1
        e.set("ImageLoaded", bytes: path)
        if let hashes = processes.hashes(of: path, device: r.raw.device, inode: r.raw.inode, ctime: r.raw.ctime_ns) {
            e["Hashes"] = hashes
        }
        return e
    }

    /// The ImageLoad of a new process's executable, beside its ProcessCreate.
    func imageLoad(executableOf create: Event) -> Event {
        var e = Event(.imageLoad, time: create.time)
        for field in ["ProcessGuid", "ProcessId", "Image", "User", "Hashes"] + ProcessContainer.fieldNames {
            e.copy(field, from: create, field)
        }
        e.copy("ImageLoaded", from: create, "Image")
        return e
    }
}
