import Foundation

/// An IPv4 or IPv6 network for `|cidr`.
public struct SigmaCIDR: Sendable, Hashable {
    let address: [UInt8]
    let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let addr = SigmaCIDR.parseIP(String(parts[0])) else { return nil }
        let bits = addr.count * 8
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0, p <= bits else { return nil }
            prefix = p
        } else {
            prefix = bits
        }
        address = addr
    }

    public func contains(_ text: String) -> Bool {
        guard let ip = SigmaCIDR.parseIP(text) else { return false }
        var candidate = ip
        // An IPv4-mapped IPv6 address is its IPv4 address.
        if address.count == 4, ip.count == 16, ip[0..<10].allSatisfy({ $0 == 0 }), ip[10] == 0xFF, ip[11] == 0xFF {
            candidate = Array(ip[12...])
        }
        guard candidate.count == address.count else { return false }
        var remaining = prefix
        for i in 0..<address.count where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if candidate[i] & mask != address[i] & mask { return false }
            remaining -= take
        }
        return true
    }

    static func parseIP(_ text: String) -> [UInt8]? {
        var t = text
        if t.hasPrefix("[") && t.hasSuffix("]") { t = String(t.dropFirst().dropLast()) }
        if let pct = t.firstIndex(of: "%") { t = String(t[..<pct]) }
        if !t.contains(":") {
            let parts = t.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var out: [UInt8] = []
            for p in parts {
                guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), let v = UInt8(p) else { return nil }
                out.append(v)
            }
            return out
        }
        // IPv6, with :: and an optional dotted IPv4 tail.
        var head: [UInt16] = [], tail: [UInt16] = []
        let halves = t.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String, _ out: inout [UInt16]) -> Bool {
            if s.isEmpty { return true }
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                if g.contains(".") {
                    guard let v4 = parseIP(String(g)) else { return false }
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1])); out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                } else {
                    guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return false }
                    out.append(v)
                }
            }
            return true
        }
        guard groups(halves[0], &head) else { return nil }
        if halves.count == 2 {
            guard groups(halves[1], &tail), head.count + tail.count < 8 else { return nil }
        } else if head.count != 8 { return nil }
        let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
