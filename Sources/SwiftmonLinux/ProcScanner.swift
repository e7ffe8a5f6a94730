import Glibc
import SwiftmonCore
import SwiftmonSystem

/// The one scan of /proc at start-up that seeds the process cache with the
/// processes already running, so that their children's events name their
/// parent and their exits name their image. Never used for new processes.
struct ProcScanner {
    let host: HostIdentity
    let users: UserNames
    /// Fills each entry's cgroup, container and namespaces when given.
    var containers: ContainerResolver? = nil

    func scan(into cache: inout ProcessCache) -> Int {
        guard let dir = opendir("/proc") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = UInt32(name), let info = read(pid: pid) else { continue }
            cache.insert(info)
            count += 1
        }
        return count
    }

    func read(pid: UInt32) -> ProcessEntry? {
        guard let stat = ProcFile.read("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Fields after "comm)": state is field 3, starttime field 22.
        let rest = stat[(close + 2)...].split(separator: UInt8(ascii: " "))
        guard rest.count > 19, let ticks = UInt64(String(decoding: rest[19], as: UTF8.self)) else { return nil }
        var image = ProcFile.readLink("/proc/\(pid)/exe") ?? []
        let args = ProcFile.read("/proc/\(pid)/cmdline") ?? []
        if image.isEmpty {
            // Kernel threads have no executable: name them as ps does.
            if let open = stat.firstIndex(of: UInt8(ascii: "(")) {
                image = [UInt8(ascii: "[")] + stat[(open + 1)..<close] + [UInt8(ascii: "]")]
            }
        }
        let commandLine = KernelText.commandLine(fromArguments: args, total: UInt32(args.count), truncated: false)
        var euid: UInt32 = 0
        var containerPid: UInt32 = 0
        if let status = ProcFile.read("/proc/\(pid)/status") {
            for line in status.split(separator: 0x0A) {
                let isUid = line.starts(with: Array("Uid:".utf8)), isNSpid = line.starts(with: Array("NSpid:".utf8))
                guard isUid || isNSpid else { continue }
                let ids = line.split(whereSeparator: { $0 == 0x09 || $0 == 0x20 })
                if isUid, ids.count > 2 { euid = UInt32(String(decoding: ids[2], as: UTF8.self)) ?? 0 }
                // NSpid: the pid in each pid namespace, the process's own last.
                if isNSpid, let last = ids.last { containerPid = UInt32(String(decoding: last, as: UTF8.self)) ?? 0 }
            }
        }
        var entry = ProcessEntry(
            guid: host.guid(pid: pid, startTicks: ticks), pid: pid,
            image: image, commandLine: commandLine, user: users.name(euid))
        if let containers {
            entry.container = containers.container(
                cgroupPath: ProcScanner.unifiedCgroupPath(ProcFile.read("/proc/\(pid)/cgroup") ?? []),
                pidNamespace: ProcScanner.namespaceInode("/proc/\(pid)/ns/pid"),
                mntNamespace: ProcScanner.namespaceInode("/proc/\(pid)/ns/mnt"),
                netNamespace: ProcScanner.namespaceInode("/proc/\(pid)/ns/net"))
            entry.containerPid = containerPid
        }
        return entry
    }

    /// The `0::/path` line of /proc/PID/cgroup: the process's cgroup on the
    /// unified hierarchy (in hybrid mode the other lines are v1 controllers).
    static func unifiedCgroupPath(_ text: [UInt8]) -> String? {
        for line in text.split(separator: 0x0A) where line.starts(with: Array("0::".utf8)) {
            return String(decoding: line.dropFirst(3), as: UTF8.self)
        }
        return nil
    }

    /// `pid:[4026531836]` → 4026531836 (0 when unreadable).
    static func namespaceInode(_ link: String) -> UInt32 {
        guard let target = ProcFile.readLink(link), let open = target.firstIndex(of: UInt8(ascii: "[")),
              target.last == UInt8(ascii: "]") else { return 0 }
        return UInt32(String(decoding: target[(open + 1)..<(target.count - 1)], as: UTF8.self)) ?? 0
    }
}

/// Small whole-file reads of /proc and /etc.
enum ProcFile {
    static func read(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        guard let fd = try? Syscalls.open(path, O_RDONLY) else { return nil }
        defer { Syscalls.close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            guard let n = try? chunk.withUnsafeMutableBytes({ try Syscalls.read(fd, into: $0, path) }), n > 0 else { break }
            out += chunk[0..<n]
        }
        return out
    }

    static func readLink(_ path: String) -> [UInt8]? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        guard n > 0 else { return nil }
        return buffer[0..<n].map { UInt8(bitPattern: $0) }
    }
}
