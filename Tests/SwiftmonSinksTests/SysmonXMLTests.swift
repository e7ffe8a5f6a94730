import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import SwiftmonCore
@testable import SwiftmonSinks
import XCTest

final class SysmonXMLTests: XCTestCase {
    static let goldenHeader = SysmonXMLHeader(computer: "golden-host", processID: 4242, userID: 0)
    static let goldenTime = EventTime(nanosecondsSinceEpoch: 1_706_745_599_123_456_789)  // 2024-01-31T23:59:59.123456789Z

    /// Values shaped like real ones, by field name.
    static let samples: [String: String] = [
        "ProcessGuid": "{9c1d4e2f-65b9-a1f0-4242-3e4f5a6b0000}", "ProcessId": "4242", "Image": "/usr/bin/curl",
        "CommandLine": "curl -fsSL \"https://example.test/install.sh?a=1&b=2\" -o /tmp/<x>",
        "CurrentDirectory": "/home/alice/", "User": "alice", "LogonGuid": "{9c1d4e2f-0000-0000-e803-000000000000}",
        "LogonId": "1000", "TerminalSessionId": "3", "IntegrityLevel": "no level",
        "Hashes": "SHA256=0F0FD4B9DFD555E4A53AE9070447E330EAAF96FF51F012CD982157DEDFDDD9A6",
        "ParentProcessGuid": "{9c1d4e2f-65b9-a1e0-1004-3e4f5a6b0000}", "ParentProcessId": "4100",
        "ParentImage": "/usr/bin/bash", "ParentCommandLine": "-bash", "ParentUser": "alice", "Architecture": "x86_64",
        "Protocol": "tcp", "Initiated": "true", "SourceIsIpv6": "false", "SourceIp": "10.0.0.5",
        "SourceHostname": "-", "SourcePort": "51234", "SourcePortName": "-", "DestinationIsIpv6": "false",
        "DestinationIp": "192.0.2.10", "DestinationHostname": "example.test", "DestinationPort": "443",
        "DestinationPortName": "https", "State": "Started", "Version": "1.0", "SchemaVersion": "4.90",
        "Sources": "ebpf", "ExitCode": "0", "ImageLoaded": "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "Signed": "false", "Signature": "-", "SignatureStatus": "-", "Result": "-38",
        "TargetFilename": "/tmp/payload & <stage2>.sh", "CreationUtcTime": "2024-01-31 23:59:59.120",
        "Device": "/dev/sda", "GrantedAccess": "0x1F0FFF", "CallTrace": "-", "SourceThreadId": "4243",
        "Configuration": "/etc/swiftmon/config.xml", "ConfigurationFileHash": "SHA256=AB12",
        "IsExecutable": "true", "Archived": "false", "ThreadId": "4243", "ServiceName": "backdoor.service",
        "ServiceFile": "/etc/systemd/system/backdoor.service", "Manager": "systemd",
        "SourceFilename": "/tmp/a", "BpfCommand": "BPF_PROG_LOAD", "BpfProgramType": "BPF_PROG_TYPE_KPROBE",
        "BpfProgramId": "77", "BpfProgramName": "hide_pid", "Description": "-", "FileVersion": "-", "Product": "-",
        "Company": "-", "OriginalFileName": "-",
        "ID": "1", "Payload": "0102030405", "ProviderGuid": "{22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716}",
        "EventId": "1", "Opcode": "1", "Task": "1", "Level": "4", "Keywords": "0x8000000000000010",
        "ContainerId": "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899",
        "ContainerRuntime": "containerd", "PodUid": "0f3c2a1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        "CgroupPath": "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f3c2a1e_5b6d_4e7f_8a9b_0c1d2e3f4a5b.slice/cri-containerd-3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899.scope",
        "PidNamespace": "4026532301", "MntNamespace": "4026532299", "NetNamespace": "4026532304",
        "ContainerProcessId": "1",
    ]

    /// A deterministic event of `kind`: realistic values where the field has a
    /// sample, a value naming the field otherwise; a kind without a command
    /// line carries characters that need escaping in its last field.
    static func goldenEvent(_ kind: EventKind) -> Event {
        var event = Event(kind, time: goldenTime)
        for (i, name) in kind.fields.enumerated() where name != "UtcTime" {
            event[i] = name == "RuleName" ? "-" : samples[name] ?? "\(name) of \(kind.name)"
        }
        if kind == .error { event["Description"] = "events dropped: 12 (queue full)" }
        if kind.index(of: "CommandLine") == nil {
            event[kind.fields.count - 1] = "a < b && c > \"d\" 'e'"
        }
        return event
    }

    func testGoldenXMLForEveryEventKind() throws {
        let renderer = SysmonXMLRenderer(header: Self.goldenHeader)
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/xml")
        let update = ProcessInfo.processInfo.environment["SWIFTMON_UPDATE_GOLDEN"] == "1"
        if update { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        for (n, kind) in EventKind.all.enumerated() {
            let xml = renderer.render(Self.goldenEvent(kind), recordID: UInt64(1000 + n), threadID: 4243) + "\n"
            let file = directory.appendingPathComponent("\(kind.id)-\(kind.name).xml")
            if update {
                try xml.write(to: file, atomically: true, encoding: .utf8)
                continue
            }
            let golden = try String(contentsOf: file, encoding: .utf8)
            XCTAssertEqual(xml, golden, "\(kind.name) differs from \(file.path); SWIFTMON_UPDATE_GOLDEN=1 rewrites")
            // Every golden document is well-formed and carries every field in order.
            let parsed = try XCTUnwrap(ParsedSysmonEvent(xml: xml), "\(kind.name) does not parse")
            XCTAssertEqual(parsed.data.map(\.name), kind.fields)
            XCTAssertEqual(parsed.system["EventID"], "\(kind.id)")
            XCTAssertEqual(parsed.system["Task"], "\(kind.id)")
        }
    }

    func testLayoutMatchesSysmonForLinux() throws {
        var event = Event(.processCreate, time: Self.goldenTime)
        event["ProcessId"] = "77"
        let xml = SysmonXMLRenderer(header: Self.goldenHeader).render(event, recordID: 77, threadID: 4243)
        XCTAssertTrue(xml.hasPrefix(
            "<Event><System><Provider Name=\"Linux-Sysmon\" Guid=\"{ff032593-a8d3-4f13-b0d6-01fc615a0f97}\"/>"
                + "<EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>"
                + "<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime=\"2024-01-31T23:59:59.123456789Z\"/>"
                + "<EventRecordID>77</EventRecordID><Correlation/><Execution ProcessID=\"4242\" ThreadID=\"4243\"/>"
                + "<Channel>Linux-Sysmon/Operational</Channel><Computer>golden-host</Computer>"
                + "<Security UserId=\"0\"/></System><EventData><Data Name=\"RuleName\">-</Data>"
                + "<Data Name=\"UtcTime\">2024-01-31 23:59:59.123</Data>"), xml)
        XCTAssertTrue(xml.hasSuffix("<Data Name=\"Architecture\">-</Data><Data Name=\"ImageNtPath\">-</Data><Data Name=\"ContainerId\">-</Data>"
            + "<Data Name=\"ContainerRuntime\">-</Data><Data Name=\"PodUid\">-</Data><Data Name=\"CgroupPath\">-</Data>"
            + "<Data Name=\"PidNamespace\">-</Data><Data Name=\"MntNamespace\">-</Data><Data Name=\"NetNamespace\">-</Data>"
            + "<Data Name=\"ContainerProcessId\">-</Data></EventData></Event>"), xml)
        XCTAssertFalse(xml.contains("\n"))
        let error = SysmonXMLRenderer(header: Self.goldenHeader).render(Event(.error, time: Self.goldenTime), recordID: 1)
        XCTAssertTrue(error.contains("<Level>2</Level>"), "EventID 255 is an error-level event")
    }

    func testSwiftmonIdentityIsConfigurable() throws {
        var header = SysmonXMLHeader.swiftmon()
        header.computer = "h"
        let xml = SysmonXMLRenderer(header: header).render(Event(.processTerminate, time: Self.goldenTime), recordID: 1)
        let parsed = try XCTUnwrap(ParsedSysmonEvent(xml: xml))
        XCTAssertEqual(parsed.system["Provider.Name"], "swiftmon")
        XCTAssertEqual(parsed.system["Channel"], "swiftmon/Operational")
    }

    func testHostileContentParsesBackToTheSameValues() throws {
        var event = Event(.processCreate, time: Self.goldenTime)
        let plainHostile: [String: String] = [
            "CommandLine": "sh -c 'echo \"<x>\" && cat </etc/passwd >&2' ]]> <!-- --> <![CDATA[ x ]]>",
            "CurrentDirectory": "/tmp/line1\nline2\r\nline3\ttabbed\r",
            "User": "ünïcødé 用户 🛡️ \u{7F}\u{85}\u{9F}",
            "Description": "&amp; &lt; &#10; literal entities",
            "Product": "C:\\Windows\\path\\with\\backslashes",
            "Company": "</Data><Data Name=\"Injected\">evil</Data>",
            "RuleName": "technique_id=T1059,technique_name=\"Command & Scripting\"",
        ]
        for (field, value) in plainHostile { event[field] = value }
        // Characters XML 1.0 cannot carry, in otherwise valid UTF-8.
        event["ParentCommandLine"] = "a\u{01}b\u{1B}[31mred\u{0}nul\\c\u{FFFE}"
        // Bytes that are not UTF-8, as the kernel may hand them over.
        event.set("Image", bytes: [0x2F, 0x74, 0x6D, 0x70, 0x2F, 0xFF, 0xFE, 0x5C, 0x01, 0xC3, 0xA9])
        event.set("ParentImage", bytes: Array("/usr/bin/ok".utf8))

        let xml = SysmonXMLRenderer(header: Self.goldenHeader).render(event, recordID: 5, threadID: 1)
        XCTAssertFalse(xml.contains("\n") || xml.contains("\r"), "one document per syslog line")
        let parsed = try XCTUnwrap(ParsedSysmonEvent(xml: xml), "hostile event does not parse: \(xml)")
        XCTAssertEqual(parsed.data.map(\.name), EventKind.processCreate.fields, "no field injected or lost")
        let values = Dictionary(parsed.data.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        for (field, value) in plainHostile {
            XCTAssertEqual(values[field], value, field)
        }
        XCTAssertEqual(values["ParentCommandLine"], "a\\x01b\\x1b[31mred\\x00nul\\\\c\\xef\\xbf\\xbe")
        XCTAssertEqual(values["Image"], "/tmp/\\xff\\xfe\\\\\\x01é")
        XCTAssertEqual(values["Image"], SysmonXML.readableText([0x2F, 0x74, 0x6D, 0x70, 0x2F, 0xFF, 0xFE, 0x5C, 0x01, 0xC3, 0xA9]))
        XCTAssertEqual(values["ParentImage"], "/usr/bin/ok")
        // A value that needed no help is exactly the event's value.
        for (i, name) in EventKind.processCreate.fields.enumerated() where event.rawBytes[i] == nil
            && event.values[i].unicodeScalars.allSatisfy(SysmonXML.isXMLChar) {
            XCTAssertEqual(values[name], event.values[i], name)
        }
    }

    func testHostileHeaderValuesAreEscaped() throws {
        var header = Self.goldenHeader
        header.computer = "host<&>\"name"
        header.providerName = "P\"<>&"
        let xml = SysmonXMLRenderer(header: header).render(Event(.error, time: Self.goldenTime), recordID: 1)
        let parsed = try XCTUnwrap(ParsedSysmonEvent(xml: xml))
        XCTAssertEqual(parsed.system["Computer"], "host<&>\"name")
        XCTAssertEqual(parsed.system["Provider.Name"], "P\"<>&")
    }

    func testXMLSinkWritesOneDocumentPerLineWithIncreasingRecordIDs() throws {
        let directory = try temporaryDirectory()
        let path = directory + "/events.xml"
        let counter = try EventRecordCounter(stateFile: directory + "/record-id", blockSize: 3)
        do {
            let sink = try XMLSink(path: path, recordIDs: counter)
            for kind in EventKind.all { try sink.emit(Self.goldenEvent(kind)) }
            try sink.flush()
        }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, EventKind.all.count)
        let ids = try lines.map { try XCTUnwrap(ParsedSysmonEvent(xml: String($0))?.system["EventRecordID"]).flatMap(UInt64.init) }
        XCTAssertEqual(ids, (1...UInt64(EventKind.all.count)).map { $0 })
        let parsed = try XCTUnwrap(ParsedSysmonEvent(xml: String(lines[0])))
        XCTAssertEqual(parsed.system["Execution.ProcessID"], "\(getpid())")
        XCTAssertNotNil(parsed.system["Execution.ThreadID"].flatMap(Int32.init))
        XCTAssertEqual(try fileMode(path), 0o600)
    }
}

/// An `<Event>` document read back with Foundation's XMLParser (libxml2).
struct ParsedSysmonEvent {
    var system: [String: String] = [:]
    var data: [(name: String, value: String)] = []

    init?(xml: String) {
        let delegate = Collector()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.delegate = delegate
        guard parser.parse(), delegate.sawEvent else { return nil }
        system = delegate.system
        data = delegate.data
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var system: [String: String] = [:]
        var data: [(name: String, value: String)] = []
        var path: [String] = []
        var text = ""
        var dataName: String?
        var sawEvent = false

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if path.isEmpty { sawEvent = name == "Event" }
            path.append(name)
            text = ""
            if path.count == 3, path[1] == "System" {
                for (key, value) in attributes { system["\(name).\(key)"] = value }
            }
            if name == "Data" { dataName = attributes["Name"] }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if path.count == 3, path[1] == "System" { system[name] = text }
            if name == "Data", let dataName { data.append((dataName, text)) }
            path.removeLast()
            text = ""
        }
    }
}

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "swiftmon-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func fileMode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? Int ?? -1) & 0o777
}
