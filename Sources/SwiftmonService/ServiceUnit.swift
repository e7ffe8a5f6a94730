/// The systemd unit of the swiftmon service: the one text that both
/// `swiftmon service install` and the Debian package (`make deb`, through
/// `swiftmon service unit`) install.
///
/// The sensor runs as root because loading BPF programs and reading every
/// process's /proc entries need it, so the unit takes away what root would
/// otherwise have: a capability bounding set of what the sensor was measured
/// to need (README, "Deploy"), no new privileges, a read-only file system but
/// for its own state, log and runtime folders, no kernel tunables, modules,
/// clock or hostname, only the socket families it speaks, native system
/// calls only, no W+X memory.
public struct ServiceUnit: Sendable, Equatable {
    /// The capabilities the sensor keeps, measured by starting it with each
    /// one dropped from the bounding set (scripts/measure-capabilities.sh;
    /// README, "Deploy"):
    /// - CAP_BPF, CAP_PERFMON: without either the kernel refuses to load the
    ///   programs (EPERM) and the sensor does not start;
    /// - CAP_SYS_PTRACE: without it the start-up scan cannot read
    ///   /proc/PID/exe of another user's processes, and their children's
    ///   ParentImage is `-`;
    /// - CAP_DAC_READ_SEARCH: without it an executable only its owner may
    ///   read gets no Hashes;
    /// - CAP_NET_ADMIN: the netlink process connector of the fallback source
    ///   (kernels before 6.6 let only it listen; 6.18 here lets anyone).
    /// Not kept: CAP_SYS_RESOURCE (BPF memory is charged to the cgroup since
    /// 5.11, and LimitMEMLOCK=infinity covers older kernels), CAP_SYS_ADMIN
    /// (only fanotify, the fallback's file events, would need it).
    public static let capabilities = ["CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH", "CAP_NET_ADMIN"]

    /// Seconds without a WATCHDOG=1 before systemd restarts the sensor (it
    /// pings at half of it from its event loop).
    public static let watchdogSeconds = 30

    /// The program the unit starts.
    public var executable: String
    /// Arguments after the program (`run …`).
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }

    /// The outputs a service writes when the administrator names none: Sysmon
    /// XML to the local syslog socket (what Sysmon for Linux does, so existing
    /// pipelines take it unchanged), the embedded store with retention, and
    /// JSON lines in the logs folder, rotated by size.
    public static let defaultOutputArguments = [
        "--syslog", "/dev/log",
        "--store", ServiceLayout.store, "--store-max-size", "1G", "--store-max-age", "30d",
        "--format", "json", "--output", ServiceLayout.eventLog, "--output-max-size", "100M", "--output-keep", "5",
    ]

    /// `run` with the installed configuration, the control socket, the state
    /// folder, then `outputArguments` (the defaults when empty).
    public static func runArguments(outputArguments: [String]) -> [String] {
        ["run", "--config", ServiceLayout.configurationFile,
         "--control-socket", ServiceLayout.controlSocket,
         "--state-dir", ServiceLayout.stateDirectory,
         "--status-interval", "0"]
            + (outputArguments.isEmpty ? defaultOutputArguments : outputArguments)
    }

    /// The unit file's text. Throws when an argument cannot be written on an
    /// ExecStart= line (a newline or another control character).
    public func text(version: String) throws -> String {
        let command = try ([executable] + arguments).map(Self.quoted).joined(separator: " ")
        return """
            # swiftmon \(version): written by `swiftmon service install` (or the Debian package);
            # `swiftmon service unit` prints it. Local changes belong in a drop-in:
            # systemctl edit swiftmon.service
            [Unit]
            Description=swiftmon endpoint activity monitor (Sysmon-class eBPF sensor)
            Documentation=man:swiftmon(1)
            After=local-fs.target systemd-journald-dev-log.socket

            [Service]
            Type=notify
            NotifyAccess=main
            ExecStart=\(command)
            ExecReload=/bin/kill -HUP $MAINPID
            Restart=on-failure
            RestartSec=2
            WatchdogSec=\(Self.watchdogSeconds)
            TimeoutStartSec=120
            TimeoutStopSec=60
            # A sensor is the last thing the OOM killer should take.
            OOMScoreAdjust=-500
            # BPF maps are charged to RLIMIT_MEMLOCK on kernels before 5.11.
            LimitMEMLOCK=infinity
            UMask=0077

            # The folders it writes: /var/lib/swiftmon (EventRecordID counters,
            # the store), /var/log/swiftmon, /run/swiftmon (the control socket).
            StateDirectory=swiftmon
            StateDirectoryMode=0700
            LogsDirectory=swiftmon
            LogsDirectoryMode=0700
            RuntimeDirectory=swiftmon
            RuntimeDirectoryMode=0700
            ConfigurationDirectory=swiftmon
            ConfigurationDirectoryMode=0700

            # Root, with only the capabilities the sensor was measured to need.
            CapabilityBoundingSet=\(Self.capabilities.joined(separator: " "))
            NoNewPrivileges=yes
            ProtectSystem=strict
            ProtectHome=read-only
            PrivateTmp=yes
            # Pinned BPF objects (state that must outlive the process) live here.
            ReadWritePaths=-/sys/fs/bpf
            ProtectKernelTunables=yes
            ProtectKernelModules=yes
            ProtectKernelLogs=yes
            ProtectControlGroups=yes
            ProtectClock=yes
            ProtectHostname=yes
            PrivateMounts=yes
            DevicePolicy=closed
            RestrictNamespaces=yes
            RestrictRealtime=yes
            RestrictSUIDSGID=yes
            LockPersonality=yes
            MemoryDenyWriteExecute=yes
            SystemCallArchitectures=native
            RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6
            \(Self.systemCallFilterLines)

            [Install]
            WantedBy=multi-user.target

            """
    }

    /// The system calls the sensor may make: systemd's @system-service set
    /// plus those a BPF sensor needs beyond it; anything else fails with EPERM
    /// instead of killing the sensor.
    static let systemCallFilterLines = """
        SystemCallFilter=@system-service bpf perf_event_open fanotify_init fanotify_mark open_by_handle_at
        SystemCallErrorNumber=EPERM
        """

    /// One ExecStart= word: as it is when it needs no quoting, else in double
    /// quotes with `\` and `"` escaped; `%` (a specifier) and `$` (a variable)
    /// doubled either way, so systemd passes the argument through unchanged.
    static func quoted(_ argument: String) throws -> String {
        if argument.isEmpty { return "\"\"" }
        for scalar in argument.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F {
            throw ServiceUnitError.unwritableArgument(argument)
        }
        var text = argument.replacingAll("%", with: "%%").replacingAll("$", with: "$$")
        let plain = !argument.isEmpty && argument.unicodeScalars.allSatisfy { s in
            !(s == " " || s == "\"" || s == "'" || s == "\\" || s == ";" || s.value > 0x7E)
        }
        if plain { return text }
        text = text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"")
        return "\"" + text + "\""
    }
}

public enum ServiceUnitError: Error, CustomStringConvertible, Equatable {
    case unwritableArgument(String)

    public var description: String {
        switch self {
        case .unwritableArgument(let argument):
            let shown = argument.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\x" + String($0.value, radix: 16) : String($0) }.joined()
            return "the argument \"\(shown)\" holds a control character, which a unit's ExecStart= cannot carry"
        }
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        out.reserveCapacity(count)
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
