import CSwiftmonRecords
import SwiftmonCore

/// The kernel's file records → FileCreate (11), FileDelete (23), FileRename
/// (203), RawAccessRead (9), and ServiceInstall (202) for a systemd unit file
/// that appears in a unit directory.
final class FileEventBuilder {
    let processes: ProcessEventBuilder

    init(processes: ProcessEventBuilder) { self.processes = processes }

    func events(for r: PathRecord, into out: inout [Event]) {
        let h = r.raw.header
        switch UInt32(r.raw.op) {
        case SM_PATH_OP_CREATE.rawValue, SM_PATH_OP_MKNOD.rawValue:
            created(r.path1, r, into: &out)
        case SM_PATH_OP_LINK.rawValue:
            created(r.path2, r, into: &out)
        case SM_PATH_OP_DELETE.rawValue:
            var e = processes.attributedEvent(.fileDelete, h, euid: r.raw.euid)
            e.set("TargetFilename", bytes: r.path1)
            // The kernel reports a delete by name, after the fact: the
            // file's type is known only when it had the inode.
            if r.raw.mode != 0 {
                e["IsExecutable"] = r.raw.mode & 0o111 != 0 ? "true" : "false"
            }
            out.append(e)
        case SM_PATH_OP_RENAME.rawValue:
            let target = r.path2
            var e = processes.attributedEvent(.fileRename, h, euid: r.raw.euid)
            e.set("SourceFilename", bytes: r.path1)
            e.set("TargetFilename", bytes: target)
            out.append(e)
            if let unit = SystemdUnit(path: target) { out.append(serviceInstall(unit, r)) }
        case SM_PATH_OP_BLOCK_OPEN.rawValue:
            var e = processes.attributedEvent(.rawAccessRead, h, euid: r.raw.euid)
            e.set("Device", bytes: r.path1)
            out.append(e)
        default:
            break
        }
    }

    private func created(_ path: [UInt8], _ r: PathRecord, into out: inout [Event]) {
        var e = processes.attributedEvent(.fileCreate, r.raw.header, euid: r.raw.euid)
        e.set("TargetFilename", bytes: path)
        e["CreationUtcTime"] = e["UtcTime"]
        out.append(e)
        if let unit = SystemdUnit(path: path) { out.append(serviceInstall(unit, r)) }
    }

    private func serviceInstall(_ unit: SystemdUnit, _ r: PathRecord) -> Event {
        var e = processes.attributedEvent(.serviceInstall, r.raw.header, euid: r.raw.euid)
        e.set("ServiceName", bytes: unit.name)
        e.set("ServiceFile", bytes: unit.path)
        e["Manager"] = "systemd"
        return e
    }
}

/// A file that systemd would load as a unit: a unit suffix, in one of the
/// directories systemd reads units from (system and per-user).
struct SystemdUnit {
    let path: [UInt8]
    let name: [UInt8]

    static let directories: [[UInt8]] = [
        "/etc/systemd/system/", "/run/systemd/system/", "/usr/lib/systemd/system/", "/lib/systemd/system/",
        "/etc/systemd/user/", "/usr/lib/systemd/user/", "/run/systemd/transient/",
    ].map { Array($0.utf8) }
    static let userDirectory = Array("/.config/systemd/user/".utf8)
    static let suffixes: [[UInt8]] = [
        ".service", ".socket", ".timer", ".path", ".mount", ".automount", ".swap", ".target", ".slice",
    ].map { Array($0.utf8) }

    init?(path: [UInt8]) {
        let inUnitDirectory = SystemdUnit.directories.contains { path.starts(with: $0) }
            || SystemdUnit.contains(path, SystemdUnit.userDirectory)
        guard inUnitDirectory else { return nil }
        let slash = path.lastIndex(of: UInt8(ascii: "/")) ?? -1
        let name = Array(path[(slash + 1)...])
        guard SystemdUnit.suffixes.contains(where: { name.count > $0.count && name.suffix($0.count).elementsEqual($0) })
        else { return nil }
        self.path = path
        self.name = name
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}
