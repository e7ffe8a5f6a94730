import CLinuxSyscalls
import Glibc

/// Every system call swiftmon makes, wrapped once: Swift names outside, the C
/// call named in each error; EINTR retried and -1 thrown by
/// ``retryingOnInterrupt``. Nothing else in the package calls these in libc.
public enum Syscalls {
    // MARK: files

    /// open(2) with `O_CLOEXEC`; files are created mode 0600 (swiftmon runs as root).
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
        try retryingOnInterrupt("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// open(2) of a path given as bytes (file names need not be UTF-8).
    public static func open(pathBytes path: [UInt8], _ flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
        var cPath = path.map { CChar(bitPattern: $0) }
        cPath.append(0)
        guard !path.contains(0) else { throw SystemCallError("open", errno: EINVAL) }
        return try retryingOnInterrupt("open", String(decoding: path, as: UTF8.self)) { Glibc.open(cPath, flags | O_CLOEXEC, mode) }
    }

    /// openat(2) relative to a directory descriptor.
    public static func openAt(_ directory: Int32, _ path: String, _ flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
        try retryingOnInterrupt("openat", path) { Glibc.openat(directory, path, flags | O_CLOEXEC, mode) }
    }

    /// Gives the allocator's free memory back to the system (after a large
    /// drop: thousands of cache entries or queued events freed). Costs a walk
    /// of the heap: call it rarely.
    @discardableResult
    public static func releaseFreeHeap() -> Bool { swiftmon_release_free_heap() == 1 }

    /// Fixes the allocator's thresholds: blocks of `mmapThreshold` bytes or
    /// more get mappings of their own (given back whole when freed), and the
    /// top of the heap is given back once `trimThreshold` bytes of it are free.
    /// Fixed, glibc no longer raises them as large blocks are freed.
    @discardableResult
    public static func fixAllocatorThresholds(mmapThreshold: Int32, trimThreshold: Int32) -> Bool {
        swiftmon_fix_allocator_thresholds(mmapThreshold, trimThreshold) == 1
    }

    public static func close(_ fd: Int32) {
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    /// One read(2); 0 at end of file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, _ subject: String = "") throws -> Int {
        try retryingOnInterrupt("read", subject) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// read(2) that reports "nothing now" (EAGAIN on a non-blocking descriptor) as nil.
    public static func readIfReady(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, _ subject: String = "") throws -> Int? {
        do {
            return try read(fd, into: buffer, subject)
        } catch let error as SystemCallError where error.errno == EAGAIN {
            return nil
        }
    }

    /// One write(2): how many bytes the kernel took.
    public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ subject: String = "") throws -> Int {
        try retryingOnInterrupt("write", subject) { Glibc.write(fd, bytes.baseAddress, bytes.count) }
    }

    /// write(2) of all of `bytes`, resuming after short writes. On failure the
    /// error says how many bytes the kernel had taken before it.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ subject: String = "") throws {
        var done = 0
        while done < bytes.count {
            do {
                done += try write(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]), subject)
            } catch let error as SystemCallError {
                throw PartialWriteError(underlying: error, bytesWritten: done)
            }
        }
    }

    public static func fsync(_ fd: Int32, _ subject: String = "") throws {
        try retryingOnInterrupt("fsync", subject) { Glibc.fsync(fd) }
    }

    public static func rename(_ from: String, _ to: String) throws {
        try retryingOnInterrupt("rename", "\(from) → \(to)") { Glibc.rename(from, to) }
    }

    public static func fstat(_ fd: Int32, _ subject: String = "") throws -> stat {
        var st = stat()
        try retryingOnInterrupt("fstat", subject) { Glibc.fstat(fd, &st) }
        return st
    }

    public static func fchmod(_ fd: Int32, _ mode: mode_t, _ subject: String = "") throws {
        try retryingOnInterrupt("fchmod", subject) { Glibc.fchmod(fd, mode) }
    }

    /// chmod(2).
    public static func changeMode(_ path: String, _ mode: mode_t) throws {
        try retryingOnInterrupt("chmod", path) { Glibc.chmod(path, mode) }
    }

    /// chown(2).
    public static func changeOwner(_ path: String, uid: uid_t, gid: gid_t) throws {
        try retryingOnInterrupt("chown", path) { Glibc.chown(path, uid, gid) }
    }

    /// lstat(2) (a symbolic link is described, not followed); nil when nothing is there.
    public static func linkStatus(_ path: String) throws -> stat? {
        var st = stat()
        do {
            try retryingOnInterrupt("lstat", path) { Glibc.lstat(path, &st) }
        } catch let error as SystemCallError where error.errno == ENOENT {
            return nil
        }
        return st
    }

    /// readlink(2): where the symbolic link at `path` points.
    public static func readLink(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = try retryingOnInterrupt("readlink", path) { Glibc.readlink(path, &buffer, buffer.count - 1) }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// unlink(2); a file that is already gone is not an error.
    public static func unlink(_ path: String) throws {
        do {
            try retryingOnInterrupt("unlink", path) { Glibc.unlink(path) }
        } catch let error as SystemCallError where error.errno == ENOENT {
            return
        }
    }

    /// rmdir(2); a directory that is already gone is not an error.
    public static func removeDirectory(_ path: String) throws {
        do {
            try retryingOnInterrupt("rmdir", path) { Glibc.rmdir(path) }
        } catch let error as SystemCallError where error.errno == ENOENT {
            return
        }
    }

    /// The names in a directory (without `.` and `..`); nil when it does not exist.
    public static func directoryEntries(_ path: String) throws -> [String]? {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return nil }
            throw SystemCallError("opendir", path, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// mkdir(2); an existing directory is not an error.
    public static func makeDirectory(_ path: String, mode: mode_t) throws {
        do {
            try retryingOnInterrupt("mkdir", path) { Glibc.mkdir(path, mode) }
        } catch let error as SystemCallError where error.errno == EEXIST {
            return
        }
    }

    /// Reads a whole small file, or `nil` when it does not exist.
    public static func readSmallFile(_ path: String, limit: Int = 4096) throws -> [UInt8]? {
        let fd: Int32
        do {
            fd = try open(path, O_RDONLY)
        } catch let error as SystemCallError where error.errno == ENOENT {
            return nil
        }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let n = try out.withUnsafeMutableBytes { buf in
                try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buf[total...]), path)
            }
            if n == 0 { break }
            total += n
        }
        return Array(out[..<total])
    }

    /// mmap(2) of a whole file, read-only and private, advised for sequential
    /// reading; munmap(2) it with ``unmap(_:)``.
    public static func mapReadOnly(_ fd: Int32, size: Int, _ subject: String = "") throws -> UnsafeRawBufferPointer {
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw SystemCallError("mmap", subject, errno: errno)
        }
        _ = madvise(base, size, MADV_SEQUENTIAL)  // a hint: the mapping works without it
        return UnsafeRawBufferPointer(start: base, count: size)
    }

    public static func unmap(_ mapping: UnsafeRawBufferPointer) {
        _ = munmap(UnsafeMutableRawPointer(mutating: mapping.baseAddress), mapping.count)
    }

    /// Drops the resident pages of `region`, a part of a read-only file mapping
    /// (``mapReadOnly``) already read: memory stays flat however large the
    /// file; a later read of the region pages it in again from the file. Only
    /// whole pages inside the region are dropped. A hint: failure changes nothing.
    public static func releaseMappedPages(_ region: UnsafeRawBufferPointer) {
        guard let base = region.baseAddress, region.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + region.count) / page * page
        guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(p, end - start, MADV_DONTNEED)
    }

    // MARK: shared file mappings (the syslog disk spool)

    /// Gives `fd` real blocks for its first `size` bytes (posix_fallocate(3)),
    /// so that stores into a shared mapping of them cannot fail later with
    /// SIGBUS on a full file system: the failure (ENOSPC) comes here instead.
    public static func allocateFile(_ fd: Int32, size: Int, _ subject: String = "") throws {
        var rc: Int32
        repeat { rc = posix_fallocate(fd, 0, off_t(size)) } while rc == EINTR
        if rc != 0 { throw SystemCallError("posix_fallocate", subject, errno: rc) }
    }

    /// mmap(2) of a file's first `size` bytes, readable, writable and shared:
    /// stores land in the page cache at once (a crash of the process loses
    /// none of them; ``syncMapping`` makes them survive a power loss).
    public static func mapShared(_ fd: Int32, size: Int, _ subject: String = "") throws -> UnsafeMutableRawBufferPointer {
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw SystemCallError("mmap", subject, errno: errno)
        }
        return UnsafeMutableRawBufferPointer(start: base, count: size)
    }

    /// msync(2, MS_SYNC) of the whole pages covering `range` of a shared mapping.
    public static func syncMapping(_ mapping: UnsafeMutableRawBufferPointer, range: Range<Int>, _ subject: String = "") throws {
        guard let base = mapping.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(mapping.count, (range.upperBound + page - 1) / page * page)
        try retryingOnInterrupt("msync", subject) { msync(base + start, end - start, MS_SYNC) }
    }

    /// flock(2, LOCK_EX | LOCK_NB): false when another open file description holds it.
    public static func tryLockExclusive(_ fd: Int32, _ subject: String = "") throws -> Bool {
        do {
            try retryingOnInterrupt("flock", subject) { flock(fd, LOCK_EX | LOCK_NB) }
            return true
        } catch let error as SystemCallError where error.errno == EWOULDBLOCK {
            return false
        }
    }

    /// fsync(2) of a directory, so that files created, renamed or removed in it survive a power loss.
    public static func syncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path)
    }

    /// `O_PATH`, which Glibc does not export to Swift.
    public static var openPathOnly: Int32 { swiftmon_O_PATH }

    /// open_by_handle_at(2): a file handle (from fanotify) → a descriptor.
    public static func openByHandle(mount: Int32, handle: UnsafeMutableRawPointer, flags: Int32) throws -> Int32 {
        try retryingOnInterrupt("open_by_handle_at") { swiftmon_open_by_handle_at(mount, handle, flags | O_CLOEXEC) }
    }

    // MARK: threads and clocks

    /// gettid(2): the kernel's id of the calling thread.
    public static func currentThreadID() -> Int32 { swiftmon_gettid() }

    /// Names the calling thread (what `ps -L` and `top -H` show), at most 15 bytes.
    public static func nameCurrentThread(_ name: String) {
        _ = swiftmon_name_thread(String(decoding: name.utf8.prefix(15), as: UTF8.self))
    }

    /// Blocks `signals` in the calling thread only (pthread_sigmask): a signal
    /// the thread itself causes (SIGPIPE of a write to a reset socket) stays
    /// pending and harmless, and the call fails with its errno (EPIPE) instead.
    public static func blockSignalsInThisThread(_ signals: [Int32]) throws {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        let rc = pthread_sigmask(SIG_BLOCK, &set, nil)
        if rc != 0 { throw SystemCallError("pthread_sigmask", errno: rc) }
    }

    /// Nanoseconds on `clock`.
    public static func clockNanoseconds(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Sleeps this thread for `microseconds` (a signal may end it early).
    public static func sleep(microseconds: UInt32) {
        var ts = timespec(tv_sec: Int(microseconds / 1_000_000), tv_nsec: Int(microseconds % 1_000_000) * 1000)
        _ = nanosleep(&ts, nil)
    }

    /// CPU time this process has used, user + system, in microseconds.
    public static func processCPUMicroseconds() -> Int64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
            + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }

    // MARK: the event loop: epoll(7), signalfd(2), timerfd(2), eventfd(2)

    public static func epollCreate() throws -> Int32 {
        try retryingOnInterrupt("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    public static func epollAdd(_ epfd: Int32, _ fd: Int32, token: UInt64) throws {
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = token
        try retryingOnInterrupt("epoll_ctl(ADD)") { epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) }
    }

    /// Takes `fd` out of an epoll set (before closing it).
    public static func epollRemove(_ epfd: Int32, _ fd: Int32) {
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil)
    }

    /// Waits for readiness; returns the tokens of the ready descriptors.
    /// An interrupted wait returns no tokens rather than throwing.
    public static func epollWait(_ epfd: Int32, timeoutMilliseconds: Int32) throws -> [UInt64] {
        var events = [epoll_event](repeating: epoll_event(), count: 8)
        let n = epoll_wait(epfd, &events, Int32(events.count), timeoutMilliseconds)
        if n < 0 {
            if errno == EINTR { return [] }
            throw SystemCallError("epoll_wait", errno: errno)
        }
        return events[0..<Int(n)].map { $0.data.u64 }
    }

    /// Blocks `signals` in this thread (and the threads it starts later) and
    /// returns a descriptor that becomes readable when one arrives.
    public static func signalDescriptor(for signals: [Int32]) throws -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals {
            sigaddset(&set, s)
            // An ignored signal never reaches a signalfd, and a shell starts
            // background jobs with SIGINT ignored (nohup: SIGHUP): take the
            // default back. Blocked, the default action never runs.
            signal(s, SIG_DFL)
        }
        let rc = pthread_sigmask(SIG_BLOCK, &set, nil)
        if rc != 0 { throw SystemCallError("pthread_sigmask", errno: rc) }
        return try retryingOnInterrupt("signalfd") { signalfd(-1, &set, Int32(SFD_CLOEXEC | SFD_NONBLOCK)) }
    }

    /// The signal numbers waiting on a signalfd.
    public static func readSignals(_ fd: Int32) -> [Int32] {
        var out: [Int32] = []
        var info = signalfd_siginfo()
        while Glibc.read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            out.append(Int32(info.ssi_signo))
        }
        return out
    }

    /// A descriptor that becomes readable every `intervalMilliseconds`.
    public static func periodicTimer(intervalMilliseconds: Int) throws -> Int32 {
        let fd = try retryingOnInterrupt("timerfd_create") {
            timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        }
        let seconds = intervalMilliseconds / 1000
        let nanos = (intervalMilliseconds % 1000) * 1_000_000
        var spec = itimerspec(
            it_interval: timespec(tv_sec: seconds, tv_nsec: nanos),
            it_value: timespec(tv_sec: seconds, tv_nsec: nanos))
        try retryingOnInterrupt("timerfd_settime") { timerfd_settime(fd, 0, &spec, nil) }
        return fd
    }

    /// Consumes a timerfd's expiry count (or an eventfd's counter).
    public static func drainCounter(_ fd: Int32) {
        var count: UInt64 = 0
        _ = Glibc.read(fd, &count, 8)
    }

    /// An eventfd(2): another thread's way to wake an epoll loop.
    public static func eventDescriptor() throws -> Int32 {
        try retryingOnInterrupt("eventfd") { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }
    }

    /// Wakes whoever waits on an eventfd.
    public static func signalEvent(_ fd: Int32) {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    // MARK: fanotify(7)

    public struct FanotifyFlags {
        public static var initNotifyWithDirectoryNames: UInt32 {
            swiftmon_FAN_CLASS_NOTIF | swiftmon_FAN_CLOEXEC | swiftmon_FAN_NONBLOCK | swiftmon_FAN_REPORT_DFID_NAME
        }
        public static var markFileSystem: UInt32 { swiftmon_FAN_MARK_ADD | swiftmon_FAN_MARK_FILESYSTEM }
        public static var create: UInt64 { swiftmon_FAN_CREATE }
        public static var delete: UInt64 { swiftmon_FAN_DELETE }
        public static var movedFrom: UInt64 { swiftmon_FAN_MOVED_FROM }
        public static var movedTo: UInt64 { swiftmon_FAN_MOVED_TO }
        public static var onDirectory: UInt64 { swiftmon_FAN_ONDIR }
    }

    public static func fanotifyInit(flags: UInt32, eventFlags: Int32) throws -> Int32 {
        try retryingOnInterrupt("fanotify_init") { fanotify_init(flags, UInt32(eventFlags | O_CLOEXEC)) }
    }

    public static func fanotifyMark(_ fd: Int32, flags: UInt32, mask: UInt64, path: String) throws {
        try retryingOnInterrupt("fanotify_mark", path) { fanotify_mark(fd, flags, mask, AT_FDCWD, path) }
    }

    // MARK: file systems and netlink

    /// statfs(2)'s file-system id of the file system holding `path`.
    public static func fileSystemID(_ path: String) throws -> UInt64 {
        var fs = statfs()
        try retryingOnInterrupt("statfs", path) { statfs(path, &fs) }
        return withUnsafeBytes(of: fs.f_fsid) { $0.loadUnaligned(as: UInt64.self) }
    }

    /// statfs(2)'s file-system type (magic number) of the file system holding `path`.
    public static func fileSystemType(_ path: String) throws -> UInt64 {
        var fs = statfs()
        try retryingOnInterrupt("statfs", path) { statfs(path, &fs) }
        return UInt64(UInt(bitPattern: Int(fs.f_type)))
    }

    /// mount(2) of a file system that has no device (bpf, tmpfs…) at `target`,
    /// with nosuid, nodev and noexec.
    public static func mountVirtualFileSystem(type: String, at target: String, mode: mode_t) throws {
        let options = "mode=" + String(mode, radix: 8)
        let flags = UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)
        try retryingOnInterrupt("mount", target) { Glibc.mount(type, target, type, flags, options) }
    }

    /// getpid(2).
    public static func processID() -> Int32 { Glibc.getpid() }

    /// Whether `tid` is a thread of this process (/proc/self/task/TID exists).
    public static func isThreadOfSelf(_ tid: UInt32) -> Bool {
        Glibc.access("/proc/self/task/\(tid)", F_OK) == 0
    }

    /// A non-blocking netlink socket of the kernel connector (NETLINK_CONNECTOR),
    /// bound to the multicast `groups`.
    public static func netlinkConnectorSocket(groups: UInt32) throws -> Int32 {
        let fd = try socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), NETLINK_CONNECTOR,
                            "NETLINK_CONNECTOR")
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = groups
        address.nl_pid = 0
        do {
            try withUnsafePointer(to: &address) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size), "NETLINK_CONNECTOR")
                }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// NLMSG_DONE, the type of a netlink message that ends a dump or stands alone.
    public static var netlinkMessageDone: UInt16 { UInt16(NLMSG_DONE) }

    // MARK: sockets

    /// The address of the AF_UNIX socket at `path` (a leading `@` names an
    /// abstract socket) and its length; ENAMETOOLONG (for `call`) when it
    /// does not fit in `sun_path`.
    static func unixAddress(_ path: String, for call: String) throws -> (sockaddr_un, socklen_t) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var name = Array(path.utf8)
        if name.first == UInt8(ascii: "@") { name[0] = 0 }
        guard !name.isEmpty, name.count < MemoryLayout.size(ofValue: address.sun_path), !name.dropFirst().contains(0) else {
            throw SystemCallError(call, path, errno: name.isEmpty || name.dropFirst().contains(0) ? EINVAL : ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in name.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (name[0] == 0 ? 0 : 1))
        return (address, length)
    }

    /// Sends one datagram to the AF_UNIX socket at `path` (a leading `@`
    /// names an abstract socket), from a socket opened for the purpose.
    public static func sendDatagram(_ bytes: [UInt8], toUnixSocket path: String) throws {
        let (built, length) = try unixAddress(path, for: "sendto")
        var address = built
        let fd = try socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, path)
        defer { close(fd) }
        _ = try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try bytes.withUnsafeBytes { raw in
                    try retryingOnInterrupt("sendto", path) {
                        Glibc.sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), sa, length)
                    }
                }
            }
        }
    }

    /// A listening AF_UNIX stream socket at `path` (non-blocking, close-on-exec):
    /// socket(2), bind(2), chmod(2) to `mode`, listen(2). The file must not exist.
    public static func listenUnixStream(_ path: String, mode: mode_t = 0o600, backlog: Int32 = 16) throws -> Int32 {
        let (built, length) = try unixAddress(path, for: "bind")
        var address = built
        let fd = try socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, path)
        do {
            try withUnsafePointer(to: &address) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try bind(fd, $0, length, path) }
            }
            if !path.hasPrefix("@") { try changeMode(path, mode) }
            try retryingOnInterrupt("listen", path) { Glibc.listen(fd, backlog) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// accept4(2), the new descriptor non-blocking and close-on-exec; nil when
    /// no connection is waiting (EAGAIN).
    public static func accept(_ listener: Int32, _ subject: String = "") throws -> Int32? {
        do {
            return try retryingOnInterrupt("accept4", subject) {
                swiftmon_accept4(listener, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
            }
        } catch let error as SystemCallError where error.errno == EAGAIN || error.errno == ECONNABORTED {
            return nil
        }
    }

    /// The process at the other end of an AF_UNIX socket, as the kernel
    /// recorded it when it connected (SO_PEERCRED): pid, uid, gid.
    public static func peerCredentials(_ fd: Int32) throws -> (pid: Int32, uid: uid_t, gid: gid_t) {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        try retryingOnInterrupt("getsockopt(SO_PEERCRED)") { swiftmon_peer_credentials(fd, &pid, &uid, &gid) }
        return (pid, uid_t(uid), gid_t(gid))
    }

    /// A blocking AF_UNIX stream socket connected to `path`.
    public static func connectUnixStream(_ path: String) throws -> Int32 {
        let (built, length) = try unixAddress(path, for: "connect")
        var address = built
        let fd = try socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, path)
        do {
            _ = try withUnsafePointer(to: &address) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try connect(fd, $0, length, path) }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    public static func socket(_ domain: Int32, _ type: Int32, _ proto: Int32, _ subject: String = "") throws -> Int32 {
        try retryingOnInterrupt("socket", subject) { Glibc.socket(domain, type | Int32(SOCK_CLOEXEC.rawValue), proto) }
    }

    public static func bind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t, _ subject: String = "") throws {
        try retryingOnInterrupt("bind", subject) { Glibc.bind(fd, address, length) }
    }

    /// connect(2). A non-blocking socket's connect in progress is reported
    /// as `false` (wait for it with ``poll``), a completed one as `true`.
    public static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t, _ subject: String = "") throws -> Bool {
        do {
            try retryingOnInterrupt("connect", subject) { Glibc.connect(fd, address, length) }
            return true
        } catch let error as SystemCallError where error.errno == EINPROGRESS {
            return false
        }
    }

    /// poll(2) on one descriptor: whether `events` became ready within the timeout.
    public static func poll(_ fd: Int32, events: Int16, timeoutMilliseconds: Int32, _ subject: String = "") throws -> Bool {
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        return try retryingOnInterrupt("poll", subject) { Glibc.poll(&pfd, 1, timeoutMilliseconds) } > 0
    }

    /// send(2) without SIGPIPE; nil when a non-blocking socket cannot take
    /// anything now (EAGAIN).
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, flags: Int32 = 0, _ subject: String = "") throws -> Int? {
        do {
            return try retryingOnInterrupt("send", subject) {
                Glibc.send(fd, bytes.baseAddress, bytes.count, flags | Int32(MSG_NOSIGNAL))
            }
        } catch let error as SystemCallError where error.errno == EAGAIN {
            return nil
        }
    }

    /// recv(2); nil when nothing is waiting (EAGAIN), 0 when the peer closed.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0, _ subject: String = "") throws -> Int? {
        do {
            return try retryingOnInterrupt("recv", subject) { Glibc.recv(fd, buffer.baseAddress, buffer.count, flags) }
        } catch let error as SystemCallError where error.errno == EAGAIN {
            return nil
        }
    }

    public static func setSocketOption<T: BitwiseCopyable>(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: T, _ subject: String = "") throws {
        _ = try withUnsafeBytes(of: value) { raw in
            try retryingOnInterrupt("setsockopt", subject) { Glibc.setsockopt(fd, level, name, raw.baseAddress, socklen_t(raw.count)) }
        }
    }

    /// The pending error of a socket (SO_ERROR), 0 for none.
    public static func socketError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    /// POLLRDHUP (the peer shut down its side), which Glibc does not export.
    public static var pollReadHangUp: Int16 { Int16(swiftmon_POLLRDHUP) }

    public static func setBlocking(_ fd: Int32, _ blocking: Bool) throws {
        let flags = try retryingOnInterrupt("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
        try retryingOnInterrupt("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK) }
    }
}

/// A write that failed after the kernel had taken part of the bytes.
public struct PartialWriteError: Error, CustomStringConvertible, Sendable {
    public let underlying: SystemCallError
    public let bytesWritten: Int
    public init(underlying: SystemCallError, bytesWritten: Int) {
        self.underlying = underlying
        self.bytesWritten = bytesWritten
    }
    public var errno: Int32 { underlying.errno }
    public var description: String { underlying.description }
}
