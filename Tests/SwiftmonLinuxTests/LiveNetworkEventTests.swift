import Foundation
import XCTest

/// NetworkConnect from the real sensor: loopback TCP over IPv4 and IPv6 (one
/// event for the connecting side, one for the accepting side) and UDP (the
/// first datagram per destination).
final class LiveNetworkEventTests: XCTestCase {
    func testTCPConnectAndAcceptOverIPv4AndIPv6() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let sensor = try LiveSensor.loggingEverything()
        var runs: [(family: String, pid: Int32, client: String, server: String)] = []
        for family in ["4", "6"] {
            let run = try runCapturing(helper.path, ["tcp", family])
            XCTAssertEqual(run.status, 0)
            let ports = run.output.split(whereSeparator: \.isWhitespace).map(String.init)
            XCTAssertEqual(ports.count, 2)
            runs.append((family, run.pid, ports[0], ports[1]))
        }
        try sensor.waitFor(timeout: 20) { events in
            runs.allSatisfy { events.with(id: 3, "ProcessId", equalTo: String($0.pid)).count >= 2 }
        }
        usleep(200_000)
        let events = sensor.stop()
        for run in runs {
            let guid = try XCTUnwrap(events.processGuid(of: run.pid))
            let mine = events.with(id: 3, "ProcessId", equalTo: String(run.pid))
            XCTAssertEqual(mine.count, 2, "IPv\(run.family): one connect, one accept")
            let address = run.family == "4" ? "127.0.0.1" : "::1"
            let ipv6 = run.family == "6" ? "true" : "false"
            for (initiated, e) in [("true", mine.first { ($0["Initiated"] as? String) == "true" }),
                                   ("false", mine.first { ($0["Initiated"] as? String) == "false" })] {
                let e = try XCTUnwrap(e, "IPv\(run.family) Initiated=\(initiated)")
                XCTAssertEqual(e["ProcessGuid"] as? String, guid)
                XCTAssertEqual(e["Image"] as? String, helper.resolvingSymlinksInPath().path)
                XCTAssertEqual(e["User"] as? String, "root")
                XCTAssertEqual(e["Protocol"] as? String, "tcp")
                XCTAssertEqual(e["SourceIsIpv6"] as? String, ipv6)
                XCTAssertEqual(e["DestinationIsIpv6"] as? String, ipv6)
                XCTAssertEqual(e["SourceIp"] as? String, address)
                XCTAssertEqual(e["DestinationIp"] as? String, address)
                // Source is the end that initiated: the client, on both sides.
                XCTAssertEqual(e["SourcePort"] as? String, run.client, "IPv\(run.family) Initiated=\(initiated)")
                XCTAssertEqual(e["DestinationPort"] as? String, run.server)
                XCTAssertEqual(e["SourceHostname"] as? String, "-")
            }
        }
    }

    func testUDPFirstSendPerDestination() throws {
        try LiveSensor.requireLiveSensor()
        let helper = try XCTUnwrap(LiveSensor.helper)
        let sensor = try LiveSensor.loggingEverything()
        let run = try runCapturing(helper.path, ["udp"])
        XCTAssertEqual(run.status, 0)
        let port = run.output.trimmingCharacters(in: .whitespacesAndNewlines)
        try sensor.waitFor(timeout: 20) { $0.with(id: 3, "ProcessId", equalTo: String(run.pid)).count >= 2 }
        usleep(300_000)
        let events = sensor.stop().with(id: 3, "ProcessId", equalTo: String(run.pid))
        XCTAssertEqual(events.count, 2, "two destinations; the second datagram to the first is not an event")
        let destinations = Set(events.compactMap { $0["DestinationIp"] as? String })
        XCTAssertEqual(destinations, ["::ffff:127.0.0.1", "::1"])
        for e in events {
            XCTAssertEqual(e["Protocol"] as? String, "udp")
            XCTAssertEqual(e["Initiated"] as? String, "true")
            XCTAssertEqual(e["SourcePort"] as? String, port)
            XCTAssertEqual(e["DestinationPort"] as? String, "9")
            XCTAssertEqual(e["SourceIsIpv6"] as? String, "true")
        }
    }
}
