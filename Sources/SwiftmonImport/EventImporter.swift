#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import SwiftmonCore
import SwiftmonETL
import SwiftmonEvtx
import SwiftmonStore
import SwiftmonSystem

/// `swiftmon import`: Sysmon event streams into a store, each event with its
/// host. Reads collector files, XML and JSON lines (``SysmonLineParser``), and
/// .evtx/.etl files (by their first bytes, through their decoders); follows a
/// growing file across rotations. Malformed lines are counted and reported
/// with file:line and never stop the import.
public final class EventImporter {
    public struct Options: Sendable {
        /// Host of events whose line names none (swiftmon's JSON lines, .etl).
        public var defaultHost: String
        /// The host of every .evtx record instead of its own `Computer`
        /// (`--host` given); nil: each record's `Computer`, else ``defaultHost``.
        public var evtxHost: String?
        public var maxLineBytes = SysmonLineParser.defaultMaxLineBytes
        /// Events per transaction.
        public var batchSize = 16_384
        /// Store on a thread of its own while the caller's thread reads and
        /// parses the next batch (at most one batch waits between them:
        /// back-pressure, never a drop). False: in line, on the caller's thread.
        public var storeThread = true
        /// Malformed lines reported one by one per file; the rest are counted.
        public var reportedPerFile = 20
        /// How often a followed file is checked for growth and rotation.
        public var followIntervalMilliseconds: Int32 = 200

        public init(defaultHost: String) { self.defaultHost = defaultHost }
    }

    public struct Counts: Sendable, Equatable {
        public var lines = 0
        public var events = 0
        public var imported = 0
        public var duplicates = 0
        public var malformed = 0
        /// Lines that are other programs' syslog messages, and empty lines.
        public var other = 0
        /// Field values dropped because the event's kind has no such field.
        public var unknownFields = 0
        /// SigmaMatch events raised (`--sigma`), counted in ``events`` too.
        public var alerts = 0
        /// Events lost because their transaction failed (disk full, I/O error).
        public var failedToStore = 0
        /// Files that could not be read, and .evtx/.etl files with damage.
        public var failedFiles = 0

        public var json: String {
            "{\"lines\":\(lines),\"events\":\(events),\"imported\":\(imported),\"duplicates\":\(duplicates),"
                + "\"malformed\":\(malformed),\"other\":\(other),\"unknownFields\":\(unknownFields),"
                + "\"sigmaMatches\":\(alerts),\"failedToStore\":\(failedToStore),\"failedFiles\":\(failedFiles)}"
        }

        public var summary: String {
            var s = "\(lines) line(s) read: \(events) event(s), \(imported) imported, \(duplicates) already in the store, "
                + "\(malformed) malformed, \(other) other message(s)"
            if unknownFields > 0 { s += ", \(unknownFields) unknown field value(s) dropped" }
            if alerts > 0 { s += ", \(alerts) Sigma match(es)" }
            if failedToStore > 0 { s += ", \(failedToStore) event(s) NOT stored (write failed)" }
            if failedFiles > 0 { s += ", \(failedFiles) file(s) failed" }
            return s
        }
    }

    public let options: Options
    private let store: ImportStore
    /// The store's thread (``Options/storeThread``); nil: in line.
    private let storeWorker: ImportStoreThread?
    private let detector: EventDetector?
    private let report: (String) -> Void
    private var parser = SysmonLineParser()
    private var batch: [HostEvent] = []
    private var alerts: [Event] = []
    public private(set) var counts = Counts()
    /// CPU time (ns, the whole process) spent in the store's insert and
    /// close: what ``ImportBenchmark`` subtracts to tell the importer's own share.
    public private(set) var storeCPUNanoseconds: Int64 = 0

    /// `report` receives diagnostics (file:line: reason), one per call.
    public init(store: ImportStore, options: Options, detector: EventDetector? = nil, report: @escaping (String) -> Void) {
        self.store = store
        self.options = options
        self.detector = detector
        self.report = report
        storeWorker = options.storeThread ? ImportStoreThread(store) : nil
        batch.reserveCapacity(options.batchSize)
    }

    /// Without ``finish()`` (as a killed import): what was handed off is
    /// stored and the store's thread ends; the store is left unclosed.
    deinit { storeWorker?.stop() }

    // MARK: Events

    func accept(_ event: Event, host: String, recordID: UInt64? = nil) {
        counts.events += 1
        batch.append(HostEvent(event: event, host: host, recordID: recordID))
        if let detector {
            detector.detect(event, into: &alerts)
            for alert in alerts {
                counts.events += 1
                counts.alerts += 1
                batch.append(HostEvent(event: alert, host: host))
            }
            alerts.removeAll(keepingCapacity: true)
        }
        if batch.count >= options.batchSize { handOff() }
    }

    /// Gives what is batched to the store: to its thread (waiting while a
    /// batch already waits there), or in line.
    func handOff() {
        guard !batch.isEmpty else { return }
        guard let storeWorker else {
            let cpu = Syscalls.clockNanoseconds(CLOCK_PROCESS_CPUTIME_ID)
            defer { storeCPUNanoseconds += Syscalls.clockNanoseconds(CLOCK_PROCESS_CPUTIME_ID) - cpu }
            absorb(store.insert(batch: batch))
            batch.removeAll(keepingCapacity: true)
            return
        }
        let full = batch
        batch = []
        batch.reserveCapacity(options.batchSize)
        storeWorker.submit(full)
        absorb(storeWorker.takeResults())
    }

    /// Adds what the store did to the counts and says its errors.
    func absorb(_ results: ImportStoreThread.Results) {
        counts.imported += results.inserted
        counts.duplicates += results.duplicates
        counts.failedToStore += results.failed
        storeCPUNanoseconds += results.cpuNanoseconds
        for error in results.errors { report(error) }
    }

    /// Stores what is batched, and returns when it is. A failed transaction
    /// loses its events, counted and said.
    public func commit() {
        handOff()
        if let storeWorker {
            storeWorker.drain()
            absorb(storeWorker.takeResults())
        }
    }

    /// Stores what is left and closes the store.
    public func finish() {
        commit()
        if let storeWorker {
            storeWorker.stop()
            absorb(storeWorker.takeResults())
        }
        let cpu = Syscalls.clockNanoseconds(CLOCK_PROCESS_CPUTIME_ID)
        do {
            // Rows found to be duplicates only when the import-key index was built.
            let removed = try store.close()
            counts.imported -= removed
            counts.duplicates += removed
        } catch { report("\(error)") }
        storeCPUNanoseconds += Syscalls.clockNanoseconds(CLOCK_PROCESS_CPUTIME_ID) - cpu
        let unknown = parser.unknownFields
        counts.unknownFields = unknown
        if unknown > 0 {
            report("\(unknown) field value(s) had names their EventID does not have and were dropped (first: \(parser.firstUnknownField ?? "?"))")
        }
    }

    // MARK: Lines

    /// Per file: where malformed lines are reported.
    struct LineContext {
        var name: String
        var malformed = 0
    }

    func take(_ line: LineSplitter.Line, _ context: inout LineContext) {
        counts.lines += 1
        switch line {
        case .tooLong(let bytes, let number):
            malformed(&context, number, "line of \(bytes) bytes is longer than \(options.maxLineBytes)")
        case .text(let bytes, let number):
            switch parser.parse(bytes) {
            case .event(let imported):
                accept(imported.event, host: imported.host ?? options.defaultHost, recordID: imported.recordID)
            case .other:
                counts.other += 1
            case .malformed(let reason):
                malformed(&context, number, reason)
            }
        }
    }

    func malformed(_ context: inout LineContext, _ number: Int, _ reason: String) {
        counts.malformed += 1
        context.malformed += 1
        if context.malformed <= options.reportedPerFile {
            report("\(context.name):\(number): \(reason)")
        }
    }

    func endOfFile(_ context: LineContext) {
        if context.malformed > options.reportedPerFile {
            report("\(context.name): \(context.malformed - options.reportedPerFile) more malformed line(s) not shown")
        }
    }

    // MARK: Files

    public enum Format: Equatable { case lines, evtx, etl }

    /// What the first bytes of a file say it is: an .evtx log (`ElfFile\0`),
    /// an .etl trace (its first buffer's size — a multiple of 512 up to 16 MiB,
    /// so a NUL byte in the first four — and a used size within it), or lines.
    public static func format(ofHead head: [UInt8]) -> Format {
        if head.count >= 8, Array(head[0..<8]) == EvtxFileHeader.magic { return .evtx }
        if head.count >= 8 {
            let size = UInt32(head[0]) | UInt32(head[1]) << 8 | UInt32(head[2]) << 16 | UInt32(head[3]) << 24
            let used = UInt32(head[4]) | UInt32(head[5]) << 8 | UInt32(head[6]) << 16 | UInt32(head[7]) << 24
            if size >= 512, size <= 16 << 20, size % 512 == 0, used <= size { return .etl }
        }
        return .lines
    }

    /// Imports one file (or `-`, standard input) to its end. False when it could not be read.
    @discardableResult
    public func importFile(_ path: String) -> Bool {
        let fd: Int32
        if path == "-" {
            fd = 0
        } else {
            do { fd = try Syscalls.open(path, O_RDONLY | O_CLOEXEC) } catch {
                report("\(path): \(error)")
                counts.failedFiles += 1
                return false
            }
        }
        defer { if fd != 0 { Syscalls.close(fd) } }
        var context = LineContext(name: path == "-" ? "<stdin>" : path)
        var splitter = LineSplitter(maxLineBytes: options.maxLineBytes)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
        defer { buffer.deallocate() }
        var first = true
        while true {
            let n: Int
            do { n = try Syscalls.read(fd, into: buffer, context.name) } catch {
                report("\(context.name): \(error)")
                counts.failedFiles += 1
                return false
            }
            if n == 0 { break }
            if first {
                first = false
                let format = EventImporter.format(ofHead: Array(buffer[0..<min(n, 8)]))
                if format != .lines {
                    guard path != "-" else {
                        report("<stdin>: an \(format == .evtx ? ".evtx" : ".etl") file must be named, not piped")
                        counts.failedFiles += 1
                        return false
                    }
                    return importDecoded(path, format)
                }
            }
            splitter.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { take($0, &context) }
        }
        splitter.finish { take($0, &context) }
        endOfFile(context)
        return true
    }

    /// An .evtx or .etl file through its decoder.
    func importDecoded(_ path: String, _ format: Format) -> Bool {
        let sink = DecodedEventSink(self)
        do {
            if format == .evtx {
                let summary = try EvtxDecoder.decode(file: path, into: sink)
                let unreadable = summary.problems.filter { ![.fileHeaderChecksum, .chunkHeaderChecksum, .chunkRecordsChecksum].contains($0.kind) }
                if !unreadable.isEmpty {
                    report("\(path): \(summary.recordsFailed) record(s) could not be read, first: \(unreadable[0])")
                    counts.failedFiles += 1
                    return false
                }
            } else {
                _ = try EtlDecoder.decode(file: path, into: sink)
            }
        } catch let failure as EtlDecodeFailure {
            report("\(path): \(failure)")
            counts.failedFiles += 1
            return false
        } catch {
            report("\(path): \(error)")
            counts.failedFiles += 1
            return false
        }
        return true
    }

    /// Hands decoded events to the importer: an .evtx record's with its own
    /// `Computer` (unless ``Options/evtxHost`` overrides it), an .etl trace's
    /// (which names no machine) with the default host.
    final class DecodedEventSink: EvtxRecordSink {
        unowned let importer: EventImporter
        init(_ importer: EventImporter) { self.importer = importer }
        func emit(_ event: Event) throws { importer.accept(event, host: importer.options.defaultHost) }
        func emit(_ event: Event, from record: EvtxRecord) throws {
            let computer = record.computer.flatMap { $0.isEmpty ? nil : $0 }
            importer.accept(event, host: importer.options.evtxHost ?? computer ?? importer.options.defaultHost)
        }
    }

    // MARK: Following

    /// Follows `path` as `tail -F` does, from its start, until a signal arrives
    /// on `stopDescriptor` (a signalfd): new lines as they are written; a
    /// rotation (the name now names another file) finishes the old file and
    /// continues with the new one from its start; a truncation starts again
    /// from the beginning; a missing file is waited for. Commits whenever it
    /// has caught up, so the store trails the file by at most the interval.
    public func follow(_ path: String, stopDescriptor: Int32) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
        defer { buffer.deallocate() }
        var generation = 0
        var waitingSaid = false
        func stopRequested(wait: Bool) -> Bool {
            let ready = (try? Syscalls.poll(stopDescriptor, events: Int16(POLLIN), timeoutMilliseconds: wait ? options.followIntervalMilliseconds : 0)) ?? false
            return ready && !Syscalls.readSignals(stopDescriptor).isEmpty
        }
        outer: while true {
            // Open the file the name names now.
            let fd: Int32
            do {
                fd = try Syscalls.open(path, O_RDONLY | O_CLOEXEC)
            } catch {
                if !waitingSaid { report("\(path): \(error); waiting for it to appear"); waitingSaid = true }
                if stopRequested(wait: true) { break outer }
                continue
            }
            waitingSaid = false
            generation += 1
            var context = LineContext(name: generation == 1 ? path : "\(path) (reopened \(generation - 1)×)")
            var splitter = LineSplitter(maxLineBytes: options.maxLineBytes)
            var offset: Int64 = 0
            var checkedFormat = false
            var reason = "stop"
            inner: while true {
                let n: Int
                do { n = try Syscalls.read(fd, into: buffer, path) } catch {
                    report("\(path): \(error)")
                    counts.failedFiles += 1
                    reason = "error"
                    break inner
                }
                if n > 0 {
                    if !checkedFormat {
                        checkedFormat = true
                        if EventImporter.format(ofHead: Array(buffer[0..<min(n, 8)])) != .lines, n >= 8 {
                            report("\(path): an .evtx or .etl file cannot be followed; import it without --follow")
                            counts.failedFiles += 1
                            Syscalls.close(fd)
                            return
                        }
                    }
                    offset += Int64(n)
                    splitter.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { take($0, &context) }
                    continue
                }
                // Caught up: store what was read, then look for a rotation or a truncation.
                commit()
                if reason == "rotated" { break inner }  // the old file read to its end once more after the rename was seen
                let open = try? Syscalls.fstat(fd, path)
                if let named = try? Syscalls.linkStatus(path), let open,
                   named.st_ino != open.st_ino || named.st_dev != open.st_dev {
                    reason = "rotated"
                    continue inner
                }
                if let open, Int64(open.st_size) < offset {
                    report("\(path): truncated; reading it again from the start")
                    reason = "truncated"
                    break inner
                }
                if stopRequested(wait: true) { break inner }
            }
            if reason != "truncated" { splitter.finish { take($0, &context) } }
            endOfFile(context)
            Syscalls.close(fd)
            commit()
            if reason == "stop" || reason == "error" { break outer }
        }
    }
}
