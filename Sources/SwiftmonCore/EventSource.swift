/// A provider of events: the eBPF sensor, the netlink/fanotify fallback, one
/// day a live ETW consumer or a log being imported. The session asks it for
/// what is ready, for what it lost before events existed, and tells it which
/// kinds the configuration can log. How it is woken up is the business of the
/// platform's event loop, not of the source or the session.
public protocol EventSource: AnyObject {
    /// What event 4's `Sources` field and `-v` say about it.
    var sourceDescription: String { get }
    /// Appends the events that are ready; never waits.
    func read(into events: inout [Event]) throws
    /// Records (kernel records, log lines) read so far, whole or not.
    var recordsRead: UInt64 { get }
    /// Running totals of what was lost before it became an event (kernel ring
    /// buffer full, malformed records), by cause and kind.
    func sourceLosses() -> [LossCause: [String: UInt64]]
    /// Running totals of the source's own work beside the records (files
    /// hashed, hashes that missed their event), by name.
    func sourceCounters() -> [String: UInt64]
    /// Per record kind: generated (the kernel's count), read, lost in the
    /// kernel; empty for a source without such counts.
    func recordAccounts() -> [String: RecordAccount]
    /// Stops making records (the kernel side detaches) without letting go of
    /// what was made: the next ``read(into:)`` drains it, after which the
    /// record accounts are final.
    func stopProducing()
    /// The configuration can log only these EventIDs now (nil: all); a
    /// source may stop producing the others.
    func updateLoggedKinds(_ ids: Set<Int>?)
    /// Once a second: upkeep (user-name tables and such).
    func tick()
    /// Events about what happened before this start (a SIGKILL that ended
    /// the previous run), taken once, after the session announced itself.
    func eventsAtStart() -> [Event]
    /// Lets go of the kernel side; nothing is read afterwards.
    func stop()
}

extension EventSource {
    public func updateLoggedKinds(_ ids: Set<Int>?) {}
    public func tick() {}
    public func eventsAtStart() -> [Event] { [] }
    public func sourceCounters() -> [String: UInt64] { [:] }
    public func recordAccounts() -> [String: RecordAccount] { [:] }
    public func stopProducing() {}
}

/// A configuration that decides which events are logged and can be read
/// again while running (SIGHUP, `config update`).
public protocol FilterConfiguration: AnyObject {
    func load() throws -> LoadedConfiguration
    /// False when there is nothing to re-read (the embedded default).
    var canReload: Bool { get }
}

/// One reading of a ``FilterConfiguration``.
public struct LoadedConfiguration: Sendable {
    public var filter: EventFilter
    /// What event 16 says: the file's path, or `<embedded default>`.
    public var name: String
    /// `SHA256=…` of the file's bytes, as Sysmon's ConfigurationFileHash.
    public var hash: String
    /// The EventIDs the configuration can log at all (nil: every one).
    public var loggedEventIDs: Set<Int>?
    /// Problems that did not stop the configuration from loading, with their locations.
    public var warnings: [String]

    public init(filter: EventFilter, name: String, hash: String, loggedEventIDs: Set<Int>?, warnings: [String] = []) {
        self.filter = filter
        self.name = name
        self.hash = hash
        self.loggedEventIDs = loggedEventIDs
        self.warnings = warnings
    }
}
