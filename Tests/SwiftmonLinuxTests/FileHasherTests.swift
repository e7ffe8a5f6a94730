import Foundation
import XCTest
@testable import SwiftmonLinux

/// The hash worker: the reader waits at most the bound, a hash that misses
/// it is counted and served to later asks, and once behind the reader does
/// not wait again until the worker has caught up.
final class FileHasherTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftmon-hasher-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func file(_ name: String, bytes: Int) throws -> (path: [UInt8], identity: FileHasher.Identity) {
        let url = dir.appendingPathComponent(name)
        var data = Data(count: bytes)
        data.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: raw.count, by: 4096) { raw[i] = UInt8(truncatingIfNeeded: i / 4096 + 1) }
        }
        try data.write(to: url)
        var st = stat()
        XCTAssertEqual(stat(url.path, &st), 0)
        let ctime = UInt64(st.st_ctim.tv_sec) * 1_000_000_000 + UInt64(st.st_ctim.tv_nsec)
        return (Array(url.path.utf8), .init(device: FileHasher.kernelDevice(UInt64(st.st_dev)), inode: UInt64(st.st_ino),
                                           ctimeNanoseconds: ctime))
    }

    func testASmallFileIsHashedWithinTheBoundAndOnce() throws {
        let f = try file("small", bytes: 3)
        let hasher = FileHasher(algorithms: [.sha256, .md5])
        defer { hasher.stop() }
        let first = try XCTUnwrap(hasher.hashes(path: f.path, identity: f.identity))
        XCTAssertTrue(first.hasPrefix("SHA256=") && first.contains(",MD5="), first)
        XCTAssertEqual(hasher.hashes(path: f.path, identity: f.identity), first)
        let c = hasher.counters
        XCTAssertEqual(c.filesHashed, 1)
        XCTAssertEqual(c.bytesHashed, 3)
        XCTAssertEqual(c.late, 0)
    }

    func testAHashThatMissesTheBoundIsCountedAndServedLater() throws {
        let big = try file("big", bytes: 64 << 20)
        let small = try file("small", bytes: 10)
        // Every algorithm over 64 MiB takes far longer than 1 ms.
        let hasher = FileHasher(algorithms: FileHasher.Algorithm.allCases, waitNanoseconds: 1_000_000)
        defer { hasher.stop() }
        XCTAssertNil(hasher.hashes(path: big.path, identity: big.identity), "not ready within 1 ms")
        XCTAssertEqual(hasher.counters.late, 1)

        // Behind: another file is queued, and the reader does not wait for it.
        let started = Date()
        XCTAssertNil(hasher.hashes(path: small.path, identity: small.identity))
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5)
        XCTAssertEqual(hasher.counters.late, 2)

        // The worker finishes both; later asks get the hashes.
        let deadline = Date().addingTimeInterval(60)
        var bigHash: String?
        while bigHash == nil, Date() < deadline {
            usleep(20_000)
            bigHash = hasher.hashes(path: big.path, identity: big.identity)
        }
        XCTAssertTrue(try XCTUnwrap(bigHash).hasPrefix("MD5="))
        XCTAssertNotNil(hasher.hashes(path: small.path, identity: small.identity))
        let c = hasher.counters
        XCTAssertEqual(c.filesHashed, 2)
        XCTAssertEqual(c.bytesHashed, (64 << 20) + 10)
        XCTAssertGreaterThan(c.cpuMicroseconds, 0)
        XCTAssertEqual(c.queueFull, 0)
    }

    func testAReplacedFileIsNotHashedAsTheOneTheKernelSaw() throws {
        let f = try file("replaced", bytes: 100)
        let path = String(decoding: f.path, as: UTF8.self)
        // Made while the first exists (another inode), then renamed over it.
        _ = try file("other", bytes: 100)
        XCTAssertEqual(rename(dir.appendingPathComponent("other").path, path), 0)
        let hasher = FileHasher(algorithms: [.sha256])
        defer { hasher.stop() }
        XCTAssertNil(hasher.hashes(path: f.path, identity: f.identity))
        XCTAssertEqual(hasher.counters.unreadable, 1)
        XCTAssertEqual(hasher.counters.filesHashed, 0)
    }

    func testAFullQueueIsCountedNotWaitedOn() throws {
        let big = try file("big", bytes: 32 << 20)
        let other = try file("other", bytes: 10)
        let third = try file("third", bytes: 10)
        let hasher = FileHasher(algorithms: FileHasher.Algorithm.allCases, waitNanoseconds: 1_000_000, queueLimit: 2)
        defer { hasher.stop() }
        XCTAssertNil(hasher.hashes(path: big.path, identity: big.identity))
        XCTAssertNil(hasher.hashes(path: other.path, identity: other.identity))
        XCTAssertNil(hasher.hashes(path: third.path, identity: third.identity))
        XCTAssertEqual(hasher.counters.queueFull, 1, "the third file found the queue full")
    }
}
