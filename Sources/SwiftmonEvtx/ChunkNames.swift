/// The element and attribute names the reader acts on, so that the hot path
/// compares small numbers instead of strings. Every other name is `other`.
enum NameCode: UInt8 {
    case other
    case system, eventData, userData
    case provider, eventID, version, level, task, opcode, keywords, timeCreated, eventRecordID
    case correlation, execution, channel, computer, security, data
    case name, guid, eventSourceName, qualifiers, systemTime, activityID, relatedActivityID
    case processID, threadID, userID

    init(_ s: String) {
        switch s {
        case "System": self = .system
        case "EventData": self = .eventData
        case "UserData": self = .userData
        case "Provider": self = .provider
        case "EventID": self = .eventID
        case "Version": self = .version
        case "Level": self = .level
        case "Task": self = .task
        case "Opcode": self = .opcode
        case "Keywords": self = .keywords
        case "TimeCreated": self = .timeCreated
        case "EventRecordID": self = .eventRecordID
        case "Correlation": self = .correlation
        case "Execution": self = .execution
        case "Channel": self = .channel
        case "Computer": self = .computer
        case "Security": self = .security
        case "Data": self = .data
        case "Name": self = .name
        case "Guid": self = .guid
        case "EventSourceName": self = .eventSourceName
        case "Qualifiers": self = .qualifiers
        case "SystemTime": self = .systemTime
        case "ActivityID": self = .activityID
        case "RelatedActivityID": self = .relatedActivityID
        case "ProcessID": self = .processID
        case "ThreadID": self = .threadID
        case "UserID": self = .userID
        default: self = .other
        }
    }
}

/// A name of the chunk's string table, with its code.
struct ChunkName: Hashable {
    let string: String
    let code: NameCode
}

/// The strings a chunk's compiled XML refers to by index: element and
/// attribute names, and literal text (template text, CDATA, entities).
struct ChunkStrings {
    var names: [ChunkName] = []
    var texts: [String] = []
}
