#if canImport(Glibc)
import Glibc
#endif
import SwiftmonSystem

/// Writing and removing the files of an installation, through the
/// system-call layer: whole files replaced atomically (a temporary file in
/// the same folder, fsync, rename, fsync of the folder), folders made with
/// their mode, trees removed without following symbolic links.
public enum ServiceFiles {
    /// Replaces `path` with `bytes`, mode `mode`, atomically: a reader (or a
    /// crash) sees the old file or the new one, never a part.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws {
        let directory = parent(of: path)
        let temporary = "\(path).tmp-\(getpid())"
        let fd = try Syscalls.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
        do {
            try bytes.withUnsafeBytes { try Syscalls.writeAll(fd, $0, temporary) }
            // The mode is set on the descriptor: the umask does not decide it.
            try Syscalls.fchmod(fd, mode, temporary)
            try Syscalls.fsync(fd, temporary)
            Syscalls.close(fd)
        } catch {
            Syscalls.close(fd)
            discard(temporary)
            throw error
        }
        do {
            try Syscalls.rename(temporary, path)
        } catch {
            discard(temporary)
            throw error
        }
        let dfd = try Syscalls.open(directory, O_RDONLY | O_DIRECTORY)
        defer { Syscalls.close(dfd) }
        try Syscalls.fsync(dfd, directory)
    }

    /// Makes `path` and any missing parents (parents 0755, as /etc and /var
    /// are; `path` itself with `mode`), and sets `mode` on `path` if it existed.
    public static func makeDirectory(_ path: String, mode: mode_t) throws {
        var built = ""
        let parts = path.split(separator: "/")
        for (i, part) in parts.enumerated() {
            built += "/" + part
            let last = i == parts.count - 1
            try Syscalls.makeDirectory(built, mode: last ? mode : 0o755)
        }
        try Syscalls.changeMode(path, mode)
    }

    /// Removes `path` and everything under it; symbolic links are removed,
    /// never followed. Nothing there is not an error.
    public static func removeTree(_ path: String) throws {
        guard let st = try Syscalls.linkStatus(path) else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in try Syscalls.directoryEntries(path) ?? [] { try removeTree(path + "/" + name) }
            try Syscalls.removeDirectory(path)
        } else {
            try Syscalls.unlink(path)
        }
    }

    /// Whether something (a file, a folder, a link) is at `path`.
    public static func exists(_ path: String) -> Bool { (try? Syscalls.linkStatus(path)) != nil }

    /// Removes a temporary file after a failure; the failure is what is reported.
    static func discard(_ path: String) {
        do { try Syscalls.unlink(path) } catch { /* the original error is the one to report */ }
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
