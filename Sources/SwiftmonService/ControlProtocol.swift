import Foundation
import SwiftmonCore

/// The control socket's protocol: the client writes one command on one line
/// (`status` or `reload`), the sensor answers with one JSON object on one
/// line and closes the connection. Only root may connect (the socket is
/// 0600 in a 0700 folder, and the sensor checks the peer's uid).
public enum ControlCommand: String, Sendable, CaseIterable {
    /// What the sensor is doing: ``SensorStatus``.
    case status
    /// Read the configuration file again, as SIGHUP does; answers with the outcome.
    case reload
}

/// `swiftmon service status`'s data, as the running sensor reports it.
public struct SensorStatus: Codable, Sendable, Equatable {
    public var version: String
    public var pid: Int32
    public var uptimeSeconds: Double
    /// The configuration file in force (or `<embedded default>`) and its SHA256.
    public var configuration: ConfigurationState?
    /// The sources and probes: attached, skipped (with why), idle.
    public var sources: String
    /// Events handed to the outputs: in all, per EventName, and over the last second.
    public var events: UInt64
    public var eventsByKind: [String: UInt64]
    public var eventsPerSecond: Double
    public var eventsPerSecondByKind: [String: Double]
    public var filteredOut: UInt64
    /// Losses per cause ("kernel ring buffer full", "event queue full", …) and what within it.
    public var losses: [String: [String: UInt64]]
    public var outputs: [OutputState]
    /// Events waiting between the reader and the outputs, and the most that may.
    public var queueDepth: Int
    public var queueCapacity: Int
    /// The source's own counters (files hashed, hashes late), by name; absent from older sensors.
    public var sourceCounters: [String: UInt64]?
    /// Per kernel record kind: generated (the kernel's count), read, lost in
    /// the kernel; absent from older sensors and from sources without them.
    public var kernelRecords: [String: RecordAccount]?

    public init(version: String, pid: Int32, uptimeSeconds: Double, configuration: ConfigurationState?, sources: String,
                events: UInt64, eventsByKind: [String: UInt64], eventsPerSecond: Double,
                eventsPerSecondByKind: [String: Double], filteredOut: UInt64, losses: [String: [String: UInt64]],
                outputs: [OutputState], queueDepth: Int, queueCapacity: Int, sourceCounters: [String: UInt64]? = nil,
                kernelRecords: [String: RecordAccount]? = nil) {
        self.sourceCounters = sourceCounters
        self.kernelRecords = kernelRecords
        self.version = version
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.configuration = configuration
        self.sources = sources
        self.events = events
        self.eventsByKind = eventsByKind
        self.eventsPerSecond = eventsPerSecond
        self.eventsPerSecondByKind = eventsPerSecondByKind
        self.filteredOut = filteredOut
        self.losses = losses
        self.outputs = outputs
        self.queueDepth = queueDepth
        self.queueCapacity = queueCapacity
    }

    public struct ConfigurationState: Codable, Sendable, Equatable {
        public var path: String
        /// `SHA256=…`, as event 16 and Sysmon's ConfigurationFileHash write it.
        public var sha256: String
        public init(path: String, sha256: String) {
            self.path = path
            self.sha256 = sha256
        }
    }

    public struct OutputState: Codable, Sendable, Equatable {
        public var name: String
        public var accepted: UInt64
        public var delivered: UInt64
        public var pending: UInt64
        /// Lost events per cause (ENOSPC, EPIPE, buffer full, …).
        public var lost: [String: UInt64]
        public var lastError: String?
        public init(name: String, accepted: UInt64, delivered: UInt64, pending: UInt64, lost: [String: UInt64],
                    lastError: String?) {
            self.name = name
            self.accepted = accepted
            self.delivered = delivered
            self.pending = pending
            self.lost = lost
            self.lastError = lastError
        }
    }

    /// The status as an administrator reads it (`swiftmon service status`).
    public var text: String {
        var lines: [String] = []
        lines.append("swiftmon \(version), pid \(pid), up \(Self.duration(uptimeSeconds))")
        if let configuration {
            lines.append("configuration: \(configuration.path) (\(configuration.sha256))")
        }
        lines.append("sources: \(sources)")
        lines.append("events: \(events) to the outputs, \(Self.rate(eventsPerSecond))/s over the last second, "
                     + "\(filteredOut) filtered out")
        for name in eventsByKind.keys.sorted() {
            lines.append("  \(name): \(eventsByKind[name] ?? 0) (\(Self.rate(eventsPerSecondByKind[name] ?? 0))/s)")
        }
        let lost = losses.values.reduce(0) { $0 + $1.values.reduce(0, +) }
        lines.append("lost: \(lost)")
        for cause in losses.keys.sorted() {
            let parts = (losses[cause] ?? [:]).filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            if !parts.isEmpty { lines.append("  \(cause): " + parts.joined(separator: " ")) }
        }
        lines.append("queue: \(queueDepth) of \(queueCapacity)")
        if let records = kernelRecords, !records.isEmpty {
            lines.append("kernel records: generated = read + lost in the kernel (+ in the ring buffer)")
            for kind in records.keys.sorted() where (records[kind]?.generated ?? 0) > 0 {
                lines.append("  " + RecordAccount.describe(kind, records[kind]!))
            }
        }
        if let counters = sourceCounters, !counters.isEmpty {
            lines.append("source: " + counters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        for output in outputs {
            var line = "output \(output.name): \(output.accepted) accepted, \(output.delivered) written, \(output.pending) pending"
            let lostParts = output.lost.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            line += lostParts.isEmpty ? ", 0 lost" : ", lost " + lostParts.joined(separator: " ")
            if let error = output.lastError { line += "; last error: \(error)" }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func rate(_ value: Double) -> String { String((value * 10).rounded() / 10) }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\((s % 3600) / 60)m" }
        return "\(s / 86400)d\((s % 86400) / 3600)h"
    }
}

/// The sensor's one-line answer.
public struct ControlResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public var command: String
    /// Why the command failed (unknown command, refused configuration, …).
    public var error: String?
    /// For `status`.
    public var status: SensorStatus?
    /// For `reload`: the configuration in force afterwards.
    public var configuration: SensorStatus.ConfigurationState?

    public init(ok: Bool, command: String, error: String? = nil, status: SensorStatus? = nil,
                configuration: SensorStatus.ConfigurationState? = nil) {
        self.ok = ok
        self.command = command
        self.error = error
        self.status = status
        self.configuration = configuration
    }

    /// One line of JSON (JSON escapes every control character, so the
    /// answer cannot span lines whatever a path holds).
    public func encodedLine() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
        } catch {
            // Every field is a string, number or dictionary of them: not reached.
            return Array("{\"ok\":false,\"command\":\"\(command)\",\"error\":\"cannot encode the answer\"}\n".utf8)
        }
    }

    public static func decode(_ line: [UInt8]) throws -> ControlResponse {
        try JSONDecoder().decode(ControlResponse.self, from: Data(line))
    }
}
