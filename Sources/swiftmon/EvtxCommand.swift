import ArgumentParser
import SwiftmonCore
import SwiftmonSystem
import SwiftmonEvtx

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kind of a file to decode, by its first bytes (not its name).
enum EventFileFormat {
    case evtx, etl, unknown

    static func of(_ path: String) -> EventFileFormat {
        guard let fd = try? Syscalls.open(path, O_RDONLY) else { return .unknown }  // the decoder reports why
        defer { Syscalls.close(fd) }
        var head = [UInt8](repeating: 0, count: 8)
        guard let n = try? head.withUnsafeMutableBytes({ try Syscalls.read(fd, into: $0, path) }), n == 8 else { return .unknown }
        if head == EvtxFileHeader.magic { return .evtx }
        return .etl  // .etl has no signature of its own: its decoder checks the logfile header
    }
}

extension OutputOptions {
    /// These options as command-line arguments, to hand a file to the other decoder.
    var arguments: [String] {
        var a = ["--format", format.rawValue, "--xml-provider", xmlProvider.rawValue, "--output-keep", String(outputKeep)]
        if let output { a += ["--output", output] }
        if let outputMaxSize { a += ["--output-max-size", outputMaxSize] }
        if sysmonOnly { a.append("--sysmon-only") }
        return a
    }
}

extension Swiftmon {
    /// `swiftmon evtx FILE…`: read Windows event logs into swiftmon events.
    struct Evtx: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "evtx",
            abstract: "Read Windows event logs (.evtx) into swiftmon events.",
            discussion: """
                Every record of every chunk the file holds is read (also past the chunk count \
                of a log that was not closed cleanly). Sysmon records become the Sysmon event \
                of their EventID, field for field; Security 4688 becomes ProcessCreate, System \
                7045 ServiceInstall; every other record a WindowsEvent (ID 211) with its \
                provider, EventID, System fields and EventData. CRC32 mismatches are reported \
                on standard error; damaged chunks and records that cannot be read are counted \
                with their byte offsets and end the command with status 65, after everything \
                readable was written. With --sigma, Windows Sigma rules (process_creation and \
                the other Sysmon categories) raise a SigmaMatch event (210) for each match. A file \
                that starts like an .etl trace is decoded as one.
                """
        )

        @Argument(help: "The .evtx files.")
        var files: [String]

        @Flag(help: "Print what each file holds (records, failed records, counts per provider and EventID, problems) instead of events.")
        var summary = false

        @OptionGroup var output: OutputOptions
        @OptionGroup var sigma: SigmaOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Filter events with this Sysmon configuration file (without it every event is printed).", valueName: "file"))
        var config: String?

        @Option(help: ArgumentHelp("Also store events in this SQLite database (created 0600; read it with swiftmon query / tree).", valueName: "path"))
        var store: String?

        func validate() throws {
            if files.isEmpty { throw ValidationError("name at least one .evtx file") }
            if summary && (config != nil || store != nil) {
                throw ValidationError("--summary counts records; it takes no --config or --store")
            }
            if summary && output.format == .xml { throw ValidationError("--summary prints text or json") }
            if summary && !sigma.paths.isEmpty { throw ValidationError("--summary counts records; it takes no --sigma") }
        }

        /// The same options for `swiftmon etl`, for a file that is a trace.
        func etlArguments(_ file: String) -> [String] {
            [file] + EventFileSinks.arguments(output: output, summary: summary, config: config, store: store, sigma: sigma)
        }

        func run() throws {
            ignoreBrokenPipe()
            var status: Int32 = 0
            var sink: FanOutSink?
            for file in files where EventFileFormat.of(file) == .etl {
                // One decoder per format; a trace goes through `swiftmon etl` unchanged.
                do {
                    let etl = try Etl.parse(etlArguments(file))
                    try etl.run()
                } catch let code as ExitCode {
                    status = max(status, code.rawValue)
                }
            }
            let logs = files.filter { EventFileFormat.of($0) != .etl }
            if !summary && !logs.isEmpty {
                do { sink = try EventFileSinks.make(output: output, config: config, store: store, sigma: sigma, warn: warn).sink } catch {
                    warn("\(error)")
                    throw ExitCode(1)
                }
            }
            for file in logs {
                status = max(status, try decode(file, into: sink))
            }
            if let sink {
                sink.close()
                status = max(status, sink.outputReports.reportLosses(warn))
            }
            if status != 0 { throw ExitCode(status) }
        }

        /// Decodes one file; returns its exit status (0, 65 damaged, 66 unreadable).
        func decode(_ file: String, into sink: FanOutSink?) throws -> Int32 {
            let result: EvtxSummary
            do {
                result = try EvtxDecoder.decode(file: file, into: sink)
            } catch let e as EvtxError {
                warn("\(file): \(e)")
                return e.cannotOpen ? 66 : 65  // EX_NOINPUT / EX_DATAERR
            }
            if summary {
                var text: String
                if output.format == .json {
                    text = result.json
                    if files.count > 1 { text.removeLast(); text += ",\"file\":" + JSONString.quoted(file) + "}" }
                    text += "\n"
                } else {
                    text = (files.count > 1 ? "\(file)\n" : "") + result.table
                }
                do {
                    try Array(text.utf8).withUnsafeBytes { try Syscalls.writeAll(1, $0, "standard output") }
                } catch let error as PartialWriteError where error.errno == EPIPE {
                } catch {
                    warn("\(error)")
                    return 74  // EX_IOERR
                }
            }
            let checksums = result.problems.filter { [.fileHeaderChecksum, .chunkHeaderChecksum, .chunkRecordsChecksum].contains($0.kind) }
            let unreadable = result.problems.filter { ![.fileHeaderChecksum, .chunkHeaderChecksum, .chunkRecordsChecksum].contains($0.kind) }
            if !checksums.isEmpty {
                warn("\(file): \(checksums.count) CRC32 mismatch(es), first at \(checksums[0])")
            }
            if !unreadable.isEmpty {
                for p in unreadable.prefix(10) { warn("\(file): \(p)") }
                if unreadable.count > 10 { warn("\(file): … and \(unreadable.count - 10) more") }
                warn("\(file): \(result.records) record(s) read, \(result.recordsFailed) record(s) could not be read, \(result.totals.chunksDamaged + result.totals.chunksTruncated) chunk(s) damaged")
                return 65
            }
            return 0
        }
    }
}

private func warn(_ message: String) {
    // Best effort: stderr is where a failure would be reported.
    _ = try? Array("swiftmon: \(message)\n".utf8).withUnsafeBytes { try Syscalls.writeAll(2, $0, "standard error") }
}
