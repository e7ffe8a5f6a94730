#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftmonCore

/// Renders events as the one-line `<Event>` documents Sysmon for Linux writes to
/// syslog, so SIEM parsers built for Sysmon for Linux read swiftmon unchanged.
///
/// Layout (one line, no XML declaration, no whitespace between elements):
///
///     <Event><System><Provider Name="…" Guid="{…}"/><EventID>1</EventID>
///     <Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>
///     <Keywords>0x8000000000000000</Keywords>
///     <TimeCreated SystemTime="2024-01-31T23:59:59.123456789Z"/>
///     <EventRecordID>77</EventRecordID><Correlation/>
///     <Execution ProcessID="…" ThreadID="…"/><Channel>…</Channel>
///     <Computer>…</Computer><Security UserId="0"/></System>
///     <EventData><Data Name="RuleName">-</Data>…</EventData></Event>
///
/// `TimeCreated` is the event's own time (Sysmon for Linux stamps the moment it
/// formats; the event time is what an investigator wants and differs by
/// microseconds). `Execution` and `Security` describe the sensor, as in Sysmon.
///
/// Escaping: `&`, `<`, `>` (and `"` in attributes) become entities; tab, line
/// feed and carriage return become character references so a document stays on
/// one syslog line and parses back to the exact value; other characters XML 1.0
/// cannot carry at all (C0 controls, U+FFFE/U+FFFF) and bytes that are not
/// UTF-8 are written in ``FieldText``'s readable form — the whole value then
/// shows `\\` for a backslash and `\xNN` for each such byte — because no XML 1.0
/// parser accepts them in any other form.
///
/// Events with swiftmon's own EventIDs (``SysmonStream``) carry ``ownHeader``:
/// by default swiftmon's provider (`swiftmon`, its GUID, channel
/// `swiftmon/Operational`), so that a consumer selecting Sysmon for Linux's
/// provider never meets an EventID Sysmon does not define.
public struct SysmonXMLRenderer: Sendable {
    public var header: SysmonXMLHeader
    /// The `<System>` identity of events with swiftmon's own EventIDs.
    public var ownHeader: SysmonXMLHeader

    /// `ownHeader` nil: `header` with swiftmon's provider when `header` is
    /// Sysmon for Linux's, else `header` itself.
    public init(header: SysmonXMLHeader = SysmonXMLHeader(), ownHeader: SysmonXMLHeader? = nil) {
        self.header = header
        self.ownHeader = ownHeader ?? header.forOwnEvents()
    }

    /// One `<Event>` document for `event`, without a trailing newline.
    public func render(_ event: Event, recordID: UInt64, threadID: Int32? = nil) -> String {
        let header = SysmonStream.defines(event.kind) ? self.header : ownHeader
        let d = SysmonEventDescriptor.of(event.kind)
        var out = String()
        out.reserveCapacity(256 + event.values.reduce(0) { $0 + $1.utf8.count + 24 })
        out += "<Event><System><Provider Name=\""
        SysmonXML.appendEscaped(header.providerName, attribute: true, to: &out)
        out += "\" Guid=\""
        SysmonXML.appendEscaped(header.providerGuid, attribute: true, to: &out)
        out += "\"/><EventID>\(event.kind.id)</EventID><Version>\(d.version)</Version>"
        out += "<Level>\(d.level)</Level><Task>\(d.task)</Task><Opcode>\(d.opcode)</Opcode>"
        out += "<Keywords>0x" + String(d.keywords, radix: 16) + "</Keywords>"
        out += "<TimeCreated SystemTime=\"" + event.time.iso8601Nanoseconds + "\"/>"
        out += "<EventRecordID>\(recordID)</EventRecordID><Correlation/>"
        out += "<Execution ProcessID=\"\(header.processID)\" ThreadID=\"\(threadID ?? header.processID)\"/>"
        out += "<Channel>"
        SysmonXML.appendEscaped(header.channel, attribute: false, to: &out)
        out += "</Channel><Computer>"
        SysmonXML.appendEscaped(header.computer, attribute: false, to: &out)
        out += "</Computer><Security UserId=\"\(header.userID)\"/></System><EventData>"
        for (i, name) in event.kind.fields.enumerated() {
            out += "<Data Name=\""
            SysmonXML.appendEscaped(name, attribute: true, to: &out)
            out += "\">"
            if let raw = event.rawBytes[i] {
                SysmonXML.appendEscaped(SysmonXML.readableText(raw), attribute: false, to: &out)
            } else {
                SysmonXML.appendValue(event.values[i], to: &out)
            }
            out += "</Data>"
        }
        out += "</EventData></Event>"
        return out
    }
}

/// The `<System>` values that describe the sensor rather than the event.
///
/// The default is Sysmon for Linux's own identity (provider `Linux-Sysmon`, its
/// GUID, channel `Linux-Sysmon/Operational`): parsers that select Sysmon for
/// Linux events by provider name or GUID (Microsoft Sentinel's ASIM parsers,
/// Velociraptor's `Linux.Sysinternals.Sysmon`, Wazuh decoders, sysmon log
/// viewers) then take swiftmon's output as is. Use ``swiftmon`` when the events
/// must be told apart from a real Sysmon's on the same collector.
public struct SysmonXMLHeader: Sendable, Equatable {
    public var providerName: String
    public var providerGuid: String
    public var channel: String
    /// The host name, as `gethostname` gives it.
    public var computer: String
    /// The sensor's process id (`Execution ProcessID`).
    public var processID: Int32
    /// The sensor's effective uid (`Security UserId`), numeric as in Sysmon for Linux.
    public var userID: UInt32

    public static let sysmonForLinuxProviderName = "Linux-Sysmon"
    public static let sysmonForLinuxProviderGuid = "{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"
    public static let sysmonForLinuxChannel = "Linux-Sysmon/Operational"

    public init(
        providerName: String = SysmonXMLHeader.sysmonForLinuxProviderName,
        providerGuid: String = SysmonXMLHeader.sysmonForLinuxProviderGuid,
        channel: String = SysmonXMLHeader.sysmonForLinuxChannel,
        computer: String = SysmonXMLHeader.hostName(),
        processID: Int32 = getpid(),
        userID: UInt32 = geteuid()
    ) {
        self.providerName = providerName
        self.providerGuid = providerGuid
        self.channel = channel
        self.computer = computer
        self.processID = processID
        self.userID = userID
    }

    public static let swiftmonProviderName = "swiftmon"
    public static let swiftmonProviderGuid = "{5f3c8d2e-6a41-4b7e-9c0d-2a8e7b1f4c63}"
    public static let swiftmonChannel = "swiftmon/Operational"

    /// swiftmon's own identity, for collectors that also receive real Sysmon events.
    public static func swiftmon() -> SysmonXMLHeader {
        SysmonXMLHeader(
            providerName: swiftmonProviderName, providerGuid: swiftmonProviderGuid, channel: swiftmonChannel)
    }

    /// The identity for events with swiftmon's own EventIDs: swiftmon's
    /// provider and channel in place of Sysmon for Linux's, the rest as is.
    public func forOwnEvents() -> SysmonXMLHeader {
        guard providerName == Self.sysmonForLinuxProviderName else { return self }
        var own = self
        own.providerName = Self.swiftmonProviderName
        own.providerGuid = Self.swiftmonProviderGuid
        own.channel = Self.swiftmonChannel
        return own
    }

    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The Windows event descriptor Sysmon gives each EventID: manifest version,
/// level (4 information, 2 error), task (= EventID), opcode and keywords.
public struct SysmonEventDescriptor: Sendable, Equatable {
    public let version: Int
    public let level: Int
    public let task: Int
    public let opcode: Int
    public let keywords: UInt64

    /// Sysmon's event template versions (schema 4.90). swiftmon's own events
    /// (100 and 200 up) are at version 1 until their field lists change.
    static let versions: [Int: Int] = [
        1: 5, 3: 5, 4: 3, 5: 3, 6: 4, 7: 3, 8: 2, 9: 2, 10: 3, 11: 2, 12: 2, 13: 2, 14: 2,
        16: 3, 23: 5, 255: 3,
    ]

    public static func of(_ kind: EventKind) -> SysmonEventDescriptor {
        SysmonEventDescriptor(
            version: versions[kind.id] ?? 1,
            level: kind.id == EventKind.error.id ? 2 : 4,
            task: kind.id, opcode: 0, keywords: 0x8000_0000_0000_0000)
    }
}

/// XML text escaping shared by the renderer and its tests.
public enum SysmonXML {
    /// Whether XML 1.0 can carry `s` at all (the `Char` production).
    @inline(__always)
    static func isXMLChar(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    /// A field value: as is when XML can carry every character, else in readable form.
    static func appendValue(_ value: String, to out: inout String) {
        if value.unicodeScalars.allSatisfy(isXMLChar) {
            appendEscaped(value, attribute: false, to: &out)
        } else {
            appendEscaped(readableText(Array(value.utf8)), attribute: false, to: &out)
        }
    }

    /// ``FieldText``'s readable form, extended to the characters XML 1.0 cannot
    /// carry: `\\` for a backslash, `\xNN` for each byte that is not UTF-8 or
    /// belongs to such a character.
    public static func readableText(_ bytes: [UInt8]) -> String {
        var out = String()
        out.reserveCapacity(bytes.count + 16)
        FieldText.forEachSegment(bytes) { segment in
            switch segment {
            case .text(let text):
                for s in text.unicodeScalars {
                    if s == "\\" {
                        out += "\\\\"
                    } else if isXMLChar(s) {
                        out.unicodeScalars.append(s)
                    } else {
                        for b in String(s).utf8 { appendHexByte(b, to: &out) }
                    }
                }
            case .invalid(let byte): appendHexByte(byte, to: &out)
            }
        }
        return out
    }

    static func appendHexByte(_ b: UInt8, to out: inout String) {
        let digits = Array("0123456789abcdef".unicodeScalars)
        out += "\\x"
        out.unicodeScalars.append(digits[Int(b >> 4)])
        out.unicodeScalars.append(digits[Int(b & 15)])
    }

    /// Appends `text` escaped for element content or (with `attribute`) for a
    /// double-quoted attribute. `text` must hold XML characters only.
    public static func appendEscaped(_ text: String, attribute: Bool, to out: inout String) {
        // Fast path: most values need no escaping at all.
        var plain = true
        for b in text.utf8 where b < 0x20 || b == 0x26 || b == 0x3C || b == 0x3E || b == 0x22 || b >= 0x7F {
            plain = false
            break
        }
        if plain { out += text; return }
        for s in text.unicodeScalars {
            switch s {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"" where attribute: out += "&quot;"
            case "\t": out += "&#9;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            case "\u{7F}"..."\u{9F}":
                // Allowed but invisible and, for U+0085, a line end in XML 1.1: keep them visible.
                out += "&#x" + String(s.value, radix: 16, uppercase: true) + ";"
            default:
                if isXMLChar(s) {
                    out.unicodeScalars.append(s)
                } else {
                    for b in String(s).utf8 { appendHexByte(b, to: &out) }
                }
            }
        }
    }
}
