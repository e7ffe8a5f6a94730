import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a program run to completion did.
public struct CommandResult: Sendable {
    public let pid: Int32
    /// The exit status, or the signal number when `signaled`.
    public let status: Int32
    public let signaled: Bool
    public let stdout: Data
    public let stderr: Data

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

public struct CommandError: Error, CustomStringConvertible {
    public let description: String
}

/// Runs a program to completion, its output captured, with a deadline.
///
/// posix_spawn and waitpid rather than Foundation's Process: Process learns
/// of the exit through a descriptor the child inherits, so a grandchild left
/// running (`sleep 9 &`) keeps it "running" — and a timeout blind — until
/// the grandchild ends too.
public enum Command {
    public static let defaultTimeout: TimeInterval = 300

    /// Runs `executable` with `arguments`, `stdin` written to it (then
    /// closed; /dev/null when nil) and `environment` added to this process's.
    /// Both outputs are read as they come, so a chatty program cannot fill a
    /// pipe and stall. Past `timeout` the program's process group is killed
    /// and this throws. Output that a grandchild keeps open is read for a
    /// moment after the program exits, then left.
    public static func run(_ executable: URL, _ arguments: [String], stdin: Data? = nil,
                           environment: [String: String] = [:], currentDirectory: URL? = nil,
                           timeout: TimeInterval = defaultTimeout) throws -> CommandResult {
        // A program that exits without reading its input must not kill the test with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let out = try pipe(), err = try pipe()
        let input = try stdin.map { _ in try pipe() }
        defer { for fd in [out.read, err.read] { close(fd) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)
        if let currentDirectory {
            guard let addChdir = addChdir else { throw CommandError(description: "posix_spawn cannot change directory here") }
            addChdir(&actions, currentDirectory.path)
        }

        // Its own process group (so a timeout can end its children too), the
        // default SIGPIPE, no blocked signals.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var signals = sigset_t()
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        sigaddset(&signals, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &signals)

        let environmentLines = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
        var pid: pid_t = 0
        let spawned = withCStrings([executable.path] + arguments) { argv in
            withCStrings(environmentLines) { envp in
                posix_spawn(&pid, executable.path, &actions, &attributes, argv, envp)
            }
        }
        for fd in [out.write, err.write, input?.read].compactMap({ $0 }) { close(fd) }
        guard spawned == 0 else {
            if let input { close(input.write) }
            throw CommandError(description: "cannot run \(executable.path): \(String(cString: strerror(spawned)))")
        }
        if let input, let stdin {
            DispatchQueue.global().async {
                stdin.withUnsafeBytes { bytes in
                    var at = 0
                    while at < bytes.count {
                        let n = write(input.write, bytes.baseAddress! + at, bytes.count - at)
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { break }
                        at += n
                    }
                }
                close(input.write)
            }
        }

        var output = (Data(), Data())
        let deadline = Date(timeIntervalSinceNow: timeout)
        var open = [true, true]
        var waitStatus: Int32 = 0
        var exitedAt: Date?
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while exitedAt == nil || (open.contains(true) && Date().timeIntervalSince(exitedAt!) < 2) {
            if exitedAt == nil, Date() > deadline {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
                throw CommandError(description: "\(executable.path) \(arguments.joined(separator: " ")) did not finish in \(Int(timeout)) s; "
                                   + "stderr so far: \(String(decoding: output.1.suffix(2000), as: UTF8.self))")
            }
            if exitedAt == nil, waitpid(pid, &waitStatus, WNOHANG) == pid { exitedAt = Date() }
            let fds = [out.read, err.read]
            var polls = fds.indices.filter { open[$0] }.map { pollfd(fd: fds[$0], events: Int16(POLLIN), revents: 0) }
            if polls.isEmpty {
                if exitedAt == nil { usleep(10_000) }
                continue
            }
            guard poll(&polls, nfds_t(polls.count), 20) > 0 else { continue }
            for entry in polls where entry.revents != 0 {
                let i = fds.firstIndex(of: entry.fd)!
                let n = read(entry.fd, &chunk, chunk.count)
                if n > 0 {
                    if i == 0 { output.0.append(contentsOf: chunk[0..<n]) } else { output.1.append(contentsOf: chunk[0..<n]) }
                } else if n == 0 || errno != EINTR {
                    open[i] = false
                }
            }
        }
        let signaled = waitStatus & 0x7F != 0
        return CommandResult(pid: pid, status: signaled ? waitStatus & 0x7F : (waitStatus >> 8) & 0xFF,
                             signaled: signaled, stdout: output.0, stderr: output.1)
    }

    /// A pipe whose ends the spawned program does not inherit (but for the
    /// one made its stdin, stdout or stderr).
    private static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else {
            throw CommandError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// glibc's posix_spawn_file_actions_addchdir_np (2.29), which Swift's
    /// Glibc module does not declare (it needs _GNU_SOURCE).
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private static let addChdir: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: AddChdir.self) }

    /// `strings` as a NUL-terminated array of C strings, for the time of `body`.
    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for p in pointers { free(p) } }
        return body(pointers)
    }
}
