/// What `swiftmon run` asks of the Linux sources.
public struct SensorOptions: Sendable {
    /// Size of the kernel ring buffer in bytes: a power of two, ≥ one page.
    public var ringBufferBytes: Int = 16 << 20
    /// Sysmon's HashAlgorithms text ("sha256,md5"), or empty for none.
    public var hashAlgorithms: String = ""
    public var verbose = false
    /// Optional probes not to load (program names, e.g. image_sys_exit).
    public var disabledProbes: [String] = []
    /// Where events come from: the eBPF sensor, the netlink/fanotify
    /// fallback, or the sensor with the fallback when it cannot load.
    public var source: SensorSource = .auto
    /// The configuration file `run` loads (as given; nil: the embedded
    /// default): protected, with the unit files and the binary (event 207).
    public var configurationPath: String?

    public init() {}
}
