import ArgumentParser
import SwiftmonCore
import SwiftmonSystem
import SwiftmonETL
import SwiftmonStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Swiftmon {
    /// `swiftmon etl FILE`: decode a Windows ETW trace into swiftmon events.
    struct Etl: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "etl",
            abstract: "Decode a Windows ETW trace (.etl) into swiftmon events.",
            discussion: """
                Every record of the file is decoded: kernel process, thread, image, file, \
                network and registry events become Sysmon-schema events; every other record \
                becomes a TraceEvent (ID 204). Events lost and buffers lost, as the trace \
                recorded them, are always reported on standard error. A damaged file ends \
                with an error naming the byte offset, after everything decodable was printed.
                """
        )

        @Argument(help: "The .etl file.")
        var file: String

        @Flag(help: "Print what the file holds (header facts and counts per provider and event) instead of events.")
        var summary = false

        @OptionGroup var output: OutputOptions
        @OptionGroup var sigma: SigmaOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Filter events with this Sysmon configuration file (without it every event is printed).", valueName: "file"))
        var config: String?

        @Option(help: ArgumentHelp("Also store events in this SQLite database (created 0600; read it with swiftmon query / tree).", valueName: "path"))
        var store: String?

        @Option(help: "Record order: time (merged across processors, as Windows delivers them) or file.")
        var order: RecordOrder = .time

        enum RecordOrder: String, ExpressibleByArgument { case time, file }

        func validate() throws {
            if summary && (config != nil || store != nil) {
                throw ValidationError("--summary counts records; it takes no --config or --store")
            }
            if summary && output.format == .xml { throw ValidationError("--summary prints text or json") }
            if summary && !sigma.paths.isEmpty { throw ValidationError("--summary counts records; it takes no --sigma") }
        }

        /// The same options for `swiftmon evtx`, for a file that is an event log.
        var evtxArguments: [String] {
            [file] + EventFileSinks.arguments(output: output, summary: summary, config: config, store: store, sigma: sigma)
        }

        func run() throws {
            ignoreBrokenPipe()
            if EventFileFormat.of(file) == .evtx {  // a Windows event log: same events, other decoder
                let evtx = try Evtx.parse(evtxArguments)
                return try evtx.run()
            }
            let readOrder: EtlReader.Order = order == .time ? .time : .file
            var events: (sink: FanOutSink, store: StoreSink?)?
            if !summary {
                do { events = try EventFileSinks.make(output: output, config: config, store: store, sigma: sigma, warn: warn) } catch {
                    warn("\(error)")
                    throw ExitCode(1)
                }
            }
            var result: EtlSummary
            var failure: EtlDecodeFailure?
            do {
                result = try EtlDecoder.decode(file: file, into: events?.sink, order: readOrder)
            } catch let f as EtlDecodeFailure {
                failure = f
                result = f.summary
            } catch let e as EtlError {
                events?.sink.close()
                warn("\(file): \(e)")
                throw ExitCode(e.offset == 0 && e.message.hasPrefix("open") ? 66 : 65)  // EX_NOINPUT / EX_DATAERR
            }
            var outputStatus: Int32 = 0
            if let events {
                events.sink.close()
                outputStatus = events.sink.outputReports.reportLosses(warn)
            }
            if summary {
                let text = output.format == .json ? result.json + "\n" : result.table
                do {
                    try Array(text.utf8).withUnsafeBytes { try Syscalls.writeAll(1, $0, "standard output") }
                } catch let error as PartialWriteError where error.errno == EPIPE {
                    // `swiftmon etl --summary | head`: the reader has what it wanted.
                } catch {
                    warn("\(error)")
                    throw ExitCode(74)  // EX_IOERR
                }
            }
            if result.eventsLost > 0 || result.buffersLost > 0 {
                warn("\(file): the trace recorded \(result.eventsLost) event(s) lost and \(result.buffersLost) buffer(s) lost")
            }
            if let failure {
                warn("\(file): \(failure)")
                throw ExitCode(65)  // EX_DATAERR
            }
            if outputStatus != 0 { throw ExitCode(outputStatus) }
        }
    }
}

private func warn(_ message: String) {
    // Best effort: stderr is where a failure would be reported.
    _ = try? Array("swiftmon: \(message)\n".utf8).withUnsafeBytes { try Syscalls.writeAll(2, $0, "standard error") }
}

