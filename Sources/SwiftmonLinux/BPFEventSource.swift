@preconcurrency import Glibc  // for `stderr`, which libc sets before main and never reassigns
import CSwiftmonRecords
import SwiftmonCore
import SwiftmonSystem

/// The eBPF sensor as an event source: the BPF programs (loaded and attached
/// at creation), the ring buffer they write, and the builders that turn its
/// records into events through the process cache.
final class BPFEventSource: LinuxEventSource {
    private var sensor: BPFSensor?
    private let handler = RecordBatcher()
    private let processes: ProcessEventBuilder
    private let attachedPrograms: [String]
    private let skippedPrograms: [String]
    private let ringBufferBytes: Int

    init(options: SensorOptions, host: HostIdentity, hasher: FileHasher?) throws {
        LibbpfLog.verbose = options.verbose
        let sensor = try BPFSensor(ringBufferBytes: options.ringBufferBytes, disabledPrograms: options.disabledProbes)
        do {
            try sensor.load()
            try sensor.attach()
        } catch {
            sensor.close()
            throw error
        }
        self.sensor = sensor
        ringBufferBytes = options.ringBufferBytes
        attachedPrograms = sensor.attachedPrograms
        skippedPrograms = sensor.skippedPrograms.map { "\($0.name) (\($0.reason))" }

        let users = UserNames()
        users.refreshIfChanged()
        processes = ProcessEventBuilder(host: host, users: users, hasher: hasher)
        // After attach, so that no process falls between the scan and the hooks.
        let seeded = processes.seed(with: processes.scanner())
        let builder = SensorEventBuilder(processes: processes)
        handler.builder = builder
        if sensor.watchesProtectedFiles {
            let files = ProtectedFiles(configuration: options.configurationPath, binary: ProtectedFiles.runningBinary()) {
                sensor.protect($0)
            }
            files.scan()
            builder.tamper.protectedFiles = files
            protectedFiles = files
        }
        // SIGKILLs that ended earlier runs, kept by the kernel in the pinned
        // kill ledger: reported now, at the time they happened.
        let ledger = sensor.killLedger.take()
        var recovered: [Event] = []
        var malformed: UInt64 = 0
        for bytes in ledger.records {
            let decoded = bytes.withUnsafeBytes { KernelRecord($0) }
            guard case .signal(let r)? = decoded else {
                malformed += 1
                continue
            }
            recovered.append(builder.tamper.sensorSignal(r, recovered: true))
        }
        killLedgerProblem = sensor.killLedger.problem
        if options.verbose {
            fputs("swiftmon: attached \(attachedPrograms.joined(separator: ", ")); \(seeded) running processes in the cache\n", stderr)
            for skipped in skippedPrograms { fputs("swiftmon: optional probe skipped: \(skipped)\n", stderr) }
        }
        self.verbose = options.verbose
        startEvents = recovered
        killLedgerLost = ledger.lost
        handler.malformed += malformed
    }

    private let verbose: Bool
    private var protectedFiles: ProtectedFiles?
    private var startEvents: [Event] = []
    private var killLedgerLost: UInt64 = 0
    private let killLedgerProblem: String?

    func eventsAtStart() -> [Event] {
        defer { startEvents = [] }
        return startEvents
    }

    func readinessDescriptors() throws -> [Int32] {
        guard let sensor else { return [] }
        return [try sensor.openRingBuffer(handler)]
    }

    var sourceDescription: String {
        let idle = sensor?.idleHandlers.sorted() ?? []
        return "ebpf(" + attachedPrograms.joined(separator: ",") + ")"
            + (skippedPrograms.isEmpty ? "" : " skipped(" + skippedPrograms.joined(separator: ",") + ")")
            + (idle.isEmpty ? "" : " idle(" + idle.joined(separator: ",") + ")")
            + (killLedgerProblem.map { " kill-ledger(\($0))" } ?? "")
    }

    var ringBufferUse: (capacityBytes: Int, bytesRead: UInt64)? { (ringBufferBytes, handler.bytesRead) }

    func read(into events: inout [Event]) throws {
        try sensor?.consume()
        if events.isEmpty {
            swap(&events, &handler.batch)  // the drain's events move, not copied (and no retain each)
        } else if !handler.batch.isEmpty {
            events.append(contentsOf: handler.batch)
            handler.batch.removeAll(keepingCapacity: true)
        }
    }

    var recordsRead: UInt64 { handler.records }

    func sourceLosses() -> [LossCause: [String: UInt64]] {
        var out: [LossCause: [String: UInt64]] = [:]
        for (kind, n) in sensor?.lostRecords() ?? [:] where n > 0 {
            out[.kernelBufferFull, default: [:]][KernelRecord.kindName(kind)] = n
        }
        if handler.malformed > 0 { out[.malformedRecord] = ["kernel record": handler.malformed] }
        if killLedgerLost > 0 { out[.kernelBufferFull, default: [:]]["kill ledger"] = killLedgerLost }
        return out
    }

    func recordAccounts() -> [String: RecordAccount] {
        guard let sensor else { return [:] }
        let generated = sensor.generatedRecords()
        let lost = sensor.lostRecords()
        var out: [String: RecordAccount] = [:]
        for kind in UInt32(1)..<UInt32(SM_RECORD_KIND_COUNT.rawValue) {
            let account = RecordAccount(generated: generated[kind] ?? 0, read: handler.recordsByKind[Int(kind)],
                                        lost: lost[kind] ?? 0)
            guard account.generated > 0 || account.read > 0 else { continue }
            out[KernelRecord.kindName(kind)] = account
        }
        return out
    }

    func stopProducing() { sensor?.detachPrograms() }

    /// The kernel stops building records nobody will see, and starts again
    /// when a new configuration wants them.
    func updateLoggedKinds(_ ids: Set<Int>?) {
        guard let sensor else { return }
        sensor.route(loggedEventIDs: ids)
        handler.builder?.buildsExecutableImageLoads = ids?.contains(EventKind.imageLoad.id) ?? true
        // Called after every (re)load: the configuration file may be a new
        // one (`config update` renames it into place), a unit may have come.
        protectedFiles?.scan()
        if verbose, !sensor.idleHandlers.isEmpty {
            fputs("swiftmon: idle (the configuration logs none of their events): \(sensor.idleHandlers.sorted().joined(separator: ", "))\n", stderr)
        }
    }

    func tick() {
        processes.users.refreshIfChanged()
        // After a burst (tens of thousands of records, their events built,
        // queued and written, then freed) or after the cache gave back the
        // room of many exited processes, glibc keeps the freed pages: hand
        // them back, once per burst, when it is over (a quiet second). Without
        // this, RSS after a second round of 32,000 processes was 62 MiB
        // against 50 after the first. The cache shrinks in the middle of the
        // exits' burst: releasing then (as it was) left the rest of the
        // burst's garbage held (heap 25 MiB after the second round's exits
        // against 8 after the first), so a shrink only marks a release due.
        let read = handler.records
        let quiet = read &- recordsAtLastTick < 1024
        recordsAtLastTick = read
        if processes.cacheShrank() { releaseDue = true }
        if quiet {
            // A burst's room: the drain array and the value arrays waiting
            // for reuse beyond two producer groups (up to 1,024 arrays of
            // ~0.5 KiB for producers that may take no more until the next).
            if BurstRoom.trim(&handler.batch) { releaseDue = true }
            if EventValueRecycler.shared.trim(keeping: EventValueRecycler.quietKept) > 0 { releaseDue = true }
        }
        if quiet, releaseDue || read &- recordsAtLastRelease >= 16384 {
            Syscalls.releaseFreeHeap()
            recordsAtLastRelease = read
            releaseDue = false
        }
    }

    private var recordsAtLastTick: UInt64 = 0
    private var recordsAtLastRelease: UInt64 = 0
    private var releaseDue = false

    func sourceCounters() -> [String: UInt64] {
        var out = processes.hasher?.counters.named ?? [:]
        // Gauges, not counts: what the process cache holds now (live
        // processes and the exited ones kept a little while) and the room
        // its storage has (scripts/bench-memory.sh watches both for drift).
        out["process cache entries"] = UInt64(processes.cache.count)
        out["process cache room"] = UInt64(processes.cache.reservedEntries)
        return out
    }

    func stop() {
        processes.hasher?.stop()
        sensor?.close()
        sensor = nil
    }
}

/// Collects the events of one ring-buffer drain, and counts the records it
/// could not decode.
final class RecordBatcher: RecordHandler {
    var builder: SensorEventBuilder?
    // The reader thread's alone, never accessed overlapping: no run-time
    // exclusivity checks (per record on the hot path, issue 10).
    @exclusivity(unchecked) var batch: [Event] = []
    @exclusivity(unchecked) var records: UInt64 = 0
    /// Ring-buffer bytes the records read took (each with its 8-byte header,
    /// rounded to 8 as the kernel lays them out): the event loop's rate.
    @exclusivity(unchecked) var bytesRead: UInt64 = 0
    /// Records read per kind as the header names it (malformed ones too; a
    /// kind out of range or a record too short for a header: slot 0).
    @exclusivity(unchecked) private(set) var recordsByKind = [UInt64](repeating: 0, count: Int(SM_RECORD_KIND_COUNT.rawValue))
    @exclusivity(unchecked) var malformed: UInt64 = 0

    override func handle(_ bytes: UnsafeRawBufferPointer) {
        records += 1
        bytesRead &+= UInt64((bytes.count + 8 + 7) & ~7)
        var kind = 0
        if bytes.count >= 2, let base = bytes.baseAddress {
            kind = Int(base.loadUnaligned(as: UInt16.self))
            if kind >= recordsByKind.count { kind = 0 }
        }
        recordsByKind[kind] += 1
        guard let record = KernelRecord(bytes) else {
            malformed += 1
            return
        }
        builder?.events(for: record, into: &batch)
    }
}
