import Foundation
import SwiftmonCore
import SwiftmonTestSupport
@testable import SwiftmonSinks
import XCTest

final class DiskSpoolTests: XCTestCase {
    /// A message of about `size` bytes that says which one it is.
    static func message(_ n: UInt64, size: Int = 200) -> [UInt8] {
        var bytes = Array("message \(n) ".utf8)
        while bytes.count < size { bytes.append(UInt8(ascii: "a") + UInt8(bytes.count % 26)) }
        return bytes
    }

    static func options(segment: Int = 4096, max: Int64 = 64 << 10) -> DiskSpool.Options {
        var options = DiskSpool.Options()
        options.segmentBytes = segment
        options.maxBytes = max
        return options
    }

    func segmentFiles(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".seg") }.sorted()
    }

    func testAppendTakeAcknowledgeInOrder() throws {
        let dir = try temporaryDirectory() + "/spool"
        let spool = try DiskSpool(directory: dir, options: Self.options())
        for n in UInt64(1)...100 {
            XCTAssertEqual(try spool.append(Self.message(n), sequence: n), .stored(evicted: 0))
        }
        XCTAssertEqual(spool.unsentCount, 100)
        XCTAssertEqual(spool.storedCount, 100)
        for n in UInt64(1)...100 {
            let entry = try XCTUnwrap(spool.takeNext())
            XCTAssertEqual(entry.sequence, n)
            XCTAssertEqual(entry.message, Self.message(n))
            spool.acknowledge(entry.sequence)
        }
        XCTAssertNil(spool.takeNext())
        XCTAssertEqual(spool.storedCount, 0)
        // Segments the cursor passed are gone; the head stays.
        XCTAssertEqual(segmentFiles(dir).count, 1, "\(segmentFiles(dir))")
    }

    /// Restart (a new DiskSpool on the same folder, as after SIGTERM or a
    /// crash): what was acknowledged stays done, the rest comes again, in order.
    func testRestartResumesFromThePersistedCursor() throws {
        let dir = try temporaryDirectory() + "/spool"
        do {
            let spool = try DiskSpool(directory: dir, options: Self.options())
            for n in UInt64(1)...50 { _ = try spool.append(Self.message(n), sequence: n) }
            for _ in 0..<30 { _ = spool.takeNext() }  // 30 handed out…
            for n in UInt64(1)...20 { spool.acknowledge(n) }  // …20 acknowledged
            try spool.close()
        }
        let again = try DiskSpool(directory: dir, options: Self.options())
        XCTAssertEqual(again.recovery.unacknowledged, 30)
        XCTAssertEqual(again.recovery.resumeSequence, 21)
        XCTAssertEqual(again.recovery.tornRecords, 0)
        var seen: [UInt64] = []
        while let entry = again.takeNext() {
            XCTAssertEqual(entry.message, Self.message(entry.sequence))
            seen.append(entry.sequence)
            again.acknowledge(entry.sequence)
        }
        XCTAssertEqual(seen, Array(21...50))
        // New appends after a restart go on after the old ones.
        _ = try again.append(Self.message(51), sequence: 51)
        XCTAssertEqual(again.takeNext()?.sequence, 51)
    }

    func testSegmentsAreDeletedOnceTheCursorHasPassedThem() throws {
        let dir = try temporaryDirectory() + "/spool"
        let spool = try DiskSpool(directory: dir, options: Self.options(segment: 4096, max: 1 << 20))
        for n in UInt64(1)...200 { _ = try spool.append(Self.message(n, size: 300), sequence: n) }
        let before = segmentFiles(dir).count
        XCTAssertGreaterThan(before, 10, "300-byte records in 4 KiB segments")
        for _ in 0..<100 { spool.acknowledge(spool.takeNext()!.sequence) }
        let middle = segmentFiles(dir).count
        XCTAssertLessThan(middle, before)
        XCTAssertGreaterThan(middle, 1)
        while let entry = spool.takeNext() { spool.acknowledge(entry.sequence) }
        XCTAssertEqual(segmentFiles(dir).count, 1)
    }

    /// Full: the oldest unsent records go, counted; never silently; the
    /// newest are kept. appended = sent + evicted + still stored, exactly.
    func testFullSpoolDropsTheOldestUnsentAndCountsThem() throws {
        let dir = try temporaryDirectory() + "/spool"
        let spool = try DiskSpool(directory: dir, options: Self.options(segment: 4096, max: 4 * 4096))
        var evicted: UInt64 = 0
        // Two handed out (in flight) before the spool fills: they stay the sender's.
        for n in UInt64(1)...2 { _ = try spool.append(Self.message(n), sequence: n) }
        let inFlight = [spool.takeNext()!, spool.takeNext()!]
        let total: UInt64 = 500
        for n in UInt64(3)...total {
            guard case .stored(let e) = try spool.append(Self.message(n), sequence: n) else { return XCTFail("not stored") }
            evicted += e
        }
        XCTAssertGreaterThan(evicted, 0)
        XCTAssertLessThanOrEqual(segmentFiles(dir).count, 4)
        var sent: [UInt64] = inFlight.map(\.sequence)
        for entry in inFlight { spool.acknowledge(entry.sequence) }  // acknowledging an evicted record is harmless
        while let entry = spool.takeNext() {
            sent.append(entry.sequence)
            spool.acknowledge(entry.sequence)
        }
        XCTAssertEqual(UInt64(sent.count) + evicted, total, "sent \(sent.count) + evicted \(evicted) != appended \(total)")
        XCTAssertEqual(sent.last, total, "the newest is kept")
        XCTAssertEqual(Array(sent.dropFirst(2)), Array(sent.dropFirst(2)).sorted(), "in order")
        XCTAssertGreaterThan(sent[2], 3, "the oldest unsent went")
        XCTAssertEqual(spool.storedCount, 0)
    }

    /// A smaller maximum at the next start: the oldest go, counted.
    func testSmallerMaximumAtRestartDropsTheOldestAndCountsThem() throws {
        let dir = try temporaryDirectory() + "/spool"
        do {
            let spool = try DiskSpool(directory: dir, options: Self.options(segment: 4096, max: 1 << 20))
            for n in UInt64(1)...300 { _ = try spool.append(Self.message(n), sequence: n) }
            try spool.close()
        }
        let small = try DiskSpool(directory: dir, options: Self.options(segment: 4096, max: 4 * 4096))
        let r = small.recovery
        XCTAssertGreaterThan(r.droppedForSpace, 0)
        XCTAssertEqual(r.unacknowledged + r.droppedForSpace, 300)
        var n: UInt64 = 0
        while small.takeNext() != nil { n += 1 }
        XCTAssertEqual(n, r.unacknowledged)
    }

    /// A record a crash cut short (half its bytes, no length) and a record a
    /// power loss left damaged (length there, bytes wrong) are found at the
    /// next start, counted and skipped; the records around them are kept.
    func testTornRecordsAreDetectedSkippedAndCounted() throws {
        let dir = try temporaryDirectory() + "/spool"
        do {
            let spool = try DiskSpool(directory: dir, options: Self.options(segment: 1 << 16, max: 1 << 20))
            for n in UInt64(1)...5 { _ = try spool.append(Self.message(n), sequence: n) }
            try spool.close()
        }
        let segment = dir + "/" + segmentFiles(dir)[0]
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: segment))
        let recordSize = DiskSpool.recordSize(200)
        let third = DiskSpool.segmentHeaderBytes + 2 * recordSize
        // Damage the third record's message (power loss: some pages written, some not).
        try handle.seek(toOffset: UInt64(third + DiskSpool.recordHeaderBytes + 50))
        handle.write(Data([0xFF, 0xEE]))
        // After the fifth: an append the crash interrupted (bytes copied, length not yet stored).
        let sixth = DiskSpool.segmentHeaderBytes + 5 * recordSize
        try handle.seek(toOffset: UInt64(sixth + DiskSpool.recordHeaderBytes))
        handle.write(Data(Self.message(6).prefix(120)))
        try handle.close()

        let again = try DiskSpool(directory: dir, options: Self.options(segment: 1 << 16, max: 1 << 20))
        XCTAssertEqual(again.recovery.tornRecords, 2)
        XCTAssertEqual(again.recovery.unacknowledged, 4)
        var seen: [UInt64] = []
        while let entry = again.takeNext() {
            XCTAssertEqual(entry.message, Self.message(entry.sequence))
            seen.append(entry.sequence)
        }
        XCTAssertEqual(seen, [1, 2, 4, 5])
    }

    func testFilesAre0600AndTheFolder0700() throws {
        let dir = try temporaryDirectory() + "/state/spool/dest"
        let spool = try DiskSpool(directory: dir, options: Self.options())
        _ = try spool.append(Self.message(1), sequence: 1)
        spool.acknowledge(spool.takeNext()!.sequence)
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1) & 0o777
        }
        XCTAssertEqual(try mode(dir), 0o700)
        XCTAssertEqual(try mode((dir as NSString).deletingLastPathComponent), 0o700)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertTrue(files.contains("cursor") && files.contains("lock") && files.contains { $0.hasSuffix(".seg") }, "\(files)")
        for file in files { XCTAssertEqual(try mode(dir + "/" + file), 0o600, file) }
    }

    func testASecondSwiftmonOnTheSameSpoolIsRefused() throws {
        let dir = try temporaryDirectory() + "/spool"
        let first = try DiskSpool(directory: dir, options: Self.options())
        XCTAssertThrowsError(try DiskSpool(directory: dir, options: Self.options())) { error in
            XCTAssertEqual(error as? DiskSpoolError, .inUse(directory: dir))
        }
        try first.close()
        XCTAssertNoThrow(try DiskSpool(directory: dir, options: Self.options()))
    }

    func testOversizeMessageIsRefusedNotCut() throws {
        let spool = try DiskSpool(directory: try temporaryDirectory() + "/spool", options: Self.options(segment: 4096))
        XCTAssertEqual(try spool.append(Self.message(1, size: 5000), sequence: 1), .tooLarge)
        XCTAssertEqual(spool.storedCount, 0)
    }

    /// The sink over a spool, collector absent: events accepted in one run are
    /// kept at close (not counted lost) and taken over by the next run, whose
    /// ledger counts them as accepted; a real rsyslog (RELP) then has every one.
    func testSyslogSinkHandsTheSpoolToTheNextRun() throws {
        let collector = try RsyslogCollector()
        let dir = try temporaryDirectory() + "/spool"
        var options = SyslogSink.Options()
        options.reconnectMinimumDelay = 0.05
        options.reconnectMaximumDelay = 0.2
        options.connectTimeout = 0.5
        let destination = SyslogDestination.relp(host: "127.0.0.1", port: collector.relpPort)
        let recordIDs = EventRecordCounter(startingAt: 1)
        do {
            let sink = SyslogSink(destination: destination, options: options, recordIDs: recordIDs,
                                  spool: try DiskSpool(directory: dir))
            for n in 0..<300 { try sink.emit(SyslogSinkTests.numbered(n)) }
            sink.close(timeout: 0.2)
            let counts = sink.deliveryCounts
            XCTAssertEqual(counts.accepted, 300)
            XCTAssertEqual(counts.delivered, 0)
            XCTAssertEqual(counts.droppedTotal, 0, "kept in the spool, not lost: \(counts)")
            XCTAssertEqual(counts.pending, 300)
        }
        try collector.start()
        defer { collector.stop() }
        let sink = SyslogSink(destination: destination, options: options, recordIDs: recordIDs,
                              spool: try DiskSpool(directory: dir))
        XCTAssertEqual(sink.status.recovered, 300)
        for n in 300..<310 { try sink.emit(SyslogSinkTests.numbered(n)) }
        XCTAssertTrue(sink.drain(timeout: 20), "\(sink.status)")
        sink.close(timeout: 1)
        let counts = sink.deliveryCounts
        XCTAssertEqual(counts.accepted, 310)
        XCTAssertEqual(counts.delivered, 310, "\(counts)")
        let numbers = collector.waitForMessages(collector.relpOutput, count: 310).compactMap { SyslogSinkTests.sequenceNumber($0)?.0 }
        XCTAssertEqual(Set(numbers), Set(0..<310))
        XCTAssertEqual(numbers.count, 310, "no duplicates after a clean close")
    }

    /// The spool's file system full (a 256 KiB tmpfs under a 4 MiB spool
    /// maximum) while the collector is away: what fits waits in the spool,
    /// what does not is counted (`spoolError`), nothing is counted delivered,
    /// and delivered + lost + pending = accepted exactly.
    func testSpoolOnAFullFileSystemCountsWhatItCouldNotKeep() throws {
        if geteuid() != 0 { try TestRequirement.unavailable("mounting a tmpfs needs root") }
        let mountPoint = try temporaryDirectory()
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=256k,mode=700", "tmpfs", mountPoint]
        try mount.run()
        mount.waitUntilExit()
        XCTAssertEqual(mount.terminationStatus, 0, "mount tmpfs")
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [mountPoint]
            try? umount.run()
            umount.waitUntilExit()
        }
        var options = SyslogSink.Options()
        options.connectTimeout = 0.2
        // Port 9 on loopback: nothing listens.
        let destination = SyslogDestination.tcp(host: "127.0.0.1", port: 9)
        let sink = SyslogSink(destination: destination, options: options, recordIDs: EventRecordCounter(startingAt: 1),
                              spool: try DiskSpool(directory: mountPoint + "/spool",
                                                   options: Self.options(segment: 32 << 10, max: 4 << 20)))
        for n in 0..<2_000 { try sink.emit(SyslogSinkTests.numbered(n)) }
        sink.close(timeout: 0.2)
        let counts = sink.deliveryCounts
        XCTAssertEqual(counts.accepted, 2_000, "\(counts)")
        XCTAssertEqual(counts.delivered, 0, "\(counts)")
        XCTAssertGreaterThan((counts.dropped[SyslogSink.DropReason.spoolError.rawValue] ?? 0), 0, "\(counts)")
        XCTAssertGreaterThan(counts.pending, 0, "what fitted waits in the spool: \(counts)")
        XCTAssertEqual(counts.delivered + counts.droppedTotal + counts.pending, counts.accepted, "\(counts)")
    }

    /// Two destinations, each with its own queue and cursor under one spool
    /// folder: one collector up, one away; the first delivers everything
    /// while the second keeps all of its events.
    func testTwoDestinationsProgressIndependently() throws {
        let collector = try RsyslogCollector()
        try collector.start()
        defer { collector.stop() }
        let root = try temporaryDirectory() + "/spool"
        var options = SyslogSink.Options()
        options.reconnectMinimumDelay = 0.05
        options.reconnectMaximumDelay = 0.2
        options.connectTimeout = 0.5
        let away = try RsyslogCollector.freeLoopbackPort()  // nothing listens there
        let up = SyslogSink(destination: .relp(host: "127.0.0.1", port: collector.relpPort), options: options,
                            recordIDs: EventRecordCounter(startingAt: 1), spool: try DiskSpool(directory: root + "/up"))
        let down = SyslogSink(destination: .tcp(host: "127.0.0.1", port: away), options: options,
                              recordIDs: EventRecordCounter(startingAt: 1), spool: try DiskSpool(directory: root + "/down"))
        for n in 0..<200 {
            try up.emit(SyslogSinkTests.numbered(n))
            try down.emit(SyslogSinkTests.numbered(n))
        }
        XCTAssertTrue(up.drain(timeout: 20))
        XCTAssertEqual(up.deliveryCounts.delivered, 200)
        XCTAssertEqual(down.deliveryCounts.delivered, 0)
        XCTAssertEqual(down.status.buffered, 200)
        up.close(timeout: 1)
        down.close(timeout: 0)
        XCTAssertEqual(down.deliveryCounts.pending, 200)
        XCTAssertEqual(try DiskSpool(directory: root + "/up").recovery.unacknowledged, 0)
        XCTAssertEqual(try DiskSpool(directory: root + "/down").recovery.unacknowledged, 200)
        XCTAssertEqual(Set(collector.waitForMessages(collector.relpOutput, count: 200).compactMap { SyslogSinkTests.sequenceNumber($0)?.0 }),
                       Set(0..<200))
    }
}
