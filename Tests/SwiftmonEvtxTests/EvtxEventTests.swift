import Foundation
import SwiftmonCore
import XCTest
@testable import SwiftmonEvtx

/// Records → events: Sysmon field for field, the documented mappings, the
/// generic WindowsEvent.
final class EvtxEventTests: XCTestCase {
    func events(_ name: String) throws -> [(EvtxRecord, Event)] {
        var out: [(EvtxRecord, Event)] = []
        try EvtxReader(path: EvtxCorpus.file(name).path).forEachRecord { out.append(($0, EvtxEventMapper.event($0))) }
        return out
    }

    func testSysmonProcessCreateFieldForField() throws {
        let all = try events("evtxrs_sysmon.evtx")
        let (record, e) = try XCTUnwrap(all.first { $0.0.eventID == 1 })
        XCTAssertEqual(record.recordID, 1742)
        XCTAssertEqual(e.kind, .processCreate)
        XCTAssertEqual(e["UtcTime"], "2017-12-26 13:10:29.134")
        XCTAssertEqual(e["ProcessGuid"], "{94F748D5-4A45-5A42-0000-0010D265F20F}")
        XCTAssertEqual(e["ProcessId"], "9112")
        XCTAssertEqual(e["Image"], "C:\\Windows\\SysWOW64\\PING.EXE")
        XCTAssertEqual(e["CommandLine"], "ping  -n 6 127.0.0.1 ")
        XCTAssertEqual(e["LogonId"], "0x3e7")
        XCTAssertEqual(e["TerminalSessionId"], "0")
        XCTAssertEqual(e["ParentProcessId"], "8392")
        // Sysmon 6 did not write these yet.
        XCTAssertEqual(e["RuleName"], "-")
        XCTAssertEqual(e["OriginalFileName"], "-")
        XCTAssertEqual(record.providerGuid, "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}")
        XCTAssertEqual(record.computer, "DESKTOP-2KGM189")
        XCTAssertEqual(record.userID, "S-1-5-18")
        XCTAssertEqual(record.processID, 2284)
        XCTAssertEqual(record.threadID, 5252)
        XCTAssertEqual(record.keywords, "0x8000000000000000")
        XCTAssertEqual(record.channel, "Microsoft-Windows-Sysmon/Operational")
        XCTAssertEqual(e.time.iso8601Nanoseconds, "2017-12-26T13:10:29.136879200Z")
        // Every Sysmon record of the corpus file becomes its own kind, none a WindowsEvent.
        XCTAssertTrue(all.allSatisfy { $0.1.kind.id == Int($0.0.eventID ?? 0) })
    }

    func testEverySysmonEventIDOfTheCorpusHasItsKind() throws {
        var seen = Set<Int>()
        for url in try EvtxCorpus.files() {
            try EvtxReader(path: url.path).forEachRecord { r in
                guard r.providerName == EvtxEventMapper.sysmonProvider else { return }
                let e = EvtxEventMapper.event(r)
                XCTAssertEqual(e.kind.id, Int(r.eventID ?? 0), "\(url.lastPathComponent) record \(r.recordID)")
                seen.insert(e.kind.id)
            }
        }
        XCTAssertEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 22, 23])
    }

    func testSecurity4688BecomesProcessCreate() throws {
        let (_, e) = try XCTUnwrap(try events("mitre_security_4688_4698_schtask.evtx").first { $0.0.eventID == 4688 })
        XCTAssertEqual(e.kind, .processCreate)
        XCTAssertEqual(e["ProcessId"], "5556")  // 0x15b4
        XCTAssertEqual(e["Image"], "C:\\Windows\\System32\\schtasks.exe")
        XCTAssertEqual(e["CommandLine"], "\"C:\\Windows\\system32\\schtasks.exe\" /create /sc minute /mo 1 /tn eviltask /tr C:\\tools\\shell.cmd /ru SYSTEM")
        XCTAssertEqual(e["User"], "OFFSEC\\admmig")  // TargetUserSid is S-1-0-0: the subject's account
        XCTAssertEqual(e["LogonId"], "0x6fc89e")
        XCTAssertEqual(e["IntegrityLevel"], "High")
        XCTAssertEqual(e["ParentProcessId"], "6120")  // 0x17e8
        XCTAssertEqual(e["ParentImage"], "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")
        XCTAssertEqual(e["ProcessGuid"], "-")
    }

    func testSystem7045BecomesServiceInstall() throws {
        let (_, e) = try XCTUnwrap(try events("mitre_system_7045_7036_psexec_service.evtx").first { $0.0.eventID == 7045 })
        XCTAssertEqual(e.kind, .serviceInstall)
        XCTAssertEqual(e["ServiceName"], "PSEXESVC")
        XCTAssertEqual(e["ServiceFile"], "%SystemRoot%\\PSEXESVC.exe")
        XCTAssertEqual(e["User"], "S-1-5-21-4230534742-2542757381-3142984815-1111")
        XCTAssertEqual(e["ProcessId"], "708")
        XCTAssertEqual(e["Manager"], "Service Control Manager")
    }

    func testPowerShell4104IsAWindowsEventWithItsScriptBlock() throws {
        let all = try events("mitre_powershell_800_4103_4104_bits.evtx")
        let (record, e) = try XCTUnwrap(all.first { $0.0.eventID == 4104 })
        XCTAssertEqual(e.kind, .windowsEvent)
        XCTAssertEqual(e["ProviderName"], "Microsoft-Windows-PowerShell")
        XCTAssertEqual(e["WindowsEventID"], "4104")
        XCTAssertEqual(e["Channel"], "Microsoft-Windows-PowerShell/Operational")
        XCTAssertEqual(e["Computer"], "FS03.offsec.lan")
        XCTAssertEqual(e["EventRecordID"], "1736")
        XCTAssertEqual(e["Level"], "5")
        XCTAssertEqual(e["Opcode"], "15")
        XCTAssertEqual(e["ProcessID"], "3336")
        XCTAssertEqual(e["UserID"], "S-1-5-21-4230534742-2542757381-3142984815-1111")
        let data = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(e["EventData"]).utf8)) as? [String: String])
        XCTAssertEqual(data["MessageNumber"], "1")
        XCTAssertEqual(data["ScriptBlockText"], "Start-BitsTransfer -Priority foreground -Source https://raw.githubusercontent.com/redcanaryco/atomic-red-team/master/atomics/T1197/T1197.md -Destination C:\\Users\\bits.ps1")
        XCTAssertEqual(data["ScriptBlockId"], "76350588-4aa4-4047-9ecb-9b285c4fa71b")  // a string in the record, not a GUID value
        XCTAssertEqual(record.recordID, 2)
        // Classic "Windows PowerShell" 800: unnamed <Data> items are keyed by position.
        let (_, classic) = try XCTUnwrap(all.first { $0.0.eventID == 800 })
        XCTAssertEqual(classic["ProviderName"], "PowerShell")
        XCTAssertTrue(classic["EventData"]?.hasPrefix("{\"Data1\":") ?? false, classic["EventData"] ?? "")
    }
}
