import Glibc
import SwiftmonCore

/// What this machine supports, for `swiftmon sources`: each source and probe
/// tried for real (loaded, attached, opened), then released.
public enum SourceSupport {
    public struct Line: Sendable {
        public let name: String
        public let available: Bool
        public let detail: String
    }

    public static func probe() -> [Line] {
        var lines: [Line] = []
        let root = geteuid() == 0
        lines.append(Line(name: "root", available: root, detail: root ? "yes" : "swiftmon run needs root"))
        let btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0
        lines.append(Line(name: "kernel BTF", available: btf, detail: btf ? "/sys/kernel/btf/vmlinux" : "missing: no eBPF sensor (CONFIG_DEBUG_INFO_BTF)"))

        if root, btf {
            do {
                let sensor = try BPFSensor(ringBufferBytes: 1 << 20)
                try sensor.load()
                try sensor.attach()
                for program in sensor.attachedPrograms {
                    lines.append(Line(name: "ebpf " + program, available: true, detail: BPFSensor.isRequired(program) ? "required" : "optional"))
                }
                for skipped in sensor.skippedPrograms {
                    lines.append(Line(name: "ebpf " + skipped.name, available: false, detail: skipped.reason))
                }
                sensor.close()
            } catch {
                lines.append(Line(name: "ebpf sensor", available: false, detail: "\(error)"))
            }
        }

        let builder = ProcessEventBuilder(host: HostIdentity.ofThisMachine(), users: UserNames(), hasher: nil)
        do {
            _ = try NetlinkProcessSource(processes: builder)
            lines.append(Line(name: "netlink proc connector", available: true, detail: "fallback process source"))
        } catch {
            lines.append(Line(name: "netlink proc connector", available: false, detail: "\(error)"))
        }
        do {
            let files = try FanotifyFileSource(processes: builder)
            lines.append(Line(name: "fanotify", available: true, detail: "fallback file source on " + files.markedFileSystems.joined(separator: ", ")))
        } catch {
            lines.append(Line(name: "fanotify", available: false, detail: "\(error)"))
        }
        return lines
    }
}
