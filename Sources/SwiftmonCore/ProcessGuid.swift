/// A process's identity across its events: stable for the life of one process,
/// different after its PID is reused, and the same whichever source saw it.
///
/// Layout `{MMMMMMMM-TTTT-TTTT-TTTT-TTTTPPPPPPPP}`: the first 32 bits of the
/// machine id, the process start time in clock ticks since boot (64 bits, as
/// `/proc/PID/stat` field 22 gives it, so a process seen first in the start-up
/// scan and later by the kernel gets the same GUID), and the process id.
public struct ProcessGuid: Sendable, Hashable, CustomStringConvertible {
    // Widest first: 16 bytes, not 24 (one is kept per live process).
    public let startTicks: UInt64
    public let machine: UInt32
    public let pid: UInt32

    public init(machine: UInt32, startTicks: UInt64, pid: UInt32) {
        self.machine = machine
        self.startTicks = startTicks
        self.pid = pid
    }

    public var description: String {
        GUIDText.format(machine, startTicks, pid)
    }
}

/// The GUIDs swiftmon writes, `{FFFFFFFF-MMMM-MMMM-MMMM-MMMMLLLLLLLL}`: a
/// 32-bit first group, 64 bits in the middle, 32 bits at the end. Written in
/// place, because it runs for every new process.
enum GUIDText {
    private static let digits = Array("0123456789abcdef".utf8)

    /// The length of every GUID text.
    static let length = 38

    static func format(_ first: UInt32, _ middle: UInt64, _ last: UInt32) -> String {
        String(unsafeUninitializedCapacity: length) { write(first, middle, last, into: $0) }
    }

    /// Writes the text into `out` (room for ``length`` bytes); returns ``length``.
    @inline(__always)
    static func write(_ first: UInt32, _ middle: UInt64, _ last: UInt32, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        digits.withUnsafeBufferPointer { digits in
            var n = 0
            func put(_ value: UInt64, _ width: Int) {
                for k in 0..<width {
                    out[n + k] = digits[Int((value >> (4 * UInt64(width - 1 - k))) & 0xF)]
                }
                n += width
            }
            func byte(_ b: UInt8) { out[n] = b; n += 1 }
            byte(UInt8(ascii: "{"))
            put(UInt64(first), 8); byte(UInt8(ascii: "-"))
            put(middle >> 48, 4); byte(UInt8(ascii: "-"))
            put(middle >> 32, 4); byte(UInt8(ascii: "-"))
            put(middle >> 16, 4); byte(UInt8(ascii: "-"))
            put(middle, 4)
            put(UInt64(last), 8)
            byte(UInt8(ascii: "}"))
            return n
        }
    }
}

extension Event {
    /// Sets the field at `i` to `guid`'s text, written as bytes into the
    /// event's arena: no String per event (a GUID text is 38 bytes, past
    /// Swift's 15-byte inline strings, so a String would be an allocation).
    public mutating func setGuid(_ i: Int, _ guid: ProcessGuid) {
        writeUTF8(i, capacity: GUIDText.length) { GUIDText.write(guid.machine, guid.startTicks, guid.pid, into: $0) }
    }
}

/// Machine-wide facts that GUIDs and times are built from.
public struct HostIdentity: Sendable {
    /// First 32 bits of the machine id.
    public let machine: UInt32
    /// Clock ticks per second of `/proc` start times (USER_HZ).
    public let ticksPerSecond: UInt64
    /// Wall-clock time of boot, in ns since the epoch: boot-clock ns + this = UTC.
    public let bootEpochNanoseconds: Int64

    public init(machine: UInt32, ticksPerSecond: UInt64, bootEpochNanoseconds: Int64) {
        self.machine = machine
        self.ticksPerSecond = ticksPerSecond
        self.bootEpochNanoseconds = bootEpochNanoseconds
    }

    /// Parses the first 8 hex digits of a machine id such as /etc/machine-id.
    public static func machineWord(fromMachineID text: String) -> UInt32? {
        let hex = text.trimmingWhitespace().prefix(8)
        guard hex.count == 8 else { return nil }
        return UInt32(hex, radix: 16)
    }

    public func guid(pid: UInt32, startBootNanoseconds: UInt64) -> ProcessGuid {
        ProcessGuid(machine: machine, startTicks: startBootNanoseconds / (1_000_000_000 / ticksPerSecond), pid: pid)
    }

    public func guid(pid: UInt32, startTicks: UInt64) -> ProcessGuid {
        ProcessGuid(machine: machine, startTicks: startTicks, pid: pid)
    }

    /// The UTC time of a boot-clock timestamp.
    public func time(bootNanoseconds: UInt64) -> EventTime {
        EventTime(nanosecondsSinceEpoch: bootEpochNanoseconds + Int64(bootNanoseconds))
    }

    /// Sysmon for Linux's LogonGuid: the machine word and the audit login uid.
    public func logonGuid(loginUID: UInt32) -> String {
        GUIDText.format(machine, 0, loginUID)
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return s
    }
}
