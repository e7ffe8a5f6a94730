import Foundation
import SwiftmonStore
import SwiftmonSystem

extension ImportStore {
    /// One batch's insert as ``ImportStoreThread/Results`` (CPU not counted here).
    func insert(batch: [HostEvent]) -> ImportStoreThread.Results {
        var results = ImportStoreThread.Results()
        do {
            let result = try insert(batch)
            results.inserted = result.inserted
            results.duplicates = result.duplicates
        } catch {
            results.failed = batch.count
            results.errors.append("\(error)")
        }
        return results
    }
}

/// The thread that inserts an import's batches, in the order given, while
/// the importer's thread parses the next: on two cores the import runs at
/// the pace of the slower of the two instead of their sum. At most one batch
/// waits for it (``submit(_:)`` blocks meanwhile), so memory stays at three
/// batches and nothing is dropped. Its ``ImportStore`` is used by no other
/// thread until ``stop()`` returns.
final class ImportStoreThread: @unchecked Sendable {  // the vars below `condition` are guarded by it
    struct Results: Sendable {
        var inserted = 0
        var duplicates = 0
        /// Events of transactions that failed.
        var failed = 0
        var errors: [String] = []
        /// CPU time of the store's thread in its inserts.
        var cpuNanoseconds: Int64 = 0
    }

    private let store: ImportStore
    private let condition = NSCondition()
    private var waiting: [[HostEvent]] = []
    private var inserting = false
    private var stopping = false
    private var done = false
    private var results = Results()

    init(_ store: ImportStore) {
        self.store = store
        let thread = Thread { self.run() }
        thread.name = "swiftmon-import-store"
        thread.start()
    }

    /// Queues `batch`, first waiting until no other batch waits.
    func submit(_ batch: [HostEvent]) {
        condition.lock()
        defer { condition.unlock() }
        while !waiting.isEmpty, !done { condition.wait() }
        waiting.append(batch)
        condition.broadcast()
    }

    /// Returns once every submitted batch is stored (or failed).
    func drain() {
        condition.lock()
        defer { condition.unlock() }
        while !waiting.isEmpty || inserting, !done { condition.wait() }
    }

    /// What was stored since the last call.
    func takeResults() -> Results {
        condition.lock()
        defer { condition.unlock() }
        let taken = results
        results = Results()
        return taken
    }

    /// Stores what waits, then ends the thread.
    func stop() {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        while !done { condition.wait() }
    }

    private func run() {
        Syscalls.nameCurrentThread("swiftmon-import")
        while true {
            condition.lock()
            while waiting.isEmpty, !stopping { condition.wait() }
            guard !waiting.isEmpty else {
                done = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = waiting.removeFirst()
            inserting = true
            condition.broadcast()
            condition.unlock()

            let cpu = Syscalls.clockNanoseconds(CLOCK_THREAD_CPUTIME_ID)
            var outcome = store.insert(batch: batch)
            outcome.cpuNanoseconds = Syscalls.clockNanoseconds(CLOCK_THREAD_CPUTIME_ID) - cpu

            condition.lock()
            results.inserted += outcome.inserted
            results.duplicates += outcome.duplicates
            results.failed += outcome.failed
            results.errors += outcome.errors
            results.cpuNanoseconds += outcome.cpuNanoseconds
            inserting = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
