import Crypto
import Glibc
import SwiftmonSystem

/// Hashes of executables in Sysmon's `Hashes` layout (`SHA256=…,MD5=…`),
/// computed once per file identity (device, inode, change time): a storm of
/// /bin/true is hashed once, and a file changed in place is hashed again.
final class FileHasher {
    enum Algorithm: String, CaseIterable, Sendable {
        case md5 = "MD5", sha1 = "SHA1", sha256 = "SHA256", sha384 = "SHA384", sha512 = "SHA512"
    }

    struct Identity: Hashable { let device: UInt64; let inode: UInt64; let ctimeNanoseconds: UInt64 }

    let algorithms: [Algorithm]
    private var cache: [Identity: String] = [:]
    private let cacheLimit = 65_536
    private(set) var filesHashed = 0

    init(algorithms: [Algorithm]) { self.algorithms = algorithms }

    /// Parses Sysmon's HashAlgorithms text: "sha256,md5", "*" for all. IMPHASH
    /// (a Windows PE import hash) has no meaning for ELF files and is ignored.
    static func parse(_ text: String) throws -> [Algorithm] {
        var out: [Algorithm] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: " ").uppercased() }) where !item.isEmpty {
            if item == "*" { return Algorithm.allCases }
            if item == "IMPHASH" { continue }
            guard let a = Algorithm(rawValue: item) else {
                throw HashSelectionError(item: item)
            }
            if !out.contains(a) { out.append(a) }
        }
        return out
    }

    /// The Hashes value for the file at `path`, if it is still the file the
    /// kernel reported (`identity`); nil when it is gone or was replaced.
    func hashes(path: [UInt8], identity: Identity) -> String? {
        if let known = cache[identity] { return known }
        // The path may hold any bytes but NUL: open it as given, not as text.
        guard let fd = try? Syscalls.open(pathBytes: path, O_RDONLY | O_NOCTTY | O_NONBLOCK) else { return nil }
        defer { Syscalls.close(fd) }
        guard let st = try? Syscalls.fstat(fd), (st.st_mode & S_IFMT) == S_IFREG,
              UInt64(st.st_ino) == identity.inode, FileHasher.kernelDevice(UInt64(st.st_dev)) == identity.device
        else { return nil }

        var md5 = Insecure.MD5(), sha1 = Insecure.SHA1(), sha256 = SHA256(), sha384 = SHA384(), sha512 = SHA512()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            guard let n = try? chunk.withUnsafeMutableBytes({ try Syscalls.read(fd, into: $0) }) else { return nil }
            if n == 0 { break }
            let slice = chunk[0..<n]
            for a in algorithms {
                switch a {
                case .md5: md5.update(data: slice)
                case .sha1: sha1.update(data: slice)
                case .sha256: sha256.update(data: slice)
                case .sha384: sha384.update(data: slice)
                case .sha512: sha512.update(data: slice)
                }
            }
        }
        let text = algorithms.map { a -> String in
            let digest: [UInt8]
            switch a {
            case .md5: digest = Array(md5.finalize())
            case .sha1: digest = Array(sha1.finalize())
            case .sha256: digest = Array(sha256.finalize())
            case .sha384: digest = Array(sha384.finalize())
            case .sha512: digest = Array(sha512.finalize())
            }
            return a.rawValue + "=" + digest.map { String($0, radix: 16, uppercase: true).leftPadded(2) }.joined()
        }.joined(separator: ",")
        if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[identity] = text
        filesHashed += 1
        return text
    }

    /// glibc's st_dev encoding → the kernel's internal dev_t (major << 20 | minor).
    static func kernelDevice(_ dev: UInt64) -> UInt64 {
        let major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~UInt64(0xFFF))
        let minor = (dev & 0xFF) | ((dev >> 12) & ~UInt64(0xFF))
        return (major << 20) | (minor & 0xFFFFF)
    }
}

struct HashSelectionError: Error, CustomStringConvertible {
    let item: String
    var description: String {
        "unknown hash algorithm '\(item)': use one or more of "
            + FileHasher.Algorithm.allCases.map { $0.rawValue.lowercased() }.joined(separator: ", ") + ", or *"
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        var s = self
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
