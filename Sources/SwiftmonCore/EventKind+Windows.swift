/// Kinds that only Windows produces: the Sysmon events no Linux source emits
/// (read from Sysmon's own event logs, .evtx), and the generic Windows event.
/// Fields as Sysmon 4.90 names and orders them (its published manifest).
extension EventKind {
    public static let fileCreateTime = EventKind(
        2, "FileCreateTime", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetFilename", "CreationUtcTime",
         "PreviousCreationUtcTime", "User"])
    public static let fileCreateStreamHash = EventKind(
        15, "FileCreateStreamHash", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetFilename", "CreationUtcTime",
         "Hash", "Contents", "User"])
    public static let pipeCreated = EventKind(
        17, "PipeEvent", name: "PipeCreated", logged: false,
        ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "PipeName", "Image", "User"])
    public static let pipeConnected = EventKind(
        18, "PipeEvent", name: "PipeConnected", logged: false,
        ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "PipeName", "Image", "User"])
    public static let wmiFilter = EventKind(
        19, "WmiEvent", name: "WmiEventFilter", logged: false,
        ["RuleName", "EventType", "UtcTime", "Operation", "User", "EventNamespace", "Name", "Query"])
    public static let wmiConsumer = EventKind(
        20, "WmiEvent", name: "WmiEventConsumer", logged: false,
        ["RuleName", "EventType", "UtcTime", "Operation", "User", "Name", "Type", "Destination"])
    public static let wmiBinding = EventKind(
        21, "WmiEvent", name: "WmiEventConsumerToFilter", logged: false,
        ["RuleName", "EventType", "UtcTime", "Operation", "User", "Consumer", "Filter"])
    public static let dnsQuery = EventKind(
        22, "DnsQuery", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "QueryName", "QueryStatus", "QueryResults",
         "Image", "User"])
    public static let clipboardChange = EventKind(
        24, "ClipboardChange", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "Session", "ClientInfo", "Hashes",
         "Archived", "User"])
    public static let processTampering = EventKind(
        25, "ProcessTampering", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "Type", "User"])
    public static let fileDeleteDetected = EventKind(
        26, "FileDeleteDetected", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename", "Hashes",
         "IsExecutable"])
    public static let fileBlockExecutable = EventKind(
        27, "FileBlockExecutable", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename", "Hashes"])
    public static let fileBlockShredding = EventKind(
        28, "FileBlockShredding", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename", "Hashes",
         "IsExecutable"])
    public static let fileExecutableDetected = EventKind(
        29, "FileExecutableDetected", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename", "Hashes"])
    /// A Windows event log record of any other provider (read from .evtx): its
    /// System fields and its EventData (or UserData) as one JSON object, in the
    /// record's order. Nothing of the record's data is dropped. The record's
    /// own EventID is `WindowsEventID`: a field named `EventID` would be a
    /// second `EventID` key in a JSON line, beside the event's own (211).
    public static let windowsEvent = EventKind(
        211, "WindowsEvent", logged: true,
        ["RuleName", "UtcTime", "ProviderName", "ProviderGuid", "WindowsEventID", "Version", "Level", "Task",
         "Opcode", "Keywords", "EventRecordID", "Channel", "Computer", "ProcessID", "ThreadID", "UserID",
         "EventData"])

    static let windowsEventKinds: [EventKind] = [
        .fileCreateTime, .fileCreateStreamHash, .pipeCreated, .pipeConnected, .wmiFilter, .wmiConsumer,
        .wmiBinding, .dnsQuery, .clipboardChange, .processTampering, .fileDeleteDetected,
        .fileBlockExecutable, .fileBlockShredding, .fileExecutableDetected, .windowsEvent,
    ]
}
