import ArgumentParser
import Foundation
import SwiftmonRules
import SwiftmonService

extension Swiftmon {
    /// `swiftmon config check|dump|default`: Sysmon configuration files.
    struct Config: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "config",
            abstract: "Check, dump or print Sysmon configuration files.",
            subcommands: [Check.self, Dump.self, Default.self, Update.self]
        )
    }
}

extension Swiftmon.Config {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report every problem in a Sysmon configuration as file:line:column: severity: message.",
            discussion: "Exits with status 1 when there are errors. Filters on events or fields that do not exist on Linux are warnings."
        )

        @Argument(help: "The configuration file.")
        var file: String

        @Flag(name: .long, help: "Print errors only; warnings are still counted in the summary.")
        var errorsOnly = false

        func run() throws {
            let (_, diagnostics) = SysmonConfig.check(path: file)
            for d in diagnostics where !errorsOnly || d.severity == .error { print(d) }
            print("\(file): \(diagnostics.summary)")
            if diagnostics.hasErrors { throw ExitCode(1) }
        }
    }

    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a configuration's settings and rules in Sysmon's dump layout (sysmon -c).",
            discussion: "Without FILE, dumps the embedded default configuration."
        )

        @Argument(help: "The configuration file (default: the embedded default configuration).")
        var file: String?

        func run() throws {
            let config: SysmonConfig
            if let file {
                let (parsed, diagnostics) = SysmonConfig.check(path: file)
                guard let parsed, !diagnostics.hasErrors else {
                    for d in diagnostics.errors { printToStandardError(d.description) }
                    printToStandardError("\(file): \(diagnostics.summary)")
                    throw ExitCode(1)
                }
                config = parsed
            } else {
                config = RuleSet.embeddedDefault.configuration
            }
            print(RuleDump.text(config, configHash: SysmonConfigurationFile.hash(config.bytes)), terminator: "")
        }
    }

    /// `swiftmon config update FILE` (Sysmon's `-c FILE`).
    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration, install it for the service and make the running sensor load it.",
            discussion: """
                An invalid file is refused with its diagnostics (file:line:column) and nothing changes. A valid one \
                replaces \(ServiceLayout.configurationFile) atomically (0600); the sensor then reloads it through its \
                control socket and reports the SHA256 it loaded. Without a running sensor the file is installed and \
                applies at the next start.
                """
        )

        @Argument(help: "The new configuration.")
        var file: String

        @Option(name: .long, help: ArgumentHelp("Where the service reads its configuration.", valueName: "path"))
        var to: String = ServiceLayout.configurationFile

        @Option(name: .customLong("control-socket"), help: ArgumentHelp("The sensor's control socket.", valueName: "path"))
        var controlSocket: String = ServiceLayout.controlSocket

        func run() throws {
            let (parsed, diagnostics) = SysmonConfig.check(path: file)
            for d in diagnostics where d.severity == .error || !d.windowsOnly { printToStandardError(d.description) }
            guard let parsed, !diagnostics.hasErrors else {
                printToStandardError("\(file): \(diagnostics.summary); \(to) not changed")
                throw ExitCode(1)
            }
            do {
                let outcome = try ConfigurationUpdate.apply(parsed.bytes, to: to,
                                                            expectedHash: SysmonConfigurationFile.hash(parsed.bytes),
                                                            controlSocket: controlSocket)
                print(outcome.message)
            } catch {
                printToStandardError("config update: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Default: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the embedded default configuration (a starting point for your own)."
        )

        func run() throws {
            print(DefaultConfiguration.xml)
        }
    }
}

private func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
