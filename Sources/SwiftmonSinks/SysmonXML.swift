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
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        render(event, recordID: recordID, threadID: threadID, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The same appended to `out` (an output's reused buffer): the values
    /// are read in place (``Event/withUTF8(_:_:)``) and written escaped,
    /// with no String made per event.
    public func render(_ event: Event, recordID: UInt64, threadID: Int32? = nil, into out: inout [UInt8]) {
        let header = SysmonStream.defines(event.kind) ? self.header : ownHeader
        let d = SysmonEventDescriptor.of(event.kind)
        func put(_ s: StaticString) {
            s.withUTF8Buffer { out.append(contentsOf: $0) }
        }
        func escaped(_ s: String, attribute: Bool) {
            SysmonXML.appendEscaped(s, attribute: attribute, to: &out)
        }
        put("<Event><System><Provider Name=\"")
        escaped(header.providerName, attribute: true)
        put("\" Guid=\"")
        escaped(header.providerGuid, attribute: true)
        put("\"/><EventID>")
        SysmonXML.appendDecimal(Int64(event.kind.id), to: &out)
        put("</EventID><Version>")
        SysmonXML.appendDecimal(Int64(d.version), to: &out)
        put("</Version><Level>")
        SysmonXML.appendDecimal(Int64(d.level), to: &out)
        put("</Level><Task>")
        SysmonXML.appendDecimal(Int64(d.task), to: &out)
        put("</Task><Opcode>")
        SysmonXML.appendDecimal(Int64(d.opcode), to: &out)
        put("</Opcode><Keywords>0x")
        SysmonXML.appendHex(d.keywords, to: &out)
        put("</Keywords><TimeCreated SystemTime=\"")
        event.time.appendISO8601Nanoseconds(to: &out)
        put("\"/><EventRecordID>")
        FieldText.appendDecimal(recordID, to: &out)
        put("</EventRecordID><Correlation/><Execution ProcessID=\"")
        SysmonXML.appendDecimal(Int64(header.processID), to: &out)
        put("\" ThreadID=\"")
        SysmonXML.appendDecimal(Int64(threadID ?? header.processID), to: &out)
        put("\"/><Channel>")
        escaped(header.channel, attribute: false)
        put("</Channel><Computer>")
        escaped(header.computer, attribute: false)
        put("</Computer><Security UserId=\"")
        SysmonXML.appendDecimal(Int64(header.userID), to: &out)
        put("\"/></System><EventData>")
        let names = SysmonXML.dataNamePrefixes(event.kind)
        for i in 0..<event.kind.fieldCount {
            out.append(contentsOf: names[i])
            if let raw = event.rawBytes[i] {
                escaped(SysmonXML.readableText(raw), attribute: false)
            } else {
                event.withUTF8(i) { SysmonXML.appendValue($0, to: &out) }
            }
            put("</Data>")
        }
        put("</EventData></Event>")
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

    /// `<Data Name="Field">` of each field of a kind, escaped once, by EventID.
    static func dataNamePrefixes(_ kind: EventKind) -> [[UInt8]] {
        if kind.id >= 0, kind.id < dataNameTable.count, let names = dataNameTable[kind.id] { return names }
        return makeDataNamePrefixes(kind)
    }

    private static func makeDataNamePrefixes(_ kind: EventKind) -> [[UInt8]] {
        kind.fields.map { name in
            var out = Array("<Data Name=\"".utf8)
            appendEscaped(name, attribute: true, to: &out)
            out += Array("\">".utf8)
            return out
        }
    }

    private static let dataNameTable: [[[UInt8]]?] = {
        var table = [[[UInt8]]?](repeating: nil, count: (EventKind.all.map(\.id).max() ?? 0) + 1)
        for kind in EventKind.all where kind.id >= 0 { table[kind.id] = makeDataNamePrefixes(kind) }
        return table
    }()

    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        FieldText.appendDecimal(value.magnitude, to: &out)
    }

    static func appendHex(_ value: UInt64, to out: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        var shift = 60
        while shift > 0, (value >> UInt64(shift)) & 0xF == 0 { shift -= 4 }
        while shift >= 0 {
            out.append(digits[Int((value >> UInt64(shift)) & 0xF)])
            shift -= 4
        }
    }

    /// Whether XML 1.0 can carry every character of valid UTF-8 `bytes`:
    /// no C0 control but tab, line feed and carriage return, no U+FFFE/U+FFFF.
    static func isXMLText(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x20 {
                if b != 0x9 && b != 0xA && b != 0xD { return false }
            } else if b == 0xEF, i + 2 < n, bytes[i + 1] == 0xBF, bytes[i + 2] >= 0xBE {
                return false
            }
            i += 1
        }
        return true
    }

    /// A field value from valid UTF-8: as is when XML can carry every
    /// character, else in readable form.
    static func appendValue(_ value: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        if isXMLText(value) {
            appendEscaped(value, attribute: false, to: &out)
        } else {
            appendEscaped(readableText(Array(value)), attribute: false, to: &out)
        }
    }

    /// `text` escaped (as ``appendEscaped(_:attribute:to:)-(String,_,_)``) into bytes.
    static func appendEscaped(_ text: String, attribute: Bool, to out: inout [UInt8]) {
        if text.utf8.withContiguousStorageIfAvailable({ appendEscaped($0, attribute: attribute, to: &out) }) == nil {
            var copy = text
            copy.withUTF8 { appendEscaped($0, attribute: attribute, to: &out) }
        }
    }

    /// Valid UTF-8 `bytes` escaped for element content or (with `attribute`)
    /// a double-quoted attribute; the same output as the String version.
    static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, attribute: Bool, to out: inout [UInt8]) {
        var plain = true
        for b in bytes where b < 0x20 || b == 0x26 || b == 0x3C || b == 0x3E || b == 0x22 || b >= 0x7F {
            plain = false
            break
        }
        if plain { out.append(contentsOf: bytes); return }
        let hex = Array("0123456789abcdef".utf8), upper = Array("0123456789ABCDEF".utf8)
        func put(_ s: StaticString) { s.withUTF8Buffer { out.append(contentsOf: $0) } }
        func hexByte(_ b: UInt8) {  // `\xNN`, as appendHexByte
            out.append(0x5C); out.append(UInt8(ascii: "x")); out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
        }
        let n = bytes.count
        var i = 0
        while i < n {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "&"): put("&amp;")
            case UInt8(ascii: "<"): put("&lt;")
            case UInt8(ascii: ">"): put("&gt;")
            case UInt8(ascii: "\"") where attribute: put("&quot;")
            case 0x9: put("&#9;")
            case 0xA: put("&#10;")
            case 0xD: put("&#13;")
            case 0..<0x20: hexByte(b)
            case 0x7F: put("&#x7F;")
            case 0xC2 where i + 1 < n && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9F:
                // U+0080…U+009F: allowed but invisible (U+0085 ends a line in XML 1.1).
                let c = bytes[i + 1]
                put("&#x"); out.append(upper[Int(c >> 4)]); out.append(upper[Int(c & 15)]); put(";")
                i += 1
            case 0xEF where i + 2 < n && bytes[i + 1] == 0xBF && bytes[i + 2] >= 0xBE:
                hexByte(b); hexByte(bytes[i + 1]); hexByte(bytes[i + 2])  // U+FFFE, U+FFFF: not XML characters
                i += 2
            default: out.append(b)
            }
            i += 1
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
