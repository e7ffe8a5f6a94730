/// Where a process runs: its cgroup on the unified hierarchy, the container
/// that cgroup names (if any) and its pid, mount and network namespaces, as
/// the values events show. One instance is shared by every process with the
/// same cgroup and namespaces, formatted once, so that each event of a process
/// only copies references (see ``Event/setContainer(_:pid:containerPid:)``).
public final class ProcessContainer: Sendable {
    /// The fields swiftmon adds after Sysmon's to every event that has a
    /// process, in this order.
    public static let fieldNames = [
        "ContainerId", "ContainerRuntime", "PodUid", "CgroupPath",
        "PidNamespace", "MntNamespace", "NetNamespace", "ContainerProcessId",
    ]

    /// The container, or nil for a process on the host.
    public let identity: ContainerIdentity?
    /// The cgroup's path relative to the hierarchy root (`/` for the root), or
    /// nil when it could not be resolved (the cgroup is already gone).
    public let cgroupPath: String?
    public let pidNamespace: UInt32
    public let mntNamespace: UInt32
    public let netNamespace: UInt32

    /// The values of the first seven fields of ``fieldNames``.
    let values: [String]

    public init(identity: ContainerIdentity?, cgroupPath: String?, pidNamespace: UInt32, mntNamespace: UInt32,
                netNamespace: UInt32) {
        self.identity = identity
        self.cgroupPath = cgroupPath
        self.pidNamespace = pidNamespace
        self.mntNamespace = mntNamespace
        self.netNamespace = netNamespace
        func inode(_ n: UInt32) -> String { n == 0 ? Event.absent : String(n) }
        values = [
            identity?.id ?? Event.absent, identity?.runtime ?? Event.absent, identity?.podUID ?? Event.absent,
            cgroupPath.map { $0.isEmpty ? Event.absent : $0 } ?? Event.absent,
            inode(pidNamespace), inode(mntNamespace), inode(netNamespace),
        ]
    }

    /// The container's id, or `-` on the host.
    public var containerID: String { values[0] }
}

extension Event {
    /// Sets the container fields of an event of a process: `containerPid` is
    /// the process's id in its own pid namespace, shown only where it differs
    /// from `pid`. No work for kinds without the fields.
    public mutating func setContainer(_ container: ProcessContainer?, pid: UInt32, containerPid: UInt32) {
        guard let start = kind.containerFieldsStart else { return }
        if let container {
            for (k, value) in container.values.enumerated() { self[start + k] = value }
        }
        if containerPid != 0, containerPid != pid { self[start + 7] = String(containerPid) }
    }
}
