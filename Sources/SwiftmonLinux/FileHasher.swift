import Crypto
import Glibc
import SwiftmonSystem

/// Hashes of executables in Sysmon's `Hashes` layout (`SHA256=…,MD5=…`),
/// computed once per file identity (device, inode, change time): a storm of
/// /bin/true is hashed once, and a file changed in place is hashed again.
///
/// Hashing runs on a thread of its own, fed by a bounded queue, so that the
/// ring-buffer reader never reads a file: the reader asks for a hash
/// (``hashes(path:identity:)``) and waits for it at most ``waitNanoseconds``.
/// A hash not ready by then (the first exec of a 1 GiB binary) is left out
/// of that event (`Hashes` is `-`, as for a file that cannot be read) and
/// counted as late; the worker finishes it anyway, and later events of the
/// same file identity carry it. Once a wait has run out the reader does not
/// wait again until the worker has caught up: a burst of new large files
/// delays the event stream by one bound, not one per file.
final class FileHasher: @unchecked Sendable {  // every var below `mutex` is guarded by it
    enum Algorithm: String, CaseIterable, Sendable {
        case md5 = "MD5", sha1 = "SHA1", sha256 = "SHA256", sha384 = "SHA384", sha512 = "SHA512"
    }

    struct Identity: Hashable, Sendable { let device: UInt64; let inode: UInt64; let ctimeNanoseconds: UInt64 }

    /// What the hashing did, for `--stats` and `service status`.
    struct Counters: Equatable, Sendable {
        /// Files hashed (each identity once) and the bytes read for them.
        var filesHashed: UInt64 = 0
        var bytesHashed: UInt64 = 0
        /// CPU time of the hashing thread (it is also in the process's total).
        var cpuMicroseconds: UInt64 = 0
        /// Events that went out without their hash because it was not ready in time.
        var late: UInt64 = 0
        /// Files not queued because the queue was full (their events lack the hash).
        var queueFull: UInt64 = 0
        /// Files that were gone, replaced or changed while being read.
        var unreadable: UInt64 = 0

        /// By name, as `--stats` and `service status` show them.
        var named: [String: UInt64] {
            ["hash files": filesHashed, "hash bytes read": bytesHashed, "hash CPU µs": cpuMicroseconds,
             "hash late (event without Hashes)": late, "hash queue full (event without Hashes)": queueFull,
             "hash file unreadable or changed": unreadable]
        }
    }

    let algorithms: [Algorithm]
    /// How long the reader waits for a hash it asked for.
    let waitNanoseconds: Int64
    /// Files waiting for the worker, at most.
    let queueLimit: Int
    private let cacheLimit = 65_536

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// The worker waits on it for work; the reader waits on it for a result.
    private let workAvailable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let resultReady = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var cache: [Identity: String] = [:]
    /// Identities the worker could not hash, until the reader has seen it once.
    private var failed: Set<Identity> = []
    private var queue: [(path: [UInt8], identity: Identity)] = []
    private var queueHead = 0
    private var queued: Set<Identity> = []
    /// A wait ran out: no waiting until the worker has emptied its queue.
    private var behind = false
    private var working = false
    private var stopping = false
    private var workerStarted = false
    private var counts = Counters()

    /// `waitNanoseconds`: 50 ms covers a binary of tens of MiB, and a
    /// worker thread not scheduled at once on a busy machine.
    init(algorithms: [Algorithm], waitNanoseconds: Int64 = 50_000_000, queueLimit: Int = 1024) {
        self.algorithms = algorithms
        self.waitNanoseconds = waitNanoseconds
        self.queueLimit = max(1, queueLimit)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(workAvailable, &attributes)
        pthread_cond_init(resultReady, &attributes)
        pthread_condattr_destroy(&attributes)
        // Started now, so that the first file's wait does not include it.
        locked { startWorkerIfNeeded() }
    }

    deinit {
        pthread_cond_destroy(workAvailable)
        pthread_cond_destroy(resultReady)
        pthread_mutex_destroy(mutex)
        workAvailable.deallocate()
        resultReady.deallocate()
        mutex.deallocate()
    }

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

    var counters: Counters { locked { counts } }
    var filesHashed: Int { Int(counters.filesHashed) }

    /// The Hashes value for the file at `path`, if it is still the file the
    /// kernel reported (`identity`) and its hash is ready within the wait
    /// bound; nil when it is gone, was replaced, or is still being hashed.
    func hashes(path: [UInt8], identity: Identity) -> String? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if let known = cache[identity] { return known }
        if failed.remove(identity) != nil { return nil }
        if stopping { return nil }
        if !queued.contains(identity) {
            guard queued.count < queueLimit else {
                counts.queueFull += 1
                return nil
            }
            queue.append((path, identity))
            queued.insert(identity)
            startWorkerIfNeeded()
            pthread_cond_signal(workAvailable)
        }
        if behind {
            counts.late += 1
            return nil
        }
        let deadline = Syscalls.clockNanoseconds(CLOCK_MONOTONIC) + waitNanoseconds
        var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while true {
            if let known = cache[identity] { return known }
            if failed.remove(identity) != nil { return nil }
            if pthread_cond_timedwait(resultReady, mutex, &until) == ETIMEDOUT {
                if let known = cache[identity] { return known }
                if failed.remove(identity) != nil { return nil }
                behind = true
                counts.late += 1
                return nil
            }
        }
    }

    /// Ends the worker after the file it is reading; later asks get cached hashes only.
    func stop() {
        locked {
            stopping = true
            _ = pthread_cond_broadcast(workAvailable)
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// With `mutex` held.
    private func startWorkerIfNeeded() {
        guard !workerStarted else { return }
        workerStarted = true
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let hasher = Unmanaged<FileHasher>.fromOpaque(raw!).takeRetainedValue()
            Syscalls.nameCurrentThread("swiftmon-hash")
            hasher.work()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }

    private func work() {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        pthread_mutex_lock(mutex)
        while true {
            while queueHead == queue.count, !stopping {
                working = false
                behind = false  // caught up: the reader may wait again
                queue.removeAll(keepingCapacity: queue.capacity <= 4096)
                queueHead = 0
                pthread_cond_wait(workAvailable, mutex)
            }
            if stopping { break }
            let job = queue[queueHead]
            queue[queueHead].path = []
            queueHead += 1
            working = true
            pthread_mutex_unlock(mutex)
            let cpuBefore = Syscalls.clockNanoseconds(CLOCK_THREAD_CPUTIME_ID)
            let result = compute(path: job.path, identity: job.identity, buffer: &buffer)
            let cpu = Syscalls.clockNanoseconds(CLOCK_THREAD_CPUTIME_ID) - cpuBefore
            pthread_mutex_lock(mutex)
            queued.remove(job.identity)
            counts.cpuMicroseconds += UInt64(max(0, cpu) / 1000)
            if let result {
                if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
                cache[job.identity] = result.text
                counts.filesHashed += 1
                counts.bytesHashed += result.bytes
            } else {
                counts.unreadable += 1
                if failed.count >= 4096 { failed.removeAll(keepingCapacity: true) }
                failed.insert(job.identity)
            }
            pthread_cond_broadcast(resultReady)
        }
        pthread_mutex_unlock(mutex)
    }

    /// Reads the file and hashes it; nil when it is not the file the kernel
    /// reported, not a regular file, or changed while being read.
    func compute(path: [UInt8], identity: Identity, buffer: inout [UInt8]) -> (text: String, bytes: UInt64)? {
        // The path may hold any bytes but NUL: open it as given, not as text.
        guard let fd = try? Syscalls.open(pathBytes: path, O_RDONLY | O_NOCTTY | O_NONBLOCK) else { return nil }
        defer { Syscalls.close(fd) }
        guard let before = try? Syscalls.fstat(fd), (before.st_mode & S_IFMT) == S_IFREG,
              UInt64(before.st_ino) == identity.inode, FileHasher.kernelDevice(UInt64(before.st_dev)) == identity.device
        else { return nil }

        var md5 = Insecure.MD5(), sha1 = Insecure.SHA1(), sha256 = SHA256(), sha384 = SHA384(), sha512 = SHA512()
        var total: UInt64 = 0
        while true {
            guard let n = try? buffer.withUnsafeMutableBytes({ try Syscalls.read(fd, into: $0) }) else { return nil }
            if n == 0 { break }
            total += UInt64(n)
            buffer.withUnsafeBytes { all in
                let chunk = UnsafeRawBufferPointer(rebasing: all[0..<n])
                for a in algorithms {
                    switch a {
                    case .md5: md5.update(bufferPointer: chunk)
                    case .sha1: sha1.update(bufferPointer: chunk)
                    case .sha256: sha256.update(bufferPointer: chunk)
                    case .sha384: sha384.update(bufferPointer: chunk)
                    case .sha512: sha512.update(bufferPointer: chunk)
                    }
                }
            }
        }
        // Written to while we read it: the digest is of no one version.
        guard let after = try? Syscalls.fstat(fd), after.st_ctim.tv_sec == before.st_ctim.tv_sec,
              after.st_ctim.tv_nsec == before.st_ctim.tv_nsec, after.st_size == before.st_size else { return nil }
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
        return (text, total)
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
