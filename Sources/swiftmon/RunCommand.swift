import ArgumentParser
@preconcurrency import Glibc  // for `stderr`, which libc sets before main and never reassigns
import SwiftmonCore
import SwiftmonLinux
import SwiftmonRules
import SwiftmonService
import SwiftmonSinks
import SwiftmonStore

extension Swiftmon {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Monitor this machine live until Ctrl-C (needs root).",
            discussion: """
                Loads swiftmon's eBPF programs, then writes one event per happening, filtered by \
                a Sysmon configuration: ProcessCreate (1), NetworkConnect (3), ProcessTerminate \
                (5), DriverLoad (6, kernel modules), ImageLoad (7, executable file mappings), \
                RawAccessRead (9, block-device opens), ProcessAccess (10, ptrace and \
                process_vm_*), FileCreate (11), FileDelete (23), eBPFEvent (100, BPF program \
                loads), ThreadCreate (200), ThreadTerminate (201), ServiceInstall (202, systemd \
                units) and FileRename (203); tamper: SensorSignal (205, a signal sent to swiftmon; \
                a SIGKILL is reported by the next start), SensorAccess (206, ptrace of swiftmon) and SensorFileChange (207, \
                its configuration, unit or binary changed by another process); \
                plus the monitor's own start/stop (4), configuration changes (16) and loss reports (255). Events go to standard output or a file as \
                text, JSON lines or Sysmon XML, and also to a SQLite store and syslog collectors \
                if asked. Ctrl-C or SIGTERM stops cleanly and removes every BPF program and map \
                swiftmon loaded.
                """
        )

        @OptionGroup var output: OutputOptions
        @OptionGroup var destinations: DestinationOptions
        @OptionGroup var sigma: SigmaOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Filter events with this Sysmon configuration (schema 4.x). Without it the embedded default applies (swiftmon config default). SIGHUP re-reads the file.", valueName: "file"))
        var config: String?

        @Option(name: .long, help: ArgumentHelp("Hash executables: a list such as sha256,md5 (md5, sha1, sha256, sha384, sha512, or * for all); overrides the configuration's HashAlgorithms. Each file is hashed once per identity.", valueName: "algorithms"))
        var hash: String?

        @Option(name: .customLong("buffer-size"), help: ArgumentHelp("Size of the kernel ring buffer in MiB (a power of two).", valueName: "MiB"))
        var bufferSize: Int = 16

        @Option(name: .customLong("queue-size"), help: ArgumentHelp("Events that may wait between the kernel reader and the outputs; beyond it events are counted as lost.", valueName: "events"))
        var queueSize: Int = 262_144

        @Option(name: .customLong("status-interval"), help: ArgumentHelp("Seconds between status lines (events/s, losses) on stderr when it is a terminal; 0 for none.", valueName: "seconds"))
        var statusInterval: Int = 5

        @Flag(name: .long, help: "Print statistics (events per kind, losses, CPU time) on stderr at exit.")
        var stats = false

        @Flag(name: [.short, .long], help: "Say which probes were attached and what libbpf reports.")
        var verbose = false

        @Option(name: .customLong("disable-probe"), help: ArgumentHelp("Do not load this optional probe (repeatable): file_sys_exit, network_sys_exit, inet_sock_set_state, module_sys_exit, access_sys_exit, bpf_sys_exit, image_sys_exit, or sys_exit_dispatch for every syscall-level one. Event 4 lists it as skipped.", valueName: "probe"))
        var disabledProbes: [String] = []

        @Option(name: .long, help: ArgumentHelp("Where events come from: ebpf (the eBPF sensor), netlink (the netlink process connector and fanotify, without BPF: fewer fields for short-lived processes), or auto (eBPF, falling back to netlink when it cannot load).", valueName: "source"))
        var source: String = "auto"

        @Option(name: .customLong("control-socket"), help: ArgumentHelp("Answer `swiftmon service status` and `swiftmon config update` on this AF_UNIX socket (root only: 0600, its folder 0700, the peer's uid checked). The service uses \(ServiceLayout.controlSocket).", valueName: "path"))
        var controlSocket: String?

        func validate() throws {
            guard bufferSize > 0, bufferSize <= 1024, bufferSize & (bufferSize - 1) == 0 else {
                throw ValidationError("--buffer-size must be a power of two between 1 and 1024 MiB, not \(bufferSize)")
            }
            guard queueSize > 0 else { throw ValidationError("--queue-size must be positive") }
            guard statusInterval >= 0 else { throw ValidationError("--status-interval must be 0 or more") }
            guard SensorSource(rawValue: source) != nil else {
                throw ValidationError("--source must be one of \(SensorSource.allCases.map(\.rawValue).joined(separator: ", ")), not \(source)")
            }
        }

        func run() throws {
            let chosenSource = SensorSource(rawValue: source) ?? .auto
            if let problem = LinuxEventSources.checkRequirements(source: chosenSource) {
                throw CleanExit.failure(problem)
            }
            try LinuxEventLoop.takeOverSignals()
            ignoreBrokenPipe()
            let configurationFile = SysmonConfigurationFile(path: config)
            let configuration: (ruleSet: RuleSet, loaded: LoadedConfiguration, diagnostics: [Diagnostic])
            do {
                configuration = try configurationFile.loadRules()
            } catch {
                throw CleanExit.failure("\(error)")
            }
            for warning in configuration.diagnostics where verbose || !warning.windowsOnly {
                fputs("\(warning)\n", stderr)
            }

            let detector = try sigma.detector(products: ["linux"])

            var options = SensorOptions()
            options.ringBufferBytes = bufferSize << 20
            options.hashAlgorithms = hash ?? configuration.ruleSet.hashAlgorithms.joined(separator: ",")
            options.verbose = verbose
            options.disabledProbes = disabledProbes
            options.source = chosenSource
            options.configurationPath = config

            var sinks: [EventSink] = []
            do {
                let recordIDs = output.format == .xml
                    ? try destinations.recordCounter(for: "xml-" + (output.output ?? "stdout"))
                    : EventRecordCounter(startingAt: 1)
                sinks.append(try output.makeSink(recordIDs: recordIDs))
                sinks += try destinations.makeSinks(header: output.xmlHeader, sysmonOnly: output.sysmonOnly)
            } catch {
                throw CleanExit.failure("cannot open an output: \(error)")
            }
            let eventSource: LinuxEventSource
            do {
                eventSource = try LinuxEventSources.open(options)
            } catch let error as SensorError {
                throw CleanExit.failure(SensorAdvice.explain(error, verbose: verbose))
            } catch {
                throw CleanExit.failure("\(error)")
            }
            let pipeline = EventPipeline(sinks: sinks, filter: configuration.loaded.filter, capacity: queueSize,
                                         detector: detector)
            var sessionOptions = MonitorSession.Options()
            sessionOptions.statusInterval = statusInterval
            sessionOptions.printsStatus = isatty(2) == 1 && statusInterval > 0
            sessionOptions.verbose = verbose
            sessionOptions.version = Swiftmon.version
            let session = MonitorSession(source: eventSource, pipeline: pipeline, configuration: configurationFile,
                                         initial: configuration.loaded, options: sessionOptions)
            var control: ControlServer?
            if let controlSocket {
                do {
                    control = try ControlServer(path: controlSocket)
                } catch {
                    eventSource.stop()
                    throw CleanExit.failure("cannot open the control socket: \(error)")
                }
            }
            let statistics = try LinuxEventLoop.run(session, source: eventSource, control: control)
            if stats {
                fputs(statistics.report, stderr)
                if let detector { fputs(detector.statistics.summary + "\n", stderr) }
            }
        }
    }
}

/// Failure messages that say what is missing and what to do.
enum SensorAdvice {
    static func explain(_ error: SensorError, verbose: Bool) -> String {
        var text = "\(error)"
        switch (error.stage, error.message) {
        case (.load, _) where error.errno == EPERM:
            text += "\nThe kernel refused to load BPF programs. swiftmon needs root with CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); check kernel lockdown and container seccomp profiles."
        case (.load, _), (.attach, _):
            text += "\nThis kernel may lack BTF-enabled tracepoints (tp_btf, Linux 5.5+) or bpf_loop (5.17+)."
        default:
            break
        }
        if !error.libbpfLog.isEmpty {
            let tail = verbose ? error.libbpfLog : Array(error.libbpfLog.suffix(8))
            text += "\nlibbpf said:\n  " + tail.joined(separator: "\n  ")
        }
        return text
    }
}

extension CleanExit {
    /// Ends the command with `message` on stderr and exit status 1.
    static func failure(_ message: String) -> Error { CommandFailure(message: message) }
}

struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
