/// Where an installed swiftmon keeps its files, under a root folder (`/` on a
/// real machine; a temporary folder in tests). One place names every path the
/// unit, the installer, the package and the control socket agree on.
public struct ServiceLayout: Sendable, Equatable {
    /// The folder everything is installed under ("/" for the machine itself).
    public var root: String
    /// Whether the unit goes where packages put theirs (/lib/systemd/system)
    /// rather than where an administrator's go (/etc/systemd/system).
    public var packaged: Bool

    public init(root: String = "/", packaged: Bool = false) {
        self.root = root
        self.packaged = packaged
    }

    public static let unitName = "swiftmon.service"

    // The paths as the running service sees them (inside `root`).
    public static let configurationDirectory = "/etc/swiftmon"
    public static let configurationFile = "/etc/swiftmon/config.xml"
    public static let stateDirectory = "/var/lib/swiftmon"
    public static let logsDirectory = "/var/log/swiftmon"
    public static let runtimeDirectory = "/run/swiftmon"
    public static let controlSocket = "/run/swiftmon/control.sock"
    public static let store = "/var/lib/swiftmon/events.db"
    public static let eventLog = "/var/log/swiftmon/events.jsonl"
    public static let administratorUnitDirectory = "/etc/systemd/system"
    public static let packageUnitDirectory = "/lib/systemd/system"

    public var unitDirectory: String { packaged ? Self.packageUnitDirectory : Self.administratorUnitDirectory }
    public var unitFile: String { unitDirectory + "/" + Self.unitName }

    /// `path` (absolute, as the service sees it) under ``root``.
    public func onDisk(_ path: String) -> String {
        let trimmedRoot = root.hasSuffix("/") ? String(root.dropLast()) : root
        return trimmedRoot + path
    }
}
