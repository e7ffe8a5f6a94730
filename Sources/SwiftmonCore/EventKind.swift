/// One kind of event in Sysmon's schema: its EventID, the rule tag a Sysmon
/// configuration filters it by, and its fields in schema order.
///
/// The Sysmon fields come first, exactly as Sysmon 4.90 names and orders them;
/// fields swiftmon adds (``extraFields``) always follow them, never in between,
/// so tools that parse Sysmon output by position keep working.
public struct EventKind: Sendable, Hashable, CustomStringConvertible {
    /// Sysmon's EventID.
    public let id: Int
    /// Everything else about the kind, built once per kind and never freed
    /// (the kinds are the static members below: a few dozen, for the life of
    /// the process). Held unmanaged so that an `EventKind` is a trivial
    /// value: an event carries its kind with no reference count to touch
    /// when it is made, copied or destroyed (issue 10: releasing the kind's
    /// name, rule tag and field array was ~1.5 % of the live sensor's CPU).
    @usableFromInline let info: Unmanaged<Info>

    @usableFromInline
    final class Info: Sendable {
        let ruleTag: String?
        let name: String
        @usableFromInline let fields: [String]
        let sysmonFieldCount: Int
        let loggedWithoutRuleBlock: Bool
        let containerFieldsStart: Int?
        @usableFromInline let utcTimeIndex: Int?

        init(ruleTag: String?, name: String, fields: [String], sysmonFieldCount: Int,
             loggedWithoutRuleBlock: Bool, containerFieldsStart: Int?, utcTimeIndex: Int?) {
            self.ruleTag = ruleTag
            self.name = name
            self.fields = fields
            self.sysmonFieldCount = sysmonFieldCount
            self.loggedWithoutRuleBlock = loggedWithoutRuleBlock
            self.containerFieldsStart = containerFieldsStart
            self.utcTimeIndex = utcTimeIndex
        }
    }

    /// The element name a Sysmon configuration uses to filter this event, or
    /// `nil` for the events that cannot be filtered (4, 16, 255).
    public var ruleTag: String? { info._withUnsafeGuaranteedRef { $0.ruleTag } }
    /// Name shown as `EventName` in JSON and text output: the rule tag, or a
    /// descriptive name for the unfilterable events.
    public var name: String { info._withUnsafeGuaranteedRef { $0.name } }
    /// Every field in output order: Sysmon's fields, then swiftmon's extras.
    @inlinable
    public var fields: [String] { info._withUnsafeGuaranteedRef { $0.fields } }
    /// How many of ``fields`` there are (no array to retain for it).
    @inlinable
    public var fieldCount: Int { info._withUnsafeGuaranteedRef { $0.fields.count } }
    /// How many of ``fields`` are Sysmon's own; the rest are swiftmon's extras.
    public var sysmonFieldCount: Int { info._withUnsafeGuaranteedRef { $0.sysmonFieldCount } }
    /// Whether Sysmon logs this event when a configuration has no block for it.
    public var loggedWithoutRuleBlock: Bool { info._withUnsafeGuaranteedRef { $0.loggedWithoutRuleBlock } }
    /// Where ``ProcessContainer/fieldNames`` start in ``fields``, for the kinds
    /// that describe a process (they come last), else nil.
    public var containerFieldsStart: Int? { info._withUnsafeGuaranteedRef { $0.containerFieldsStart } }
    /// Where `UtcTime` is in ``fields`` (every kind but a few has it).
    @inlinable
    public var utcTimeIndex: Int? { info._withUnsafeGuaranteedRef { $0.utcTimeIndex } }

    public var description: String { name }
    public var extraFields: ArraySlice<String> { fields[sysmonFieldCount...] }

    /// Position of `field` in ``fields``, or `nil`.
    @inline(__always)
    public func index(of field: String) -> Int? {
        // A kind has at most a few dozen fields, and field names are short:
        // comparing them in order beats hashing the name on the per-event path.
        info._withUnsafeGuaranteedRef { info in
            for (i, name) in info.fields.enumerated() where name == field { return i }
            return nil
        }
    }

    init(
        _ id: Int, _ ruleTag: String?, name: String? = nil, logged: Bool,
        _ sysmon: [String], extra: [String] = [], container: Bool = false
    ) {
        self.id = id
        let fields = sysmon + extra + (container ? ProcessContainer.fieldNames : [])
        // Retained once and never released: see `info`.
        self.info = Unmanaged.passRetained(Info(
            ruleTag: ruleTag, name: name ?? ruleTag ?? "Event\(id)", fields: fields,
            sysmonFieldCount: sysmon.count, loggedWithoutRuleBlock: logged,
            containerFieldsStart: container ? sysmon.count + extra.count : nil,
            utcTimeIndex: fields.firstIndex(of: "UtcTime")))
    }

    public static func == (a: EventKind, b: EventKind) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }
}

extension EventKind {
    public static let processCreate = EventKind(
        1, "ProcessCreate", logged: true,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion", "Description",
         "Product", "Company", "OriginalFileName", "CommandLine", "CurrentDirectory", "User",
         "LogonGuid", "LogonId", "TerminalSessionId", "IntegrityLevel", "Hashes",
         "ParentProcessGuid", "ParentProcessId", "ParentImage", "ParentCommandLine", "ParentUser"],
        extra: ["Architecture", "ImageNtPath"], container: true)
    public static let networkConnect = EventKind(
        3, "NetworkConnect", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "Protocol", "Initiated",
         "SourceIsIpv6", "SourceIp", "SourceHostname", "SourcePort", "SourcePortName",
         "DestinationIsIpv6", "DestinationIp", "DestinationHostname", "DestinationPort",
         "DestinationPortName"], container: true)
    public static let serviceStateChange = EventKind(
        4, nil, name: "SysmonServiceStateChange", logged: true,
        ["UtcTime", "State", "Version", "SchemaVersion"],
        extra: ["Sources"])
    public static let processTerminate = EventKind(
        5, "ProcessTerminate", logged: true,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User"],
        extra: ["ExitCode"], container: true)
    public static let driverLoad = EventKind(
        6, "DriverLoad", logged: false,
        ["RuleName", "UtcTime", "ImageLoaded", "Hashes", "Signed", "Signature", "SignatureStatus"],
        extra: ["ProcessGuid", "ProcessId", "Image", "User", "Result", "ImageBase", "ImageSize", "ImageLoadedNtPath"], container: true)
    public static let imageLoad = EventKind(
        7, "ImageLoad", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "ImageLoaded", "FileVersion",
         "Description", "Product", "Company", "OriginalFileName", "Hashes", "Signed", "Signature",
         "SignatureStatus", "User"],
        extra: ["ImageBase", "ImageSize", "ImageLoadedNtPath"], container: true)
    public static let createRemoteThread = EventKind(
        8, "CreateRemoteThread", logged: false,
        ["RuleName", "UtcTime", "SourceProcessGuid", "SourceProcessId", "SourceImage",
         "TargetProcessGuid", "TargetProcessId", "TargetImage", "NewThreadId", "StartAddress",
         "StartModule", "StartFunction", "SourceUser", "TargetUser"])
    public static let rawAccessRead = EventKind(
        9, "RawAccessRead", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "Device", "User"], container: true)
    public static let processAccess = EventKind(
        10, "ProcessAccess", logged: false,
        ["RuleName", "UtcTime", "SourceProcessGUID", "SourceProcessId", "SourceThreadId",
         "SourceImage", "TargetProcessGUID", "TargetProcessId", "TargetImage", "GrantedAccess",
         "CallTrace", "SourceUser", "TargetUser"], container: true)
    public static let fileCreate = EventKind(
        11, "FileCreate", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetFilename",
         "CreationUtcTime", "User"],
        extra: ["TargetFilenameNtPath"], container: true)
    public static let registryCreateDelete = EventKind(
        12, "RegistryEvent", name: "RegistryCreateDelete", logged: false,
        ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetObject",
         "User"])
    public static let registryValueSet = EventKind(
        13, "RegistryEvent", name: "RegistryValueSet", logged: false,
        ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetObject",
         "Details", "User"])
    public static let registryRename = EventKind(
        14, "RegistryEvent", name: "RegistryRename", logged: false,
        ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetObject",
         "NewName", "User"])
    public static let configurationChange = EventKind(
        16, nil, name: "SysmonConfigStateChange", logged: true,
        ["UtcTime", "Configuration", "ConfigurationFileHash"])
    public static let fileDelete = EventKind(
        23, "FileDelete", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image", "TargetFilename",
         "Hashes", "IsExecutable", "Archived"],
        extra: ["TargetFilenameNtPath"], container: true)
    public static let bpfEvent = EventKind(
        100, "eBPFEvent", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "BpfCommand",
         "BpfProgramType", "BpfProgramId", "BpfProgramName"], container: true)
    public static let threadCreate = EventKind(
        200, "ThreadCreate", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "ThreadId", "Image", "User"], container: true)
    public static let threadTerminate = EventKind(
        201, "ThreadTerminate", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "ThreadId", "Image", "User"], container: true)
    public static let serviceInstall = EventKind(
        202, "ServiceInstall", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "ServiceName",
         "ServiceFile", "Manager"], container: true)
    public static let fileRename = EventKind(
        203, "FileRename", logged: false,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "SourceFilename",
         "TargetFilename"],
        extra: ["SourceFilenameNtPath", "TargetFilenameNtPath"], container: true)
    /// A trace record that no provider decoder turned into a Sysmon-shaped event
    /// (an .etl record of an unknown provider): nothing is silently dropped.
    public static let traceEvent = EventKind(
        204, "TraceEvent", logged: true,
        ["RuleName", "UtcTime", "ProviderGuid", "EventId", "Opcode", "Version", "Task", "Level",
         "Keywords", "ProcessId", "ThreadId", "Payload"],
        extra: ["ProviderName", "Name", "Data"])
    // Tamper events (205–209): somebody acting on swiftmon itself. Logged when
    // a configuration has no block for them; a configuration may still filter
    // them by their rule tag like any other kind.
    /// A signal raised against swiftmon's process by another process or by
    /// the kernel (signal_generate), whatever swiftmon did with it; a SIGKILL
    /// is reported by the next start (Recovered=true), at the time it happened.
    public static let sensorSignal = EventKind(
        205, "SensorSignal", logged: true,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "ThreadId", "Image", "User", "Signal",
         "SignalNumber", "SignalCode", "SentTo", "Result", "TargetProcessGuid", "TargetProcessId",
         "TargetThreadId", "Recovered", "UnreadRecordBytes"])
    /// ptrace attach/seize or process_vm_readv/writev aimed at swiftmon,
    /// attempts that failed included.
    public static let sensorAccess = EventKind(
        206, "SensorAccess", logged: true,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "ThreadId", "Image", "User", "Operation",
         "Result", "TargetProcessGuid", "TargetProcessId", "TargetThreadId"])
    /// One of swiftmon's own files changed by another process: the
    /// configuration it loaded, its unit files, its binary (FileRole). The
    /// process fields name the writer; Operation and Syscall what it did;
    /// Outcome what the path names now.
    public static let sensorFileChange = EventKind(
        207, "SensorFileChange", logged: true,
        ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "ThreadId", "Image", "User", "TargetFilename",
         "FileRole", "Operation", "Syscall", "Outcome", "WriterIsSwiftmon"])
    /// A Sigma rule matched (swiftmon's SwiftmonSigma): the rule, and the event it
    /// matched (its EventID, UtcTime and process); for a correlation rule, the
    /// events it correlated. `UtcTime` is the matched event's time; the rule's
    /// author is kept, as the Sigma rules' licence (DRL 1.1) asks of alerts.
    public static let sigmaMatch = EventKind(
        210, nil, name: "SigmaMatch", logged: true,
        ["UtcTime", "RuleId", "RuleTitle", "RuleLevel", "RuleTags", "RuleStatus", "RuleAuthor",
         "MatchedEventID", "ProcessGuid", "ProcessId", "Image", "CorrelatedEvents"])
    public static let error = EventKind(
        255, nil, name: "Error", logged: true,
        ["UtcTime", "ID", "Description"])

    /// Every kind swiftmon knows, by ascending EventID.
    public static let all: [EventKind] = ([
        .processCreate, .networkConnect, .serviceStateChange, .processTerminate, .driverLoad,
        .imageLoad, .createRemoteThread, .rawAccessRead, .processAccess, .fileCreate,
        .registryCreateDelete, .registryValueSet, .registryRename, .configurationChange,
        .fileDelete, .bpfEvent, .threadCreate, .threadTerminate, .serviceInstall, .fileRename,
        .traceEvent, .sensorSignal, .sensorAccess, .sensorFileChange, .sigmaMatch, .error,
    ] + windowsEventKinds).sorted { $0.id < $1.id }

    private static let byID: [Int: EventKind] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })

    /// The kind with EventID `id`, or `nil`.
    public static func withID(_ id: Int) -> EventKind? { byID[id] }

    /// The kinds a Sysmon rule tag selects (RegistryEvent selects three).
    public static func withRuleTag(_ tag: String) -> [EventKind] {
        all.filter { $0.ruleTag == tag }
    }
}
