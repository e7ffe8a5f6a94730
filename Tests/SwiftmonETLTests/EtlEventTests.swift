import Foundation
import SwiftmonCore
import XCTest
@testable import SwiftmonETL

/// Field values of known events in the corpus, and layer 2 on crafted records.
final class EtlEventTests: XCTestCase {
    private func events(_ name: String) throws -> [Event] {
        let sink = CollectingSink()
        let summary = try EtlDecoder.decode(file: try EtlCorpus.file(name).path, into: sink)
        XCTAssertEqual(sink.events.count + summary.mergedRecords, summary.records,
                       "one event per record, or merged into one: nothing dropped")
        return sink.events
    }

    func testClassicProcessV2StartAndEnd() throws {
        let all = try events("sawbuck_process_data_64_v2.etl")
        let created = all.filter { $0.kind == .processCreate }
        XCTAssertEqual(created.map { $0["Image"] }, ["Idle", "System", "smss.exe", "notepad.exe"])
        let start = try XCTUnwrap(created.last)
        XCTAssertEqual(start["ProcessId"], "1776")
        XCTAssertEqual(start["ParentProcessId"], "988")
        XCTAssertEqual(start["CommandLine"], "\"C:\\Windows\\system32\\notepad.exe\" ")
        XCTAssertEqual(start["User"], "S-1-5-21-753675414-103939432-3550797041-1000")
        XCTAssertEqual(start["TerminalSessionId"], "1")
        XCTAssertEqual(start.time.sysmonText, "2011-05-02 12:56:53.991")
        XCTAssertEqual(created[1]["User"], "NT AUTHORITY\\SYSTEM")
        let end = try XCTUnwrap(all.first { $0.kind == .processTerminate })
        XCTAssertEqual(end["ProcessId"], "1776")
        XCTAssertEqual(end["ProcessGuid"], start["ProcessGuid"], "one process, one GUID")
        XCTAssertEqual(end["ExitCode"], "0")
        XCTAssertNotEqual(created[0]["ProcessGuid"], created[1]["ProcessGuid"])
        // Deterministic: decoding again gives the same GUIDs.
        XCTAssertEqual(try events("sawbuck_process_data_64_v2.etl").filter { $0.kind == .processCreate }.map { $0["ProcessGuid"] },
                       created.map { $0["ProcessGuid"] })
    }

    func testClassicProcessV4AndThreadsAndDrivers() throws {
        let all = try events("airbus_ShutdownPerfDiagLogger.etl")
        let system = try XCTUnwrap(all.first { $0.kind == .processCreate && $0["ProcessId"] == "4" })
        XCTAssertEqual(system["Image"], "System")
        XCTAssertEqual(system["ParentProcessId"], "0")
        XCTAssertTrue(all.contains { $0.kind == .processTerminate })
        XCTAssertTrue(all.contains { $0.kind == .threadCreate && $0["ProcessId"] != "-" && $0["ThreadId"] != "-" })
        let driver = try XCTUnwrap(all.first { $0.kind == .driverLoad })
        XCTAssertTrue(driver["ImageLoaded"]!.lowercased().hasSuffix(".sys") || driver["ImageLoaded"]!.lowercased().hasSuffix(".exe")
                      || driver["ImageLoaded"]!.lowercased().hasSuffix(".dll"), driver["ImageLoaded"]!)
        XCTAssertEqual(driver["Result"], "0")
    }

    func testImageLoadPath() throws {
        let all = try events("sawbuck_image_data_64_v2.etl")
        let loads = all.filter { $0.kind == .imageLoad }
        let first = try XCTUnwrap(loads.first)
        // In time order the Load event comes first, then the rundown (DCStart) of
        // what was mapped already.
        XCTAssertEqual(first["ImageLoaded"], "C:\\code\\sawbuck\\src\\sawbuck\\Debug\\test_program.exe")
        XCTAssertEqual(first["ProcessId"], "7644")
        XCTAssertEqual(loads[1]["ImageLoaded"], "C:\\Windows\\system32\\ntdll.dll")
        XCTAssertEqual(loads[2]["ImageLoaded"], "C:\\Windows\\system32\\kernel32.dll")
        XCTAssertEqual(Set(loads.map { $0["ProcessGuid"] }).count, 1, "one process")
    }

    func testKernelProcessManifestEvents() throws {
        let all = try events("tx_Process.etl")
        let start = try XCTUnwrap(all.first { $0.kind == .processCreate })
        XCTAssertEqual(start["ProcessId"], "5864")
        XCTAssertEqual(start["Image"], "\\Device\\HarddiskVolume2\\Program Files (x86)\\Microsoft Visual Studio 10.0\\Common7\\IDE\\devenv.exe")
        XCTAssertEqual(start["ParentProcessId"], "3324")
        XCTAssertEqual(start["TerminalSessionId"], "1")
        // UtcTime is the CreateTime of the payload (the system clock), 7 ms
        // after the record's own (QPC) timestamp of 19:08:00.728 in this trace.
        XCTAssertEqual(start.time.sysmonText, "2010-10-29 19:08:00.735")
        let thread = try XCTUnwrap(all.first { $0.kind == .threadCreate && $0["ProcessId"] == "5864" })
        XCTAssertEqual(thread["ProcessGuid"], start["ProcessGuid"])
        let image = try XCTUnwrap(all.first { $0.kind == .imageLoad && $0["ProcessId"] == "5864" })
        XCTAssertEqual(image["ProcessGuid"], start["ProcessGuid"])
        XCTAssertTrue(image["ImageLoaded"]!.hasPrefix("\\Device\\HarddiskVolume"), image["ImageLoaded"]!)
        XCTAssertEqual(all.filter { $0.kind == .processTerminate }.count, 4)
    }

    func testNetworkEventsFromRelog() throws {
        let all = try events("perfview_net.4.5.2.x64.etl")
        let tcp = try XCTUnwrap(all.first { $0.kind == .networkConnect && $0["Protocol"] == "tcp" })
        XCTAssertEqual(tcp["ProcessId"], "4")
        XCTAssertEqual(tcp["SourceIsIpv6"], "true")
        XCTAssertEqual(tcp["SourceIp"], "2001:4898:f0:26:b18e:e85f:db5d:8e8")
        XCTAssertEqual(tcp["SourcePort"], "64025")
        XCTAssertEqual(tcp["DestinationIp"], "2001:4898:e0:81:7cb9:ab:cd5:e6af")
        XCTAssertEqual(tcp["DestinationPort"], "445")
        let udp = try XCTUnwrap(all.first { $0.kind == .networkConnect && $0["DestinationIp"] == "239.255.255.250" })
        XCTAssertEqual(udp["Protocol"], "udp")
        XCTAssertEqual(udp["DestinationPort"], "1900")
        XCTAssertEqual(udp["Initiated"], "false")
        // The relogged file's two Process providers report one end: one event.
        let ends = all.filter { $0.kind == .processTerminate && $0["ProcessId"] == "3676" }
        XCTAssertEqual(ends.count, 1)
    }

    func testTraceLoggingFieldsAreDecoded() throws {
        let all = try events("airbus_AMSITrace.etl")
        let amsi = all.filter { $0["ProviderName"] == "AmsiTrace" }
        XCTAssertEqual(amsi.count, 19)
        let first = try XCTUnwrap(amsi.first { $0["Data"]!.contains("Get-Alias") })
        XCTAssertEqual(first["Name"], "AmsiScript")
        XCTAssertEqual(first["ProviderGuid"], "{8E805EB3-6A8F-4A1E-90FA-A831D94E54A1}")
        let data = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(first["Data"]!.utf8)) as? [String: Any])
        XCTAssertEqual(data["Script"] as? String, "Get-Alias")
        XCTAssertTrue((data["Engine"] as? String)?.hasPrefix("PowerShell_C:\\Windows\\System32\\WindowsPowerShell") == true)
    }

    // MARK: Layer 2 on crafted records (the path a live ProcessTrace source takes)

    private func record(provider: Guid, opcode: UInt8, version: UInt16, payload: [UInt8], pid: UInt32 = 1234,
                        _ body: (EtlRecord) throws -> Void) rethrows {
        try payload.withUnsafeBytes { raw in
            var r = EtlRecord()
            r.kind = .system
            r.provider = provider
            r.opcode = opcode
            r.version = version
            r.processId = pid
            r.threadId = 99
            r.pointerSize = 8
            r.time = EventTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_000)
            r.payload = raw
            try body(r)
        }
    }

    func testTcpConnectIPv4Addresses() throws {
        var payload: [UInt8] = []
        func u32(_ v: UInt32) { payload += withUnsafeBytes(of: v.littleEndian, Array.init) }
        u32(4321)                       // PID
        u32(0)                          // size
        payload += [93, 184, 216, 34]   // daddr
        payload += [192, 168, 1, 10]    // saddr
        payload += [0x01, 0xBB]         // dport 443, network order
        payload += [0xC3, 0x50]         // sport 50000
        payload += [UInt8](repeating: 0, count: 24)
        let decoder = EtlEventDecoder(header: EtlLogfileHeader())
        var out: [Event] = []
        try record(provider: KernelGroup.tcpIp, opcode: 12, version: 2, payload: payload) { r in
            try decoder.decode(r) { out.append($0) }
        }
        let e = try XCTUnwrap(out.first)
        XCTAssertEqual(e.kind, .networkConnect)
        XCTAssertEqual(e["ProcessId"], "4321")
        XCTAssertEqual(e["Initiated"], "true")
        XCTAssertEqual(e["SourceIp"], "192.168.1.10")
        XCTAssertEqual(e["SourcePort"], "50000")
        XCTAssertEqual(e["DestinationIp"], "93.184.216.34")
        XCTAssertEqual(e["DestinationPort"], "443")
        XCTAssertEqual(e["SourceIsIpv6"], "false")
    }

    private func decodeAll(_ decoder: EtlEventDecoder, _ items: [(Guid, UInt8, UInt16, [UInt8])]) throws -> [Event] {
        var out: [Event] = []
        for (provider, opcode, version, payload) in items {
            try record(provider: provider, opcode: opcode, version: version, payload: payload) { r in
                try decoder.decode(r) { out.append($0) }
            }
        }
        return out
    }

    func testFileCreateDeleteRename() throws {
        typealias B = EtlFileBuilder
        let ptr = { (v: UInt64) in B.le(v) }
        let decoder = EtlEventDecoder(header: EtlLogfileHeader())
        let out = try decodeAll(decoder, [
            // Thread 99 belongs to process 1234 (the crafted records' header pid).
            (KernelGroup.thread, 3, 3, B.le(UInt32(1234)) + B.le(UInt32(99))),
            // Name rundown: file key 0x77 is C:\\data\\report.txt
            (KernelGroup.fileIo, 36, 3, ptr(0x77) + B.utf16z("\\Device\\HarddiskVolume3\\data\\report.txt")),
            // Create with FILE_CREATE (2 << 24), then with FILE_OPEN (1 << 24).
            (KernelGroup.fileIo, 64, 3, ptr(1) + ptr(2) + B.le(UInt32(99)) + B.le(UInt32(2 << 24)) + B.le(UInt32(0)) + B.le(UInt32(0))
                + B.utf16z("\\Device\\HarddiskVolume3\\data\\new.txt")),
            (KernelGroup.fileIo, 64, 3, ptr(1) + ptr(2) + B.le(UInt32(99)) + B.le(UInt32(1 << 24)) + B.le(UInt32(0)) + B.le(UInt32(0))
                + B.utf16z("\\Device\\HarddiskVolume3\\data\\old.txt")),
            // Delete (v3: IrpPtr, FileObject, FileKey, ExtraInfo, TTID, InfoClass) of key 0x77.
            (KernelGroup.fileIo, 70, 3, ptr(1) + ptr(2) + ptr(0x77) + ptr(0) + B.le(UInt32(99)) + B.le(UInt32(13))),
            // RenamePath of key 0x77 to a new name.
            (KernelGroup.fileIo, 80, 3, ptr(1) + ptr(2) + ptr(0x77) + ptr(0) + B.le(UInt32(99)) + B.le(UInt32(10))
                + B.utf16z("\\Device\\HarddiskVolume3\\data\\renamed.txt")),
        ])
        XCTAssertEqual(out.map(\.kind), [.threadCreate, .traceEvent, .fileCreate, .traceEvent, .fileDelete, .fileRename])
        XCTAssertEqual(out[2]["TargetFilename"], "\\Device\\HarddiskVolume3\\data\\new.txt")
        XCTAssertEqual(out[2]["ProcessId"], "1234")
        XCTAssertEqual(out[2]["ProcessGuid"], out[0]["ProcessGuid"])
        XCTAssertEqual(out[4]["TargetFilename"], "\\Device\\HarddiskVolume3\\data\\report.txt")
        XCTAssertEqual(out[5]["SourceFilename"], "\\Device\\HarddiskVolume3\\data\\report.txt")
        XCTAssertEqual(out[5]["TargetFilename"], "\\Device\\HarddiskVolume3\\data\\renamed.txt")
    }

    func testRegistryEventsUseKeyControlBlockPaths() throws {
        typealias B = EtlFileBuilder
        func reg(status: UInt32, handle: UInt64, _ name: String) -> [UInt8] {
            B.le(Int64(0)) + B.le(status) + B.le(UInt32(0)) + B.le(handle) + B.utf16z(name)
        }
        let decoder = EtlEventDecoder(header: EtlLogfileHeader())
        let out = try decodeAll(decoder, [
            (KernelGroup.registry, 24, 2, reg(status: 0, handle: 0x1000, "\\REGISTRY\\MACHINE\\SOFTWARE\\Contoso")),
            (KernelGroup.registry, 14, 2, reg(status: 0, handle: 0x1000, "Enabled")),
            (KernelGroup.registry, 10, 2, reg(status: 0, handle: 0, "\\REGISTRY\\USER\\S-1-5-18\\Run")),
            (KernelGroup.registry, 15, 2, reg(status: 0, handle: 0x1000, "Old")),
            (KernelGroup.registry, 12, 2, reg(status: 0xC000_0034, handle: 0x1000, "")),  // failed: not a change
        ])
        XCTAssertEqual(out.map(\.kind), [.traceEvent, .registryValueSet, .registryCreateDelete, .registryCreateDelete, .traceEvent])
        XCTAssertEqual(out[1]["EventType"], "SetValue")
        XCTAssertEqual(out[1]["TargetObject"], "\\REGISTRY\\MACHINE\\SOFTWARE\\Contoso\\Enabled")
        XCTAssertEqual(out[2]["EventType"], "CreateKey")
        XCTAssertEqual(out[2]["TargetObject"], "\\REGISTRY\\USER\\S-1-5-18\\Run")
        XCTAssertEqual(out[3]["EventType"], "DeleteValue")
        XCTAssertEqual(out[3]["ProcessId"], "1234")
    }

    func testKernelProcessStartVersion3() throws {
        typealias B = EtlFileBuilder
        let sid: [UInt8] = [1, 1, 0, 0, 0, 0, 0, 16, 0, 0x30, 0, 0]  // S-1-16-12288 (high integrity)
        var payload = B.le(UInt32(4242)) + B.le(UInt64(77)) + B.le(Int64(133_485_408_000_000_000))
        payload += B.le(UInt32(1000)) + B.le(UInt64(70)) + B.le(UInt32(2)) + B.le(UInt32(0))
        payload += B.le(UInt32(2)) + B.le(UInt32(1)) + sid
        payload += B.utf16z("\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe") + B.le(UInt32(0)) + B.le(UInt32(0))
        payload += B.utf16z("") + B.utf16z("")
        let decoder = EtlEventDecoder(header: EtlLogfileHeader())
        var out: [Event] = []
        try payload.withUnsafeBytes { raw in
            var r = EtlRecord()
            r.kind = .event
            r.provider = EtlEventDecoder.kernelProcessProvider
            r.id = 1
            r.version = 3
            r.opcode = 1
            r.pointerSize = 8
            r.payload = raw
            r.time = EventTime(nanosecondsSinceEpoch: 1_704_067_200_000_000_000)
            try decoder.decode(r) { out.append($0) }
        }
        let e = try XCTUnwrap(out.first)
        XCTAssertEqual(e.kind, .processCreate)
        XCTAssertEqual(e["ProcessId"], "4242")
        XCTAssertEqual(e["ParentProcessId"], "1000")
        XCTAssertEqual(e["TerminalSessionId"], "2")
        XCTAssertEqual(e["IntegrityLevel"], "High")
        XCTAssertEqual(e["Image"], "\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe")
    }

    func testShortPayloadBecomesTraceEvent() throws {
        let decoder = EtlEventDecoder(header: EtlLogfileHeader())
        var out: [Event] = []
        try record(provider: KernelGroup.process, opcode: 1, version: 4, payload: [1, 2, 3]) { r in
            try decoder.decode(r) { out.append($0) }
        }
        XCTAssertEqual(out.count, 1)
        XCTAssertEqual(out[0].kind, .traceEvent)
        XCTAssertEqual(out[0]["Payload"], "010203")
        XCTAssertEqual(out[0]["ProviderGuid"], "{3D6FA8D0-FE05-11D0-9DDA-00C04FD7BA7C}")
    }

    func testIPv6Text() {
        func text(_ b: [UInt8]) -> String { b.withUnsafeBytes { ipText($0) } }
        XCTAssertEqual(text([UInt8](repeating: 0, count: 15) + [1]), "::1")
        XCTAssertEqual(text([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]), "2001:db8::1")
        XCTAssertEqual(text([UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 10, 0, 0, 1]), "::ffff:10.0.0.1")
    }
}
