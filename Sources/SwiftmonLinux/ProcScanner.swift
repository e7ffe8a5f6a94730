import Glibc
import SwiftmonCore
import SwiftmonSystem

/// The one scan of /proc at start-up that seeds the process cache with the
/// processes already running, so that their children's events name their
/// parent and their exits name their image. Never used for new processes.
struct ProcScanner {
    let host: HostIdentity
    let users: UserNames

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
        if let status = ProcFile.read("/proc/\(pid)/status") {
            for line in status.split(separator: 0x0A) where line.starts(with: Array("Uid:".utf8)) {
                let ids = line.split(whereSeparator: { $0 == 0x09 || $0 == 0x20 })
                if ids.count > 2 { euid = UInt32(String(decoding: ids[2], as: UTF8.self)) ?? 0 }
            }
        }
        return ProcessEntry(
            guid: host.guid(pid: pid, startTicks: ticks), pid: pid,
            image: image, commandLine: commandLine, user: users.name(euid))
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
