import Glibc
import SwiftmonCore
import SwiftmonSystem

/// The service manager's notification protocol (sd_notify(3)), spoken
/// natively: one datagram per state change to the socket systemd names in
/// `NOTIFY_SOCKET`. READY=1 once every probe is attached and the outputs run,
/// STATUS= with the event rate and losses, WATCHDOG=1 at half of
/// `WATCHDOG_USEC`, RELOADING=1 / READY=1 around a configuration reload,
/// STOPPING=1 at the end. Without `NOTIFY_SOCKET` (not run by systemd) it
/// does nothing.
public final class SystemdNotifier {
    private let socketPath: String?
    /// Half of WATCHDOG_USEC, in milliseconds: how often to say WATCHDOG=1.
    public let watchdogIntervalMilliseconds: Int?
    /// The last message that could not be sent (systemd gone), for -v.
    public private(set) var lastError: String?

    public init(environment: [String: String]) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        // WATCHDOG_PID, when set, names the process meant: not us, no pings.
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if path != nil, forUs, let text = environment["WATCHDOG_USEC"], let usec = Int(text), usec > 0 {
            watchdogIntervalMilliseconds = max(1, usec / 2_000)
        } else {
            watchdogIntervalMilliseconds = nil
        }
    }

    public static func fromProcessEnvironment() -> SystemdNotifier {
        var environment: [String: String] = [:]
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return SystemdNotifier(environment: environment)
    }

    public var isActive: Bool { socketPath != nil }

    /// Sends `lines` ("READY=1", "STATUS=…") as one message.
    public func notify(_ lines: [String]) {
        guard let socketPath else { return }
        // A status line is one line: a newline would start another assignment.
        let text = lines.map { $0.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " ") }
            .joined(separator: "\n")
        do {
            try Syscalls.sendDatagram(Array(text.utf8), toUnixSocket: socketPath)
        } catch {
            lastError = "\(error)"
        }
    }

    public func ready(status: String) { notify(["READY=1", "STATUS=" + status]) }
    public func status(_ text: String) { notify(["STATUS=" + text]) }
    public func watchdog() { notify(["WATCHDOG=1"]) }

    /// RELOADING=1 with the monotonic time systemd asks for (Type=notify-reload).
    public func reloading() {
        let usec = Syscalls.clockNanoseconds(CLOCK_MONOTONIC) / 1_000
        notify(["RELOADING=1", "MONOTONIC_USEC=\(usec)", "STATUS=reloading the configuration"])
    }

    public func stopping() { notify(["STOPPING=1", "STATUS=stopping"]) }
}
