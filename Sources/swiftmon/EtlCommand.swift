import ArgumentParser
import SwiftmonCore
import SwiftmonETL

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

        @Option(help: "Output format: text, json or xml (summary: text or json).")
        var format: OutputFormat?

        @Option(help: "Filter events with this Sysmon configuration file.")
        var config: String?

        @Option(help: "Store events in this SQLite database.")
        var store: String?

        @Option(help: "Record order: time (merged across processors, as Windows delivers them) or file.")
        var order: RecordOrder = .time

        enum OutputFormat: String, ExpressibleByArgument { case text, json, xml }
        enum RecordOrder: String, ExpressibleByArgument { case time, file }

        func validate() throws {
            if summary && (config != nil || store != nil) {
                throw ValidationError("--summary counts records; it takes no --config or --store")
            }
            if summary && format == .xml { throw ValidationError("--summary prints text or json") }
            if !summary {
                // Event sinks (text, XML, filtering, the store) live in SwiftmonSinks and
                // the rules/store targets; this branch prints JSON lines only.
                if format == .text || format == .xml { throw ValidationError("--format \(format!.rawValue) for events is not available in this build yet; use --format json") }
                if config != nil { throw ValidationError("--config is not available for etl in this build yet") }
                if store != nil { throw ValidationError("--store is not available for etl in this build yet") }
            }
        }

        func run() throws {
            let out = StandardOutput()
            let readOrder: EtlReader.Order = order == .time ? .time : .file
            var result: EtlSummary
            var failure: EtlDecodeFailure?
            do {
                if summary {
                    result = try EtlDecoder.decode(file: file, into: nil, order: readOrder)
                } else {
                    result = try EtlDecoder.decode(file: file, into: JSONLinesOutput(out), order: readOrder)
                }
            } catch let f as EtlDecodeFailure {
                failure = f
                result = f.summary
            } catch let e as EtlError {
                out.flush()
                warn("\(file): \(e)")
                throw ExitCode(e.offset == 0 && e.message.hasPrefix("open") ? 66 : 65)  // EX_NOINPUT / EX_DATAERR
            }
            if summary {
                out.write(format == .json ? result.json + "\n" : result.table)
            }
            out.flush()
            if result.eventsLost > 0 || result.buffersLost > 0 {
                warn("\(file): the trace recorded \(result.eventsLost) event(s) lost and \(result.buffersLost) buffer(s) lost")
            }
            if let failure {
                warn("\(file): \(failure)")
                throw ExitCode(65)  // EX_DATAERR
            }
        }
    }
}

private func warn(_ message: String) {
    writeAll(2, Array("swiftmon: \(message)\n".utf8))
}

/// write(2) until done; EINTR retried.
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}

/// Buffered standard output: events are many and small.
final class StandardOutput {
    private var buffer: [UInt8] = []
    init() { buffer.reserveCapacity(1 << 16) }
    func write(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }
    func flush() {
        guard !buffer.isEmpty else { return }
        writeAll(1, buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// TEMPORARY local renderer — to be replaced by SwiftmonSinks' JSON-lines sink
/// when the branches merge. One JSON object per event: EventID, EventName,
/// then the fields in schema order; invalid UTF-8 bytes as \udcNN.
final class JSONLinesOutput: EventSink {
    let out: StandardOutput
    init(_ out: StandardOutput) { self.out = out }

    func emit(_ event: Event) throws {
        var s = "{\"EventID\":\(event.kind.id),\"EventName\":" + quote(event.kind.name)
        for (i, field) in event.kind.fields.enumerated() {
            s += "," + quote(field) + ":"
            if let raw = event.rawBytes[i] {
                s += quoteBytes(raw)
            } else {
                s += quote(event.values[i])
            }
        }
        out.write(s + "}\n")
    }

    func flush() throws { out.flush() }

    private func quote(_ text: String) -> String {
        var out = "\""
        for u in text.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F || u.value == 0x2028 || u.value == 0x2029:
                out += "\\u" + hex4(u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    private func quoteBytes(_ bytes: [UInt8]) -> String {
        var out = "\""
        FieldText.forEachSegment(bytes) { segment in
            switch segment {
            case .text(let t): out += String(quote(t).dropFirst().dropLast())
            case .invalid(let b): out += "\\udc" + String(hex4(UInt32(b)).suffix(2))
            }
        }
        return out + "\""
    }

    private func hex4(_ v: UInt32) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }
}
