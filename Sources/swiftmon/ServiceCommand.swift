import ArgumentParser
@preconcurrency import Glibc  // for `stderr`, which libc sets before main and never reassigns
import SwiftmonRules
import SwiftmonService
import SwiftmonSystem

extension Swiftmon {
    /// `swiftmon service install|uninstall|status|unit`: swiftmon as a systemd service.
    struct Service: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install, remove and watch swiftmon as a systemd service.",
            discussion: """
                install puts the configuration in \(ServiceLayout.configurationFile) (0600), the unit in \
                \(ServiceLayout.administratorUnitDirectory)/\(ServiceLayout.unitName) and makes \
                \(ServiceLayout.stateDirectory) and \(ServiceLayout.logsDirectory) (0700); where systemd runs it \
                enables and starts the unit. status asks the running sensor through its control socket \
                (\(ServiceLayout.controlSocket)).
                """,
            subcommands: [Install.self, Uninstall.self, Status.self, Unit.self]
        )
    }
}

/// Options that only the service itself may set.
private let serviceOwnedOptions = ["--config", "-c", "--control-socket", "--state-dir"]

/// Checks `run` options as `swiftmon run` would, and refuses those the unit sets itself.
private func checkRunOptions(_ options: [String]) throws {
    for option in options {
        let name = option.split(separator: "=", maxSplits: 1).first.map(String.init) ?? option
        if serviceOwnedOptions.contains(name) {
            throw ValidationError("\(name) is set by the service (\(ServiceLayout.configurationFile), \(ServiceLayout.controlSocket), \(ServiceLayout.stateDirectory)); use service install --config FILE for the configuration")
        }
    }
    do {
        _ = try Swiftmon.Run.parse(options)
    } catch {
        throw ValidationError("run options: " + Swiftmon.Run.message(for: error))
    }
}

/// The root of the files installed: "/" unless a test names another.
struct RootOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Install under this folder instead of / (for packaging and tests; systemd is then left alone).", valueName: "dir", visibility: .hidden))
    var root: String = "/"

    func layout() throws -> ServiceLayout {
        guard root.hasPrefix("/") else { throw ValidationError("--root must be an absolute path") }
        if root == "/" && geteuid() != 0 { throw CleanExit.failure("installing the service needs root") }
        return ServiceLayout(root: root)
    }
}

private func say(_ line: String) { print(line) }

func printErrorLine(_ text: String) { fputs(text + "\n", stderr) }

extension Swiftmon.Service {
    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install the service: configuration, unit, state folder; start it where systemd runs.",
            discussion: """
                Without run options the service writes Sysmon XML to the local syslog socket (/dev/log, as Sysmon \
                for Linux does), every event into the store \(ServiceLayout.store) (1 GiB, 30 days) and JSON lines \
                to \(ServiceLayout.eventLog) (rotated at 100 MiB, 5 kept). Run options after the others replace \
                those outputs, e.g. swiftmon service install --config my.xml -- --syslog relp://siem:2514 --format xml \
                --output /var/log/swiftmon/events.xml. Without --config an installed configuration is kept, or the \
                embedded default installed.
                """
        )

        @Option(name: .shortAndLong, help: ArgumentHelp("The Sysmon configuration to install (checked first; refused with its diagnostics if invalid).", valueName: "file"))
        var config: String?

        @OptionGroup var rootOption: RootOption

        @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Options for swiftmon run (outputs, probes, hashing) instead of the default outputs.", valueName: "run options"))
        var runOptions: [String] = []

        var outputOptions: [String] { runOptions.first == "--" ? Array(runOptions.dropFirst()) : runOptions }

        func validate() throws { try checkRunOptions(outputOptions) }

        func run() throws {
            let layout = try rootOption.layout()
            var bytes: [UInt8]?
            if let config {
                let (parsed, diagnostics) = SysmonConfig.check(path: config)
                for d in diagnostics where d.severity == .error || !d.windowsOnly { printErrorLine(d.description) }
                guard let parsed, !diagnostics.hasErrors else {
                    throw CleanExit.failure("\(config): \(diagnostics.summary); nothing installed")
                }
                bytes = parsed.bytes
            }
            let request = ServiceInstaller.Request(
                configuration: bytes, defaultConfiguration: Array(DefaultConfiguration.xml.utf8),
                currentBinary: try Syscalls.readLink("/proc/self/exe"), outputArguments: outputOptions,
                version: Swiftmon.version)
            do {
                try ServiceInstaller(layout: layout, report: say).install(request)
            } catch {
                throw CleanExit.failure("service install: \(error)")
            }
        }
    }

    struct Uninstall: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop and remove the service; --purge also removes its configuration, state and logs.")

        @Flag(name: .long, help: "Also remove \(ServiceLayout.configurationDirectory), \(ServiceLayout.stateDirectory) (the store, EventRecordID counters) and \(ServiceLayout.logsDirectory).")
        var purge = false

        @OptionGroup var rootOption: RootOption

        func run() throws {
            let layout = try rootOption.layout()
            do {
                try ServiceInstaller(layout: layout, report: say).uninstall(purge: purge)
            } catch {
                throw CleanExit.failure("service uninstall: \(error)")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What the running sensor does: uptime, configuration and its SHA256, probes, events/s per kind, losses per cause and output, queue depth.",
            discussion: "Asked through the sensor's control socket (root only). Exits with status 3 when no sensor answers, 4 when the caller may not ask.")

        @Option(name: .customLong("control-socket"), help: ArgumentHelp("The sensor's control socket.", valueName: "path"))
        var controlSocket: String = ServiceLayout.controlSocket

        @Flag(name: .long, help: "Print the sensor's answer as JSON (one object).")
        var json = false

        func run() throws {
            let response: ControlResponse
            do {
                response = try ControlClient.send(.status, to: controlSocket)
            } catch let error as ControlSocketError {
                printErrorLine("\(error)")
                if case .notPermitted = error { throw ExitCode(4) }  // LSB: insufficient privileges
                throw ExitCode(3)  // LSB: program is not running
            }
            guard response.ok, let status = response.status else {
                throw CleanExit.failure("the sensor refused: \(response.error ?? "no reason given")")
            }
            if json {
                print(String(decoding: response.encodedLine().dropLast(), as: UTF8.self))
            } else {
                print(status.text, terminator: "")
            }
        }
    }

    struct Unit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the systemd unit that service install writes (the Debian package installs the same).")

        @Option(name: .long, help: ArgumentHelp("The swiftmon program the unit starts.", valueName: "path"))
        var executable: String = ServiceInstaller.packagedBinary

        @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Options for swiftmon run instead of the default outputs.", valueName: "run options"))
        var runOptions: [String] = []

        var outputOptions: [String] { runOptions.first == "--" ? Array(runOptions.dropFirst()) : runOptions }

        func validate() throws { try checkRunOptions(outputOptions) }

        func run() throws {
            let unit = ServiceUnit(executable: executable, arguments: ServiceUnit.runArguments(outputArguments: outputOptions))
            do {
                print(try unit.text(version: Swiftmon.version), terminator: "")
            } catch {
                throw CleanExit.failure("\(error)")
            }
        }
    }
}
