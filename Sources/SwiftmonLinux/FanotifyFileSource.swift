import Glibc
import SwiftmonCore
import SwiftmonSystem

/// The fallback file source: fanotify(7) with directory file handles and
/// names (FAN_REPORT_DFID_NAME) on every mounted file system, for hosts where
/// the BPF sensor cannot load. Creates, deletes and renames of files (not
/// directories) become FileCreate, FileDelete and FileRename; the directory
/// handle is turned into a path with open_by_handle_at. fanotify names the
/// acting pid only: the process is looked up in the cache by pid.
final class FanotifyFileSource {
    let descriptor: Int32
    private let processes: ProcessEventBuilder
    /// An open directory on each marked file system, by fsid: what
    /// open_by_handle_at resolves handles against.
    private var mounts: [UInt64: Int32] = [:]
    private var buffer = [UInt8](repeating: 0, count: 65536)
    private var pendingRename: (pid: Int32, path: [UInt8])?
    private(set) var markedFileSystems: [String] = []
    /// Reads of the fanotify queue that failed (each may have lost events).
    private(set) var readErrors: UInt64 = 0

    private static let create = Syscalls.FanotifyFlags.create, delete = Syscalls.FanotifyFlags.delete
    private static let movedFrom = Syscalls.FanotifyFlags.movedFrom, movedTo = Syscalls.FanotifyFlags.movedTo
    private static let onDirectory = Syscalls.FanotifyFlags.onDirectory

    init(processes: ProcessEventBuilder) throws {
        self.processes = processes
        descriptor = try Syscalls.fanotifyInit(flags: Syscalls.FanotifyFlags.initNotifyWithDirectoryNames,
                                               eventFlags: O_RDONLY)
        let mask = FanotifyFileSource.create | FanotifyFileSource.delete
            | FanotifyFileSource.movedFrom | FanotifyFileSource.movedTo
        var lastMarkError: Error = SystemCallError("fanotify_mark", errno: ENOENT)
        for mountPoint in FanotifyFileSource.fileSystemMountPoints() {
            guard let fsid = try? Syscalls.fileSystemID(mountPoint) else { continue }
            guard mounts[fsid] == nil else { continue }
            do {
                try Syscalls.fanotifyMark(descriptor, flags: Syscalls.FanotifyFlags.markFileSystem, mask: mask, path: mountPoint)
            } catch {
                lastMarkError = error
                continue
            }
            guard let fd = try? Syscalls.open(mountPoint, O_RDONLY | O_DIRECTORY) else { continue }
            mounts[fsid] = fd
            markedFileSystems.append(mountPoint)
        }
        guard !mounts.isEmpty else {
            Syscalls.close(descriptor)
            throw lastMarkError
        }
    }

    deinit {
        for fd in mounts.values { Syscalls.close(fd) }
        Syscalls.close(descriptor)
    }

    /// Mount points of the file systems that hold files: every mount in
    /// /proc/self/mountinfo except the kernel's pseudo file systems.
    static func fileSystemMountPoints() -> [String] {
        let pseudo: Set<String> = ["proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs",
                                   "securityfs", "pstore", "bpf", "configfs", "fusectl", "binfmt_misc", "autofs",
                                   "hugetlbfs", "rpc_pipefs", "nsfs", "efivarfs"]
        guard let text = ProcFile.read("/proc/self/mountinfo") else { return ["/"] }
        var points: [String] = []
        for line in text.split(separator: 0x0A) {
            let fields = line.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields.count > 4 else { continue }
            if pseudo.contains(fields[dash + 1]) { continue }
            points.append(fields[4].replacingOctalEscapes())
        }
        return points
    }

    func drain(into out: inout [Event]) {
        while true {
            let n: Int
            do {
                guard let got = try buffer.withUnsafeMutableBytes({ try Syscalls.readIfReady(descriptor, into: $0, "fanotify") }),
                      got > 0 else { return }
                n = got
            } catch {
                readErrors += 1
                return
            }
            var at = 0
            while at + 24 <= n {
                let length = Int(load32(at))
                guard length >= 24, at + length <= n else { break }
                event(at: at, length: length, into: &out)
                at += length
            }
        }
    }

    private func load32(_ offset: Int) -> UInt32 {
        buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    private func event(at base: Int, length: Int, into out: inout [Event]) {
        let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: base + 8, as: UInt64.self) }
        let pid = Int32(bitPattern: load32(base + 20))
        guard mask & FanotifyFileSource.onDirectory == 0, pid != getpid() else { return }
        // One info record: header (type, pad, len), fsid (8), file_handle, name.
        let info = base + (Int(buffer[base + 6]) | Int(buffer[base + 7]) << 8)  // + metadata_len
        guard info + 4 + 8 + 8 <= base + length else { return }
        let infoLength = Int(buffer[info + 2]) | Int(buffer[info + 3]) << 8
        let infoEnd = min(info + infoLength, base + length)
        let fsid = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: info + 4, as: UInt64.self) }
        let handle = info + 12
        let handleBytes = Int(load32(handle))
        let nameStart = handle + 8 + handleBytes
        guard nameStart < infoEnd, let mount = mounts[fsid] else { return }
        let name = Array(buffer[nameStart..<infoEnd].prefix { $0 != 0 })
        guard let directory = resolve(handle: handle, size: 8 + handleBytes, mount: mount) else { return }
        let path = KernelText.path(directoryComponents: [], name: directory + [UInt8(ascii: "/")] + name, truncated: false)

        let kind: EventKind
        if mask & FanotifyFileSource.movedFrom != 0 {
            pendingRename = (pid, path)
            return
        } else if mask & FanotifyFileSource.movedTo != 0 {
            kind = .fileRename
        } else if mask & FanotifyFileSource.create != 0 {
            kind = .fileCreate
        } else {
            kind = .fileDelete
        }
        var e = Event(kind, time: .now())
        let entry = processes.cache[UInt32(bitPattern: pid)]
        e["ProcessGuid"] = entry?.guidText ?? "-"
        e["ProcessId"] = String(pid)
        if let entry {
            e.setText("Image", entry.image, exact: entry.imageBytes)
            e["User"] = entry.user
        }
        if kind == .fileRename {
            if let from = pendingRename, from.pid == pid { e.set("SourceFilename", bytes: from.path) }
            pendingRename = nil
        }
        e.set("TargetFilename", bytes: path)
        if kind == .fileCreate { e["CreationUtcTime"] = e["UtcTime"] }
        out.append(e)
    }

    /// A directory's file handle → its path, through the mount it lives on.
    private func resolve(handle offset: Int, size: Int, mount: Int32) -> [UInt8]? {
        var copy = Array(buffer[offset..<(offset + size)])
        guard let fd = try? copy.withUnsafeMutableBytes({ raw in
            try Syscalls.openByHandle(mount: mount, handle: raw.baseAddress!, flags: Syscalls.openPathOnly)
        }) else { return nil }
        defer { Syscalls.close(fd) }
        return ProcFile.readLink("/proc/self/fd/\(fd)")
    }
}

extension String {
    /// mountinfo writes space, tab, newline and backslash as \\040-style octal.
    func replacingOctalEscapes() -> String {
        var out: [UInt8] = []
        let bytes = Array(utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let value = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(value)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
