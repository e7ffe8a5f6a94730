import CSwiftmonRecords
import Glibc
import SwiftmonCore

/// The kernel's network records → NetworkConnect (3). Source is the end that
/// initiated the connection, as in Sysmon: for an accepted connection the
/// remote peer is the source and this host's end the destination.
final class NetworkEventBuilder {
    let processes: ProcessEventBuilder

    init(processes: ProcessEventBuilder) { self.processes = processes }

    func networkConnect(_ r: sm_network_record) -> Event {
        var e = processes.attributedEvent(.networkConnect, r.header, euid: r.euid)
        let initiated = r.header.has(SM_FLAG_INITIATED)
        let isIPv6 = Int32(r.family) == AF_INET6
        let local = NetworkEventBuilder.address(r.local_address, ipv6: isIPv6)
        let remote = NetworkEventBuilder.address(r.remote_address, ipv6: isIPv6)
        let (source, sourcePort, destination, destinationPort) = initiated
            ? (local, r.local_port, remote, r.remote_port)
            : (remote, r.remote_port, local, r.local_port)
        e["Protocol"] = Int(r.protocol) == IPPROTO_UDP ? "udp" : "tcp"
        e["Initiated"] = initiated ? "true" : "false"
        e["SourceIsIpv6"] = isIPv6 ? "true" : "false"
        e["SourceIp"] = source
        e["SourcePort"] = String(sourcePort)
        e["DestinationIsIpv6"] = isIPv6 ? "true" : "false"
        e["DestinationIp"] = destination
        e["DestinationPort"] = String(destinationPort)
        return e
    }

    /// 16 bytes as the kernel holds them (IPv4 in the first 4) → text.
    static func address(_ bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8), ipv6: Bool) -> String {
        var raw = bytes
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = withUnsafeBytes(of: &raw) { p in
            inet_ntop(ipv6 ? AF_INET6 : AF_INET, p.baseAddress, &text, socklen_t(text.count)) != nil
        }
        return ok ? text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : "-"
    }
}
