import SwiftmonCore

/// One WMI_BUFFER_HEADER: where a buffer is and how to read it.
public struct EtlBufferInfo: Sendable {
    public let offset: Int
    /// Bytes the buffer takes in the file (its compressed size when compressed).
    public let size: Int
    /// Bytes in use, header included, in uncompressed terms.
    public let filled: Int
    public let processor: UInt16
    public let flags: UInt16
    public let type: UInt16
    public let timestamp: Int64
    /// The file ends inside this buffer (already reported): reading stops
    /// quietly at the cut.
    public var truncated = false

    public static let headerSize = 0x48
    public static let flagCompressed: UInt16 = 0x0040
    public static let flagProcessorIndex: UInt16 = 0x0020
    public var isCompressed: Bool { flags & EtlBufferInfo.flagCompressed != 0 }
}

/// Layer 1 of the decoder: the container. Finds every buffer, reads the
/// logfile header, decompresses XPRESS buffers and delivers every record, with
/// its time in UTC, merged across processors into timestamp order.
///
/// Damage does not stop the walk: a damaged buffer is skipped from the damage
/// on, the problem is kept in ``errors`` (with its byte offset), and reading
/// continues with the next buffer. Only a file whose first buffer or logfile
/// header is unreadable fails at once.
public final class EtlReader {
    public let file: EtlFileBytes
    public let header: EtlLogfileHeader
    public let clock: EtlClock
    public private(set) var buffers: [EtlBufferInfo] = []
    /// Problems found, first by position; at most ``maxKeptErrors`` are kept.
    public private(set) var errors: [EtlError] = []
    public private(set) var errorCount = 0
    public static let maxKeptErrors = 100
    /// Largest buffer accepted (Windows allows up to 16 MiB); bounds decompression.
    public static let maxBufferSize = 16 << 20
    /// Decompressed bytes all processor streams may hold at once: the merge
    /// keeps one current buffer per stream, and a hostile file could claim
    /// thousands of streams of 16 MiB each.
    public static let maxHeldDecompressedBytes = 512 << 20
    var heldDecompressedBytes = 0
    /// Decompressed buffers kept for the next walk over the file, by buffer
    /// index: the decoder walks a file twice (``EtlDecoder``), and
    /// decompressing every buffer twice was a tenth of its time on a
    /// compressed trace. At most ``maxCachedDecompressedBytes`` are kept; the
    /// buffers beyond are decompressed on each walk.
    private var decompressed: [Int: UnsafeRawBufferPointer] = [:]
    private var cachedDecompressedBytes = 0
    public static let maxCachedDecompressedBytes = 128 << 20

    deinit {
        for (_, b) in decompressed { b.deallocate() }
    }

    /// The decompressed bytes of buffer `index`, when an earlier walk kept them.
    func cachedDecompressed(_ index: Int) -> UnsafeRawBufferPointer? { decompressed[index] }

    /// Room for the decompressed bytes of buffer `index` (`count` bytes at
    /// most) that the reader keeps for later walks; nil when the cache is full.
    func cacheAllocation(_ index: Int, count: Int) -> UnsafeMutableRawBufferPointer? {
        let size = max(count, 1)
        guard cachedDecompressedBytes + size <= EtlReader.maxCachedDecompressedBytes else { return nil }
        cachedDecompressedBytes += size
        return UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
    }

    /// Keeps `bytes` (from ``cacheAllocation(_:count:)``) as buffer `index`.
    func cache(_ index: Int, _ bytes: UnsafeRawBufferPointer) { decompressed[index] = bytes }

    /// Gives back a ``cacheAllocation(_:count:)`` that was not kept.
    func uncache(_ allocation: UnsafeMutableRawBufferPointer) {
        cachedDecompressedBytes -= allocation.count
        allocation.deallocate()
    }

    public convenience init(path: String) throws(EtlError) {
        try self.init(file: EtlFileBytes(path: path))
    }

    public init(file: EtlFileBytes) throws(EtlError) {
        self.file = file
        let bytes = file.bytes
        guard bytes.count >= EtlBufferInfo.headerSize + 0x20 else {
            throw EtlError(offset: bytes.count, "file is \(bytes.count) bytes: too short for an .etl buffer and logfile header")
        }
        let firstSize = Int(bytes.loadLE(UInt32.self, 0))
        let firstFilled = Int(bytes.loadLE(UInt32.self, 0x30))
        guard firstSize >= EtlBufferInfo.headerSize + 0x20, firstSize <= EtlReader.maxBufferSize else {
            throw EtlError(offset: 0, "first buffer size \(firstSize) is not that of an .etl buffer")
        }
        guard bytes.loadLE(UInt16.self, 0x34) & EtlBufferInfo.flagCompressed == 0 else {
            throw EtlError(offset: 0x34, "first buffer is compressed; it must hold the logfile header")
        }
        let end = min(bytes.count, firstSize, max(firstFilled, EtlBufferInfo.headerSize))
        let region = UnsafeRawBufferPointer(rebasing: bytes[EtlBufferInfo.headerSize..<end])
        var record = EtlRecord()
        do {
            _ = try EtlRecordParser.parse(region, at: 0, into: &record, fallbackTicks: 0)
        } catch {
            throw EtlError(offset: EtlBufferInfo.headerSize + error.position, "not an .etl file: \(error.message)")
        }
        guard record.kind == .system, record.group == 0, record.opcode == 0 else {
            throw EtlError(offset: EtlBufferInfo.headerSize, "not an .etl file: the first record is not a logfile header")
        }
        header = try EtlLogfileHeader(payload: record.payload, headerIs64Bit: record.pointerSize == 8,
                                      offset: EtlBufferInfo.headerSize + 0x20)
        clock = EtlClock(header: header, anchorTicks: record.ticks)
        indexBuffers()
    }

    /// While set, problems are not recorded: a second walk over the same
    /// file (the decoder's look-ahead for the trace's volume names) must not
    /// count them twice.
    private var quiet = false

    func fail(_ e: EtlError) {
        guard !quiet else { return }
        errorCount += 1
        if errors.count < EtlReader.maxKeptErrors { errors.append(e) }
    }

    private func indexBuffers() {
        let bytes = file.bytes
        var offset = 0
        while offset < bytes.count {
            let left = bytes.count - offset
            guard left >= EtlBufferInfo.headerSize else {
                fail(EtlError(offset: offset, "file ends inside a buffer header (\(left) of \(EtlBufferInfo.headerSize) bytes)"))
                break
            }
            let size = Int(bytes.loadLE(UInt32.self, offset))
            guard size >= EtlBufferInfo.headerSize, size <= EtlReader.maxBufferSize else {
                // Without a sane size the next buffer cannot be found: stop here.
                fail(EtlError(offset: offset, "buffer size \(size) is invalid; the rest of the file is unreadable"))
                break
            }
            let flags = bytes.loadLE(UInt16.self, offset + 0x34)
            let processor = flags & EtlBufferInfo.flagProcessorIndex != 0
                ? bytes.loadLE(UInt16.self, offset + 0x28) : UInt16(bytes[offset + 0x28])
            var info = EtlBufferInfo(
                offset: offset, size: min(size, left),
                filled: Int(bytes.loadLE(UInt32.self, offset + 0x30)),
                processor: processor, flags: flags,
                type: bytes.loadLE(UInt16.self, offset + 0x36),
                timestamp: bytes.loadLE(Int64.self, offset + 0x10))
            if size > left {
                fail(EtlError(offset: bytes.count, "file ends inside the buffer at offset \(offset) (\(left) of \(size) bytes)"))
                // The records wholly present in an uncompressed buffer are still read.
                info.truncated = true
                if !info.isCompressed { buffers.append(info) }
                break
            }
            buffers.append(info)
            offset += size
        }
        if header.buffersWritten > 0 && buffers.count < Int(header.buffersWritten) && errors.isEmpty {
            fail(EtlError(offset: bytes.count, "file ends after \(buffers.count) of \(header.buffersWritten) buffers"))
        }
    }

    /// Record order: by timestamp across processors (as ETW consumers see it),
    /// or as the buffers lie in the file (cheaper).
    public enum Order: Sendable { case time, file }

    /// Calls `body` for every record. A record's byte views are valid only
    /// during the call. Problems are added to ``errors``; an error thrown by
    /// `body` stops the walk and is rethrown.
    /// Walks every record in file order without recording problems (the
    /// walk that counts them is the other one).
    func forEachRecordQuietly(_ body: (inout EtlRecord) -> Void) {
        quiet = true
        defer { quiet = false }
        forEachRecord(order: .file, body)
    }

    public func forEachRecord(order: Order = .time, _ body: (inout EtlRecord) throws -> Void) rethrows {
        var streams: [EtlRecordStream] = []
        switch order {
        case .file:
            streams = [EtlRecordStream(buffers: Array(buffers.indices), reader: self, number: 0)]
        case .time:
            var byProcessor: [UInt16: Int] = [:]
            for (i, b) in buffers.enumerated() {
                if let s = byProcessor[b.processor] {
                    streams[s].bufferIndices.append(i)
                } else {
                    byProcessor[b.processor] = streams.count
                    streams.append(EtlRecordStream(buffers: [i], reader: self, number: streams.count))
                }
            }
        }
        defer { for i in streams.indices { streams[i].release() } }

        // The streams are values in one array, reached through its buffer
        // pointer: their state costs no reference counting or exclusivity
        // check per record (as a class's properties would).
        try streams.withUnsafeMutableBufferPointer { streams in
            if streams.count == 1 {
                while streams[0].advance() {
                    streams[0].current.time = clock.time(ticks: streams[0].current.ticks)
                    try body(&streams[0].current)
                }
                return
            }
            // k-way merge on (ticks, stream) with a binary min-heap of streams.
            var heap = StreamHeap(capacity: streams.count)
            for i in streams.indices where streams[i].advance() { heap.push(i, ticks: streams[i].current.ticks) }
            while let i = heap.top {
                streams[i].current.time = clock.time(ticks: streams[i].current.ticks)
                try body(&streams[i].current)
                if streams[i].advance() { heap.topChanged(ticks: streams[i].current.ticks) } else { heap.popTop() }
            }
        }
    }
}

/// A binary min-heap of record streams keyed by (next record's ticks, stream
/// number): the merge step of per-processor buffers. The keys are kept in the
/// heap itself: comparing them does not reach into the streams (a class's
/// properties cost an exclusivity check on every read).
struct StreamHeap {
    struct Item {
        var ticks: Int64
        /// The stream's index, which is also its number.
        let stream: Int
    }
    private var items: [Item] = []

    init(capacity: Int) { items.reserveCapacity(capacity) }

    /// The index of the stream whose record comes next.
    var top: Int? { items.first?.stream }

    @inline(__always)
    private func less(_ a: Int, _ b: Int) -> Bool {
        let x = items[a], y = items[b]
        return x.ticks < y.ticks || (x.ticks == y.ticks && x.stream < y.stream)
    }

    /// Adds stream `s`, whose next record has `ticks`.
    mutating func push(_ s: Int, ticks: Int64) {
        items.append(Item(ticks: ticks, stream: s))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !less(i, p) { return }
            items.swapAt(i, p)
            i = p
        }
    }

    /// The top stream moved on to a record with `ticks`.
    mutating func topChanged(ticks: Int64) {
        items[0].ticks = ticks
        siftDown(0)
    }

    mutating func popTop() {
        items.swapAt(0, items.count - 1)
        items.removeLast()
        if !items.isEmpty { siftDown(0) }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && less(l, m) { m = l }
            if r < n && less(r, m) { m = r }
            if m == i { return }
            items.swapAt(i, m)
            i = m
        }
    }
}

/// The records of one processor's buffers, in file order, one record ahead.
struct EtlRecordStream {
    var bufferIndices: [Int]
    /// Breaks timestamp ties: lower processor streams first, as in the file.
    let number: Int
    private var nextBuffer = 0
    private let reader: EtlReader
    private var region = UnsafeRawBufferPointer(start: nil, count: 0)
    private var position = 0
    private var buffer: EtlBufferInfo?
    private var storage: UnsafeMutableRawBufferPointer?
    var current = EtlRecord()
    private var lastTicks: Int64 = 0

    init(buffers: [Int], reader: EtlReader, number: Int) {
        bufferIndices = buffers
        self.number = number
        self.reader = reader
    }

    mutating func release() {
        if let s = storage {
            reader.heldDecompressedBytes -= s.count
            s.deallocate()
        }
        storage = nil
    }

    /// Moves to the next record; false when the stream is exhausted.
    mutating func advance() -> Bool {
        while true {
            if let info = buffer, position < region.count {
                do {
                    let step = try EtlRecordParser.parse(region, at: position, into: &current, fallbackTicks: lastTicks)
                    if step > 0 {
                        if info.isCompressed {
                            current.fileOffset = info.offset
                            current.bufferOffset = EtlBufferInfo.headerSize + position
                        } else {
                            current.fileOffset = info.offset + EtlBufferInfo.headerSize + position
                            current.bufferOffset = nil
                        }
                        current.processor = info.processor
                        lastTicks = current.ticks
                        position += step
                        return true
                    }
                } catch where !info.truncated {
                    reader.fail(info.isCompressed
                        ? EtlError(offset: info.offset, bufferOffset: EtlBufferInfo.headerSize + error.position, error.message)
                        : EtlError(offset: info.offset + EtlBufferInfo.headerSize + error.position, error.message))
                } catch {
                    // A record cut by the end of the file: reported as the truncation.
                }
                position = region.count
            }
            guard nextBuffer < bufferIndices.count else { return false }
            load(bufferIndices[nextBuffer])
            nextBuffer += 1
        }
    }

    private mutating func load(_ index: Int) {
        let info = reader.buffers[index]
        buffer = info
        position = 0
        region = UnsafeRawBufferPointer(start: nil, count: 0)
        lastTicks = info.timestamp
        let bytes = reader.file.bytes
        let dataStart = info.offset + EtlBufferInfo.headerSize
        guard info.filled >= EtlBufferInfo.headerSize else {
            if info.filled != 0 {
                reader.fail(EtlError(offset: info.offset + 0x30, "buffer filled size \(info.filled) is smaller than its header"))
            }
            return
        }
        if info.isCompressed {
            let want = info.filled - EtlBufferInfo.headerSize
            guard want <= EtlReader.maxBufferSize else {
                reader.fail(EtlError(offset: info.offset + 0x30, "compressed buffer claims \(info.filled) bytes"))
                return
            }
            if let kept = reader.cachedDecompressed(index) {
                region = kept
                return
            }
            let input = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(info.offset + info.size)])
            // Decompressed straight where the records are read from: kept by
            // the reader for the next walk while its cache has room, else
            // this stream's own storage (reused from buffer to buffer).
            let kept = reader.cacheAllocation(index, count: want)
            if kept == nil && (storage?.count ?? -1) < want {
                release()
                guard reader.heldDecompressedBytes + want <= EtlReader.maxHeldDecompressedBytes else {
                    reader.fail(EtlError(offset: info.offset,
                        "too many processor streams hold decompressed buffers at once; buffer skipped"))
                    return
                }
                storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(want, 1), alignment: 16)
                reader.heldDecompressedBytes += max(want, 1)
            }
            guard let target = kept ?? storage else { return }
            let n: Int
            do {
                n = try XpressDecompressor.decompress(input, into: UnsafeMutableRawBufferPointer(rebasing: target[0..<want]))
            } catch {
                if let kept { reader.uncache(kept) }
                reader.fail(EtlError(offset: dataStart, "compressed buffer at offset \(info.offset): \(error)"))
                return
            }
            region = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(target)[0..<n])
            if kept != nil { reader.cache(index, region) }
        } else {
            if info.filled > info.size && !info.truncated {
                reader.fail(EtlError(offset: info.offset + 0x30,
                                     "buffer filled size \(info.filled) exceeds its size \(info.size)"))
            }
            let end = info.offset + min(info.filled, info.size)
            region = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<end])
        }
    }
}
