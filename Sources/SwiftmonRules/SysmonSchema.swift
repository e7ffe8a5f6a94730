import SwiftmonCore

/// What a Sysmon configuration may name: Sysmon 4.90's filterable events with
/// their fields, the top-level options, and which of them mean nothing on Linux.
///
/// The field lists are Sysmon's (its published manifest, schema 4.90). swiftmon's
/// own events and extra fields come from ``EventKind``: a configuration may filter
/// any field swiftmon emits.
public enum SysmonSchema {
    /// One Sysmon event a rule tag selects.
    public struct Event: Sendable {
        public let id: Int
        public let fields: [String]
    }

    /// Rule tag → the Sysmon events it selects, in EventID order (a tag such as
    /// `RegistryEvent` selects several).
    public static let sysmonEvents: [String: [Event]] = {
        var table: [String: [Event]] = [:]
        for (id, tag, fields) in sysmonTable { table[tag, default: []].append(Event(id: id, fields: fields)) }
        return table
    }()

    /// Rule tags of events that no Linux source produces: filters on them are
    /// kept (an .etl trace may carry some) but reported as warnings.
    public static let windowsOnlyTags: Set<String> = [
        "FileCreateTime", "CreateRemoteThread", "RegistryEvent", "FileCreateStreamHash", "PipeEvent",
        "WmiEvent", "DnsQuery", "ClipboardChange", "ProcessTampering", "FileDeleteDetected",
        "FileBlockExecutable", "FileBlockShredding", "FileExecutableDetected",
    ]

    /// Fields of Linux events that only Windows fills (PE version resources,
    /// Authenticode signatures, stack traces): on Linux their value is always `-`.
    public static let windowsOnlyFields: Set<String> = [
        "FileVersion", "Description", "Product", "Company", "OriginalFileName",
        "Signed", "Signature", "SignatureStatus", "CallTrace",
    ]

    /// Every rule tag a configuration may use: Sysmon's and swiftmon's own.
    public static let ruleTags: [String] = {
        var seen = Set<String>()
        var tags: [(Int, String)] = []
        for (id, tag, _) in sysmonTable where seen.insert(tag).inserted { tags.append((id, tag)) }
        for kind in EventKind.all {
            if let tag = kind.ruleTag, seen.insert(tag).inserted { tags.append((kind.id, tag)) }
        }
        return tags.sorted { $0.0 < $1.0 }.map(\.1)
    }()

    /// The EventID a tag sorts by (Sysmon dumps rules in EventID order).
    public static func sortID(of tag: String) -> Int {
        if let first = sysmonEvents[tag]?.first { return first.id }
        return EventKind.withRuleTag(tag).first?.id ?? Int.max
    }

    /// The field sets a block of `tag` may draw from: one per selected event.
    /// A block must take all its fields from one of them (Sysmon picks the first
    /// event of the series that has every field the block names).
    public static func fieldSets(of tag: String) -> [Set<String>] {
        let kinds = EventKind.withRuleTag(tag)
        if let events = sysmonEvents[tag] {
            return events.map { event in
                var set = Set(event.fields)
                if let kind = kinds.first(where: { $0.id == event.id }) { set.formUnion(kind.fields) }
                return set
            }
        }
        return kinds.map { Set($0.fields) }
    }

    /// The schema version that introduced each event Sysmon added after 4.0;
    /// Sysmon rejects a file that uses one under an older `schemaversion`.
    public static let introduced: [String: SchemaVersion] = [
        "DnsQuery": SchemaVersion(major: 4, minor: 21), "ProcessTampering": SchemaVersion(major: 4, minor: 50),
        "FileDeleteDetected": SchemaVersion(major: 4, minor: 60), "FileBlockExecutable": SchemaVersion(major: 4, minor: 82),
        "FileBlockShredding": SchemaVersion(major: 4, minor: 83), "FileExecutableDetected": SchemaVersion(major: 4, minor: 90),
    ]

    /// Top-level option elements of `<Sysmon>` and whether they matter on Linux.
    public static let options: [String: Bool] = [
        "HashAlgorithms": true, "FieldSizes": true,
        "ArchiveDirectory": false, "CheckRevocation": false, "CopyOnDeletePE": false,
        "CopyOnDeleteSIDs": false, "CopyOnDeleteExtensions": false, "CopyOnDeleteProcesses": false,
        "DnsLookup": false, "DriverName": false, "CaptureClipboard": false,
        "PipeMonitoringConfig": false, "ProcessAccessConfig": false,
    ]

    /// Hash algorithm names `HashAlgorithms` accepts (`*` = all).
    public static let hashAlgorithms = ["md5", "sha1", "sha256", "imphash", "*"]

    // Sysmon 4.90: EventID, rule tag, fields in schema order.
    static let sysmonTable: [(Int, String, [String])] = [
        (1, "ProcessCreate", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion",
            "Description", "Product", "Company", "OriginalFileName", "CommandLine", "CurrentDirectory",
            "User", "LogonGuid", "LogonId", "TerminalSessionId", "IntegrityLevel", "Hashes",
            "ParentProcessGuid", "ParentProcessId", "ParentImage", "ParentCommandLine", "ParentUser"]),
        (2, "FileCreateTime", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetFilename",
            "CreationUtcTime", "PreviousCreationUtcTime", "User"]),
        (3, "NetworkConnect", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "Protocol",
            "Initiated", "SourceIsIpv6", "SourceIp", "SourceHostname", "SourcePort", "SourcePortName",
            "DestinationIsIpv6", "DestinationIp", "DestinationHostname", "DestinationPort",
            "DestinationPortName"]),
        (5, "ProcessTerminate", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User"]),
        (6, "DriverLoad", ["RuleName", "UtcTime", "ImageLoaded", "Hashes", "Signed", "Signature",
            "SignatureStatus"]),
        (7, "ImageLoad", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "ImageLoaded",
            "FileVersion", "Description", "Product", "Company", "OriginalFileName", "Hashes", "Signed",
            "Signature", "SignatureStatus", "User"]),
        (8, "CreateRemoteThread", ["RuleName", "UtcTime", "SourceProcessGuid", "SourceProcessId",
            "SourceImage", "TargetProcessGuid", "TargetProcessId", "TargetImage", "NewThreadId",
            "StartAddress", "StartModule", "StartFunction", "SourceUser", "TargetUser"]),
        (9, "RawAccessRead", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "Device", "User"]),
        (10, "ProcessAccess", ["RuleName", "UtcTime", "SourceProcessGUID", "SourceProcessId",
            "SourceThreadId", "SourceImage", "TargetProcessGUID", "TargetProcessId", "TargetImage",
            "GrantedAccess", "CallTrace", "SourceUser", "TargetUser"]),
        (11, "FileCreate", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetFilename",
            "CreationUtcTime", "User"]),
        (12, "RegistryEvent", ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "Image",
            "TargetObject", "User"]),
        (13, "RegistryEvent", ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "Image",
            "TargetObject", "Details", "User"]),
        (14, "RegistryEvent", ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "Image",
            "TargetObject", "NewName", "User"]),
        (15, "FileCreateStreamHash", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image",
            "TargetFilename", "CreationUtcTime", "Hash", "Contents", "User"]),
        (17, "PipeEvent", ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "PipeName",
            "Image", "User"]),
        (18, "PipeEvent", ["RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "PipeName",
            "Image", "User"]),
        (19, "WmiEvent", ["RuleName", "EventType", "UtcTime", "Operation", "User", "EventNamespace", "Name",
            "Query"]),
        (20, "WmiEvent", ["RuleName", "EventType", "UtcTime", "Operation", "User", "Name", "Type",
            "Destination"]),
        (21, "WmiEvent", ["RuleName", "EventType", "UtcTime", "Operation", "User", "Consumer", "Filter"]),
        (22, "DnsQuery", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "QueryName", "QueryStatus",
            "QueryResults", "Image", "User"]),
        (23, "FileDelete", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image",
            "TargetFilename", "Hashes", "IsExecutable", "Archived"]),
        (24, "ClipboardChange", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "Session",
            "ClientInfo", "Hashes", "Archived", "User"]),
        (25, "ProcessTampering", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "Type", "User"]),
        (26, "FileDeleteDetected", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image",
            "TargetFilename", "Hashes", "IsExecutable"]),
        (27, "FileBlockExecutable", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image",
            "TargetFilename", "Hashes"]),
        (28, "FileBlockShredding", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image",
            "TargetFilename", "Hashes", "IsExecutable"]),
        (29, "FileExecutableDetected", ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image",
            "TargetFilename", "Hashes"]),
    ]
}
