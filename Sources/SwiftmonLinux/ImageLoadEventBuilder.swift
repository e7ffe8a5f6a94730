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
        var e = processes.newEvent(.imageLoad, time: create.time)
        for (field, source) in Self.fromProcessCreate {
            e.copy(field, from: create, source)
        }
        return e
    }

    /// (ImageLoad field, ProcessCreate field) positions the executable's
    /// ImageLoad copies, looked up once rather than by name per exec.
    static let fromProcessCreate: [(Int, Int)] = {
        let same = ["ProcessGuid", "ProcessId", "Image", "User", "Hashes"] + ProcessContainer.fieldNames
        return (same.map { ($0, $0) } + [("ImageLoaded", "Image")]).compactMap { field, source in
            guard let i = EventKind.imageLoad.index(of: field), let j = EventKind.processCreate.index(of: source) else {
                return nil
            }
            return (i, j)
        }
    }()
}
