@preconcurrency import Glibc  // for `stderr`, which libc sets before main and never reassigns
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
final class FallbackSources: LinuxEventSource {
    let processes: NetlinkProcessSource
    let files: FanotifyFileSource?
    let reason: String
    let filesProblem: String?
    private let builder: ProcessEventBuilder
    private var records: UInt64 = 0

    init(host: HostIdentity, hasher: FileHasher?, reason: String, verbose: Bool) throws {
        let users = UserNames()
        users.refreshIfChanged()
        builder = ProcessEventBuilder(host: host, users: users, hasher: hasher)
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
        let seeded = builder.seed(with: builder.scanner())
        if verbose {
            fputs("swiftmon: sources: \(sourceDescription); \(seeded) running processes in the cache\n", stderr)
        }
    }

    func readinessDescriptors() throws -> [Int32] { [processes.descriptor] + (files.map { [$0.descriptor] } ?? []) }

    func read(into events: inout [Event]) throws {
        let before = events.count
        processes.drain(into: &events)
        files?.drain(into: &events)
        records += UInt64(events.count - before)
    }

    var recordsRead: UInt64 { records }

    func sourceLosses() -> [LossCause: [String: UInt64]] {
        var out: [LossCause: [String: UInt64]] = [:]
        if processes.overflows > 0 { out[.kernelBufferFull, default: [:]]["netlink queue overflows"] = processes.overflows }
        if processes.malformed > 0 { out[.malformedRecord, default: [:]]["netlink message"] = processes.malformed }
        if let files, files.readErrors > 0 { out[.kernelBufferFull, default: [:]]["fanotify read errors"] = files.readErrors }
        return out
    }

    func tick() { builder.users.refreshIfChanged() }

    func sourceCounters() -> [String: UInt64] { builder.hasher?.counters.named ?? [:] }

    func stop() { builder.hasher?.stop() }

    /// For event 4's Sources and -v.
    var sourceDescription: String {
        var text = "netlink(proc connector)"
        if let files {
            text += " fanotify(" + files.markedFileSystems.joined(separator: ",") + ")"
        } else if let filesProblem {
            text += " skipped(fanotify (\(filesProblem)))"
        }
        return text + " [\(reason)]"
    }
}
