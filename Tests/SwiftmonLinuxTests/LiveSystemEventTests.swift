import Foundation
import SwiftmonTestSupport
import XCTest

/// DriverLoad, ProcessAccess, eBPFEvent, RawAccessRead, ServiceInstall and
/// ImageLoad from the real sensor, each caused by a real process.
final class LiveSystemEventTests: XCTestCase {
    func testFinitModuleAndInitModuleAreDriverLoadsWithTheirResult() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("module")
        defer { try? FileManager.default.removeItem(at: dir) }
        let module = dir.appendingPathComponent("fake module.ko")
        try Data("not really a module\n".utf8).write(to: module)
        let sensor = try LiveSensor(arguments: ["--config", LiveEventConfig.everything.path, "--hash", "sha256"])
        let finit = try runCapturing(helper.path, ["finit-module", module.path])
        let initRun = try runCapturing(helper.path, ["init-module"])
        try sensor.waitFor(timeout: 20) {
            !$0.with(id: 6, "ProcessId", equalTo: String(initRun.pid)).isEmpty
                && !$0.with(id: 6, "ProcessId", equalTo: String(finit.pid)).isEmpty
        }
        let events = sensor.stop()
        let errno = Int32(finit.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let expectedResult = errno == 0 ? "0" : errno == ENOSYS ? "ENOSYS" : nil

        let load = try XCTUnwrap(events.with(id: 6, "ProcessId", equalTo: String(finit.pid)).first)
        XCTAssertEqual(load["ImageLoaded"] as? String, module.path)
        XCTAssertEqual(load["ProcessGuid"] as? String, events.processGuid(of: finit.pid))
        XCTAssertEqual(load["Image"] as? String, helper.resolvingSymlinksInPath().path)
        XCTAssertEqual(load["User"] as? String, "root")
        if let expectedResult { XCTAssertEqual(load["Result"] as? String, expectedResult) }
        XCTAssertNotEqual(load["Result"] as? String, "0", "a text file is no module")
        XCTAssertEqual(load["Hashes"] as? String, "SHA256=" + sha256Hex("not really a module\n"))
        XCTAssertEqual(load["Signed"] as? String, "-")

        let memory = try XCTUnwrap(events.with(id: 6, "ProcessId", equalTo: String(initRun.pid)).first)
        XCTAssertEqual(memory["ImageLoaded"] as? String, "-", "init_module loads from memory")
        XCTAssertNotEqual(memory["Result"] as? String, "0")
        if errno == ENOSYS { XCTAssertEqual(memory["Result"] as? String, "ENOSYS") }
    }

    func testPtraceAttachAndProcessVMReadvAreProcessAccess() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let sensor = try LiveSensor.loggingEverything()
        let run = try runCapturing(helper.path, ["ptrace-pair"])
        XCTAssertEqual(run.status, 0)
        let pids = run.output.split(whereSeparator: \.isWhitespace).map(String.init)
        let (tracer, target) = (pids[0], pids[1])
        try sensor.waitFor(timeout: 20) { $0.with(id: 10, "SourceProcessId", equalTo: tracer).count >= 2 }
        let events = sensor.stop()
        let tracerGuid = try XCTUnwrap(events.with(id: 1, "ProcessId", equalTo: tracer).first?["ProcessGuid"] as? String)
        let targetGuid = try XCTUnwrap(events.with(id: 1, "ProcessId", equalTo: target).first?["ProcessGuid"] as? String)
        let accesses = events.with(id: 10, "SourceProcessId", equalTo: tracer)
        XCTAssertEqual(accesses.compactMap { $0["GrantedAccess"] as? String }.sorted(), ["PTRACE_ATTACH", "process_vm_readv"])
        for e in accesses {
            XCTAssertEqual(e["SourceProcessGUID"] as? String, tracerGuid)
            XCTAssertEqual(e["TargetProcessGUID"] as? String, targetGuid)
            XCTAssertEqual(e["TargetProcessId"] as? String, target)
            XCTAssertEqual(e["SourceThreadId"] as? String, tracer)
            XCTAssertEqual(e["SourceImage"] as? String, helper.resolvingSymlinksInPath().path)
            XCTAssertEqual(e["TargetImage"] as? String, helper.resolvingSymlinksInPath().path)
            XCTAssertEqual(e["SourceUser"] as? String, "root")
            XCTAssertEqual(e["TargetUser"] as? String, "root")
            XCTAssertEqual(e["CallTrace"] as? String, "-")
        }
    }

    func testLoadingABPFProgramIsAnEBPFEvent() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let sensor = try LiveSensor.loggingEverything()
        let name = "smt\(UUID().uuidString.prefix(6).lowercased())"
        let run = try runCapturing(helper.path, ["bpf-load", name])
        XCTAssertEqual(run.status, 0)
        try sensor.waitFor(timeout: 20) { !$0.with(id: 100, "BpfProgramName", equalTo: name).isEmpty }
        let events = sensor.stop()
        let e = try XCTUnwrap(events.with(id: 100, "BpfProgramName", equalTo: name).first)
        XCTAssertEqual(e["ProcessId"] as? String, String(run.pid))
        XCTAssertEqual(e["ProcessGuid"] as? String, events.processGuid(of: run.pid))
        XCTAssertEqual(e["BpfCommand"] as? String, "BPF_PROG_LOAD")
        XCTAssertEqual(e["BpfProgramType"] as? String, "BPF_PROG_TYPE_SOCKET_FILTER")
        XCTAssertGreaterThan(Int(e["BpfProgramId"] as? String ?? "") ?? 0, 0)
        // swiftmon's own programs (loaded and attached at start) are not events.
        let swiftmonPid = String(sensor.process.processIdentifier)
        XCTAssertTrue(events.with(id: 100, "ProcessId", equalTo: swiftmonPid).isEmpty)
    }

    func testOpeningTheBlockDeviceIsARawAccessRead() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        guard let device = LiveSystemEventTests.blockDevice() else {
            try TestRequirement.unavailable("this machine has no disk block device")
        }
        let sensor = try LiveSensor.loggingEverything()
        let run = try runCapturing(helper.path, ["open", device])
        XCTAssertEqual(run.status, 0)
        try sensor.waitFor(timeout: 20) { !$0.with(id: 9, "ProcessId", equalTo: String(run.pid)).isEmpty }
        let events = sensor.stop()
        let e = try XCTUnwrap(events.with(id: 9, "ProcessId", equalTo: String(run.pid)).first)
        XCTAssertEqual(e["Device"] as? String, device)
        XCTAssertEqual(e["ProcessGuid"] as? String, events.processGuid(of: run.pid))
        XCTAssertEqual(e["Image"] as? String, helper.resolvingSymlinksInPath().path)
        XCTAssertEqual(e["User"] as? String, "root")
    }

    func testAUnitFileInRunSystemdSystemIsAServiceInstall() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let unitDir = URL(fileURLWithPath: "/run/systemd/system")
        let madeDir = !FileManager.default.fileExists(atPath: unitDir.path)
        if madeDir { try FileManager.default.createDirectory(at: unitDir, withIntermediateDirectories: true) }
        let name = "swiftmon-test-\(UUID().uuidString.prefix(8)).service"
        let unit = unitDir.appendingPathComponent(name)
        let staged = unitDir.appendingPathComponent(".\(name).tmp")
        defer {
            unlink(unit.path)
            unlink(staged.path)
            if madeDir { try? FileManager.default.removeItem(at: unitDir); rmdir("/run/systemd") }
        }
        let sensor = try LiveSensor.loggingEverything()
        let direct = try runCapturing(helper.path, ["create", unit.path])
        XCTAssertEqual(direct.status, 0)
        XCTAssertEqual(unlink(unit.path), 0)
        // The way editors and installers write: a temporary name, renamed into place.
        let viaTemp = try runCapturing(helper.path, ["create", staged.path])
        let renamed = try runCapturing(helper.path, ["rename", staged.path, unit.path])
        XCTAssertEqual(viaTemp.status + renamed.status, 0)
        try sensor.waitFor(timeout: 20) { $0.with(id: 202, "ServiceName", equalTo: name).count >= 2 }
        let events = sensor.stop()
        let installs = events.with(id: 202, "ServiceName", equalTo: name)
        XCTAssertEqual(installs.compactMap { $0["ProcessId"] as? String }, [String(direct.pid), String(renamed.pid)])
        for e in installs {
            XCTAssertEqual(e["ServiceFile"] as? String, unit.path)
            XCTAssertEqual(e["Manager"] as? String, "systemd")
            XCTAssertEqual(e["Image"] as? String, helper.resolvingSymlinksInPath().path)
            XCTAssertEqual(e["User"] as? String, "root")
        }
        XCTAssertEqual(installs.first?["ProcessGuid"] as? String, events.processGuid(of: direct.pid))
        XCTAssertTrue(events.with(id: 202, "ProcessId", equalTo: String(viaTemp.pid)).isEmpty, "a .tmp file is no unit")
    }

    func testDlopenOfALibraryInATempDirectoryIsAnImageLoad() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("image")
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = dir.appendingPathComponent("libswiftmon plugin.so")
        let source = try XCTUnwrap(["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
                                    "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib/aarch64-linux-gnu/libm.so.6"]
            .first { FileManager.default.fileExists(atPath: $0) }, "a shared library to copy")
        try FileManager.default.copyItem(atPath: source, toPath: library.path)
        let sensor = try LiveSensor.loggingEverything()
        let run = try runCapturing(helper.path, ["dlopen", library.path])
        XCTAssertEqual(run.status, 0)
        try sensor.waitFor(timeout: 20) { !$0.with(id: 7, "ImageLoaded", equalTo: library.path).isEmpty }
        let events = sensor.stop()
        let loads = events.with(id: 7, "ImageLoaded", equalTo: library.path)
        XCTAssertEqual(loads.count, 1, "its code is mapped executable once")
        let e = try XCTUnwrap(loads.first)
        XCTAssertEqual(e["ProcessId"] as? String, String(run.pid))
        XCTAssertEqual(e["ProcessGuid"] as? String, events.processGuid(of: run.pid))
        XCTAssertEqual(e["Image"] as? String, helper.resolvingSymlinksInPath().path)
        XCTAssertEqual(e["User"] as? String, "root")
        // The C library the helper links is loaded by the dynamic loader the same way.
        let mine = events.with(id: 7, "ProcessId", equalTo: String(run.pid))
        XCTAssertTrue(mine.contains { (($0["ImageLoaded"] as? String) ?? "").contains("libc.so") }, "\(mine.map { $0["ImageLoaded"] ?? "" })")
    }

    func testMprotectMakingAFileMappingExecutableAndTheExecutableItselfAreImageLoads() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("mprotect")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("code.bin")
        try Data(repeating: 0xC3, count: 4096).write(to: file)
        let sensor = try LiveSensor.loggingEverything()
        let run = try runCapturing(helper.path, ["mprotect-exec", file.path])
        XCTAssertEqual(run.status, 0)
        try sensor.waitFor(timeout: 20) { !$0.with(id: 7, "ImageLoaded", equalTo: file.path).isEmpty }
        let events = sensor.stop()
        let loads = events.with(id: 7, "ImageLoaded", equalTo: file.path)
        XCTAssertEqual(loads.count, 1)
        XCTAssertEqual(loads.first?["ProcessId"] as? String, String(run.pid))
        XCTAssertEqual(loads.first?["ProcessGuid"] as? String, events.processGuid(of: run.pid))
        let executable = events.with(id: 7, "ProcessId", equalTo: String(run.pid))
            .filter { ($0["ImageLoaded"] as? String) == helper.resolvingSymlinksInPath().path }
        XCTAssertEqual(executable.count, 1, "the executable, mapped by exec")
    }

    func testADisabledProbeIsReportedAndTheOthersKeepWorking() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let dir = try makeTestDirectory("disabled")
        defer { try? FileManager.default.removeItem(at: dir) }
        let library = dir.appendingPathComponent("libdisabled.so")
        let source = try XCTUnwrap(["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
                                    "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib/aarch64-linux-gnu/libm.so.6"]
            .first { FileManager.default.fileExists(atPath: $0) })
        try FileManager.default.copyItem(atPath: source, toPath: library.path)
        let sensor = try LiveSensor(arguments: ["--config", LiveEventConfig.everything.path,
                                                "--disable-probe", "image_sys_exit", "-v"])
        let run = try runCapturing(helper.path, ["dlopen", library.path])
        XCTAssertEqual(run.status, 0)
        let marker = dir.appendingPathComponent("after").path
        try runToCompletion(helper.path, ["create", marker])
        try sensor.waitFor(timeout: 20) { !$0.with(id: 11, "TargetFilename", equalTo: marker).isEmpty }
        let events = sensor.stop()
        XCTAssertTrue(events.with(id: 7, "ImageLoaded", equalTo: library.path).isEmpty)
        let started = try XCTUnwrap(events.with(id: 4, "State", equalTo: "Started").first)
        let sources = try XCTUnwrap(started["Sources"] as? String)
        XCTAssertTrue(sources.contains("skipped(image_sys_exit (disabled))"), sources)
        XCTAssertTrue(sources.contains("file_sys_exit"), sources)
        XCTAssertTrue(sensor.stderrText.contains("optional probe skipped: image_sys_exit (disabled)"), sensor.stderrText)
    }

    func testProbesWhoseEventsTheConfigurationCannotLogAreIdle() throws {
        try LiveSensor.requireLiveSensor()
        // The embedded default configuration logs no ImageLoad.
        let sensor = try LiveSensor(arguments: ["-v"])
        let events = sensor.stop()
        let sources = try XCTUnwrap(events.with(id: 4, "State", equalTo: "Started").first?["Sources"] as? String)
        XCTAssertTrue(sources.contains("idle(image_sys_exit)"), sources)
        XCTAssertTrue(sensor.stderrText.contains("idle (the configuration logs none of their events): image_sys_exit"), sensor.stderrText)
        // With every kind logged, nothing is idle.
        let everything = try LiveSensor.loggingEverything()
        let all = everything.stop()
        let allSources = try XCTUnwrap(all.with(id: 4, "State", equalTo: "Started").first?["Sources"] as? String)
        XCTAssertFalse(allSources.contains("idle("), allSources)
    }

    func testDisablingARequiredOrUnknownProbeStopsStartUp() throws {
        try LiveSensor.requireLiveSensor()
        for (probe, expected) in [("sched_process_exec", "required"), ("no_such_probe", "no such probe")] {
            let run = try runForErrors(LiveSensor.binary!.path, ["run", "--disable-probe", probe])
            XCTAssertNotEqual(run.status, 0)
            XCTAssertTrue(run.stderr.contains(expected), run.stderr)
        }
    }

    /// A block device this process may open: the first disk (/dev/vda,
    /// /dev/sda, /dev/nvme0n1 …), else another block device (zram, loop) when
    /// the disks are fenced off (a container's device cgroup).
    static func blockDevice() -> String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []).sorted()
        let isVirtual = { (name: String) in name.hasPrefix("loop") || name.hasPrefix("ram") || name.hasPrefix("zram") }
        for name in names.filter({ !isVirtual($0) }) + names.filter(isVirtual) {
            var st = stat()
            let path = "/dev/" + name
            guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFBLK else { continue }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                close(fd)
                return path
            }
        }
        return nil
    }
}

/// SHA-256 of a text, by the system's sha256sum (the test checks swiftmon's own hashing against it).
func sha256Hex(_ text: String) -> String {
    let output = (try? Command.run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [], stdin: Data(text.utf8)).stdout) ?? Data()
    return String(decoding: output, as: UTF8.self).prefix(64).uppercased()
}
