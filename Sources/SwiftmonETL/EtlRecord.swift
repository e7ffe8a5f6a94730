import SwiftmonCore

/// Which header a record was written with. Each kind carries a different
/// subset of the information an EVENT_RECORD holds.
public enum EtlHeaderKind: String, Sendable, CaseIterable {
    /// SYSTEM_TRACE_HEADER: kernel events, with pid/tid and CPU times.
    case system
    /// The compact system header: as `system` without CPU times.
    case compactSystem
    /// PERFINFO_TRACE_HEADER: kernel events without pid/tid.
    case perfInfo
    /// Classic EVENT_TRACE_HEADER (MOF providers): GUID, class type/level/version.
    case classic
    /// EVENT_INSTANCE_GUID_HEADER: classic with instance and parent ids.
    case instance
    /// EVENT_HEADER (manifest and TraceLogging providers), maybe with extended data.
    case event
    /// A WPP message (MESSAGE_TRACE_HEADER): message number and raw arguments.
    case message
    /// The rarely seen timed, error and WNODE headers: kept opaque.
    case other
}

/// One decoded record: what Windows hands a real-time consumer as an
/// EVENT_RECORD. The `payload` and `extendedData` bytes are only valid while
/// the closure that received the record runs; copy what must outlive it.
public struct EtlRecord {
    public var kind: EtlHeaderKind = .other
    /// The raw TRACE_HEADER_TYPE_* value (0x01 … 0x15).
    public var headerType: UInt8 = 0
    /// Pointer width of the producer, for decoding the payload: 4 or 8.
    public var pointerSize: Int = 8
    /// The provider: the header's GUID, or for kernel system/perfinfo headers
    /// the kernel event class GUID of the record's group.
    public var provider: Guid = .zero
    /// Kernel group (the high byte of a hook id) for system and perfinfo headers.
    public var group: UInt8 = 0
    public var id: UInt16 = 0
    public var version: UInt16 = 0
    /// The opcode; for classic headers the event class type.
    public var opcode: UInt8 = 0
    public var level: UInt8 = 0
    public var channel: UInt8 = 0
    public var task: UInt16 = 0
    public var keywords: UInt64 = 0
    /// `nil` when the header carries none (perfinfo, some WPP messages).
    public var processId: UInt32? = nil
    public var threadId: UInt32? = nil
    /// Raw clock value as written; `time` is it converted to UTC.
    public var ticks: Int64 = 0
    public var time = EventTime(nanosecondsSinceEpoch: 0)
    /// EVENT_HEADER Flags / EventProperty, or the WPP message's EventProperty.
    public var eventFlags: UInt16 = 0
    public var eventProperty: UInt16 = 0
    public var activityId: Guid = .zero
    /// Instance headers only.
    public var instanceId: UInt32 = 0
    public var parentInstanceId: UInt32 = 0
    public var parentGuid: Guid = .zero
    /// WPP sequence number, when the message has one.
    public var sequence: UInt32? = nil
    public var kernelTime: UInt32 = 0
    public var userTime: UInt32 = 0
    /// The processor (or relogger stream) the record's buffer belongs to.
    public var processor: UInt16 = 0
    /// Where the record starts: a file offset, or, in a compressed buffer, the
    /// buffer's file offset with `bufferOffset` the offset in its decompressed bytes.
    public var fileOffset: Int = 0
    public var bufferOffset: Int? = nil
    /// Total record size from its header.
    public var size: Int = 0
    public var extendedData = EtlExtendedData(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
    public var payload = UnsafeRawBufferPointer(start: nil, count: 0)

    public init() {}

    /// A reader for the payload at the producer's pointer width.
    public var payloadReader: EtlPayload { EtlPayload(payload, pointerSize: pointerSize) }

    /// EVENT_HEADER_FLAG_EXTENDED_INFO etc.
    public static let flagExtendedInfo: UInt16 = 0x0001
    public static let flagStringOnly: UInt16 = 0x0004
    public static let flagTraceMessage: UInt16 = 0x0008
    public static let flag32BitHeader: UInt16 = 0x0020
    public static let flag64BitHeader: UInt16 = 0x0040
    public static let flagClassicHeader: UInt16 = 0x0100
}

/// The extended data items of an EVENT_HEADER record (related activity id,
/// SID, stack traces, TraceLogging schema, provider traits …), walked lazily.
public struct EtlExtendedData: Sequence {
    public let bytes: UnsafeRawBufferPointer

    public struct Item {
        public let type: UInt16
        public let data: UnsafeRawBufferPointer

        public static let relatedActivityId: UInt16 = 1
        public static let sid: UInt16 = 2
        public static let terminalSessionId: UInt16 = 3
        public static let instanceInfo: UInt16 = 4
        public static let stackTrace32: UInt16 = 5
        public static let stackTrace64: UInt16 = 6
        public static let pebsIndex: UInt16 = 7
        public static let pmcCounters: UInt16 = 8
        public static let psmKey: UInt16 = 9
        public static let eventKey: UInt16 = 10
        public static let traceLoggingSchema: UInt16 = 11
        public static let providerTraits: UInt16 = 12
        public static let processStartKey: UInt16 = 13

        public var typeName: String {
            switch type {
            case 1: return "RelatedActivityId"
            case 2: return "Sid"
            case 3: return "TerminalSessionId"
            case 4: return "InstanceInfo"
            case 5: return "StackTrace32"
            case 6: return "StackTrace64"
            case 7: return "PebsIndex"
            case 8: return "PmcCounters"
            case 9: return "PsmKey"
            case 10: return "EventKey"
            case 11: return "TraceLoggingSchema"
            case 12: return "ProviderTraits"
            case 13: return "ProcessStartKey"
            default: return "Type\(type)"
            }
        }
    }

    public struct Iterator: IteratorProtocol {
        let bytes: UnsafeRawBufferPointer
        var position = 0
        public mutating func next() -> Item? {
            // Items were validated when the record was parsed (see EtlRecordParser).
            guard bytes.count - position >= 8 else { return nil }
            let size = Int(bytes.loadLE(UInt16.self, position))
            let type = bytes.loadLE(UInt16.self, position + 2)
            let dataSize = Int(bytes.loadLE(UInt16.self, position + 6))
            guard size >= 8, dataSize <= size - 8, size <= bytes.count - position else { return nil }
            let data = UnsafeRawBufferPointer(rebasing: bytes[(position + 8)..<(position + 8 + dataSize)])
            position += size
            return Item(type: type, data: data)
        }
    }

    public func makeIterator() -> Iterator { Iterator(bytes: bytes) }

    public func first(type: UInt16) -> Item? { first { $0.type == type } }
}

/// The kernel event class GUIDs of the system logger's groups (the high byte of
/// a hook id), as a consumer reports them for system and perfinfo records.
public enum KernelGroup {
    public static let eventTrace = Guid("68fdd900-4a3e-11d1-84f4-0000f80464e3")!
    public static let diskIo = Guid("3d6fa8d4-fe05-11d0-9dda-00c04fd7ba7c")!
    public static let pageFault = Guid("3d6fa8d3-fe05-11d0-9dda-00c04fd7ba7c")!
    public static let process = Guid("3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c")!
    public static let fileIo = Guid("90cbdc39-4a3e-11d1-84f4-0000f80464e3")!
    public static let thread = Guid("3d6fa8d1-fe05-11d0-9dda-00c04fd7ba7c")!
    public static let tcpIp = Guid("9a280ac0-c8e0-11d1-84e2-00c04fb998a2")!
    public static let udpIp = Guid("bf3a50c5-a9c9-4988-a005-2df0b7c80f80")!
    public static let registry = Guid("ae53722e-c863-11d2-8659-00c04fa321a1")!
    public static let image = Guid("2cb15d1d-5fc1-11d2-abe1-00a0c911f518")!
    public static let perfInfo = Guid("ce1dbfb4-137e-4da6-87b0-3f59aa102cbc")!
    public static let stackWalk = Guid("def2fe46-7bd6-4b80-bd94-f57fe20d0ce3")!
    /// EventTraceConfig: the SystemConfig records (hardware, volumes, paths).
    public static let systemConfig = Guid("01853a65-418f-4f36-aefc-dc0f1d2fd235")!

    /// Indexed by group number (0 … 30).
    static let byGroup: [Guid] = [
        eventTrace, diskIo, pageFault, process, fileIo, thread, tcpIp,
        Guid("3282fc76-feed-498e-8aa7-e70f459d430e")!,  // Job
        udpIp, registry,
        Guid("13976d09-a327-438c-950b-7f03192815c7")!,  // DbgPrint
        systemConfig,
        Guid("99134383-5248-43fc-834b-529454e75df3")!,  // Spare1
        Guid("42695762-ea50-497a-9068-5cbbb35e0b95")!,  // Wnf
        Guid("0268a8b6-74fd-4302-9dd0-6e8f1795c0cf")!,  // Pool
        perfInfo,
        Guid("222962ab-6180-4b88-a825-346b75f2a24a")!,  // Heap
        Guid("89497f50-effe-4440-8cf2-ce6b1cdcaca7")!,  // Object
        Guid("e43445e0-0903-48c3-b878-ff0fccebdd04")!,  // Power
        Guid("a9152f00-3f58-4bee-92a1-70c7d079d5dd")!,  // ModBound
        image,
        Guid("b2d14872-7c5b-463d-8419-ee9bf7d23e04")!,  // Dpc
        Guid("7687a439-f752-45b8-b741-321aec0f8df9")!,  // Cc
        Guid("3ac66736-cc59-4cff-8115-8df50e39816b")!,  // CritSec
        stackWalk,
        Guid("9aec974b-5b8e-4118-9b92-3186d8002ce5")!,  // Ums
        Guid("45d8cccd-539f-4b72-a8b7-5c683142609a")!,  // Alpc
        Guid("d837ca92-12b9-44a5-ad6a-3a65b3578aa8")!,  // SplitIo
        Guid("c861d0e2-a2c1-4d36-9f9c-970bab943a12")!,  // ThreadPool
        Guid("7f2a405c-69b5-4bf9-a1f5-30e8f1afab5e")!,  // Hypervisor
        Guid("2ce9a149-effe-42f0-a635-a1d39e26c8f2")!,  // HypervisorX
    ]

    /// The class GUID for a hook. The image load (hook 0x030A) is logged under
    /// the process group but belongs to the Image class.
    public static func guid(group: UInt8, opcode: UInt8) -> Guid {
        if group == 3 && opcode == 10 { return image }
        return Int(group) < byGroup.count ? byGroup[Int(group)] : .zero
    }
}

extension KernelGroup {
    /// A readable name for the kernel class GUIDs decoders know.
    public static func name(of guid: Guid) -> String? {
        switch guid {
        case eventTrace: return "EventTrace"
        case diskIo: return "DiskIo"
        case pageFault: return "PageFault"
        case process: return "Process"
        case fileIo: return "FileIo"
        case thread: return "Thread"
        case tcpIp: return "TcpIp"
        case udpIp: return "UdpIp"
        case registry: return "Registry"
        case image: return "Image"
        case perfInfo: return "PerfInfo"
        case stackWalk: return "StackWalk"
        default: return nil
        }
    }
}
