import CSwiftmonRecords
import Glibc
import SwiftmonCore
import SwiftmonSystem

/// The unified (cgroup v2) hierarchy as this machine mounts it: `/sys/fs/cgroup`
/// where it is the only hierarchy, `/sys/fs/cgroup/unified` in systemd's hybrid
/// mode, wherever /proc/self/mountinfo says a `cgroup2` file system is.
struct CgroupHierarchy {
    let mountPoint: String
    /// An open descriptor of the mount point, for open_by_handle_at.
    let mountFD: Int32

    /// The first `cgroup2` mount of the hierarchy's root, or nil (no v2 at all).
    static func mounted(mountinfo: [UInt8]? = ProcFile.read("/proc/self/mountinfo")) -> CgroupHierarchy? {
        guard let point = mountPoint(inMountinfo: mountinfo ?? []),
              let fd = try? Syscalls.open(point, O_RDONLY | O_DIRECTORY) else { return nil }
        return CgroupHierarchy(mountPoint: point, mountFD: fd)
    }

    /// mountinfo lines: `id parent major:minor root mountpoint options [tags] - fstype source superoptions`.
    static func mountPoint(inMountinfo text: [UInt8]) -> String? {
        for line in text.split(separator: 0x0A) {
            let fields = line.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields.count > 4,
                  fields[dash + 1] == "cgroup2", fields[3] == "/" else { continue }
            return unescapeMountinfo(fields[4])
        }
        return nil
    }

    /// mountinfo writes space, tab, newline and backslash as `\ooo`.
    static func unescapeMountinfo(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
               let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The path of cgroup `id` relative to the hierarchy (`/` for its root), or
    /// nil when no such cgroup exists (any more). A cgroup v2 file handle is
    /// the cgroup id (FILEID_KERNFS), so the kernel finds the directory
    /// directly; where handles are refused, a walk of the hierarchy matches
    /// the id against directory inode numbers (kernfs numbers inodes by id).
    func path(ofCgroup id: UInt64) -> String? {
        // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[8]; }
        var handle = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: UInt32(8).littleEndian) { handle.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: Int32(0xFE).littleEndian) { handle.replaceSubrange(4..<8, with: $0) }
        withUnsafeBytes(of: id) { handle.replaceSubrange(8..<16, with: $0) }
        let fd: Int32
        do {
            fd = try handle.withUnsafeMutableBytes { raw in
                try Syscalls.openByHandle(mount: mountFD, handle: raw.baseAddress!, flags: Syscalls.openPathOnly)
            }
        } catch let error as SystemCallError where error.errno == ESTALE || error.errno == ENOENT {
            return nil  // removed since
        } catch {
            return walk(for: id)
        }
        defer { Syscalls.close(fd) }
        guard let target = ProcFile.readLink("/proc/self/fd/\(fd)") else { return nil }
        return relative(String(decoding: target, as: UTF8.self))
    }

    func relative(_ absolute: String) -> String? {
        guard absolute.hasPrefix(mountPoint) else { return nil }
        let rest = absolute.dropFirst(mountPoint == "/" ? 0 : mountPoint.count)
        return rest.isEmpty ? "/" : String(rest)
    }

    /// Depth-first search for the directory whose inode number is `id`
    /// (readdir gives each directory's inode number without a stat).
    func walk(for id: UInt64) -> String? {
        if let info = try? Syscalls.fstat(mountFD, mountPoint), UInt64(info.st_ino) == id { return "/" }
        var pending = [""]
        var visited = 0
        while let relativePath = pending.popLast(), visited < 100_000 {
            visited += 1
            guard let dir = opendir(mountPoint + relativePath) else { continue }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name == "." || name == ".." { continue }
                if UInt64(entry.pointee.d_ino) == id { return relativePath + "/" + name }
                pending.append(relativePath + "/" + name)
            }
        }
        return nil
    }
}

/// Turns the kernel's container identity of a process (cgroup id, namespace
/// inodes) into the shared ``ProcessContainer`` its events show. Paths and the
/// resulting values are cached, bounded: a cgroup id is never reused (64-bit,
/// increasing), so a cached path is never wrong, only possibly for a cgroup
/// that is gone. Runs on the ring-buffer reader's thread only.
final class ContainerResolver {
    private let pathOfCgroup: (UInt64) -> String?
    private var paths: [UInt64: String?] = [:]
    private struct Key: Hashable {
        let cgroup: UInt64
        let pidNamespace: UInt32, mntNamespace: UInt32, netNamespace: UInt32
    }
    private var containers: [Key: ProcessContainer] = [:]
    private var byPath: [String: ProcessContainer] = [:]
    private var last: (key: Key, container: ProcessContainer)?
    let capacity: Int
    /// For `scripts/bench-containers.sh` only: SWIFTMON_BENCH_SKIP_CONTAINERS=1
    /// leaves the container fields `-` without looking anything up, so the
    /// bench can set the cost of resolving them against the same binary.
    private let skipped = getenv("SWIFTMON_BENCH_SKIP_CONTAINERS").map { String(cString: $0) == "1" } ?? false

    /// Resolves ids on `hierarchy` (nil: no v2 hierarchy, paths unknown).
    convenience init(hierarchy: CgroupHierarchy?, capacity: Int = 8192) {
        self.init(capacity: capacity) { id in hierarchy?.path(ofCgroup: id) }
    }

    /// With a given id → path function (tests, or another way to resolve).
    init(capacity: Int = 8192, pathOfCgroup: @escaping (UInt64) -> String?) {
        self.capacity = capacity
        self.pathOfCgroup = pathOfCgroup
    }

    /// The shared container value for what the kernel captured; nil when the
    /// record carries none (all zero).
    func container(_ c: sm_container_identity) -> ProcessContainer? {
        if skipped { return nil }
        if c.cgroup_id == 0, c.pid_ns == 0, c.mnt_ns == 0, c.net_ns == 0 { return nil }
        let key = Key(cgroup: c.cgroup_id, pidNamespace: c.pid_ns, mntNamespace: c.mnt_ns, netNamespace: c.net_ns)
        // A storm comes from one cgroup: the last answer, without hashing.
        if let last, last.key == key { return last.container }
        if let known = containers[key] {
            last = (key, known)
            return known
        }
        let path = c.cgroup_id == 0 ? nil : cgroupPath(c.cgroup_id)
        let made = ProcessContainer(identity: path.flatMap { ContainerIdentity.of(cgroupPath: $0) }, cgroupPath: path,
                                    pidNamespace: c.pid_ns, mntNamespace: c.mnt_ns, netNamespace: c.net_ns)
        if containers.count >= capacity { containers.removeAll(keepingCapacity: true) }
        containers[key] = made
        last = (key, made)
        return made
    }

    /// The same for a process found in /proc at start-up (path read from
    /// /proc/PID/cgroup, namespaces from /proc/PID/ns).
    func container(cgroupPath path: String?, pidNamespace: UInt32, mntNamespace: UInt32, netNamespace: UInt32)
        -> ProcessContainer {
        let key = "\(path ?? "")\u{0}\(pidNamespace):\(mntNamespace):\(netNamespace)"
        if let known = byPath[key] { return known }
        let made = ProcessContainer(identity: path.flatMap { ContainerIdentity.of(cgroupPath: $0) }, cgroupPath: path,
                                    pidNamespace: pidNamespace, mntNamespace: mntNamespace, netNamespace: netNamespace)
        if byPath.count >= capacity { byPath.removeAll(keepingCapacity: true) }
        byPath[key] = made
        return made
    }

    private func cgroupPath(_ id: UInt64) -> String? {
        if let known = paths[id] { return known }
        let path = pathOfCgroup(id)
        if paths.count >= capacity { paths.removeAll(keepingCapacity: true) }
        paths[id] = .some(path)
        return path
    }
}
