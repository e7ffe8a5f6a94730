import SwiftmonCore
import XCTest
@testable import SwiftmonLinux

/// Network records → NetworkConnect (BuilderScenario).
final class NetworkEventBuilderTests: XCTestCase {
    func testNetworkSourceIsTheInitiator() throws {
        let steps = BuilderScenario.run()
        let connect = try steps.event("network: IPv4 TCP connect")
        XCTAssertEqual([connect["Protocol"], connect["Initiated"], connect["SourceIp"], connect["SourcePort"],
                        connect["DestinationIp"], connect["DestinationPort"], connect["SourceIsIpv6"]],
                       ["tcp", "true", "10.0.0.5", "40000", "93.184.216.34", "443", "false"])
        let accept = try steps.event("network: IPv4 TCP accept")
        XCTAssertEqual([accept["Initiated"], accept["SourceIp"], accept["SourcePort"], accept["DestinationIp"],
                        accept["DestinationPort"]], ["false", "10.0.0.9", "51000", "10.0.0.5", "22"])
        let v6 = try steps.event("network: IPv6 TCP connect")
        XCTAssertEqual([v6["SourceIsIpv6"], v6["DestinationIsIpv6"], v6["SourceIp"], v6["DestinationIp"]],
                       ["true", "true", "::1", "2001:db8::53"])
        XCTAssertEqual(try steps.event("network: IPv6 TCP accept")["SourceIp"], "::ffff:192.0.2.1")
        let udp = try steps.event("network: UDP first send")
        XCTAssertEqual([udp["Protocol"], udp["DestinationIp"], udp["DestinationPort"]], ["udp", "9.9.9.9", "53"])
        let unknown = try steps.event("network: UDP received first")
        XCTAssertEqual(unknown["Image"], "-")
        XCTAssertEqual(unknown["User"], "root", "an unknown process's user comes from the record's euid")
    }
}
