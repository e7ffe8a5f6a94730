import CSwiftmonRecords
import SwiftmonCore
import XCTest
@testable import SwiftmonLinux

/// Records the decoder must refuse without reading past them: cut short,
/// of an unknown kind, or claiming more bytes than the ring buffer gave. The
/// sensor's record handler counts them as malformed and goes on.
final class MalformedRecordTests: XCTestCase {
    static var fixtures: [[UInt8]] { BuilderScenario.steps().flatMap(\.records) }

    static func decodes(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { KernelRecord($0) } != nil
    }

    func testEveryTruncationOfEveryFixtureIsRefused() {
        for bytes in Self.fixtures {
            XCTAssertTrue(Self.decodes(bytes))
            for length in 0..<bytes.count {
                XCTAssertFalse(Self.decodes(Array(bytes.prefix(length))), "kind \(bytes[0]) cut to \(length) of \(bytes.count)")
            }
        }
    }

    func testUnknownKindsAreRefused() {
        var f = KernelRecordFixture()
        var bytes = f.exit(BuilderScenario.child, status: 0, flags: [SM_FLAG_GROUP_DEAD])
        for kind: UInt16 in [0, UInt16(SM_RECORD_KIND_COUNT.rawValue), 11, 999, 0xFFFF] {
            withUnsafeBytes(of: kind.littleEndian) { bytes.replaceSubrange(0..<2, with: $0) }
            XCTAssertFalse(Self.decodes(bytes), "kind \(kind)")
        }
    }

    func testSizesLargerThanTheBufferAreRefused() {
        var f = KernelRecordFixture()
        for var bytes in Self.fixtures.prefix(1) + [f.bpf(BuilderScenario.child, euid: 0, command: 5)] {
            for size: UInt32 in [UInt32(bytes.count + 1), 0x10000, UInt32.max] {
                withUnsafeBytes(of: size.littleEndian) { bytes.replaceSubrange(4..<8, with: $0) }
                XCTAssertFalse(Self.decodes(bytes), "header.size \(size) of \(bytes.count)")
            }
        }
        // The variable parts' sizes, each claiming more than is there.
        let exec = f.exec(BuilderScenario.child, parent: BuilderScenario.shell, image: "/bin/x", cwd: "/",
                          argv: ["x"], credentials: KernelRecordFixture.credentials(uid: 0))
        for (offset, width) in [(92, 2), (94, 2), (96, 4)] {
            var bytes = exec
            for i in offset..<(offset + width) { bytes[i] = 0xFF }
            XCTAssertFalse(Self.decodes(bytes), "exec size field at \(offset)")
        }
        let path = f.path(SM_RECORD_FILE, SM_PATH_OP_RENAME, BuilderScenario.child, euid: 0, dir1: "/a",
                          name1: Array("b".utf8), dir2: "/c", name2: Array("d".utf8))
        for offset in [68, 70, 72, 74] {
            var bytes = path
            bytes[offset] = 0xFF
            bytes[offset + 1] = 0xFF
            XCTAssertFalse(Self.decodes(bytes), "path size field at \(offset)")
        }
    }

    /// The handler the ring buffer calls: malformed records are counted, the
    /// good ones around them still become events.
    func testTheRecordHandlerCountsMalformedRecordsAndGoesOn() {
        let handler = RecordBatcher()
        handler.builder = BuilderScenario.makeBuilder()
        var f = KernelRecordFixture()
        let good = f.exit(BuilderScenario.shell, status: 0, flags: [SM_FLAG_GROUP_DEAD])
        var unknown = good
        unknown[0] = 200
        var oversized = good
        oversized[5] = 1  // size 296 in a 40-byte buffer
        for bytes in [Array(good.prefix(20)), unknown, oversized, good, Array(good.prefix(39))] {
            bytes.withUnsafeBytes { handler.handle($0) }
        }
        XCTAssertEqual(handler.records, 5)
        XCTAssertEqual(handler.malformed, 4)
        XCTAssertEqual(handler.batch.map(\.kind), [.processTerminate])
        XCTAssertEqual(handler.batch.first?["Image"], "/usr/bin/bash")
    }

    /// Every byte of every fixture set to values a damaged record could
    /// hold: the decoder refuses or decodes, the builders build, nothing traps.
    func testDamagedFixturesDoNotTrap() {
        let builder = BuilderScenario.makeBuilder()
        var events: [Event] = []
        var decoded = 0, refused = 0
        for fixture in Self.fixtures {
            for offset in 0..<min(fixture.count, MemoryLayout<sm_exec_record>.size) {
                for value: UInt8 in [0x00, 0x01, 0x7F, 0x80, 0xFF] where fixture[offset] != value {
                    var bytes = fixture
                    bytes[offset] = value
                    guard builder.build(bytes, into: &events) else { refused += 1; continue }
                    decoded += 1
                    events.removeAll(keepingCapacity: true)
                }
            }
        }
        XCTAssertGreaterThan(decoded, 0)
        XCTAssertGreaterThan(refused, 0)
    }

    /// Field values no kernel writes, but a damaged record may: the most
    /// negative result, the latest boot-clock times.
    func testExtremeValuesDoNotTrap() throws {
        let builder = BuilderScenario.makeBuilder()
        var f = KernelRecordFixture()
        var events: [Event] = []
        let module = f.path(SM_RECORD_MODULE, SM_PATH_OP_INIT_MODULE, BuilderScenario.child, euid: 0, result: Int32.min)
        XCTAssertTrue(builder.build(module, into: &events))
        XCTAssertEqual(events.last?["Result"], "errno 2147483648")

        var late = f.exit(BuilderScenario.child, status: 0, flags: [SM_FLAG_GROUP_DEAD])
        for time: UInt64 in [UInt64(Int64.max), UInt64.max] {
            withUnsafeBytes(of: time.littleEndian) { late.replaceSubrange(8..<16, with: $0) }
            XCTAssertFalse(Self.decodes(late), "boot-clock time \(time) is not one the kernel wrote")
        }
        withUnsafeBytes(of: UInt64.max.littleEndian) { late.replaceSubrange(24..<32, with: $0) }
        withUnsafeBytes(of: UInt64(20_000_000_000).littleEndian) { late.replaceSubrange(8..<16, with: $0) }
        XCTAssertTrue(builder.build(late, into: &events))
        XCTAssertEqual(events.last?["ProcessGuid"], "{c0ffee42-0000-01ad-7f29-abca000000c8}", "start ticks = 2^64 ns / 10^7")
    }
}
