/// A process's identity across its events: stable for the life of one process,
/// different after its PID is reused, and the same whichever source saw it.
///
/// Layout `{MMMMMMMM-TTTT-TTTT-TTTT-TTTTPPPPPPPP}`: the first 32 bits of the
/// machine id, the process start time in clock ticks since boot (64 bits, as
/// `/proc/PID/stat` field 22 gives it, so a process seen first in the start-up
/// scan and later by the kernel gets the same GUID), and the process id.
public struct ProcessGuid: Sendable, Hashable, CustomStringConvertible {
    public let machine: UInt32
    public let startTicks: UInt64
    public let pid: UInt32

    public init(machine: UInt32, startTicks: UInt64, pid: UInt32) {
        self.machine = machine
        self.startTicks = startTicks
        self.pid = pid
    }

    public var description: String {
        var s = "{"
        s += hex(UInt64(machine), 8) + "-"
        s += hex(startTicks >> 48, 4) + "-" + hex((startTicks >> 32) & 0xFFFF, 4) + "-"
        s += hex((startTicks >> 16) & 0xFFFF, 4) + "-" + hex(startTicks & 0xFFFF, 4)
        s += hex(UInt64(pid), 8) + "}"
        return s
    }

    private func hex(_ v: UInt64, _ width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
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
        let m = String(machine, radix: 16)
        let l = String(loginUID, radix: 16)
        return "{" + String(repeating: "0", count: 8 - m.count) + m + "-0000-0000-0000-"
            + String(repeating: "0", count: 12 - l.count) + l + "}"
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
