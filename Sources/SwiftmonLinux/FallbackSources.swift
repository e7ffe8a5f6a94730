import Glibc
import SwiftmonCore

/// Where `swiftmon run` takes its events from.
public enum SensorSource: String, Sendable, CaseIterable {
    /// The eBPF sensor; the fallback when it cannot load.
    case auto
    /// The eBPF sensor only: a failure to load stops start-up.
    case ebpf
    /// The netlink process connector and fanotify, without BPF.
    case netlink
}

/// The sources used without BPF: processes from the netlink process
/// connector (required), files from fanotify (optional: reported when it
/// cannot start).
final class FallbackSources: CustomStringConvertible {
    let processes: NetlinkProcessSource
    let files: FanotifyFileSource?
    let reason: String
    let filesProblem: String?

    init(processes builder: ProcessEventBuilder, reason: String) throws {
        do {
            processes = try NetlinkProcessSource(processes: builder)
        } catch {
            throw SensorError(stage: .open, probe: "netlink proc connector", message: "\(error)", libbpfLog: [])
        }
        var problem: String?
        do {
            files = try FanotifyFileSource(processes: builder)
        } catch {
            files = nil
            problem = "\(error)"
        }
        filesProblem = problem
        self.reason = reason
    }

    var descriptors: [Int32] { [processes.descriptor] + (files.map { [$0.descriptor] } ?? []) }

    func drain(into out: inout [Event]) {
        processes.drain(into: &out)
        files?.drain(into: &out)
    }

    /// For event 4's Sources and -v.
    var description: String {
        var text = "netlink(proc connector)"
        if let files {
            text += " fanotify(" + files.markedFileSystems.joined(separator: ",") + ")"
        } else if let filesProblem {
            text += " skipped(fanotify (\(filesProblem)))"
        }
        return text + " [\(reason)]"
    }
}
