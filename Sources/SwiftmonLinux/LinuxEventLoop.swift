import Glibc
import Synchronization
import SwiftmonCore
import SwiftmonService
import SwiftmonSystem

/// Drives a ``MonitorSession`` on Linux: one epoll set holds the source's
/// descriptors, a signalfd (SIGINT, SIGTERM, SIGHUP, SIGUSR1), a one-second timerfd
/// and an eventfd by which the outputs' thread asks to stop. Idle, swiftmon
/// sleeps in epoll_wait: no polling.
public enum LinuxEventLoop {
    /// The reader reads every wake-up at once, so a lone event (and its
    /// alert) is not held back. When events come close together — a drain
    /// that reads two or more, or one that follows the previous drain within
    /// ``coalescingMicroseconds`` — it then pauses that long (longer while a
    /// storm lasts: ``coalescingPause``) before waiting again, and what came meanwhile is read in one go: a flow of events
    /// costs the reader (and the outputs' thread, woken per drain) one
    /// wake-up per pause instead of one per record, at every rate, and the
    /// kernel skips the per-record wake-up (it wakes a reader only when the
    /// reader has caught up). The first event after a quiet spell waits for
    /// nothing; those that follow it wait at most the pause.
    ///
    /// Measured: at storm rates (exec storm, sensor CPU per event written, 3
    /// rounds × 5,000 execs, idle machine) pausing 1 ms after every drain cost
    /// 68–85 µs/event, 2 ms 48–56, 4 ms 32–54, 10 ms 21–26. Pausing only at
    /// storm rates (16 events within 10 ms) left moderate rates (a few hundred
    /// execs/s, what a real host sees) at one wake-up per record per thread.
    static let coalescingMicroseconds: UInt32 = 10_000

    /// While a storm lasts the pause grows: each pausing drain that read at
    /// least ``stormEvents`` and came straight after the previous pause doubles it, up to ``longestPauseMicroseconds``;
    /// any other drain puts it back to ``coalescingMicroseconds``. It is
    /// capped by the ring buffer's headroom: at the rate the last drain saw
    /// (bytes read ÷ time since the previous drain's read ended), the bytes expected
    /// during the pause stay under a quarter of the ring buffer. The cap
    /// never goes below the base pause; a small `--buffer-size` or a fast
    /// flow keeps the pause at 10 ms. Only a rate that rises more than 4×
    /// within one pause can fill the ring where the 10 ms pause would not.
    /// The rate is measured over the previous pause too (``DrainPacing``).
    static let longestPauseMicroseconds: UInt32 = 50_000
    static let stormEvents = 16

    /// The pause after a drain that pauses (pure: the event loop's rule).
    /// - Parameters:
    ///   - previous: the pause after the previous drain (µs).
    ///   - eventsRead: events the drain read.
    ///   - bytesRead: ring-buffer bytes the drain read.
    ///   - nanoseconds: from the end of the previous drain's read (before its
    ///     pause) to the end of this drain's read: the span the bytes came in.
    ///   - ringBufferBytes: the ring buffer's size; nil for a source without one.
    static func coalescingPause(previous: UInt32, eventsRead: Int, bytesRead: UInt64,
                                overNanoseconds nanoseconds: Int64, ringBufferBytes: Int?) -> UInt32 {
        let base = coalescingMicroseconds
        // Only a drain that comes straight after a pause (the previous
        // drain's read ended at most twice that pause ago) grows it: its rate is
        // measured over the pause. After a quiet spell the interval would
        // make a burst look slow.
        guard let ringBufferBytes, eventsRead >= stormEvents, nanoseconds > 0,
              nanoseconds <= 2 * Int64(max(previous, base)) * 1000 else { return base }
        let grown = min(max(previous, base) * 2, longestPauseMicroseconds)
        // Microseconds until a quarter of the ring buffer fills at this rate.
        let headroom = Double(ringBufferBytes / 4) * Double(nanoseconds) / 1000 / Double(max(bytesRead, 1))
        return max(base, min(grown, UInt32(min(headroom, Double(longestPauseMicroseconds)))))
    }

    /// The signalfd, made once (-1 until ``takeOverSignals()``).
    private static let signalDescriptor = Mutex<Int32>(-1)

    /// Routes SIGINT, SIGTERM, SIGHUP and SIGUSR1 to the event loop. Call it before
    /// any thread starts (outputs start writer threads): a thread that does
    /// not block them would take their default action and kill swiftmon
    /// without its clean stop.
    public static func takeOverSignals() throws {
        try signalDescriptor.withLock { descriptor in
            if descriptor < 0 { descriptor = try Syscalls.signalDescriptor(for: [SIGINT, SIGTERM, SIGHUP, SIGUSR1]) }
        }
    }

    private enum Token: UInt64 { case source = 1, signal, timer, stop, watchdog, control }
    /// Tokens at and above this are control connections: the token minus it is the descriptor.
    private static let controlConnectionToken: UInt64 = 1 << 32

    /// Runs `session` (over `source`) until SIGINT or SIGTERM, or until an
    /// output's reader has gone; returns the final statistics.
    ///
    /// Under systemd (`NOTIFY_SOCKET`) it speaks the notification protocol
    /// through `notifier`: READY=1, STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1.
    /// With `control`, it answers the control socket's commands (status,
    /// reload) between reads, never waiting on a client.
    public static func run(_ session: MonitorSession, source: LinuxEventSource,
                           notifier: SystemdNotifier = .fromProcessEnvironment(),
                           control: ControlServer? = nil) throws -> SessionStatistics {
        let started = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
        let cpuAtStart = Syscalls.processCPUMicroseconds()
        try takeOverSignals()
        let signals = signalDescriptor.withLock { $0 }
        let timer = try Syscalls.periodicTimer(intervalMilliseconds: 1000)
        let stopRequest = try Syscalls.eventDescriptor()
        let epoll = try Syscalls.epollCreate()
        defer {
            Syscalls.close(epoll)
            Syscalls.close(timer)
        }
        for fd in try source.readinessDescriptors() { try Syscalls.epollAdd(epoll, fd, token: Token.source.rawValue) }
        try Syscalls.epollAdd(epoll, signals, token: Token.signal.rawValue)
        try Syscalls.epollAdd(epoll, timer, token: Token.timer.rawValue)
        try Syscalls.epollAdd(epoll, stopRequest, token: Token.stop.rawValue)
        if let control { try Syscalls.epollAdd(epoll, control.listener, token: Token.control.rawValue) }
        defer { control?.close() }
        let reloadAnnounced = { (reload: () throws -> ReloadOutcome) throws -> ReloadOutcome in
            notifier.reloading()
            defer { notifier.ready(status: session.statusSummary) }
            return try reload()
        }
        var watchdogTimer: Int32 = -1
        if let interval = notifier.watchdogIntervalMilliseconds {
            watchdogTimer = try Syscalls.periodicTimer(intervalMilliseconds: interval)
            try Syscalls.epollAdd(epoll, watchdogTimer, token: Token.watchdog.rawValue)
        }
        defer { Syscalls.close(watchdogTimer) }
        // The eventfd stays open for the session's lifetime: the outputs'
        // thread may signal it until the pipeline has stopped.
        session.wakeEventLoop = { Syscalls.signalEvent(stopRequest) }

        session.start()
        // Every probe is attached and the outputs run: the service is up.
        notifier.ready(status: "started; " + session.statusSummary)
        var running = !session.stopRequested
        // Whether a drain pauses, and how long (grows while a storm lasts).
        var pacing = DrainPacing()
        while running {
            for token in try Syscalls.epollWait(epoll, timeoutMilliseconds: -1) {
                switch Token(rawValue: token) {
                case .source:
                    let woke = Syscalls.clockNanoseconds(CLOCK_MONOTONIC)
                    let read = try session.readSource()
                    guard read > 0 else { break }
                    // A record that comes during a pause waits at most the
                    // pause; the kernel marks the ring buffer ready meanwhile.
                    let use = source.ringBufferUse
                    if let pause = pacing.drained(events: read, woke: woke,
                                                  readEnded: Syscalls.clockNanoseconds(CLOCK_MONOTONIC),
                                                  bytesRead: use?.bytesRead ?? 0, ringBufferBytes: use?.capacityBytes) {
                        Syscalls.sleep(microseconds: pause)
                        pacing.paused(until: Syscalls.clockNanoseconds(CLOCK_MONOTONIC))
                    }
                case .signal:
                    for signal in Syscalls.readSignals(signals) {
                        if signal == SIGUSR1 {
                            session.pipeline.reopenOutputs()
                        } else if signal == SIGHUP {
                            _ = try reloadAnnounced { try session.reload() }
                        } else {
                            running = false
                        }
                    }
                case .timer:
                    Syscalls.drainCounter(timer)
                    session.tick()
                    // The line is made only for a service manager that reads it.
                    if notifier.isActive { notifier.status(session.statusSummary) }
                    _ = control?.expireIdleConnections()
                case .watchdog:
                    Syscalls.drainCounter(watchdogTimer)
                    notifier.watchdog()
                case .stop:
                    Syscalls.drainCounter(stopRequest)
                case .control:
                    for fd in control?.acceptConnections() ?? [] {
                        try Syscalls.epollAdd(epoll, fd, token: controlConnectionToken + UInt64(fd))
                    }
                case nil:
                    guard let control, token >= controlConnectionToken else { break }
                    let fd = Int32(truncatingIfNeeded: token - controlConnectionToken)
                    let uptime = Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC) - started) / 1e9
                    // Closing the descriptor takes it out of the epoll set.
                    _ = control.serve(fd) { command in
                        session.answer(command, uptimeSeconds: uptime, aroundReload: reloadAnnounced)
                    }
                }
            }
            if session.stopRequested { running = false }
        }
        notifier.stopping()
        let cpu = Syscalls.processCPUMicroseconds() - cpuAtStart
        let wall = Double(Syscalls.clockNanoseconds(CLOCK_MONOTONIC) - started) / 1e9
        let statistics = try session.stop(cpuMicroseconds: cpu, wallSeconds: wall)
        session.wakeEventLoop = nil
        Syscalls.close(stopRequest)
        return statistics
    }
}
