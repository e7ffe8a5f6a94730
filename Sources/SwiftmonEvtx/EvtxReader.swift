import Dispatch
import SwiftmonSystem
import SwiftmonCore

/// Reads an .evtx file: the header, then every 64 KiB chunk the file holds —
/// also those past the header's chunk count, which a log not closed cleanly
/// (dirty) still fills — decoding chunks in parallel, delivering records in
/// file order.
///
/// Memory stays flat with the file's size: the file is mapped, and chunks are
/// decoded in batches of ``batchSize`` whose records are delivered before the
/// next batch is decoded.
public final class EvtxReader: @unchecked Sendable {  // immutable after init; file bytes are read-only
    public let file: EvtxFileBytes
    public let header: EvtxFileHeader
    /// Chunks the file's size makes room for ((size − 4096) / 65536, rounded up:
    /// a partial last chunk is counted, and reported as truncated).
    public let physicalChunks: Int
    /// Threads decoding chunks (1: all on the calling thread).
    public var threads: Int
    public var batchSize: Int

    public convenience init(path: String) throws(EvtxError) {
        try self.init(file: EvtxFileBytes(path: path))
    }

    public init(file: EvtxFileBytes, threads: Int = EvtxReader.defaultThreads) throws(EvtxError) {
        self.file = file
        header = try EvtxFileHeader(file.bytes)
        let data = max(0, file.bytes.count - EvtxFileHeader.size)
        physicalChunks = (data + EvtxChunk.size - 1) / EvtxChunk.size
        self.threads = max(1, threads)
        batchSize = 32
    }

    /// Event value storages kept for reuse while reading (each an array of
    /// texts and an arena of at most 64 KiB, see ``EventValueRecycler``):
    /// a few chunks' worth of records.
    static let recycledEvents = 512

    /// The machine's cores, at most 8.
    public static var defaultThreads: Int {
        #if canImport(Glibc)
        return max(1, min(8, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        #else
        return 2
        #endif
    }

    /// What reading the whole file found, beside the records themselves.
    public struct Totals: Sendable {
        public var records = 0
        public var recordsFailed = 0
        public var chunksUsed = 0
        public var chunksUnused = 0
        public var chunksDamaged = 0
        public var chunksTruncated = 0
        /// Every problem, in file order (checksums, damaged chunks, failed records).
        public var problems: [EvtxProblem] = []
    }

    /// Decodes every chunk and hands each record to `body` in file order.
    /// `full: false` keeps only provider and EventID (for counting). Errors
    /// thrown by `body` stop reading and are rethrown.
    @discardableResult
    public func forEachRecord(full: Bool = true, _ body: (EvtxRecord) throws -> Void) rethrows -> Totals {
        try walk(full: full, events: false) { chunk in
            // Moved out of the chunk, not copied (see ``forEachEvent(_:)``).
            try chunk.records.withUnsafeMutableBufferPointer { records in
                for i in records.indices {
                    let record = (records.baseAddress! + i).move()
                    defer { (records.baseAddress! + i).initialize(to: EvtxRecord(recordID: 0, written: 0, fileOffset: 0)) }
                    try body(record)
                }
            }
        }
    }

    /// Like ``forEachRecord(full:_:)``, with each record's event
    /// (``EvtxEventMapper``) made on the decoding threads.
    ///
    /// `keepData: false`: the records come without their data items
    /// (``EvtxRecord/data`` empty; framing, System fields and section kept):
    /// their values are then materialised once, in the event, not also in
    /// the record (the fast path of ``EvtxDecoder``).
    @discardableResult
    public func forEachEvent(keepData: Bool = true, _ body: (EvtxRecord, Event) throws -> Void) rethrows -> Totals {
        try walk(full: true, events: true, keepData: keepData) { chunk in
            // Each record and event is moved out of the chunk and handed on
            // borrowed from here; read in place from the chunk's arrays
            // instead, each was copied for the call (a retain and a release
            // of each of their Strings and arrays: 3 % of the Security
            // profile). The record's slot gets an empty record, the event
            // goes back to its slot (recycled after, see ``walk``).
            let count = chunk.records.count
            try chunk.records.withUnsafeMutableBufferPointer { records in
                try chunk.events.withUnsafeMutableBufferPointer { events in
                    for i in 0..<count {
                        let record = (records.baseAddress! + i).move()
                        let event = (events.baseAddress! + i).move()
                        defer {
                            (records.baseAddress! + i).initialize(to: EvtxRecord(recordID: 0, written: 0, fileOffset: 0))
                            (events.baseAddress! + i).initialize(to: consume event)
                        }
                        try body(record, event)
                    }
                }
            }
        }
    }

    private func walk(full: Bool, events: Bool, keepData: Bool = true, _ body: (inout EvtxChunk.Decoded) throws -> Void) rethrows -> Totals {
        var totals = Totals()
        // Flag 4 with a zero checksum: a header written without a CRC32 (as in
        // evtx's Application_no_crc32 sample); nothing to check there.
        let noChecksums = header.flags & 4 != 0
        if !(noChecksums && header.checksum == 0) && !header.checksumMatches {
            totals.problems.append(EvtxProblem(.fileHeaderChecksum, offset: 0,
                "file header CRC32 is 0x\(String(header.computedChecksum, radix: 16)), the header says 0x\(String(header.checksum, radix: 16))"))
        }
        let bytes = file.bytes
        // The value storage of a chunk's events, once they are delivered,
        // goes back to the makers for the events of the next chunks: an
        // event then costs no allocation and free of its value array and
        // arena (the Security profile: 10 % in making and freeing them).
        // Texts are refilled with absent values in place, not emptied (the
        // next event of the same kind takes them as they are). The sink may
        // keep an event: its storage is then not shared (the recycler copies
        // storage some other copy holds). Its own, not the live pipeline's
        // (no contention with it); bounded by its limit.
        let recycler = events ? EventValueRecycler(limit: EvtxReader.recycledEvents) : nil
        // One event maker per decoding thread, kept from batch to batch (its
        // caches — UtcTime text, EventData keys — outlive a chunk).
        let makers = UnsafeMutableBufferPointer<EvtxEventMaker>.allocate(capacity: threads)
        for k in 0..<threads {
            (makers.baseAddress! + k).initialize(to: recycler.map { EvtxEventMaker(recycler: $0) } ?? EvtxEventMaker())
        }
        defer {
            makers.baseAddress!.deinitialize(count: threads)
            makers.deallocate()
        }
        // And one template cache per decoding thread: a chunk's templates
        // are mostly those of the chunk before (``TemplateCache``).
        let caches = (0..<threads).map { _ in TemplateCache(full: full) }
        // Batches of about `batchSize` chunks, of equal size (no last batch of one chunk on one core).
        let batches = max(1, (physicalChunks + batchSize - 1) / max(1, batchSize))
        let perBatch = threads == 1 ? 1 : max(1, (physicalChunks + batches - 1) / batches)
        var first = 0, released = 0
        while first < physicalChunks {
            let count = min(perBatch, physicalChunks - first)
            var decoded = decodeBatch(bytes, first: first, count: count, full: full, noChecksums: noChecksums,
                                      makers: events ? makers : nil, caches: caches, keepData: keepData)
            for j in decoded.indices {
                switch decoded[j].state {
                case .used: totals.chunksUsed += 1
                case .unused: totals.chunksUnused += 1
                case .damaged: totals.chunksDamaged += 1
                case .truncated: totals.chunksTruncated += 1
                }
                totals.records += decoded[j].records.count
                totals.recordsFailed += decoded[j].recordsFailed
                totals.problems += decoded[j].problems
                // In place (the body takes what it hands on out of it), and
                // recycled in place: no copy of the chunk (a second reference
                // to its events would make recycling copy them).
                try body(&decoded[j])
                if let recycler { recycler.recycle(&decoded[j].events, refillingTexts: true) }
            }
            first += count
            if file.isMapped, first - released >= batchSize || first >= physicalChunks {
                // Those chunks are done: their pages need not stay resident
                // (one call per ``batchSize`` chunks, also when decoding a chunk at a time).
                let start = EvtxFileHeader.size + released * EvtxChunk.size
                let end = min(bytes.count, EvtxFileHeader.size + first * EvtxChunk.size)
                Syscalls.releaseMappedPages(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                released = first
            }
        }
        return totals
    }

    /// Decodes `count` chunks from chunk `first`; with `makers` (one per
    /// thread, worker `k` using `makers[k]` only), their events too. Worker
    /// `k` uses `caches[k]` only.
    private func decodeBatch(_ bytes: UnsafeRawBufferPointer, first: Int, count: Int, full: Bool, noChecksums: Bool,
                             makers: UnsafeMutableBufferPointer<EvtxEventMaker>?, caches: [TemplateCache],
                             keepData: Bool) -> [EvtxChunk.Decoded] {
        if threads == 1 || count == 1 {
            return (first..<(first + count)).map {
                EvtxChunk.decode(bytes, at: EvtxFileHeader.size + $0 * EvtxChunk.size, full: full, noChecksums: noChecksums,
                                 maker: makers?.baseAddress, keepData: keepData, cache: caches[0])
            }
        }
        let results = UnsafeMutableBufferPointer<EvtxChunk.Decoded>.allocate(capacity: count)
        results.initialize(repeating: EvtxChunk.Decoded())
        defer { results.deallocate() }  // the results are moved out below, not copied
        let workers = min(threads, count)
        let base = UnsafeSendable(results)
        let source = UnsafeSendable(bytes)
        // Chunks are taken one at a time as workers come free (a chunk of
        // zeros takes no time, a full one a millisecond): no worker idles
        // while another still has a queue.
        let next = UnsafeSendable(UnsafeMutablePointer<Int>.allocate(capacity: 1))
        next.value.initialize(to: 0)
        defer { next.value.deallocate() }
        let lock = Lock()
        let workerMakers = makers.map(UnsafeSendable.init)
        let workerCaches = UnsafeSendable(caches)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            while true {
                let k = lock.withLock { () -> Int in
                    let k = next.value.pointee
                    next.value.pointee += 1
                    return k
                }
                guard k < count else { break }
                base.value[k] = EvtxChunk.decode(source.value, at: EvtxFileHeader.size + (first + k) * EvtxChunk.size, full: full,
                                                 noChecksums: noChecksums, maker: workerMakers.map { $0.value.baseAddress! + worker },
                                                 keepData: keepData, cache: workerCaches.value[worker])
            }
        }
        // Moved, not copied: a copy would retain (and the buffer's deinit release)
        // every String of every record of the batch.
        return Array(unsafeUninitializedCapacity: count) { out, initialized in
            out.baseAddress!.moveInitialize(from: results.baseAddress!, count: count)
            initialized = count
        }
    }
}

/// Hands memory that the workers write at disjoint indices (or only read) to
/// `concurrentPerform`.
private struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

#if canImport(Glibc)
import Glibc
#endif
