import SwiftmonCore

/// TRACE_LOGFILE_HEADER: the payload of the first record of every .etl file
/// (hook 0x0000 of the EventTrace group). It says how to read the rest: pointer
/// size, clock type and frequency, and how many events and buffers were lost.
public struct EtlLogfileHeader: Sendable {
    public var bufferSize: UInt32 = 0
    public var majorVersion: UInt8 = 0
    public var minorVersion: UInt8 = 0
    public var subVersion: UInt8 = 0
    public var subMinorVersion: UInt8 = 0
    /// The OS build number (ProviderVersion).
    public var buildNumber: UInt32 = 0
    public var numberOfProcessors: UInt32 = 0
    /// FILETIME (100 ns since 1601, UTC).
    public var endTime: Int64 = 0
    public var timerResolution: UInt32 = 0
    public var maximumFileSize: UInt32 = 0
    public var logFileMode: UInt32 = 0
    public var buffersWritten: UInt32 = 0
    public var startBuffers: UInt32 = 0
    public var pointerSize: UInt32 = 0
    public var eventsLost: UInt32 = 0
    public var cpuSpeedMHz: UInt32 = 0
    public var timeZoneBias: Int32 = 0
    public var timeZoneName: String = ""
    public var bootTime: Int64 = 0
    public var perfFrequency: Int64 = 0
    public var startTime: Int64 = 0
    /// The clock: 1 QueryPerformanceCounter, 2 system time, 3 CPU cycle counter.
    public var clockType: UInt32 = 0
    public var buffersLost: UInt32 = 0
    public var loggerName: String = ""
    public var logFileName: String = ""

    /// The layout is fixed apart from two string pointers whose width is the
    /// producer's, told by the record header (32- or 64-bit system header).
    init(payload: UnsafeRawBufferPointer, headerIs64Bit: Bool, offset: Int) throws(EtlError) {
        let ptr = headerIs64Bit ? 8 : 4
        let fixed = headerIs64Bit ? 0x118 : 0x110
        guard payload.count >= fixed else {
            throw EtlError(offset: offset, "logfile header is \(payload.count) bytes, needs \(fixed)")
        }
        bufferSize = payload.loadLE(UInt32.self, 0x00)
        majorVersion = payload[0x04]
        minorVersion = payload[0x05]
        subVersion = payload[0x06]
        subMinorVersion = payload[0x07]
        buildNumber = payload.loadLE(UInt32.self, 0x08)
        numberOfProcessors = payload.loadLE(UInt32.self, 0x0C)
        endTime = payload.loadLE(Int64.self, 0x10)
        timerResolution = payload.loadLE(UInt32.self, 0x18)
        maximumFileSize = payload.loadLE(UInt32.self, 0x1C)
        logFileMode = payload.loadLE(UInt32.self, 0x20)
        buffersWritten = payload.loadLE(UInt32.self, 0x24)
        startBuffers = payload.loadLE(UInt32.self, 0x28)
        pointerSize = payload.loadLE(UInt32.self, 0x2C)
        eventsLost = payload.loadLE(UInt32.self, 0x30)
        cpuSpeedMHz = payload.loadLE(UInt32.self, 0x34)
        // Two pointers (LoggerName, LogFileName), then TIME_ZONE_INFORMATION (0xAC
        // bytes) padded to 8, then the 64-bit fields.
        let tz = 0x38 + 2 * ptr
        timeZoneBias = payload.loadLE(Int32.self, tz)
        var name = EtlPayload(UnsafeRawBufferPointer(rebasing: payload[(tz + 4)..<(tz + 68)]), pointerSize: ptr)
        timeZoneName = name.utf16String()
        let tail = fixed - 0x20
        bootTime = payload.loadLE(Int64.self, tail)
        perfFrequency = payload.loadLE(Int64.self, tail + 8)
        startTime = payload.loadLE(Int64.self, tail + 16)
        clockType = payload.loadLE(UInt32.self, tail + 24)
        buffersLost = payload.loadLE(UInt32.self, tail + 28)
        var names = EtlPayload(UnsafeRawBufferPointer(rebasing: payload[fixed...]), pointerSize: ptr)
        loggerName = names.utf16String()
        logFileName = names.utf16String()
    }

    public init() {}

    /// e.g. `10.0.18362`.
    public var osVersion: String { "\(majorVersion).\(minorVersion).\(buildNumber)" }

    public var clockName: String {
        switch clockType {
        case 1: return "QueryPerformanceCounter"
        case 2: return "SystemTime"
        case 3: return "CpuCycleCounter"
        default: return "Unknown(\(clockType))"
        }
    }
}

/// Converts raw record timestamps to UTC.
///
/// The logfile header's own record carries a raw timestamp taken at the same
/// moment as its `StartTime` (a FILETIME), which anchors the raw clock; raw
/// ticks are scaled by the clock's frequency: the performance counter's for
/// QPC, 10 MHz for system time (raw values are FILETIMEs), CPU MHz for cycles.
public struct EtlClock: Sendable {
    /// Nanoseconds since the Unix epoch at the anchor.
    public let anchorNanoseconds: Int64
    public let anchorTicks: Int64
    /// Ticks per second.
    public let frequency: Int64

    static let filetimeUnixEpoch: Int64 = 116_444_736_000_000_000

    public init(header: EtlLogfileHeader, anchorTicks: Int64) {
        switch header.clockType {
        case 2: frequency = 10_000_000
        case 3: frequency = max(1, Int64(header.cpuSpeedMHz) * 1_000_000)
        default: frequency = header.perfFrequency > 0 ? header.perfFrequency : 10_000_000
        }
        self.anchorTicks = anchorTicks
        anchorNanoseconds = EtlClock.nanoseconds(filetime: header.startTime)
    }

    /// Nanoseconds since the Unix epoch of a FILETIME (saturating).
    public static func nanoseconds(filetime: Int64) -> Int64 {
        let (delta, o1) = filetime.subtractingReportingOverflow(filetimeUnixEpoch)
        let (ns, o2) = delta.multipliedReportingOverflow(by: 100)
        if o1 || o2 { return delta < 0 ? Int64.min / 2 : Int64.max / 2 }
        return ns
    }

    @inline(__always)
    public func time(ticks: Int64) -> EventTime {
        let (d, o) = ticks.subtractingReportingOverflow(anchorTicks)
        if o { return EventTime(nanosecondsSinceEpoch: anchorNanoseconds) }
        // Split to keep ticks * 1e9 from overflowing for any frequency below 9.2 GHz.
        let whole = d / frequency
        let rest = d % frequency
        let (a, o1) = whole.multipliedReportingOverflow(by: 1_000_000_000)
        let wide = rest.multipliedFullWidth(by: 1_000_000_000)
        let b = frequency.dividingFullWidth(wide).quotient  // |rest| < frequency: fits
        let (ns, o2) = anchorNanoseconds.addingReportingOverflow(a &+ b)
        if o1 || o2 { return EventTime(nanosecondsSinceEpoch: d < 0 ? Int64.min / 2 : Int64.max / 2) }
        return EventTime(nanosecondsSinceEpoch: ns)
    }
}
