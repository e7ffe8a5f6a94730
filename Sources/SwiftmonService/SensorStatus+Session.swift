#if canImport(Glibc)
import Glibc
#endif
import SwiftmonCore

extension SensorStatus {
    /// The status of a running session, `uptimeSeconds` after it started.
    public init(session: MonitorSession, uptimeSeconds: Double) {
        let tally = session.pipeline.tally
        let name = { (id: Int) in EventKind.withID(id)?.name ?? String(id) }
        var losses: [String: [String: UInt64]] = [:]
        for (cause, byKind) in session.pipeline.losses.snapshot() { losses[cause.rawValue] = byKind }
        self.init(
            version: session.options.version,
            pid: getpid(),
            uptimeSeconds: uptimeSeconds,
            configuration: session.configurationInUse.map { ConfigurationState(path: $0.name, sha256: $0.hash) },
            sources: session.source.sourceDescription,
            events: tally.dispatched,
            eventsByKind: Dictionary(tally.dispatchedByKind.map { (name($0.key), $0.value) }, uniquingKeysWith: +),
            eventsPerSecond: session.ratePerSecond,
            eventsPerSecondByKind: Dictionary(session.ratePerSecondByKind.map { (name($0.key), $0.value) }, uniquingKeysWith: +),
            filteredOut: tally.filteredOut,
            losses: losses,
            outputs: session.pipeline.outputReports.map { report in
                OutputState(name: report.name, accepted: report.counts.accepted, delivered: report.counts.delivered,
                            pending: report.counts.pending, lost: report.counts.dropped, lastError: report.lastError)
            },
            queueDepth: tally.queued,
            queueCapacity: session.pipeline.capacity,
            sourceCounters: session.source.sourceCounters(),
            kernelRecords: session.source.recordAccounts())
    }
}

extension MonitorSession {
    /// Answers a control command: the status, or a reload (as SIGHUP does;
    /// `aroundReload` lets the loop tell systemd RELOADING=1 / READY=1).
    public func answer(_ command: ControlCommand, uptimeSeconds: Double,
                       aroundReload: (() throws -> ReloadOutcome) throws -> ReloadOutcome) -> ControlResponse {
        switch command {
        case .status:
            return ControlResponse(ok: true, command: command.rawValue,
                                   status: SensorStatus(session: self, uptimeSeconds: uptimeSeconds))
        case .reload:
            let outcome: ReloadOutcome
            do {
                outcome = try aroundReload { try self.reload() }
            } catch {
                return ControlResponse(ok: false, command: command.rawValue, error: "\(error)")
            }
            let current = configurationInUse.map { SensorStatus.ConfigurationState(path: $0.name, sha256: $0.hash) }
            switch outcome {
            case .reloaded:
                return ControlResponse(ok: true, command: command.rawValue, configuration: current)
            case .rejected(let message):
                return ControlResponse(ok: false, command: command.rawValue,
                                       error: "configuration refused, the previous rules stay: \(message)", configuration: current)
            case .nothingToReload:
                return ControlResponse(ok: false, command: command.rawValue,
                                       error: "the sensor runs with the embedded default configuration: no file to re-read",
                                       configuration: current)
            }
        }
    }
}
