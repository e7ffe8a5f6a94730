import Foundation
import SwiftmonCore
import XCTest
@testable import SwiftmonETL

/// Field values checked against the event layouts (MOF classes, PerfView's
/// TraceEvent parsers): image sizes and bases, Defunct's image name, one
/// event per process start and end, drive letters from the trace's own
/// volume names.
final class EtlFidelityTests: XCTestCase {
    typealias B = EtlFileBuilder

    private func decode(_ name: String) throws -> (events: [Event], summary: EtlSummary) {
        let sink = CollectingSink()
        let summary = try EtlDecoder.decode(file: try EtlCorpus.file(name).path, into: sink)
        XCTAssertEqual(sink.events.count + summary.mergedRecords, summary.records, "every record is an event or merged into one")
        return (sink.events, summary)
    }

    private func decode(_ file: B) throws -> (events: [Event], summary: EtlSummary) {
        let sink = CollectingSink()
        let summary = try EtlDecoder.decode(bytes: EtlFileBytes(copying: file.build()), into: sink)
        XCTAssertEqual(sink.events.count + summary.mergedRecords, summary.records, "every record is an event or merged into one")
        return (sink.events, summary)
    }

    private func sid(_ subAuthorities: [UInt32], authority: UInt8 = 5) -> [UInt8] {
        [1, UInt8(subAuthorities.count), 0, 0, 0, 0, 0, authority] + subAuthorities.flatMap { B.le($0) }
    }

    /// Process_V4 payload (64-bit): key, pid, parent, session, status,
    /// DirectoryTableBase, flags, TOKEN_USER + SID, ANSI name, command line,
    /// package name, application id; V5 (Defunct) adds ExitTime.
    private func processV4(pid: UInt32, ppid: UInt32, status: UInt32, name: String, commandLine: String,
                           exitTime: Int64? = nil) -> [UInt8] {
        var p = B.le(UInt64(0xFFFF_FA83_00CF_B380)) + B.le(pid) + B.le(ppid) + B.le(UInt32(1)) + B.le(status)
        p += B.le(UInt64(0x558F_B000)) + B.le(UInt32(0))
        p += B.le(UInt64(0xFFFF_F8A0_054F_8EA0)) + B.le(UInt64(0)) + sid([18])
        p += Array(name.utf8) + [0] + B.utf16z(commandLine) + B.utf16z("") + B.utf16z("")
        if let exitTime { p += B.le(exitTime) }
        return p
    }

    // MARK: Item 7: Image V0 (64-bit): ModuleSize is 4 bytes

    func testImageVersion0On64BitReadsTheNameAfterA4ByteSize() throws {
        var b = B()
        b.buffers.append((processor: 0, records: [
            // Image_V0_Load: BaseAddress (pointer), ModuleSize (UINT32), ImageFileName.
            B.system(group: 3, opcode: 10, version: 0, pid: 1234, ticks: 1_000_100,
                     payload: B.le(UInt64(0x7FF6_1234_0000)) + B.le(UInt32(0x1A000)) + B.utf16z("C:\\Tools\\probe.exe")),
            B.system(group: 3, opcode: 10, version: 0, pid: 0, ticks: 1_000_200,
                     payload: B.le(UInt64(0xFFFF_F800_0123_4000)) + B.le(UInt32(0x5000)) + B.utf16z("C:\\Windows\\System32\\drivers\\null.sys")),
        ], compressed: false))
        let events = try decode(b).events
        XCTAssertEqual(events.map(\.kind), [.traceEvent, .imageLoad, .driverLoad])
        let load = events[1]
        XCTAssertEqual(load["ImageLoaded"], "C:\\Tools\\probe.exe")
        XCTAssertEqual(load["ProcessId"], "1234")
        XCTAssertEqual(load["ImageBase"], "0x00007FF612340000")
        XCTAssertEqual(load["ImageSize"], "0x1A000")
        XCTAssertEqual(load["ImageLoadedNtPath"], "-", "nothing was mapped")
        let driver = events[2]
        XCTAssertEqual(driver["ImageLoaded"], "C:\\Windows\\System32\\drivers\\null.sys")
        XCTAssertEqual(driver["ImageBase"], "0xFFFFF80001234000")
        XCTAssertEqual(driver["ImageSize"], "0x5000")
    }

    func testImageBaseAndSizeFromTheCorpus() throws {
        let loads = try decode("sawbuck_image_data_64_v2.etl").events.filter { $0.kind == .imageLoad }
        let program = try XCTUnwrap(loads.first { $0["ImageLoaded"] == "C:\\code\\sawbuck\\src\\sawbuck\\Debug\\test_program.exe" })
        XCTAssertEqual(program["ImageBase"], "0x0000000001160000")
        XCTAssertEqual(program["ImageSize"], "0x19E000")
        let ntdll = try XCTUnwrap(loads.first { $0["ImageLoaded"] == "C:\\Windows\\system32\\ntdll.dll" })
        XCTAssertEqual(ntdll["ImageBase"], "0x0000000076E10000")
        XCTAssertEqual(ntdll["ImageSize"], "0x127000")
    }

    // MARK: Item 8: Process Defunct carries the image name

    func testDefunctReportsTheImageNameOfItsPayload() throws {
        var b = B()
        b.buffers.append((processor: 0, records: [
            // A thread of pid 2000 makes the process known, without a name.
            B.system(type: 0x04, group: 5, opcode: 3, version: 3, pid: 2000, tid: 2001, ticks: 1_000_100,
                     payload: B.le(UInt32(2000)) + B.le(UInt32(2001))),
            // Defunct V5: the process object freed; the payload names it.
            B.perfInfo(group: 3, opcode: 39, version: 5, ticks: 1_000_200,
                       payload: processV4(pid: 2000, ppid: 600, status: 0xC000_0005, name: "svchost.exe", commandLine: "",
                                          exitTime: 133_485_408_000_000_000)),
            // End then Defunct of pid 3000: one ProcessTerminate; the Defunct stays a TraceEvent.
            B.system(group: 3, opcode: 2, version: 4, pid: 3000, ticks: 1_000_300,
                     payload: processV4(pid: 3000, ppid: 600, status: 0, name: "notepad.exe", commandLine: "notepad")),
            B.perfInfo(group: 3, opcode: 39, version: 5, ticks: 1_000_400,
                       payload: processV4(pid: 3000, ppid: 600, status: 0, name: "notepad.exe", commandLine: "",
                                          exitTime: 133_485_408_000_000_000)),
        ], compressed: false))
        let events = try decode(b).events
        XCTAssertEqual(events.map(\.kind), [.traceEvent, .threadCreate, .processTerminate, .processTerminate, .traceEvent])
        let defunct = events[2]
        XCTAssertEqual(defunct["ProcessId"], "2000")
        XCTAssertEqual(defunct["Image"], "svchost.exe")
        XCTAssertEqual(defunct["User"], "NT AUTHORITY\\SYSTEM")
        XCTAssertEqual(defunct["ExitCode"], "-1073741819")
        XCTAssertEqual(defunct["ProcessGuid"], events[1]["ProcessGuid"], "the thread's process")
        XCTAssertEqual(events[3]["Image"], "notepad.exe")
        XCTAssertEqual(events[4]["Opcode"], "39")
    }

    func testDefunctInTheCorpusNamesItsImage() throws {
        // Windows 10: Defunct V5 of svchost.exe (pid 496) and MsMpEng.exe, whose End the trace lacks.
        let ends = try decode("airbus_ShutdownPerfDiagLogger.etl").events.filter { $0.kind == .processTerminate }
        // The table knows the full path (from the image rundown) and keeps it.
        let svchost = try XCTUnwrap(ends.first { $0["ProcessId"] == "496" })
        XCTAssertEqual(svchost["Image"], "\\Device\\HarddiskVolume3\\Windows\\System32\\svchost.exe")
        XCTAssertEqual(svchost["User"], "NT AUTHORITY\\NETWORK SERVICE")
        XCTAssertTrue(ends.contains { $0["Image"]!.hasSuffix("\\MsMpEng.exe") })
        XCTAssertFalse(ends.contains { $0["Image"] == "-" }, "every end names its image")
    }

    // MARK: Item 9: one process, one ProcessCreate and one ProcessTerminate

    func testBothProcessProvidersMakeOneEventInTheCorpus() throws {
        let (all, summary) = try decode("perfview_net.4.5.2.x64.etl")
        XCTAssertEqual(summary.mergedRecords, 2, "the manifest and classic reports of one start and one end")
        let starts = all.filter { $0.kind == .processCreate && $0["ProcessId"] == "3676" }
        XCTAssertEqual(starts.count, 1)
        let start = try XCTUnwrap(starts.first)
        // Kernel-Process: the creation time and the full path (a UNC path).
        XCTAssertEqual(start.time.iso8601Nanoseconds, "2020-07-29T00:07:03.356400800Z")
        XCTAssertEqual(start["UtcTime"], "2020-07-29 00:07:03.356")
        XCTAssertEqual(start["Image"], "\\\\clrmain\\public\\PerfInvestigations\\20-07-28.TestTraces\\Test.x64.exe")
        XCTAssertEqual(start["ImageNtPath"], "\\Device\\Mup\\clrmain\\public\\PerfInvestigations\\20-07-28.TestTraces\\Test.x64.exe")
        // Classic: command line and user.
        XCTAssertEqual(start["CommandLine"], "Test.x64.exe")
        XCTAssertEqual(start["User"], "S-1-5-21-2935914779-1618742390-1451969622-1001")
        XCTAssertEqual(start["ParentProcessId"], "3508")
        XCTAssertEqual(start["TerminalSessionId"], "1")
        let ends = all.filter { $0.kind == .processTerminate && $0["ProcessId"] == "3676" }
        XCTAssertEqual(ends.count, 1)
        XCTAssertEqual(ends.first?["ProcessGuid"], start["ProcessGuid"])
        XCTAssertEqual(ends.first?["ExitCode"], "0")
        XCTAssertEqual(ends.first?["Image"], start["Image"])
        XCTAssertEqual(ends.first?["User"], start["User"])
    }

    func testManifestAndClassicStartMergeEitherOrder() throws {
        let kernelProcess = EtlEventDecoder.kernelProcessProvider
        // ProcessStart v3: pid, sequence, CreateTime, parent, parent sequence,
        // session, flags, elevation type, elevated, mandatory label, image, …
        let created: Int64 = 133_485_408_000_000_000 + 12_345  // 2024-01-01T00:00:00.0012345Z
        var manifest = B.le(UInt32(4242)) + B.le(UInt64(77)) + B.le(created) + B.le(UInt32(1000)) + B.le(UInt64(70))
        manifest += B.le(UInt32(2)) + B.le(UInt32(0)) + B.le(UInt32(2)) + B.le(UInt32(1)) + sid([12288], authority: 16)
        manifest += B.utf16z("\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe") + B.le(UInt32(0)) + B.le(UInt32(0))
        manifest += B.utf16z("") + B.utf16z("")
        let classic = processV4(pid: 4242, ppid: 1000, status: 0x103, name: "cmd.exe", commandLine: "cmd /c dir")
        for manifestFirst in [true, false] {
            var b = B()
            let m = B.event(provider: kernelProcess, id: 1, version: 3, opcode: 1, pid: 1000, ticks: manifestFirst ? 1_000_100 : 1_000_200,
                            payload: manifest)
            let c = B.system(group: 3, opcode: 1, version: 4, pid: 1000, ticks: manifestFirst ? 1_000_200 : 1_000_100, payload: classic)
            // A thread of the new process between the two reports keeps its place after the start.
            let t = B.system(type: 0x04, group: 5, opcode: 1, version: 3, pid: 4242, tid: 4243, ticks: 1_000_150,
                             payload: B.le(UInt32(4242)) + B.le(UInt32(4243)))
            b.buffers.append((processor: 0, records: manifestFirst ? [m, t, c] : [c, t, m], compressed: false))
            let (events, summary) = try decode(b)
            XCTAssertEqual(summary.mergedRecords, 1)
            XCTAssertEqual(events.map(\.kind), [.traceEvent, .processCreate, .threadCreate], "manifest first: \(manifestFirst)")
            let e = events[1]
            XCTAssertEqual(e.time.iso8601Nanoseconds, "2024-01-01T00:00:00.001234500Z", "the creation time")
            XCTAssertEqual(e["Image"], "\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe", "no volume names in this trace")
            XCTAssertEqual(e["CommandLine"], "cmd /c dir")
            XCTAssertEqual(e["User"], "NT AUTHORITY\\SYSTEM")
            XCTAssertEqual(e["IntegrityLevel"], "High")
            XCTAssertEqual(e["TerminalSessionId"], "2", "the manifest report wins where both have a value")
            XCTAssertEqual(e["ParentProcessId"], "1000")
            XCTAssertEqual(events[2]["ProcessGuid"], e["ProcessGuid"])
        }
    }

    func testOneProviderAloneIsNotHeldBack() throws {
        // Only classic reports: nothing waits for a partner, order is kept.
        var b = B()
        b.buffers.append((processor: 0, records: [
            B.system(group: 3, opcode: 1, version: 4, pid: 1000, ticks: 1_000_100,
                     payload: processV4(pid: 5000, ppid: 1000, status: 0x103, name: "a.exe", commandLine: "a")),
            B.system(group: 3, opcode: 1, version: 4, pid: 1000, ticks: 1_000_200,
                     payload: processV4(pid: 5001, ppid: 1000, status: 0x103, name: "b.exe", commandLine: "b")),
        ], compressed: false))
        let (events, summary) = try decode(b)
        XCTAssertEqual(summary.mergedRecords, 0)
        XCTAssertEqual(events.map { $0["Image"] }, [nil, "a.exe", "b.exe"])
    }

    // MARK: Item 10: drive letters from the trace's own volume names

    func testVolumeMappingAndSystemPathsAtTheEndOfTheTraceMapEarlierPaths() throws {
        let kernelProcess = EtlEventDecoder.kernelProcessProvider
        var b = B()
        b.buffers.append((processor: 0, records: [
            // Kernel-Process ImageLoad v0: base, size, pid, checksum, timestamp, default base, name.
            B.event(provider: kernelProcess, id: 5, opcode: 10, pid: 1234, ticks: 1_000_100,
                    payload: B.le(UInt64(0x7FF7_0000_0000)) + B.le(UInt64(0x2000)) + B.le(UInt32(1234)) + B.le(UInt32(0))
                        + B.le(UInt32(0)) + B.le(UInt64(0)) + B.utf16z("\\Device\\HarddiskVolume2\\Tools\\probe.exe")),
            // Not volume 2: a prefix must end at a separator.
            B.system(group: 3, opcode: 10, version: 2, pid: 1234, ticks: 1_000_200,
                     payload: B.le(UInt64(0x7FF7_1000_0000)) + B.le(UInt64(0x3000)) + B.le(UInt32(1234)) + [UInt8](repeating: 0, count: 12)
                        + B.le(UInt64(0)) + [UInt8](repeating: 0, count: 16) + B.utf16z("\\Device\\HarddiskVolume20\\x.dll")),
            // A driver under \SystemRoot.
            B.system(group: 3, opcode: 10, version: 2, pid: 0, ticks: 1_000_300,
                     payload: B.le(UInt64(0xFFFF_F800_0200_0000)) + B.le(UInt64(0x8000)) + B.le(UInt32(0)) + [UInt8](repeating: 0, count: 12)
                        + B.le(UInt64(0)) + [UInt8](repeating: 0, count: 16) + B.utf16z("\\SystemRoot\\System32\\drivers\\tcpip.sys")),
            // FileIo Create (v3) that creates a file on volume 5 (mapped to a mount folder) and one by \??\ name.
            B.system(group: 4, opcode: 64, version: 3, pid: 1234, ticks: 1_000_400,
                     payload: B.le(UInt64(1)) + B.le(UInt64(2)) + B.le(UInt32(99)) + B.le(UInt32(2 << 24)) + B.le(UInt32(0)) + B.le(UInt32(0))
                        + B.utf16z("\\device\\harddiskvolume5\\logs\\a.txt")),
            B.system(group: 4, opcode: 64, version: 3, pid: 1234, ticks: 1_000_500,
                     payload: B.le(UInt64(1)) + B.le(UInt64(2)) + B.le(UInt32(99)) + B.le(UInt32(2 << 24)) + B.le(UInt32(0)) + B.le(UInt32(0))
                        + B.utf16z("\\??\\D:\\out.txt")),
            // SystemConfig, written by the kernel when the trace stops.
            B.system(group: 11, opcode: 35, version: 2, pid: 0, ticks: 1_000_600,
                     payload: B.utf16z("\\Device\\HarddiskVolume2") + B.utf16z("C:")),
            B.system(group: 11, opcode: 35, version: 2, pid: 0, ticks: 1_000_700,
                     payload: B.utf16z("\\Device\\HarddiskVolume5\\") + B.utf16z("C:\\mnt\\data\\")),
            B.system(group: 11, opcode: 33, version: 2, pid: 0, ticks: 1_000_800,
                     payload: B.utf16z("C:\\Windows\\system32") + B.utf16z("C:\\Windows")),
        ], compressed: false))
        let events = try decode(b).events
        XCTAssertEqual(events.map(\.kind), [.traceEvent, .imageLoad, .imageLoad, .driverLoad, .fileCreate, .fileCreate,
                                            .traceEvent, .traceEvent, .traceEvent])
        XCTAssertEqual(events[1]["ImageLoaded"], "C:\\Tools\\probe.exe")
        XCTAssertEqual(events[1]["ImageLoadedNtPath"], "\\Device\\HarddiskVolume2\\Tools\\probe.exe")
        XCTAssertEqual(events[1]["ImageBase"], "0x00007FF700000000")
        XCTAssertEqual(events[1]["ImageSize"], "0x2000")
        XCTAssertEqual(events[2]["ImageLoaded"], "\\Device\\HarddiskVolume20\\x.dll")
        XCTAssertEqual(events[2]["ImageLoadedNtPath"], "-")
        XCTAssertEqual(events[3]["ImageLoaded"], "C:\\Windows\\System32\\drivers\\tcpip.sys")
        XCTAssertEqual(events[3]["ImageLoadedNtPath"], "\\SystemRoot\\System32\\drivers\\tcpip.sys")
        XCTAssertEqual(events[4]["TargetFilename"], "C:\\mnt\\data\\logs\\a.txt")
        XCTAssertEqual(events[4]["TargetFilenameNtPath"], "\\device\\harddiskvolume5\\logs\\a.txt")
        XCTAssertEqual(events[5]["TargetFilename"], "D:\\out.txt")
        XCTAssertEqual(events[5]["TargetFilenameNtPath"], "\\??\\D:\\out.txt")
    }

    func testPathMapRules() {
        var map = WindowsPathMap()
        XCTAssertNil(map.map("\\Device\\HarddiskVolume2\\a.txt"), "nothing known: shown as the trace has it")
        XCTAssertEqual(map.map("\\??\\C:\\a.txt"), "C:\\a.txt")
        XCTAssertEqual(map.map("\\??\\UNC\\srv\\share\\a.txt"), "\\\\srv\\share\\a.txt")
        XCTAssertEqual(map.map("\\Device\\Mup\\srv\\share\\a.txt"), "\\\\srv\\share\\a.txt")
        XCTAssertEqual(map.map("\\Device\\Mup\\;LanmanRedirector\\;Z:00000000000d3e2a\\srv\\share\\a.txt"), "\\\\srv\\share\\a.txt")
        XCTAssertEqual(map.map("\\Device\\Mup\\DfsClient\\;Z:0000000000020d40\\srv\\share\\a.txt"), "\\\\srv\\share\\a.txt")
        XCTAssertNil(map.map("C:\\a.txt"))
        XCTAssertNil(map.map("\\\\srv\\share"))
        XCTAssertNil(map.map("\\SystemRoot\\a.dll"), "no Windows directory yet")
        map.addVolume(ntPath: "\\Device\\HarddiskVolume1", dosPath: "E:")
        map.addVolume(ntPath: "\\Device\\HarddiskVolume10\\", dosPath: "F:\\")
        map.setWindowsDirectory("D:\\WINNT\\")
        XCTAssertEqual(map.map("\\Device\\HarddiskVolume1\\x"), "E:\\x")
        XCTAssertEqual(map.map("\\DEVICE\\HARDDISKVOLUME10\\x"), "F:\\x")
        XCTAssertEqual(map.map("\\Device\\HarddiskVolume1"), "E:")
        XCTAssertNil(map.map("\\Device\\HarddiskVolume11\\x"))
        XCTAssertEqual(map.map("\\SystemRoot\\system32\\ntdll.dll"), "D:\\WINNT\\system32\\ntdll.dll")
        XCTAssertEqual(map.map("\\Windows\\explorer.exe"), "D:\\WINNT\\explorer.exe")
        XCTAssertNil(map.map("\\WindowsApps\\x"))
        // A remapped device takes the newer name.
        map.addVolume(ntPath: "\\Device\\HarddiskVolume1", dosPath: "G:")
        XCTAssertEqual(map.map("\\Device\\HarddiskVolume1\\x"), "G:\\x")
    }
}

/// The wait for a partner report is bounded in time and in events held.
final class EtlProcessReportMergeTests: XCTestCase {
    typealias B = EtlFileBuilder

    func testUnmatchedReportsWaitAtMostTheWindowAndKeepOrder() throws {
        // Both providers are present (so reports wait), but these starts have no partner:
        // each is emitted once the trace moves 100 ms past it, in record order.
        let decoder = EtlEventDecoder(header: EtlLogfileHeader())
        decoder.mergesProcessReports = true
        var out: [Event] = []
        let base: Int64 = 1_700_000_000_000_000_000
        func run(_ provider: Guid, opcode: UInt8, version: UInt16, payload: [UInt8], at ns: Int64, kind: EtlHeaderKind) throws {
            try payload.withUnsafeBytes { raw in
                var r = EtlRecord()
                r.kind = kind
                r.provider = provider
                r.opcode = opcode
                r.version = version
                r.id = kind == .event ? 1 : 0
                r.processId = 4
                r.pointerSize = 8
                r.time = EventTime(nanosecondsSinceEpoch: base + ns)
                r.payload = raw
                try decoder.decode(r) { out.append($0) }
            }
        }
        let thread = B.le(UInt32(4)) + B.le(UInt32(8))
        var start = B.le(UInt32(700)) + B.le(Int64(0)) + B.le(UInt32(4)) + B.le(UInt32(1)) + B.le(UInt32(0))
        start += B.utf16z("\\Device\\HarddiskVolume1\\a.exe")
        try run(EtlEventDecoder.kernelProcessProvider, opcode: 1, version: 1, payload: start, at: 0, kind: .event)
        try run(KernelGroup.thread, opcode: 1, version: 3, payload: thread, at: 50_000_000, kind: .system)
        XCTAssertEqual(out.count, 0, "the start waits for its partner, the thread behind it")
        try run(KernelGroup.thread, opcode: 1, version: 3, payload: thread, at: 150_000_000, kind: .system)
        XCTAssertEqual(out.map(\.kind), [.processCreate, .threadCreate, .threadCreate])
        XCTAssertEqual(out[0]["ProcessId"], "700")
        XCTAssertEqual(decoder.mergedRecords, 0)
        // At the end, whatever still waits is emitted.
        try run(EtlEventDecoder.kernelProcessProvider, opcode: 1, version: 1, payload: start, at: 10_000_000_000, kind: .event)
        XCTAssertEqual(out.count, 3)
        try decoder.finish { out.append($0) }
        XCTAssertEqual(out.count, 4)
    }
}
