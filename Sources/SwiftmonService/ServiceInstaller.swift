import Foundation
import SwiftmonSystem

/// `swiftmon service install` and `uninstall`: the configuration, the unit,
/// the state, log folders and (when swiftmon does not already live in
/// /usr/bin, where the package puts it) the binary, under a ``ServiceLayout``
/// root; then systemd told, when it runs. Every step is reported in words.
public struct ServiceInstaller {
    public var layout: ServiceLayout
    /// Whether to talk to systemd (it runs as PID 1 and `layout.root` is "/").
    public var systemdRunning: Bool
    /// Runs a program with an argv (never through a shell): systemctl.
    public var runProgram: (_ program: String, _ arguments: [String]) throws -> Int32
    /// Where the notes go ("wrote /etc/swiftmon/config.xml (0600)").
    public var report: (String) -> Void

    /// Where `service install` copies a swiftmon that is not the packaged one.
    public static let localBinary = "/usr/local/bin/swiftmon"
    /// Where the Debian package puts it.
    public static let packagedBinary = "/usr/bin/swiftmon"

    public init(layout: ServiceLayout, systemdRunning: Bool? = nil,
                runProgram: @escaping (String, [String]) throws -> Int32 = ServiceInstaller.runWithoutShell,
                report: @escaping (String) -> Void) {
        self.layout = layout
        self.systemdRunning = systemdRunning ?? (layout.root == "/" && ServiceInstaller.systemdIsRunning())
        self.runProgram = runProgram
        self.report = report
    }

    /// sd_booted(3)'s test: systemd is the service manager when /run/systemd/system is a folder.
    public static func systemdIsRunning() -> Bool {
        guard let st = try? Syscalls.linkStatus("/run/systemd/system") else { return false }
        return st.st_mode & S_IFMT == S_IFDIR
    }

    public struct Request {
        /// The configuration's bytes (already checked); nil keeps the installed
        /// one, or installs the embedded default when there is none.
        public var configuration: [UInt8]?
        /// The embedded default, for a first install without `--config`.
        public var defaultConfiguration: [UInt8]
        /// The running swiftmon (/proc/self/exe).
        public var currentBinary: String
        /// `run` options for outputs (empty: ``ServiceUnit/defaultOutputArguments``).
        public var outputArguments: [String]
        public var version: String

        public init(configuration: [UInt8]?, defaultConfiguration: [UInt8], currentBinary: String,
                    outputArguments: [String], version: String) {
            self.configuration = configuration
            self.defaultConfiguration = defaultConfiguration
            self.currentBinary = currentBinary
            self.outputArguments = outputArguments
            self.version = version
        }
    }

    /// The unit this request installs (the program path as the service sees it).
    public func unit(for request: Request) -> ServiceUnit {
        let executable = request.currentBinary == Self.packagedBinary ? Self.packagedBinary : Self.localBinary
        return ServiceUnit(executable: executable, arguments: ServiceUnit.runArguments(outputArguments: request.outputArguments))
    }

    /// Installs everything; enables and starts the unit when systemd runs.
    /// Returns the unit it installed.
    @discardableResult
    public func install(_ request: Request) throws -> ServiceUnit {
        let unit = unit(for: request)
        let unitText = try unit.text(version: request.version)   // before anything is written

        let configDirectory = layout.onDisk(ServiceLayout.configurationDirectory)
        try ServiceFiles.makeDirectory(configDirectory, mode: 0o700)
        let configFile = layout.onDisk(ServiceLayout.configurationFile)
        if let bytes = request.configuration {
            try ServiceFiles.writeAtomically(bytes, to: configFile, mode: 0o600)
            report("wrote \(configFile) (0600)")
        } else if ServiceFiles.exists(configFile) {
            try Syscalls.changeMode(configFile, 0o600)
            report("kept \(configFile)")
        } else {
            try ServiceFiles.writeAtomically(request.defaultConfiguration, to: configFile, mode: 0o600)
            report("wrote \(configFile) (0600): the embedded default configuration")
        }
        for directory in [ServiceLayout.stateDirectory, ServiceLayout.logsDirectory] {
            try ServiceFiles.makeDirectory(layout.onDisk(directory), mode: 0o700)
            report("made \(layout.onDisk(directory)) (0700)")
        }
        if unit.executable == Self.localBinary {
            let target = layout.onDisk(Self.localBinary)
            if request.currentBinary != target {
                let bytes = try Self.readWholeFile(request.currentBinary)
                try ServiceFiles.makeDirectory(ServiceFiles.parent(of: target), mode: 0o755)
                try ServiceFiles.writeAtomically(bytes, to: target, mode: 0o755)
                report("copied \(request.currentBinary) to \(target)")
            }
        }
        let unitFile = layout.onDisk(layout.unitFile)
        try ServiceFiles.makeDirectory(ServiceFiles.parent(of: unitFile), mode: 0o755)
        // A unit holds no secret and is read by systemd's tools: 0644, as every unit is.
        try ServiceFiles.writeAtomically(Array(unitText.utf8), to: unitFile, mode: 0o644)
        report("wrote \(unitFile)")

        if systemdRunning {
            try systemctl(["daemon-reload"])
            try systemctl(["enable", ServiceLayout.unitName])
            // restart, not start: a sensor already running (the package's) takes the new unit and configuration.
            try systemctl(["restart", ServiceLayout.unitName])
            report("enabled and (re)started \(ServiceLayout.unitName); `swiftmon service status` shows what it does")
        } else {
            report("systemd is not running here (no /run/systemd/system): \(ServiceLayout.unitName) is installed "
                   + "but not started. On a systemd host: systemctl enable --now \(ServiceLayout.unitName). "
                   + "Or run the sensor by hand: " + ([unit.executable] + unit.arguments).joined(separator: " "))
        }
        return unit
    }

    /// Stops and removes the service. Keeps the configuration, the state and
    /// the logs unless `purge`.
    public func uninstall(purge: Bool) throws {
        let unitFile = layout.onDisk(layout.unitFile)
        let installedUnit = try Syscalls.readSmallFile(unitFile, limit: 1 << 20).map { String(decoding: $0, as: UTF8.self) }
        if systemdRunning {
            // disable fails for a unit that is gone already: that is what we want.
            _ = try runProgram(Self.systemctlPath, ["disable", "--now", ServiceLayout.unitName])
            report("stopped and disabled \(ServiceLayout.unitName)")
        }
        if installedUnit != nil {
            try Syscalls.unlink(unitFile)
            report("removed \(unitFile)")
        } else {
            report("no unit at \(unitFile)")
        }
        // The copy `install` made, and only when the unit ran it.
        if let text = installedUnit, text.contains("\nExecStart=\(Self.localBinary) ") {
            try Syscalls.unlink(layout.onDisk(Self.localBinary))
            report("removed \(layout.onDisk(Self.localBinary))")
        }
        if systemdRunning { try systemctl(["daemon-reload"]) }
        if purge {
            for directory in [ServiceLayout.configurationDirectory, ServiceLayout.stateDirectory, ServiceLayout.logsDirectory] {
                try ServiceFiles.removeTree(layout.onDisk(directory))
                report("removed \(layout.onDisk(directory))")
            }
        } else {
            report("kept \(layout.onDisk(ServiceLayout.configurationDirectory)), \(layout.onDisk(ServiceLayout.stateDirectory)) "
                   + "and \(layout.onDisk(ServiceLayout.logsDirectory)) (--purge removes them)")
        }
    }

    static var systemctlPath: String {
        ["/usr/bin/systemctl", "/bin/systemctl"].first { ServiceFiles.exists($0) } ?? "/usr/bin/systemctl"
    }

    private func systemctl(_ arguments: [String]) throws {
        let status = try runProgram(Self.systemctlPath, arguments)
        guard status == 0 else {
            throw ServiceInstallError.commandFailed((["systemctl"] + arguments).joined(separator: " "), status: status)
        }
    }

    /// Runs `program` with `arguments` as its argv (no shell), output passed
    /// through; returns its exit status.
    public static func runWithoutShell(_ program: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }

    static func readWholeFile(_ path: String) throws -> [UInt8] {
        let fd = try Syscalls.open(path, O_RDONLY)
        defer { Syscalls.close(fd) }
        let size = Int(try Syscalls.fstat(fd, path).st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = try bytes.withUnsafeMutableBytes { try Syscalls.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: $0[done...]), path) }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[..<done])
    }
}

public enum ServiceInstallError: Error, CustomStringConvertible, Equatable {
    case commandFailed(String, status: Int32)

    public var description: String {
        switch self {
        case .commandFailed(let command, let status): return "\(command) failed (exit status \(status))"
        }
    }
}

/// `swiftmon config update`: the configuration replaced atomically, then the
/// running sensor asked to read it again.
public enum ConfigurationUpdate {
    public struct Outcome: Sendable, Equatable {
        /// The hash the sensor reports it loaded, or nil when no sensor runs.
        public var loadedHash: String?
        public var message: String
    }

    /// Installs `bytes` (already checked) at `path` and asks the sensor at
    /// `controlSocket` to reload. `expectedHash` is the SHA256 of `bytes`.
    public static func apply(_ bytes: [UInt8], to path: String, expectedHash: String, controlSocket: String) throws -> Outcome {
        try ServiceFiles.makeDirectory(ServiceFiles.parent(of: path), mode: 0o700)
        try ServiceFiles.writeAtomically(bytes, to: path, mode: 0o600)
        let response: ControlResponse
        do {
            response = try ControlClient.send(.reload, to: controlSocket)
        } catch let error as ControlSocketError {
            if case .noSensor = error {
                return Outcome(loadedHash: nil, message: "installed \(path) (\(expectedHash)); \(error); it applies when the sensor starts")
            }
            throw error
        }
        guard response.ok, let loaded = response.configuration else {
            throw ConfigurationUpdateError.reloadRefused(response.error ?? "the sensor did not say why")
        }
        guard loaded.path == path else {
            throw ConfigurationUpdateError.otherFile(installed: path, sensorReads: loaded.path)
        }
        var message = "installed \(path); the sensor reloaded it: \(loaded.sha256)"
        if loaded.sha256 != expectedHash {
            message += "; warning: the file changed again before the sensor read it (installed \(expectedHash))"
        }
        return Outcome(loadedHash: loaded.sha256, message: message)
    }
}

public enum ConfigurationUpdateError: Error, CustomStringConvertible, Equatable {
    case reloadRefused(String)
    case otherFile(installed: String, sensorReads: String)
    public var description: String {
        switch self {
        case .reloadRefused(let why): return "the sensor did not take the new configuration: \(why)"
        case .otherFile(let installed, let reads):
            return "installed \(installed), but the running sensor reads \(reads) (it reloaded that one)"
        }
    }
}
