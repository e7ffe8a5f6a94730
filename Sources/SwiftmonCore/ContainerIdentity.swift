/// Which container a cgroup belongs to, read from the cgroup's path on the
/// unified (v2) hierarchy, as container runtimes name their cgroups under
/// both the systemd and the cgroupfs drivers. The naming conventions are one
/// table (``ContainerIdentity/conventions``), tried on each path component
/// from the deepest up, so a cgroup nested inside a container's (a process
/// that made its own sub-cgroup) still names that container.
public struct ContainerIdentity: Sendable, Equatable {
    /// The runtime's name: docker, containerd, cri-o, podman, lxc, systemd-nspawn,
    /// or `cri` for a Kubernetes container whose cgroup names no runtime
    /// (the cgroupfs driver's bare `/kubepods/<qos>/pod<uid>/<id>`).
    public var runtime: String
    /// The runtime's full id (64 hex digits), or the container's name where the
    /// runtime names containers (lxc, systemd-nspawn).
    public var id: String
    /// The Kubernetes pod UID with dashes, as `kubectl` shows it, when the
    /// cgroup is under `kubepods`.
    public var podUID: String?

    public init(runtime: String, id: String, podUID: String? = nil) {
        self.runtime = runtime
        self.id = id
        self.podUID = podUID
    }

    /// One naming convention: a component's prefix and suffix around the id.
    struct Convention: Sendable {
        let prefix: String
        let suffix: String
        let runtime: String
        /// Whether the id must be a runtime's 64-hex-digit id (else a name).
        let hexID: Bool
    }

    /// The table, most specific first (`cri-containerd-` before a bare id).
    static let conventions: [Convention] = [
        Convention(prefix: "docker-", suffix: ".scope", runtime: "docker", hexID: true),          // systemd driver
        Convention(prefix: "cri-containerd-", suffix: ".scope", runtime: "containerd", hexID: true),
        Convention(prefix: "crio-", suffix: ".scope", runtime: "cri-o", hexID: true),
        Convention(prefix: "crio-", suffix: "", runtime: "cri-o", hexID: true),                  // cgroupfs driver
        Convention(prefix: "libpod-", suffix: ".scope", runtime: "podman", hexID: true),
        Convention(prefix: "lxc.payload.", suffix: "", runtime: "lxc", hexID: false),
        Convention(prefix: "machine-", suffix: ".scope", runtime: "systemd-nspawn", hexID: false),
    ]

    /// The container of the cgroup at `path` (relative to the hierarchy's
    /// root, with or without a leading `/`), or nil for a host cgroup.
    public static func of(cgroupPath path: String) -> ContainerIdentity? {
        let components = path.split(separator: "/").map(String.init)
        let pod = components.lazy.compactMap(podUID(fromComponent:)).first
        for (depth, component) in components.enumerated().reversed() {
            for c in conventions where component.hasPrefix(c.prefix) && component.hasSuffix(c.suffix)
                && component.count > c.prefix.count + c.suffix.count {
                let id = String(component.dropFirst(c.prefix.count).dropLast(c.suffix.count))
                if c.hexID ? isRuntimeID(id) : !id.hasPrefix("conmon-") {
                    return ContainerIdentity(runtime: c.runtime, id: c.hexID ? id : unescapeSystemd(id), podUID: pod)
                }
            }
            // cgroupfs driver: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>.
            if isRuntimeID(component), depth > 0 {
                let parent = components[depth - 1]
                if parent == "docker" { return ContainerIdentity(runtime: "docker", id: component) }
                if pod != nil, parent.hasPrefix("pod") { return ContainerIdentity(runtime: "cri", id: component, podUID: pod) }
            }
        }
        return nil
    }

    /// `pod<uid>` (cgroupfs), `kubepods-<qos>-pod<uid>.slice` or
    /// `kubepods-pod<uid>.slice` (systemd, which writes the UID's dashes as `_`).
    static func podUID(fromComponent component: String) -> String? {
        var text = Substring(component)
        if text.hasSuffix(".slice") {
            guard text.hasPrefix("kubepods-"),
                  let last = text.dropLast(".slice".count).split(separator: "-").last, last.hasPrefix("pod") else { return nil }
            text = last.dropFirst(3)
        } else {
            guard text.hasPrefix("pod") else { return nil }
            text = text.dropFirst(3)
        }
        let uid = text.replacingUnderscores()
        return isUUID(uid) ? uid : nil
    }

    static func isRuntimeID(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    static func isUUID(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    /// systemd escapes a unit name's bytes as `\xNN` (`-` as `\x2d`).
    static func unescapeSystemd(_ s: String) -> String {
        guard s.contains("\\x") else { return s }
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count, bytes[i + 1] == UInt8(ascii: "x"),
               let v = UInt8(String(decoding: bytes[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Substring {
    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? "-" : $0 })
    }
}
