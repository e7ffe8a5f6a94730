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
    func write(_ s: String) { write(bytes: Array(s.utf8)) }
    func write(bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
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
        var line: [UInt8] = []
        line.reserveCapacity(512)
        line += Array("{\"EventID\":\(event.kind.id),\"EventName\":".utf8)
        JSONLinesOutput.quote(event.kind.name.utf8, into: &line)
        for (i, field) in event.kind.fields.enumerated() {
            line.append(UInt8(ascii: ","))
            JSONLinesOutput.quote(field.utf8, into: &line)
            line.append(UInt8(ascii: ":"))
            if let raw = event.rawBytes[i] {
                JSONLinesOutput.quoteBytes(raw, into: &line)
            } else {
                JSONLinesOutput.quote(event.values[i].utf8, into: &line)
            }
        }
        line += [UInt8(ascii: "}"), UInt8(ascii: "\n")]
        out.write(bytes: line)
    }

    func flush() throws { out.flush() }

    static let hex = Array("0123456789abcdef".utf8)

    /// Escapes valid UTF-8 for JSON: quotes, backslashes, control characters
    /// and U+2028/U+2029 (line separators to JavaScript).
    static func quote(_ text: some Sequence<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var pending: [UInt8] = []  // lookahead for E2 80 A8/A9
        for b in text {
            if !pending.isEmpty {
                pending.append(b)
                if pending.count < 3 { continue }
                if pending[0] == 0xE2 && pending[1] == 0x80 && (pending[2] == 0xA8 || pending[2] == 0xA9) {
                    out += Array("\\u202".utf8) + [pending[2] == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9")]
                } else {
                    out += pending
                }
                pending.removeAll(keepingCapacity: true)
                continue
            }
            switch b {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x00..<0x20, 0x7F:
                out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            case 0xE2: pending.append(b)
            default: out.append(b)
            }
        }
        out += pending
        out.append(UInt8(ascii: "\""))
    }

    private static func quoteBytes(_ bytes: [UInt8], into out: inout [UInt8]) {
        var body: [UInt8] = []
        FieldText.forEachSegment(bytes) { segment in
            switch segment {
            case .text(let t):
                var quoted: [UInt8] = []
                quote(t.utf8, into: &quoted)
                body += quoted.dropFirst().dropLast()
            case .invalid(let b): body += Array("\\udc".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        out.append(UInt8(ascii: "\""))
        out += body
        out.append(UInt8(ascii: "\""))
    }
}
