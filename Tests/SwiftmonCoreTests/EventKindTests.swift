import Foundation
import XCTest
@testable import SwiftmonCore

/// The schema is a contract with every tool that parses Sysmon output:
/// these lists are EVENTS.md's, field by field.
final class EventKindTests: XCTestCase {
    func testSysmonFieldsInSchemaOrder() {
        XCTAssertEqual(Array(EventKind.processCreate.fields.prefix(EventKind.processCreate.sysmonFieldCount)),
            ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion", "Description", "Product",
             "Company", "OriginalFileName", "CommandLine", "CurrentDirectory", "User", "LogonGuid", "LogonId",
             "TerminalSessionId", "IntegrityLevel", "Hashes", "ParentProcessGuid", "ParentProcessId", "ParentImage",
             "ParentCommandLine", "ParentUser"])
        let container = ["ContainerId", "ContainerRuntime", "PodUid", "CgroupPath", "PidNamespace", "MntNamespace",
                         "NetNamespace", "ContainerProcessId"]
        XCTAssertEqual(Array(EventKind.processCreate.extraFields), ["Architecture", "ImageNtPath"] + container)
        XCTAssertEqual(EventKind.processTerminate.fields, ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "ExitCode"] + container)
        XCTAssertEqual(EventKind.threadCreate.fields, ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "ThreadId", "Image", "User"] + container)
        XCTAssertEqual(EventKind.threadTerminate.fields, EventKind.threadCreate.fields)
        XCTAssertEqual(Array(EventKind.serviceStateChange.fields.prefix(4)), ["UtcTime", "State", "Version", "SchemaVersion"])
        XCTAssertEqual(EventKind.error.fields, ["UtcTime", "ID", "Description"])
        XCTAssertEqual(EventKind.processAccess.fields[2], "SourceProcessGUID", "upper-case GUID in event 10 only")
        XCTAssertEqual(EventKind.fileDelete.fields, ["RuleName", "UtcTime", "ProcessGuid", "ProcessId", "User", "Image",
                                                    "TargetFilename", "Hashes", "IsExecutable", "Archived",
                                                    "TargetFilenameNtPath"] + container)
        XCTAssertEqual(EventKind.fileDelete.sysmonFieldCount, 10)
        XCTAssertEqual(Array(EventKind.driverLoad.extraFields), ["ProcessGuid", "ProcessId", "Image", "User", "Result",
                                                                 "ImageBase", "ImageSize", "ImageLoadedNtPath"] + container)
        XCTAssertEqual(Array(EventKind.imageLoad.extraFields), ["ImageBase", "ImageSize", "ImageLoadedNtPath"] + container)
        XCTAssertEqual(EventKind.imageLoad.sysmonFieldCount, 16)
    }

    /// Every kind that describes a Linux process carries the container fields,
    /// last; the monitor's own events and Windows-only ones do not.
    func testContainerFieldsFollowEverythingElseOnEveryProcessEvent() {
        let withProcess: Set<Int> = [1, 3, 5, 6, 7, 9, 10, 11, 23, 100, 200, 201, 202, 203]
        for kind in EventKind.all {
            if withProcess.contains(kind.id) {
                let start = try! XCTUnwrap(kind.containerFieldsStart, "\(kind)")
                XCTAssertEqual(Array(kind.fields[start...]), ProcessContainer.fieldNames, "\(kind)")
                XCTAssertGreaterThanOrEqual(start, kind.sysmonFieldCount, "\(kind): never between Sysmon's fields")
            } else {
                XCTAssertNil(kind.containerFieldsStart, "\(kind)")
            }
        }
    }

    func testContainerFieldsOfAHostAndAContainedProcess() {
        let host = ProcessContainer(identity: nil, cgroupPath: "/user.slice/session-2.scope", pidNamespace: 4_026_531_836,
                                    mntNamespace: 4_026_531_841, netNamespace: 4_026_531_840)
        var e = Event(.fileCreate, time: EventTime(nanosecondsSinceEpoch: 0))
        e.setContainer(host, pid: 42, containerPid: 42)
        XCTAssertEqual(e["ContainerId"], "-")
        XCTAssertEqual(e["ContainerRuntime"], "-")
        XCTAssertEqual(e["PodUid"], "-")
        XCTAssertEqual(e["CgroupPath"], "/user.slice/session-2.scope")
        XCTAssertEqual(e["PidNamespace"], "4026531836")
        XCTAssertEqual(e["ContainerProcessId"], "-", "the same pid inside and outside")

        let id = String(repeating: "0123456789abcdef", count: 4)
        let path = "/system.slice/docker-\(id).scope"
        let inside = ProcessContainer(identity: ContainerIdentity.of(cgroupPath: path), cgroupPath: path,
                                      pidNamespace: 4_026_532_301, mntNamespace: 1, netNamespace: 2)
        var n = Event(.networkConnect, time: EventTime(nanosecondsSinceEpoch: 0))
        n.setContainer(inside, pid: 9000, containerPid: 1)
        XCTAssertEqual(n["ContainerId"], id)
        XCTAssertEqual(n["ContainerRuntime"], "docker")
        XCTAssertEqual(n["ContainerProcessId"], "1")
        XCTAssertEqual(n["NetNamespace"], "2")

        var unknown = Event(.processTerminate, time: EventTime(nanosecondsSinceEpoch: 0))
        unknown.setContainer(nil, pid: 5, containerPid: 0)
        XCTAssertEqual(Array(unknown.values.suffix(8)), Array(repeating: "-", count: 8))
    }

    func testIDsAndRuleTagsAreUnique() {
        XCTAssertEqual(Set(EventKind.all.map(\.id)).count, EventKind.all.count)
        XCTAssertEqual(EventKind.withID(1)?.ruleTag, "ProcessCreate")
        XCTAssertEqual(EventKind.withRuleTag("RegistryEvent").map(\.id), [12, 13, 14])
        XCTAssertNil(EventKind.withID(4)?.ruleTag, "the monitor's own state is not filterable")
        for kind in EventKind.all {
            XCTAssertEqual(Set(kind.fields).count, kind.fields.count, "\(kind) repeats a field")
            for (i, f) in kind.fields.enumerated() { XCTAssertEqual(kind.index(of: f), i) }
        }
    }

    func testNewEventHasEveryFieldAbsentButTime() {
        let e = Event(.processCreate, time: EventTime(nanosecondsSinceEpoch: 1_700_000_000_123_456_789))
        XCTAssertEqual(e["UtcTime"], "2023-11-14 22:13:20.123")
        XCTAssertEqual(e.values.filter { $0 == "-" }.count, e.kind.fields.count - 1)
        XCTAssertNil(e["NoSuchField"])
        XCTAssertEqual(e.time.iso8601Nanoseconds, "2023-11-14T22:13:20.123456789Z")
    }

    func testCivilDatesAgreeWithTheCLibrary() {
        var t: Int64 = -2_000_000_000
        while t < 8_000_000_000 {
            var seconds = time_t(t)
            var tm = tm()
            gmtime_r(&seconds, &tm)
            let expected = String(format: "%04d-%02d-%02d %02d:%02d:%02d.000", tm.tm_year + 1900, tm.tm_mon + 1,
                                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
            XCTAssertEqual(EventTime(nanosecondsSinceEpoch: t * 1_000_000_000).sysmonText, expected)
            t += 7_777_777  // about 90 days, landing on every kind of day over 300 years
        }
        XCTAssertEqual(EventTime(nanosecondsSinceEpoch: 951_782_400_000_000_000).sysmonText, "2000-02-29 00:00:00.000")
    }

    func testTimesBeforeTheEpochFormat() {
        XCTAssertEqual(EventTime(nanosecondsSinceEpoch: -1).sysmonText, "1969-12-31 23:59:59.999")
    }
}

final class ProcessGuidTests: XCTestCase {
    let host = HostIdentity(machine: 0x3D12_19C7, ticksPerSecond: 100, bootEpochNanoseconds: 0)

    func testLayoutAndStability() {
        let g = host.guid(pid: 0x58F7, startBootNanoseconds: 91_350_000_000)
        XCTAssertEqual(g.description, "{3d1219c7-0000-0000-0000-23af000058f7}")
        XCTAssertEqual(host.guid(pid: 0x58F7, startTicks: 9135), g, "/proc start ticks give the same GUID")
    }

    func testLogonGuidCarriesTheLoginUID() {
        XCTAssertEqual(host.logonGuid(loginUID: 1000), "{3d1219c7-0000-0000-0000-0000000003e8}")
        XCTAssertEqual(host.logonGuid(loginUID: 0xFFFF_FFFF), "{3d1219c7-0000-0000-0000-0000ffffffff}")
    }

    func testPidReuseGivesANewGuid() {
        XCTAssertNotEqual(host.guid(pid: 100, startBootNanoseconds: 1_000_000_000),
                          host.guid(pid: 100, startBootNanoseconds: 1_010_000_000))
    }

    func testMachineWord() {
        XCTAssertEqual(HostIdentity.machineWord(fromMachineID: "3d1219c7a5b64c0f9d...\n"), 0x3D12_19C7)
        XCTAssertNil(HostIdentity.machineWord(fromMachineID: "xyz"))
    }
}

final class ProcessCacheTests: XCTestCase {
    func testExitedEntriesStayForInFlightRecords() {
        var cache = ProcessCache(retention: 2)
        let g = ProcessGuid(machine: 1, startTicks: 1, pid: 7)
        cache.insert(ProcessEntry(guid: g, pid: 7, image: Array("/bin/x".utf8), commandLine: [], user: "root"))
        cache.markExited(pid: 7, guid: g)
        XCTAssertNotNil(cache.lookup(pid: 7, guid: g))
        for i in 0..<3 { cache.insert(ProcessEntry(guid: ProcessGuid(machine: 1, startTicks: 2, pid: UInt32(100 + i)), pid: UInt32(100 + i), image: [], commandLine: [], user: "u")) }
        XCTAssertNil(cache.lookup(pid: 7, guid: g))
    }

    func testEntryStaysSmallAndKeepsExactBytes() {
        // One entry per live process: its inline size is what tens of thousands of them cost.
        XCTAssertLessThanOrEqual(MemoryLayout<ProcessEntry>.stride, 88)
        XCTAssertEqual(MemoryLayout<ProcessGuid>.stride, 16)
        let g = ProcessGuid(machine: 0xAB, startTicks: 42, pid: 9)
        let bad: [UInt8] = Array("/tmp/x".utf8) + [0xFF]
        let e = ProcessEntry(guid: g, pid: 9, image: bad, commandLine: Array("a b".utf8), user: "root")
        XCTAssertEqual(e.guidText, g.description)
        XCTAssertEqual(e.image.string, "/tmp/x\\xff")
        XCTAssertFalse(e.image.isExact)
        XCTAssertEqual(e.imageBytes, bad)
        XCTAssertTrue(e.commandLine.isExact)
        XCTAssertNil(e.commandLineBytes)
        XCTAssertEqual(e.commandLine.string, "a b")
    }

    func testProcessesOfOneImageShareItsText() {
        var cache = ProcessCache()
        let image = Array("/usr/lib/systemd/systemd-userwork".utf8)
        for pid in UInt32(1)...2 {
            cache.insert(ProcessEntry(guid: ProcessGuid(machine: 1, startTicks: 1, pid: pid), pid: pid,
                                      image: image, commandLine: [], user: "root"))
        }
        var a = cache[1]!.image.string, b = cache[2]!.image.string
        XCTAssertEqual(a, b)
        let pa = a.withUTF8 { UInt(bitPattern: $0.baseAddress) }, pb = b.withUTF8 { UInt(bitPattern: $0.baseAddress) }
        XCTAssertEqual(pa, pb, "one copy of the image's text for both processes")
    }

    func testCacheGivesBackItsRoomAfterABurst() {
        var cache = ProcessCache(retention: 16)
        let n: UInt32 = 20_000
        let guid = { (pid: UInt32) in ProcessGuid(machine: 1, startTicks: UInt64(pid), pid: pid) }
        for pid in 1...n { cache.insert(ProcessEntry(guid: guid(pid), pid: pid, image: [], commandLine: [], user: "u")) }
        XCTAssertEqual(cache.count, Int(n))
        XCTAssertFalse(cache.takeShrank())
        // All but the last 100 exit; the retention window then lets them go.
        for pid in 1...(n - 100) { cache.markExited(pid: pid, guid: guid(pid)) }
        for i in UInt32(0)..<32 { cache.markExited(pid: 900_000 + i, guid: guid(900_000 + i)) }
        XCTAssertEqual(cache.count, 100)
        XCTAssertTrue(cache.takeShrank())
        XCTAssertFalse(cache.takeShrank(), "reported once")
        for pid in (n - 99)...n { XCTAssertNotNil(cache.lookup(pid: pid, guid: guid(pid))) }
        XCTAssertNil(cache.lookup(pid: 5, guid: guid(5)))
    }

    func testDenseStorageMatchesADictionaryThroughInsertsExitsAndPidReuse() {
        // The entries move when others go (the last fills the gap): every
        // lookup must still find its own, as a plain dictionary would.
        var cache = ProcessCache(retention: 8)
        var model: [UInt32: ProcessGuid] = [:]
        var pending: [(pid: UInt32, guid: ProcessGuid, at: Int)] = []
        var generator = SystemRandomNumberGenerator()
        var clock = 0
        func expire() {
            while let first = pending.first, clock - first.at > 8 {
                if model[first.pid] == first.guid { model[first.pid] = nil }
                pending.removeFirst()
            }
        }
        for step in 0..<30_000 {
            let pid = UInt32.random(in: 1...3000, using: &generator)
            clock += 1
            expire()
            if let guid = model[pid], Bool.random(using: &generator), !pending.contains(where: { $0.pid == pid }) {
                cache.markExited(pid: pid, guid: guid)
                pending.append((pid, guid, clock))
            } else {
                let guid = ProcessGuid(machine: 1, startTicks: UInt64(step), pid: pid)
                cache.insert(ProcessEntry(guid: guid, pid: pid, image: [], commandLine: Array("c \(step)".utf8), user: "u"))
                model[pid] = guid
                pending.removeAll { $0.pid == pid }
            }
            if step % 997 == 0 {
                XCTAssertEqual(cache.count, model.count, "step \(step)")
                for (pid, guid) in model { XCTAssertEqual(cache.lookup(pid: pid, guid: guid)?.guid, guid, "pid \(pid)") }
            }
        }
    }

    func testStorageHoldsLittleMoreThanItsEntries() {
        // 32,000 live processes: the room kept is within a quarter (plus a
        // little) of what they need, not the up-to-twice of a dictionary of
        // entries; after they exit it goes back to a few.
        var cache = ProcessCache(retention: 16)
        let n: UInt32 = 32_000
        let guid = { (pid: UInt32) in ProcessGuid(machine: 1, startTicks: UInt64(pid), pid: pid) }
        for pid in 1...n { cache.insert(ProcessEntry(guid: guid(pid), pid: pid, image: [], commandLine: [], user: "u")) }
        XCTAssertEqual(cache.count, Int(n))
        XCTAssertGreaterThanOrEqual(cache.reservedEntries, Int(n))
        XCTAssertLessThanOrEqual(cache.reservedEntries, Int(n) + Int(n) / 4 + 64)
        for pid in 1...(n - 10) { cache.markExited(pid: pid, guid: guid(pid)) }
        for i in UInt32(0)..<32 { cache.markExited(pid: 900_000 + i, guid: guid(900_000 + i)) }
        XCTAssertEqual(cache.count, 10)
        XCTAssertLessThan(cache.reservedEntries, 4096)
        for pid in (n - 9)...n { XCTAssertEqual(cache.lookup(pid: pid, guid: guid(pid))?.pid, pid) }
    }

    func testReusedPidIsNotConfusedWithTheOldProcess() {
        var cache = ProcessCache()
        let old = ProcessGuid(machine: 1, startTicks: 1, pid: 7), new = ProcessGuid(machine: 1, startTicks: 5, pid: 7)
        cache.insert(ProcessEntry(guid: new, pid: 7, image: [], commandLine: [], user: "u"))
        XCTAssertNil(cache.lookup(pid: 7, guid: old))
        XCTAssertNotNil(cache.lookup(pid: 7, guid: new))
    }
}
