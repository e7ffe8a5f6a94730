import SwiftmonCore

/// One readable line per event for a terminal:
/// `2024-01-31 23:59:59.123 ProcessCreate ProcessId=42 Image=/usr/bin/ls CommandLine="ls -l"`.
///
/// Values are quoted when they hold anything but plain characters, with C-style
/// escapes (`\n`, `\t`, `\"`, `\\`, `\xNN` for control characters and for bytes
/// that are not UTF-8), so every line is one line and every value unambiguous.
public final class TextSink: EventSink, DeliveryReporting, ReopenableOutput {
    private let output: FileOutput

    public init(output: FileOutput) { self.output = output }

    public func emit(_ event: Event) throws {
        let line = TextSink.render(event)
        try output.appendEvent { $0.append(contentsOf: line) }
    }
    public func flush() throws { try output.flush() }
    public func close() { output.close() }

    public var deliveryName: String { "text \(output.path)" }
    public var deliveryCounts: SinkDeliveryCounts { output.deliveryCounts }
    public var destinationClosed: Bool { output.destinationClosed }
    public func reopen() { output.requestReopen() }

    /// The fields shown for the busiest kinds; other kinds show every field
    /// that has a value. JSON and XML always carry every field.
    static let shownFields: [Int: [String]] = [
        EventKind.processCreate.id: ["ProcessId", "ParentProcessId", "User", "Image", "CommandLine", "CurrentDirectory"],
        EventKind.processTerminate.id: ["ProcessId", "User", "Image", "ExitCode"],
        EventKind.threadCreate.id: ["ProcessId", "ThreadId", "Image"],
        EventKind.threadTerminate.id: ["ProcessId", "ThreadId", "Image"],
    ]

    public static func render(_ event: Event) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out += Array(event.time.sysmonText.utf8)
        out.append(0x20)
        out += Array(event.kind.name.utf8)
        let names = event.kind.fields
        let indices: [Int]
        if let shown = shownFields[event.kind.id] {
            indices = (["RuleName"] + shown).compactMap { event.kind.index(of: $0) }
        } else {
            indices = names.indices.filter { names[$0] != "UtcTime" }
        }
        for i in indices where !event.isAbsent(i) {
            out.append(0x20)
            out += Array(names[i].utf8)
            out.append(UInt8(ascii: "="))
            appendValue(event.rawBytes[i] ?? event.withUTF8(i) { Array($0) }, to: &out)
        }
        out.append(0x0A)
        return out
    }

    static let hex = Array("0123456789abcdef".utf8)

    static func appendValue(_ bytes: [UInt8], to out: inout [UInt8]) {
        let plain = !bytes.isEmpty && bytes.allSatisfy { b in
            b > 0x20 && b != 0x7F && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\")
        } && String(validating: bytes, as: UTF8.self) != nil
        if plain { out += bytes; return }
        out.append(UInt8(ascii: "\""))
        FieldText.forEachSegment(bytes) { segment in
            switch segment {
            case .text(let text):
                for b in text.utf8 {
                    switch b {
                    case UInt8(ascii: "\""): out += [0x5C, 0x22]
                    case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
                    case 0x0A: out += [0x5C, UInt8(ascii: "n")]
                    case 0x0D: out += [0x5C, UInt8(ascii: "r")]
                    case 0x09: out += [0x5C, UInt8(ascii: "t")]
                    case 0..<0x20, 0x7F: out += [0x5C, UInt8(ascii: "x"), hex[Int(b >> 4)], hex[Int(b & 15)]]
                    default: out.append(b)
                    }
                }
            case .invalid(let b):
                out += [0x5C, UInt8(ascii: "x"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
