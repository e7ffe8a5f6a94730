@preconcurrency import Glibc  // for `stderr`, which libc sets before main and never reassigns
import SwiftmonCore
import SwiftmonSystem

/// An event source of this machine's kernel, woken through descriptors that
/// the event loop waits on.
public protocol LinuxEventSource: EventSource {
    /// Descriptors that become readable when the source has records.
    func readinessDescriptors() throws -> [Int32]
    /// The kernel ring buffer's size and the bytes read from it so far; nil
    /// for a source without one (the event loop then keeps its base pause).
    var ringBufferUse: (capacityBytes: Int, bytesRead: UInt64)? { get }
}

extension LinuxEventSource {
    public var ringBufferUse: (capacityBytes: Int, bytesRead: UInt64)? { nil }
}

/// Opens the sources `swiftmon run` asked for: the eBPF sensor, or the
/// netlink/fanotify fallback by choice or, under `--source auto`, when the
/// sensor cannot load. Throws ``SensorError`` naming the stage.
public enum LinuxEventSources {
    /// Checks what a live session needs before anything is loaded, so a
    /// missing requirement stops `swiftmon run` at once with what to do.
    public static func checkRequirements(source: SensorSource = .ebpf) -> String? {
        if geteuid() != 0 {
            return "swiftmon run needs root: it loads eBPF programs into the kernel. Run it as root (sudo swiftmon run)."
        }
        if source == .ebpf, access("/sys/kernel/btf/vmlinux", R_OK) != 0 {
            return "this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): swiftmon's eBPF sensor needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or later)."
        }
        return nil
    }

    public static func open(_ options: SensorOptions) throws -> LinuxEventSource {
        // The sensor runs for months through bursts of tens of thousands of
        // processes. glibc raises its mmap threshold to the size of each
        // mmap'd block freed (up to 32 MiB): after the process cache's table
        // of a first burst was freed, the next burst's tables and queues went
        // to the heap, which kept 25 MiB after the processes had exited
        // (scripts/bench-memory.sh). Fixed, blocks of 256 KiB or more are
        // mapped and unmapped on their own, and the heap's free top goes back
        // past 1 MiB. Smaller blocks (events, batches) stay on the heap.
        Syscalls.fixAllocatorThresholds(mmapThreshold: 256 << 10, trimThreshold: 1 << 20)
        let hasher = try options.hashAlgorithms.isEmpty
            ? nil : FileHasher(algorithms: FileHasher.parse(options.hashAlgorithms))
        let host = HostIdentity.ofThisMachine()
        if options.source == .netlink {
            return try FallbackSources(host: host, hasher: hasher, reason: "chosen with --source netlink", verbose: options.verbose)
        }
        do {
            return try BPFEventSource(options: options, host: host, hasher: hasher)
        } catch let error as SensorError where options.source == .auto && error.stage != .configure {
            fputs("swiftmon: the eBPF sensor cannot start (\(error)); using the netlink and fanotify fallback\n", stderr)
            return try FallbackSources(host: host, hasher: hasher, reason: "eBPF sensor failed: \(error.stage.rawValue)",
                                       verbose: options.verbose)
        }
    }
}

extension HostIdentity {
    /// This machine's identity for ProcessGuids: the first 32 bits of the
    /// machine id, clock ticks per second, and when it booted.
    public static func ofThisMachine() -> HostIdentity {
        var machine: UInt32 = 0
        for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
            if let bytes = ProcFile.read(path, limit: 64),
               let word = HostIdentity.machineWord(fromMachineID: String(decoding: bytes, as: UTF8.self)) {
                machine = word
                break
            }
        }
        let ticks = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        let offset = Syscalls.clockNanoseconds(CLOCK_REALTIME) - Syscalls.clockNanoseconds(CLOCK_BOOTTIME)
        return HostIdentity(machine: machine, ticksPerSecond: ticks, bootEpochNanoseconds: offset)
    }
}
