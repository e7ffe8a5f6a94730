import ArgumentParser
import Glibc
import SwiftmonCore
import SwiftmonSinks
import SwiftmonStore
import SwiftmonSystem

/// How events are written: shared by every command that prints events.
struct OutputOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, xml
    }

    @Option(name: .long, help: "Output format: text (one readable line per event), json (one JSON object per line, every field in schema order) or xml (one Sysmon <Event> document per line, as Sysmon for Linux writes to syslog).")
    var format: Format = .text

    @Option(name: [.short, .long], help: ArgumentHelp("Append events to this file (created with mode 0600) instead of standard output.", valueName: "file"))
    var output: String?

    @Option(name: .customLong("output-max-size"), help: ArgumentHelp("Rotate the --output file when it would grow past this size (e.g. 100M, 1G): it becomes FILE.1, FILE.1 becomes FILE.2 …, between whole events. SIGUSR1 reopens FILE (for logrotate).", valueName: "size"))
    var outputMaxSize: String?

    @Option(name: .customLong("output-keep"), help: ArgumentHelp("Rotated files to keep (FILE.1 … FILE.N).", valueName: "N"))
    var outputKeep: Int = 5

    func validate() throws {
        if let s = outputMaxSize {
            guard DestinationOptions.bytes(s) != nil else {
                throw ValidationError("--output-max-size: '\(s)' is not a size such as 100M or 1G")
            }
            guard output != nil else { throw ValidationError("--output-max-size needs --output FILE") }
        }
        guard outputKeep >= 1 else { throw ValidationError("--output-keep must be 1 or more") }
    }

    /// The file output for `--output`, with its rotation.
    func fileOutput(_ path: String) throws -> FileOutput {
        let rotation = outputMaxSize.flatMap(DestinationOptions.bytes).map { FileOutput.Rotation(maxBytes: $0, keep: outputKeep) }
        return try FileOutput(path: path, rotation: rotation)
    }

    @Option(name: .customLong("xml-provider"), help: ArgumentHelp("Provider in XML and syslog output: sysmon (Linux-Sysmon and its GUID, for parsers of Sysmon for Linux) or swiftmon.", valueName: "name"))
    var xmlProvider: XMLProvider = .sysmon

    enum XMLProvider: String, ExpressibleByArgument, CaseIterable { case sysmon, swiftmon }

    @Flag(name: .customLong("sysmon-only"), help: "Leave events with swiftmon's own EventIDs (100 eBPFEvent, 200 and up) out of the Sysmon-format outputs (--format xml, --syslog), for consumers that know only Sysmon's IDs; they are counted as left out, not lost. Without it they go out under the swiftmon tag and provider.")
    var sysmonOnly = false

    var xmlHeader: SysmonXMLHeader {
        xmlProvider == .sysmon ? SysmonXMLHeader() : SysmonXMLHeader.swiftmon()
    }

    /// The sink for `--format`/`--output`. XML record ids come from `recordIDs`.
    func makeSink(recordIDs: EventRecordCounter = EventRecordCounter(startingAt: 1)) throws -> EventSink & DeliveryReporting {
        switch format {
        case .xml:
            let renderer = SysmonXMLRenderer(header: xmlHeader)
            let sink = try output.map { XMLSink(output: try fileOutput($0), renderer: renderer, recordIDs: recordIDs) }
                ?? XMLSink(fileDescriptor: 1, renderer: renderer, recordIDs: recordIDs)
            return sysmonOnly ? SysmonOnlySink(sink) : sink
        case .text, .json:
            let out = try output.map { try fileOutput($0) } ?? FileOutput(descriptor: 1)
            if format == .text { return TextSink(output: out) }
            return JSONLinesSink(output: out)
        }
    }
}

/// Where a live run also sends its events: the store and syslog.
struct DestinationOptions: ParsableArguments {
    @Option(name: .customLong("store"), help: ArgumentHelp("Also write every event into this SQLite store (created 0600; read it with swiftmon query / tree).", valueName: "path"))
    var store: String?

    @Option(name: .customLong("store-max-size"), help: ArgumentHelp("Delete the oldest events to keep the store under this size (e.g. 500M, 2G).", valueName: "size"))
    var storeMaxSize: String?

    @Option(name: .customLong("store-max-age"), help: ArgumentHelp("Delete events older than this (e.g. 90m, 12h, 7d).", valueName: "age"))
    var storeMaxAge: String?

    @Option(name: .customLong("syslog"), help: ArgumentHelp("Also send Sysmon XML to syslog: /dev/log (local daemon), tcp://HOST:PORT (RFC 5424, octet-counted frames), tls://HOST:PORT (the same over TLS 1.2+, RFC 5425; port 6514 by default) or relp://HOST:PORT (acknowledged: exact loss counts). Repeatable.", valueName: "destination"))
    var syslog: [String] = []

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("CA certificates (PEM) that tls:// syslog collectors' certificates must chain to; default: the system's store. The collector's certificate must also name the HOST given.", valueName: "file"))
    var tlsCA: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("This sensor's certificate chain (PEM) for tls:// collectors that ask for one (mutual TLS); with --tls-key.", valueName: "file"))
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The private key (PEM) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Where the persistent EventRecordID counters are kept (default /var/lib/swiftmon): one per output (XML, each syslog destination), so a gap in a stream's ids shows a loss. Given (as the service does), remote syslog destinations also spool under DIR/spool.", valueName: "dir"))
    var stateDirectoryOption: String?

    var stateDirectory: String { stateDirectoryOption ?? "/var/lib/swiftmon" }

    @Option(name: .customLong("spool"), help: ArgumentHelp("Durable on-disk spool for events bound for remote syslog collectors (tcp://, tls://, relp://): each destination has its own queue and cursor under DIR (0700, files 0600), so a collector that is away or a restart (even kill -9) loses nothing. Default: STATE-DIR/spool when --state-dir is given (as the service runs); otherwise, without --spool, events wait in a bounded in-memory buffer (10,000 events, 32 MiB) that a restart loses.", valueName: "dir"))
    var spool: String?

    @Option(name: .customLong("spool-max-size"), help: ArgumentHelp("Largest size of the spool (e.g. 512M, 2G; default 512M), shared evenly by the remote destinations; when full, the oldest unsent events are dropped and counted (spoolFull).", valueName: "size"))
    var spoolMaxSize: String?

    /// The spool folder in force: `--spool`, else STATE-DIR/spool when `--state-dir` was given.
    var spoolDirectory: String? { spool ?? stateDirectoryOption.map { $0 + "/spool" } }

    func validate() throws {
        if let s = storeMaxSize, DestinationOptions.bytes(s) == nil {
            throw ValidationError("--store-max-size: '\(s)' is not a size such as 500M or 2G")
        }
        if let a = storeMaxAge, DestinationOptions.seconds(a) == nil {
            throw ValidationError("--store-max-age: '\(a)' is not an age such as 90m, 12h or 7d")
        }
        let destinations = try syslog.map { try SyslogDestination(parsing: $0) }
        if tlsCA != nil || tlsCertificate != nil || tlsKey != nil {
            guard destinations.contains(where: { if case .tls = $0 { return true } else { return false } }) else {
                throw ValidationError("--tls-ca, --tls-cert and --tls-key apply to tls:// syslog destinations, and none is given")
            }
        }
        guard (tlsCertificate == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        if let s = spoolMaxSize {
            guard let bytes = DestinationOptions.bytes(s) else {
                throw ValidationError("--spool-max-size: '\(s)' is not a size such as 512M or 2G")
            }
            guard bytes >= 128 << 10 else { throw ValidationError("--spool-max-size must be at least 128K") }
            guard spoolDirectory != nil else { throw ValidationError("--spool-max-size needs --spool DIR (or --state-dir)") }
        }
        if (storeMaxSize != nil || storeMaxAge != nil) && store == nil {
            throw ValidationError("--store-max-size and --store-max-age need --store")
        }
    }

    /// The persistent record-id counter of one output, in the state folder
    /// (created 0700 when missing).
    func recordCounter(for output: String) throws -> EventRecordCounter {
        mkdir(stateDirectory, 0o700)
        return try EventRecordCounter(stateFile: stateDirectory + "/" + DestinationOptions.fileName(output) + ".record-id")
    }

    /// `sysmonOnly`: the syslog outputs leave swiftmon's own EventIDs out (``SysmonOnlySink``).
    func makeSinks(header: SysmonXMLHeader, sysmonOnly: Bool = false) throws -> [EventSink] {
        var sinks: [EventSink] = []
        if let store {
            var options = StoreSink.Options()
            options.maxSize = storeMaxSize.flatMap(DestinationOptions.bytes)
            options.maxAge = storeMaxAge.flatMap(DestinationOptions.seconds)
            sinks.append(try StoreSink(path: store, options: options))
        }
        // One TLS context for every tls:// destination, made now: an unreadable
        // CA, certificate or key stops the start instead of every connection.
        var tls: SyslogTLSContext?
        if syslog.contains(where: { $0.hasPrefix("tls://") }) {
            tls = try SyslogTLSContext(caFile: tlsCA, certificateFile: tlsCertificate, keyFile: tlsKey)
        }
        let destinations = try syslog.map { try SyslogDestination(parsing: $0) }
        let spooled = destinations.filter(DestinationOptions.isSpooled)
        for destination in destinations {
            var options = SyslogSink.Options()
            options.renderer = SysmonXMLRenderer(header: header)
            options.tls = tls
            // A collector that refuses us (a certificate refused, a connection
            // refused) is said once on stderr; the status keeps the last error.
            options.reportError = { message in
                let line = Array("swiftmon: \(message)\n".utf8)
                // Best effort: a closed stderr must not stop the writer; the status keeps the error.
                line.withUnsafeBytes { try? Syscalls.writeAll(2, $0) }
            }
            let recordIDs = try recordCounter(for: "syslog-\(destination)")
            let sink: SyslogSink
            if let spoolDirectory, DestinationOptions.isSpooled(destination) {
                var spoolOptions = DiskSpool.Options()
                let total = spoolMaxSize.flatMap(DestinationOptions.bytes) ?? spoolOptions.maxBytes
                spoolOptions.maxBytes = max(64 << 10, total / Int64(spooled.count))
                let spool = try DiskSpool(directory: spoolDirectory + "/" + DestinationOptions.fileName("syslog-\(destination)"),
                                          options: spoolOptions)
                sink = SyslogSink(destination: destination, options: options, recordIDs: recordIDs, spool: spool)
            } else {
                sink = SyslogSink(destination: destination, options: options, recordIDs: recordIDs)
            }
            sinks.append(sysmonOnly ? SysmonOnlySink(sink) : sink)
        }
        return sinks
    }

    /// Remote collectors go through the spool; the local socket (/dev/log) does not.
    static func isSpooled(_ destination: SyslogDestination) -> Bool {
        if case .local = destination { return false }
        return true
    }

    /// A name for a file or folder from an output's description.
    static func fileName(_ output: String) -> String {
        String(output.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" })
    }

    static func bytes(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var t = text.uppercased()
        if t.hasSuffix("B") { t.removeLast() }
        var scale: Int64 = 1
        if let last = t.last, let u = units[last] { scale = u; t.removeLast() }
        guard let n = Int64(t), n > 0 else { return nil }
        return n.multipliedReportingOverflow(by: scale).overflow ? nil : n * scale
    }

    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        var t = text.lowercased()
        var scale: Double = 1
        if let last = t.last, let u = units[last] { scale = u; t.removeLast() }
        guard let n = Double(t), n > 0, n.isFinite else { return nil }
        return n * scale
    }
}

/// A reader that goes away (`swiftmon query | head`) must not kill swiftmon
/// with SIGPIPE: the write fails with EPIPE instead, and the command ends or,
/// for a live run, counts the loss and keeps its other outputs.
func ignoreBrokenPipe() {
    signal(SIGPIPE, SIG_IGN)
}


extension Array where Element == OutputReport {
    /// Says on standard error (through `warn`) which outputs could not write
    /// everything, with the count per cause; returns the exit status this
    /// calls for: 74 (EX_IOERR) when events were lost to a failure (a full
    /// disk, an I/O error), 0 when nothing was lost or only to a reader that
    /// went away (EPIPE: `swiftmon etl FILE | head` has what it asked for).
    func reportLosses(_ warn: (String) -> Void) -> Int32 {
        var status: Int32 = 0
        for report in self where report.counts.droppedTotal > 0 {
            warn(report.counts.summary(name: report.name))
            if report.counts.dropped.contains(where: { $0.key != "EPIPE" && $0.value > 0 }) { status = 74 }
        }
        return status
    }
}
