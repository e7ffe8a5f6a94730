import Foundation
import SwiftmonCore
@testable import SwiftmonSinks
import XCTest

final class SyslogSinkTests: XCTestCase {
    /// A ProcessCreate whose CommandLine says which one it is: `seq N` plus `extra`.
    static func numbered(_ n: Int, extra: String = "") -> Event {
        var event = Event(.processCreate, time: .now())
        event["ProcessId"] = String(n)
        event["Image"] = "/usr/bin/true"
        event["CommandLine"] = "seq \(n)" + extra
        return event
    }

    static func sequenceNumber(_ message: String) -> (Int, String)? {
        guard let start = message.range(of: "<Event>") else { return nil }
        guard let parsed = ParsedSysmonEvent(xml: String(message[start.lowerBound...])),
              let commandLine = parsed.data.first(where: { $0.name == "CommandLine" })?.value,
              commandLine.hasPrefix("seq ")
        else { return nil }
        let digits = commandLine.dropFirst(4).prefix { $0.isNumber }
        return Int(digits).map { ($0, commandLine) }
    }

    func testRFC5424OctetCountedFrame() throws {
        let sink = SyslogSink(destination: .tcp(host: "127.0.0.1", port: 9), recordIDs: EventRecordCounter(startingAt: 1))
        defer { sink.close(timeout: 0) }
        var event = Event(.processCreate, time: EventTime(nanosecondsSinceEpoch: 1_706_745_599_123_456_789))
        event["CommandLine"] = "ü\nx"
        let xml = sink.options.renderer.render(event, recordID: 1)
        let frame = sink.frame(event: event, xml: xml)
        let text = String(decoding: frame, as: UTF8.self)
        let space = try XCTUnwrap(text.firstIndex(of: " "))
        let length = try XCTUnwrap(Int(text[..<space]))
        XCTAssertEqual(length, frame.count - text.utf8.distance(from: text.startIndex, to: space) - 1,
                       "the count is of octets, not characters")
        let host = SyslogSink.headerField(SysmonXMLHeader.hostName(), max: 255)
        XCTAssertTrue(text[text.index(after: space)...].hasPrefix(
            "<14>1 2024-01-31T23:59:59.123456Z \(host) sysmon \(getpid()) ProcessCreate - <Event>"), text)
        var error = Event(.error, time: .now())
        error["Description"] = "x"
        XCTAssertTrue(String(decoding: sink.frame(event: error, xml: ""), as: UTF8.self).contains(" <11>1 "),
                      "EventID 255 goes out at severity err")
    }

    func testOversizeEventsAreCountedNotCut() throws {
        var options = SyslogSink.Options()
        options.maxMessageBytes = 4096
        let sink = SyslogSink(destination: .tcp(host: "127.0.0.1", port: 9), options: options,
                              recordIDs: EventRecordCounter(startingAt: 1))
        defer { sink.close(timeout: 0) }
        try sink.emit(Self.numbered(1, extra: String(repeating: "x", count: 8000)))
        XCTAssertEqual(sink.deliveryCounts.dropped["oversize"], 1)
        XCTAssertEqual(sink.deliveryCounts.accepted, 1)
    }

    func testDestinationParsing() throws {
        XCTAssertEqual(try SyslogDestination(parsing: "/dev/log"), .local(path: "/dev/log"))
        XCTAssertEqual(try SyslogDestination(parsing: "unix:/run/x"), .local(path: "/run/x"))
        XCTAssertEqual(try SyslogDestination(parsing: "tcp://collector:6514"), .tcp(host: "collector", port: 6514))
        XCTAssertEqual(try SyslogDestination(parsing: "10.1.2.3"), .tcp(host: "10.1.2.3", port: 514))
        XCTAssertEqual(try SyslogDestination(parsing: "[::1]:1514"), .tcp(host: "::1", port: 1514))
        XCTAssertEqual(try SyslogDestination(parsing: "relp://collector"), .relp(host: "collector", port: 20514))
        XCTAssertEqual(try SyslogDestination(parsing: "relp://10.0.0.1:2514"), .relp(host: "10.0.0.1", port: 2514))
        XCTAssertThrowsError(try SyslogDestination(parsing: "host:notaport"))
    }

    /// Events to a real rsyslog over TCP arrive whole — one over 16 KiB, some
    /// with newlines — and when rsyslog is stopped mid-stream and started
    /// again, the sink reconnects and every event is either in rsyslog's file
    /// or counted as dropped: delivered + dropped == sent, exactly.
    func testRealRsyslogOverTCPSurvivesCollectorRestart() throws {
        let collector = try RsyslogCollector()
        try collector.start()
        defer { collector.stop() }
        var options = SyslogSink.Options()
        options.maxBufferedMessages = 200
        options.reconnectMinimumDelay = 0.05
        options.reconnectMaximumDelay = 0.4
        let sink = SyslogSink(destination: .tcp(host: "127.0.0.1", port: collector.port), options: options,
                              recordIDs: EventRecordCounter(startingAt: 1))
        defer { sink.close(timeout: 0) }

        // Phase 1: collector up. Big and multi-line events among ordinary ones.
        var expected: [Int: String] = [:]
        for n in 0..<300 {
            var extra = ""
            if n == 10 { extra = " " + String(repeating: "0123456789abcdef", count: 1500) }  // 24 KiB
            if n % 50 == 7 { extra = " line one\nline two\r\n\tline three" }
            let event = Self.numbered(n, extra: extra)
            expected[n] = event["CommandLine"]
            try sink.emit(event)
            // The buffer holds 200 (small on purpose, for phase 2): let the
            // writer keep up here, however slow the machine, so nothing drops.
            if n % 50 == 49 { XCTAssertTrue(sink.drain(timeout: 20)) }
        }
        XCTAssertTrue(sink.drain(timeout: 20))
        XCTAssertEqual(sink.deliveryCounts.droppedTotal, 0, "phase 1 drops nothing")
        let first = collector.waitForMessages(collector.tcpOutput, count: 300)
        XCTAssertEqual(first.count, 300)
        for message in first {
            let (n, commandLine) = try XCTUnwrap(Self.sequenceNumber(message), "unparseable: \(message.prefix(300))")
            XCTAssertEqual(commandLine, expected[n], "event \(n) arrived changed")
        }
        XCTAssertGreaterThan(first.map(\.utf8.count).max() ?? 0, 16 * 1024)

        // Phase 2: a steady stream; rsyslog stops in the middle of it and comes back.
        // The stop falls into a 50 ms lull of the stream: plain TCP syslog has no
        // acknowledgements, so bytes a collector accepted into its socket but never
        // read before exiting cannot be known lost by any sender (RELP exists for
        // that). Outside such a window, accounting is exact — which this asserts.
        let total = 1500
        let emitterDone = DispatchSemaphore(value: 0)
        let lull = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
        Thread {
            for n in 300..<total {
                if n == 600 {
                    lull.signal()
                    resume.wait()
                }
                try? sink.emit(Self.numbered(n))
                Thread.sleep(forTimeInterval: 0.001)
            }
            emitterDone.signal()
        }.start()
        lull.wait()
        Thread.sleep(forTimeInterval: 0.05)
        collector.stop()
        resume.signal()  // the stream goes on while the collector is away
        Thread.sleep(forTimeInterval: 0.6)
        try collector.start()
        emitterDone.wait()
        XCTAssertTrue(sink.drain(timeout: 20), "buffer did not drain after the collector came back")

        let counts = sink.deliveryCounts
        XCTAssertEqual(counts.accepted, UInt64(total))
        XCTAssertEqual(counts.delivered + counts.droppedTotal, UInt64(total), "\(counts)")
        XCTAssertGreaterThan(counts.dropped["bufferFull"] ?? 0, 0, "the outage should overflow a 200-message buffer")
        XCTAssertGreaterThanOrEqual(sink.status.reconnects, 1)
        let all = collector.waitForMessages(collector.tcpOutput, count: Int(counts.delivered))
        let numbers = all.compactMap { Self.sequenceNumber($0)?.0 }
        XCTAssertEqual(numbers.count, all.count, "every line is a whole event")
        XCTAssertEqual(Set(numbers).count, numbers.count, "no event arrived twice")
        XCTAssertEqual(UInt64(all.count), counts.delivered,
                       "loss must be reported exactly: \(counts), collector has \(all.count)")
    }

    /// RELP to a real rsyslog (imrelp), stopped in the middle of a stream with
    /// no lull: an event counts as delivered only once rsyslog acknowledged it,
    /// so the events in rsyslog's file are exactly the delivered ones, and
    /// delivered + dropped == sent. (An event rsyslog wrote but could not
    /// acknowledge before exiting is sent again: it may appear twice, never
    /// be counted wrongly.)
    func testRealRsyslogOverRELPCountsExactlyThroughACollectorRestart() throws {
        let collector = try RsyslogCollector()
        try collector.start()
        defer { collector.stop() }
        var options = SyslogSink.Options()
        options.maxBufferedMessages = 200
        options.reconnectMinimumDelay = 0.05
        options.reconnectMaximumDelay = 0.4
        let sink = SyslogSink(destination: .relp(host: "127.0.0.1", port: collector.relpPort), options: options,
                              recordIDs: EventRecordCounter(startingAt: 1))
        defer { sink.close(timeout: 0) }
        let total = 2000
        let emitterDone = DispatchSemaphore(value: 0)
        Thread {
            for n in 0..<total {
                var extra = ""
                if n == 10 { extra = " " + String(repeating: "0123456789abcdef", count: 1500) }  // 24 KiB
                if n % 50 == 7 { extra = " line one\nline two" }
                try? sink.emit(Self.numbered(n, extra: extra))
                Thread.sleep(forTimeInterval: 0.0005)
            }
            emitterDone.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.4)
        collector.stop()  // mid-stream, whatever is in flight
        Thread.sleep(forTimeInterval: 0.5)
        try collector.start()
        emitterDone.wait()
        XCTAssertTrue(sink.drain(timeout: 20), "buffer did not drain after the collector came back")
        let counts = sink.deliveryCounts
        XCTAssertEqual(counts.accepted, UInt64(total))
        XCTAssertEqual(counts.delivered + counts.droppedTotal, UInt64(total), "\(counts)")
        XCTAssertGreaterThan(counts.dropped["bufferFull"] ?? 0, 0)
        let messages = collector.waitForMessages(collector.relpOutput, count: Int(counts.delivered))
        let numbers = messages.compactMap { Self.sequenceNumber($0)?.0 }
        XCTAssertEqual(numbers.count, messages.count, "every line is a whole event")
        XCTAssertEqual(UInt64(Set(numbers).count), counts.delivered,
                       "acknowledged events are exactly the events rsyslog has: \(counts), \(Set(numbers).count) distinct")
        XCTAssertTrue(numbers.contains(10) && numbers.contains(7), "the 24 KiB and the multi-line events arrived")
        print("RELP restart: \(counts), \(messages.count) lines, \(Set(numbers).count) distinct events")
        XCTAssertGreaterThanOrEqual(sink.status.reconnects, 1)
    }

    /// The local datagram path, into a real rsyslog's imuxsock socket.
    func testRealRsyslogLocalSocket() throws {
        let collector = try RsyslogCollector()
        try collector.start()
        defer { collector.stop() }
        let sink = SyslogSink(destination: .local(path: collector.socketPath), recordIDs: EventRecordCounter(startingAt: 1))
        defer { sink.close(timeout: 0) }
        var expected: [Int: String] = [:]
        for n in 0..<50 {
            var extra = ""
            if n == 3 { extra = " " + String(repeating: "x", count: 20 * 1024) }
            if n == 4 { extra = " a\nb" }
            let event = Self.numbered(n, extra: extra)
            expected[n] = event["CommandLine"]
            try sink.emit(event)
        }
        // Larger than a Unix datagram may be: dropped and counted, never cut.
        try sink.emit(Self.numbered(50, extra: String(repeating: "y", count: 400 * 1024)))
        XCTAssertTrue(sink.drain(timeout: 20))
        let counts = sink.deliveryCounts
        XCTAssertEqual(counts.delivered, 50, "\(counts)")
        XCTAssertEqual(counts.dropped["oversize"], 1, "\(counts)")
        let messages = collector.waitForMessages(collector.localOutput, count: 50)
        XCTAssertEqual(messages.count, 50)
        for message in messages {
            let (n, commandLine) = try XCTUnwrap(Self.sequenceNumber(message), "unparseable: \(message.prefix(300))")
            XCTAssertEqual(commandLine, expected[n])
        }
    }

    func testReleasingTheSinkWithoutCloseStopsItsWriter() throws {
        let port = try RsyslogCollector.freeLoopbackPort()
        let before = threadCount(named: "swiftmon-syslog")
        for _ in 0..<20 {
            let sink = SyslogSink(destination: .tcp(host: "127.0.0.1", port: port), recordIDs: EventRecordCounter(startingAt: 1))
            try sink.emit(Self.numbered(1))
            // Generous: a loaded machine (CI beside other builds) may take a while to start a thread.
            let deadline = Date(timeIntervalSinceNow: 15)
            while threadCount(named: "swiftmon-syslog") <= before, Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
            XCTAssertGreaterThan(threadCount(named: "swiftmon-syslog"), before)
        }
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertEqual(threadCount(named: "swiftmon-syslog"), before, "every released sink stopped its writer thread")
    }

    func testAbsentCollectorCountsOverflowAndKeepsTrying() throws {
        let port = try RsyslogCollector.freeLoopbackPort()  // nothing listens there
        var options = SyslogSink.Options()
        options.maxBufferedMessages = 10
        options.reconnectMinimumDelay = 0.01
        let sink = SyslogSink(destination: .tcp(host: "127.0.0.1", port: port), options: options,
                              recordIDs: EventRecordCounter(startingAt: 1))
        for n in 0..<25 { try sink.emit(Self.numbered(n)) }
        try sink.flush()  // as the pipeline does when its queue runs dry
        Thread.sleep(forTimeInterval: 0.2)
        let status = sink.status
        XCTAssertFalse(status.connected)
        XCTAssertNotNil(status.lastError)
        XCTAssertEqual(sink.deliveryCounts.dropped["bufferFull"], 15)
        sink.close(timeout: 0)
        let counts = sink.deliveryCounts
        XCTAssertEqual(counts.dropped["shutdown"], 10)
        XCTAssertEqual(counts.delivered + counts.droppedTotal, 25)
    }
}

/// Threads of this process whose name starts with `prefix` (/proc/self/task/*/comm).
func threadCount(named prefix: String) -> Int {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.filter {
        ((try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix(prefix)
    }.count
}

final class SinkDeliveryCountsTests: XCTestCase {
    func testLossSinceTheLastReport() {
        let earlier = SinkDeliveryCounts(accepted: 100, delivered: 90, dropped: ["bufferFull": 10])
        let now = SinkDeliveryCounts(accepted: 130, delivered: 100, dropped: ["bufferFull": 22, "oversize": 2])
        XCTAssertEqual(now.dropped(since: earlier), ["bufferFull": 12, "oversize": 2])
        XCTAssertEqual(now.summary(name: "syslog tcp://siem:514"),
                       "syslog tcp://siem:514: 130 accepted, 100 written, 24 lost (bufferFull 22, oversize 2), 6 pending")
        XCTAssertEqual(now.pending, 6)
    }
}
