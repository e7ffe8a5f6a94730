import CLinuxSyscalls
import Glibc

/// A failed system call: which call, on what, and errno. The one place
/// swiftmon turns a -1 into an error (the "errno funnel").
public struct SystemCallError: Error, CustomStringConvertible {
    public let call: String
    public let errno: Int32
    public init(_ call: String, errno: Int32) { self.call = call; self.errno = errno }
    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Runs `body` until it does not fail with EINTR; turns -1 into a thrown error.
@discardableResult
func retryingOnInterrupt<T: BinaryInteger>(_ call: String, _ body: () -> T) throws -> T {
    while true {
        let r = body()
        if r == -1 {
            let e = errno
            if e == EINTR { continue }
            throw SystemCallError(call, errno: e)
        }
        return r
    }
}

/// The syscalls of the sensor's event loop, wrapped once: epoll(7),
/// signalfd(2), timerfd_create(2). Nothing else in swiftmon calls them.
enum Syscalls {
    static func epollCreate() throws -> Int32 {
        try retryingOnInterrupt("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    static func epollAdd(_ epfd: Int32, _ fd: Int32, token: UInt64) throws {
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = token
        try retryingOnInterrupt("epoll_ctl(ADD)") { epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) }
    }

    /// Waits for readiness; returns the tokens of the ready descriptors.
    /// An interrupted wait returns no tokens rather than throwing.
    static func epollWait(_ epfd: Int32, timeoutMilliseconds: Int32) throws -> [UInt64] {
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
    static func signalDescriptor(for signals: [Int32]) throws -> Int32 {
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
    static func readSignals(_ fd: Int32) -> [Int32] {
        var out: [Int32] = []
        var info = signalfd_siginfo()
        while read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            out.append(Int32(info.ssi_signo))
        }
        return out
    }

    /// A descriptor that becomes readable every `intervalMilliseconds`.
    static func periodicTimer(intervalMilliseconds: Int) throws -> Int32 {
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

    /// Consumes a timerfd's expiry count.
    static func drainTimer(_ fd: Int32) {
        var expirations: UInt64 = 0
        _ = read(fd, &expirations, 8)
    }

    static func closeDescriptor(_ fd: Int32) {
        if fd >= 0 { close(fd) }
    }

    /// Nanoseconds on `clock`.
    static func clockNanoseconds(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// CPU time this process has used, user + system, in microseconds.
    static func processCPUMicroseconds() -> Int64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
            + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }
}
