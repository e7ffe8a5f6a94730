#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonCore
import SwiftmonSystem

/// Hands out `EventRecordID`s: increasing for the life of the installation,
/// across restarts and crashes.
///
/// The state file holds the first id that has *not* been reserved. On open and
/// whenever a block is used up, the counter first writes (write, fsync, rename,
/// fsync of the directory) the end of a new block of ``blockSize`` ids and only
/// then hands out ids from it. A crash therefore loses at most the unused rest
/// of one block — ids are skipped, never repeated — and costs one durable write
/// per block, not per event. The file is created with mode 0600.
public final class EventRecordCounter: @unchecked Sendable {  // `next` and `reservedEnd` are guarded by `lock`
    public static let defaultBlockSize: UInt64 = 4096

    public let stateFile: String?
    public let blockSize: UInt64
    private let lock = Lock()
    private var next: UInt64
    private var reservedEnd: UInt64

    /// A counter persisted in `stateFile` (created when missing, starting at 1).
    public init(stateFile: String, blockSize: UInt64 = EventRecordCounter.defaultBlockSize) throws {
        precondition(blockSize > 0)
        self.stateFile = stateFile
        self.blockSize = blockSize
        let start: UInt64
        if let bytes = try Syscalls.readSmallFile(stateFile) {
            let text = String(decoding: bytes, as: UTF8.self).trimmingSpaces
            guard let value = UInt64(text), value > 0 else {
                // Starting over would make ids go backwards: refuse instead.
                throw EventRecordCounterError.corruptStateFile(path: stateFile, content: String(text.prefix(40)))
            }
            start = value
        } else {
            start = 1
        }
        next = start
        reservedEnd = start
        try reserve()
    }

    /// A counter kept only in memory (tests, re-rendering a store).
    public init(startingAt first: UInt64) {
        stateFile = nil
        blockSize = EventRecordCounter.defaultBlockSize
        next = first
        reservedEnd = UInt64.max
    }

    /// The next id. Throws only when a new block cannot be made durable.
    public func nextID() throws -> UInt64 {
        try lock.withLock {
            if next >= reservedEnd { try reserve() }
            defer { next += 1 }
            return next
        }
    }

    /// The id ``nextID()`` would return now.
    public var peek: UInt64 { lock.withLock { next } }

    private func reserve() throws {
        guard let path = stateFile else { return }
        let (end, overflow) = next.addingReportingOverflow(blockSize)
        guard !overflow else { throw EventRecordCounterError.exhausted(path: path) }
        try EventRecordCounter.writeDurably(path: path, text: "\(end)\n")
        reservedEnd = end
    }

    static func writeDurably(path: String, text: String) throws {
        let temporary = path + ".tmp"
        let fd = try Syscalls.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW)
        do {
            try Array(text.utf8).withUnsafeBytes { try Syscalls.writeAll(fd, $0, temporary) }
            try Syscalls.fsync(fd, temporary)
            Syscalls.close(fd)
        } catch {
            Syscalls.close(fd)
            throw error
        }
        try Syscalls.rename(temporary, path)
        // The rename itself must survive a power cut too.
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? "."
        if let dfd = try? Syscalls.open(directory, O_RDONLY | O_DIRECTORY) {
            try? Syscalls.fsync(dfd, directory)
            Syscalls.close(dfd)
        }
    }
}

public enum EventRecordCounterError: Error, CustomStringConvertible, Equatable {
    case corruptStateFile(path: String, content: String)
    case exhausted(path: String)

    public var description: String {
        switch self {
        case .corruptStateFile(let path, let content):
            return "\(path): EventRecordID state file does not hold a positive number (found \"\(content)\"); "
                + "remove it only if record ids may start again at 1"
        case .exhausted(let path):
            return "\(path): EventRecordID counter exhausted"
        }
    }
}

fileprivate extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeLast() }
        return String(s)
    }
}
