import CSwiftmonRecords
import Foundation
import SwiftmonCore
import SwiftmonSinks
import XCTest
@testable import SwiftmonLinux

/// The whole path from kernel record to event, for every record kind
/// (BuilderScenario): the events, rendered by the real JSON lines renderer
/// under a `#` line naming each step, are compared with
/// Golden/event-builders.golden (SWIFTMON_UPDATE_GOLDEN=1 rewrites it). The
/// facts that matter most are asserted one by one in the tests of each builder.
final class EventBuilderTests: XCTestCase {
    func testEveryRecordKindMatchesGolden() throws {
        let rendered = BuilderScenario.render(BuilderScenario.run())
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/event-builders.golden")
        if ProcessInfo.processInfo.environment["SWIFTMON_UPDATE_GOLDEN"] == "1" {
            try Data(rendered).write(to: url)
            return
        }
        let golden = try [UInt8](Data(contentsOf: url))
        guard rendered != golden else { return }
        let got = rendered.split(separator: 0x0A, omittingEmptySubsequences: false)
        let want = golden.split(separator: 0x0A, omittingEmptySubsequences: false)
        var step = ""
        for i in 0..<max(got.count, want.count) {
            let a = i < got.count ? String(decoding: got[i], as: UTF8.self) : "<end>"
            let b = i < want.count ? String(decoding: want[i], as: UTF8.self) : "<end>"
            if b.hasPrefix("# ") { step = b }
            if a != b {
                XCTFail("differs from \(url.lastPathComponent) at line \(i + 1) (\(step)):\n got: \(a)\nwant: \(b)\n(SWIFTMON_UPDATE_GOLDEN=1 rewrites the golden file)")
                return
            }
        }
    }

    /// Every record kind the header defines appears in the scenario, and
    /// every path op and record flag too.
    func testScenarioCoversEveryRecordKindOpAndFlag() {
        var kinds = Set<UInt16>(), ops = Set<UInt32>(), flags: UInt16 = 0
        for step in BuilderScenario.steps() {
            for bytes in step.records {
                let header = bytes.withUnsafeBytes { $0.loadUnaligned(as: sm_record_header.self) }
                XCTAssertEqual(Int(header.size), bytes.count, step.name)
                kinds.insert(header.kind)
                flags |= header.flags
                if [SM_RECORD_FILE, SM_RECORD_MODULE, SM_RECORD_IMAGE].map({ UInt16($0.rawValue) }).contains(header.kind) {
                    ops.insert(bytes.withUnsafeBytes { $0.loadUnaligned(as: sm_path_record.self) }.op)
                }
            }
        }
        // Kinds 1–10, then the tamper block's from 20 (11–19 are left for other blocks).
        XCTAssertEqual(kinds, Set((1...SM_RECORD_SIGNAL.rawValue).map { UInt16($0) } + [UInt16(SM_RECORD_PROTECTED_FILE.rawValue)]))
        XCTAssertEqual(SM_RECORD_KIND_COUNT.rawValue, SM_RECORD_PROTECTED_FILE.rawValue + 1)
        XCTAssertTrue(Set((SM_PATH_OP_CREATE.rawValue...SM_PATH_OP_MPROTECT_EXEC.rawValue)).isSubset(of: ops))
        XCTAssertEqual(flags, UInt16(SM_FLAG_INITIATED.rawValue << 1) - 1, "every flag up to SM_FLAG_INITIATED")
    }

    /// One fixture written out by hand, byte by byte (little-endian): the
    /// fixtures are the C layout, not Swift's idea of it.
    func testFixtureBytesAreTheCLayout() {
        var f = KernelRecordFixture()
        let built = f.exit(KernelRecordFixture.Task(pid: 0x0102_0304, startBootNanoseconds: 0x1122_3344_5566_7788).thread(0x0A0B_0C0D),
                           status: 0x0000_0309, flags: [SM_FLAG_THREAD, SM_FLAG_GROUP_DEAD])
        let expected: [UInt8] = [
            0x03, 0x00, 0x21, 0x00, 0x28, 0x00, 0x00, 0x00,  // kind 3, flags 0x21, size 40
            0x00, 0xE4, 0x0B, 0x54, 0x02, 0x00, 0x00, 0x00,  // time 10 s
            0x04, 0x03, 0x02, 0x01, 0x0D, 0x0C, 0x0B, 0x0A,  // pid, tid
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // start
            0x09, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // exit_code, pad
        ]
        XCTAssertEqual(built, expected)
    }

    func testExecutableImageLoadFollowsTheConfiguration() throws {
        let builder = BuilderScenario.makeBuilder()
        builder.buildsExecutableImageLoads = false
        var f = KernelRecordFixture()
        let bytes = f.exec(BuilderScenario.child, parent: BuilderScenario.shell, image: "/usr/bin/id", cwd: "/", argv: ["id"],
                           credentials: KernelRecordFixture.credentials(uid: 1000))
        var events: [Event] = []
        XCTAssertTrue(builder.build(bytes, into: &events))
        XCTAssertEqual(events.map(\.kind), [.processCreate])
    }

    /// With hashing on, the executable and a mapped library are hashed once
    /// per file identity (a real file here: hashing reads it).
    func testHashesOfTheExecutableAndImages() throws {
        let path = NSTemporaryDirectory() + "swiftmon-builder-hash-\(getpid())"
        try Data("abc".utf8).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        // A generous wait: this test is about the fields, not the worker's bound.
        let hasher = FileHasher(algorithms: [.sha256], waitNanoseconds: 10_000_000_000)
        defer { hasher.stop() }
        let processes = ProcessEventBuilder(host: BuilderScenario.host, users: UserNames(fixed: BuilderScenario.users), hasher: hasher)
        let builder = SensorEventBuilder(processes: processes)
        let sha = "SHA256=BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"

        var f = KernelRecordFixture()
        var exec = f.exec(BuilderScenario.child, parent: BuilderScenario.shell, image: path, cwd: "/", argv: ["x"],
                          credentials: KernelRecordFixture.credentials(uid: 1000))
        // The kernel's identity of the file: device as the kernel encodes it, inode, ctime.
        var raw = exec.withUnsafeBytes { $0.loadUnaligned(as: sm_exec_record.self) }
        raw.image_device = UInt32(FileHasher.kernelDevice(UInt64(st.st_dev)))
        raw.image_inode = UInt64(st.st_ino)
        withUnsafeBytes(of: raw) { exec.replaceSubrange(0..<MemoryLayout<sm_exec_record>.size, with: $0) }
        var events: [Event] = []
        XCTAssertTrue(builder.build(exec, into: &events))
        XCTAssertEqual(events.map { $0["Hashes"] }, [sha, sha])

        var image = f.path(SM_RECORD_IMAGE, SM_PATH_OP_MMAP_EXEC, BuilderScenario.child, euid: 1000, dir1: path)
        var pathRaw = image.withUnsafeBytes { $0.loadUnaligned(as: sm_path_record.self) }
        pathRaw.device = raw.image_device
        pathRaw.inode = raw.image_inode
        pathRaw.ctime_ns = raw.image_ctime_ns
        withUnsafeBytes(of: pathRaw) { image.replaceSubrange(0..<MemoryLayout<sm_path_record>.size, with: $0) }
        events.removeAll()
        XCTAssertTrue(builder.build(image, into: &events))
        XCTAssertEqual(events.first?["Hashes"], sha)
        XCTAssertEqual(hasher.filesHashed, 1, "one file identity, hashed once")
    }
}
