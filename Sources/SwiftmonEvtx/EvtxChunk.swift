import SwiftmonCore

/// One 64 KiB chunk (`ElfChnk`): its header, its CRC32 checks, and the walk
/// over its records.
///
/// The walk follows the framing Windows writes (and the reference readers):
/// records from byte 512 up to the header's free-space offset, each `**\0\0`,
/// size, record id, write time, binary XML, size again. A record whose XML
/// cannot be decoded is counted and the walk goes on at the next record; bad
/// framing (magic, size) ends the chunk's readable part and is counted there.
struct EvtxChunk {
    static let size = 65536
    static let headerSize = 512
    static let magic: UInt64 = 0x006B_6E68_4366_6C45  // "ElfChnk\0"

    /// Result of decoding one chunk.
    struct Decoded {
        var records: [EvtxRecord] = []
        /// One event per record, when the reader was asked to map them (in the worker).
        var events: [Event] = []
        var recordsFailed = 0
        /// Records decoded through a template's plan, and through the interpreter.
        var recordsPlanned = 0
        var recordsInterpreted = 0
        var problems: [EvtxProblem] = []
        var state: State = .used
        enum State { case used, unused, damaged, truncated }
    }

    /// Decodes the chunk at `fileOffset` of `file`; `full: false` keeps only
    /// what counting needs (provider and EventID). `noChecksums`: the file
    /// header's flag 0x4, under which a zero CRC32 means none was written.
    ///
    /// `maker`: each record's event is made too, as soon as the record is
    /// collected, from the collector's buffers; `keepData: false` then hands
    /// the records on without their data items (the events hold them), so a
    /// record's values are materialised once, in its event, and the
    /// collector's buffers serve every record of the chunk.
    ///
    /// `cache`: template plans shared with the chunks decoded before on this
    /// thread (nil: this chunk's own only).
    static func decode(_ file: UnsafeRawBufferPointer, at fileOffset: Int, full: Bool, noChecksums: Bool = false, plans: Bool = true,
                       maker: UnsafeMutablePointer<EvtxEventMaker>? = nil, keepData: Bool = true,
                       cache: TemplateCache? = nil) -> Decoded {
        var out = Decoded()
        let available = file.count - fileOffset
        if available < size {
            out.state = .truncated
            out.problems.append(EvtxProblem(.chunkTruncated, offset: fileOffset,
                "chunk cut short by the end of the file: \(available) of \(size) bytes"))
            return out
        }
        let bytes = UnsafeRawBufferPointer(rebasing: file[fileOffset..<(fileOffset + size)])
        let c = ChunkBytes(bytes: bytes)
        if c.u64u(0) != magic {
            if isZero(bytes) {
                out.state = .unused
            } else {
                out.state = .damaged
                out.problems.append(EvtxProblem(.chunkDamaged, offset: fileOffset,
                    "chunk has no ElfChnk signature (found \(hexBytes(bytes, 0, 8))); its records cannot be read"))
            }
            return out
        }
        let lastRecordID = c.u64u(32)
        let freeSpace = Int(c.u32u(48))
        let recordsChecksum = c.u32u(52)
        let headerChecksum = c.u32u(124)
        let computedHeader = CRC32.update(CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<120])),
                                          UnsafeRawBufferPointer(rebasing: bytes[128..<512]))
        if computedHeader != headerChecksum && !(noChecksums && headerChecksum == 0) {
            out.problems.append(EvtxProblem(.chunkHeaderChecksum, offset: fileOffset,
                "chunk header CRC32 is 0x\(String(computedHeader, radix: 16)), the header says 0x\(String(headerChecksum, radix: 16))"))
        }
        let end = min(max(freeSpace, headerSize), size)
        let computedRecords = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[headerSize..<end]))
        if computedRecords != recordsChecksum && !(noChecksums && recordsChecksum == 0) {
            out.problems.append(EvtxProblem(.chunkRecordsChecksum, offset: fileOffset + headerSize,
                "CRC32 of the chunk's records (bytes 512–\(end)) is 0x\(String(computedRecords, radix: 16)), the header says 0x\(String(recordsChecksum, radix: 16))"))
        }

        var xml = BinXmlChunk(c, full: full, cache: cache)
        xml.usePlans = plans
        var p = headerSize
        var lastSeen: UInt64?
        out.records.reserveCapacity(128)
        if maker != nil { out.events.reserveCapacity(128) }
        while p < end, p + 4 <= size {
            let signature = c.u32u(p)
            if signature == 0 {
                // Zeros where a record should start: the end, as some writers leave the
                // free-space offset too high — unless the chunk says more records follow.
                if let last = lastSeen, last < lastRecordID, lastRecordID - last < 1 << 20 {
                    out.problems.append(EvtxProblem(.recordFraming, offset: fileOffset + p,
                        "records end after record \(last), the chunk header names \(lastRecordID) as its last"))
                }
                break
            }
            guard signature == 0x0000_2A2A else {
                out.recordsFailed += 1
                out.problems.append(EvtxProblem(.recordFraming, offset: fileOffset + p,
                    "no record signature (found \(hexBytes(bytes, p, 4))); the rest of the chunk cannot be read"))
                break
            }
            guard p + 24 <= size else { break }
            let recordSize = Int(c.u32u(p + 4))
            let recordID = c.u64u(p + 8)
            guard recordSize >= 28 else {
                out.recordsFailed += 1
                out.problems.append(EvtxProblem(.recordFraming, offset: fileOffset + p,
                    "record \(recordID) has size \(recordSize), less than 28; the rest of the chunk cannot be read"))
                break
            }
            guard p + recordSize <= size else {
                out.recordsFailed += 1
                out.problems.append(EvtxProblem(.recordFraming, offset: fileOffset + p,
                    "record \(recordID) of \(recordSize) bytes runs past its chunk"))
                break
            }
            let written = BinXmlValues.nanoseconds(filetime: c.u64u(p + 16))
            xml.collector.begin(recordID: recordID, written: written, fileOffset: fileOffset + p, capacity: recordSize)
            do {
                try xml.record(from: p + 24, to: p + recordSize - 4)
                if let maker {
                    xml.collector.complete()
                    out.events.append(maker.pointee.event(xml.collector.record))
                    out.records.append(xml.collector.finish(keepData: keepData))
                } else {
                    out.records.append(xml.collector.finish())
                }
            } catch {
                out.recordsFailed += 1
                out.problems.append(EvtxProblem(.record, offset: fileOffset + p,
                    "record \(recordID): \(error.message) (file offset \(fileOffset + error.offset))"))
            }
            p += recordSize
            lastSeen = recordID
            if recordID == lastRecordID { break }
        }
        out.recordsPlanned = xml.recordsPlanned
        out.recordsInterpreted = xml.recordsInterpreted
        return out
    }

    static func isZero(_ b: UnsafeRawBufferPointer) -> Bool {
        var k = 0
        while k + 8 <= b.count {
            if b.loadUnaligned(fromByteOffset: k, as: UInt64.self) != 0 { return false }
            k += 8
        }
        return true
    }

    static func hexBytes(_ b: UnsafeRawBufferPointer, _ o: Int, _ n: Int) -> String {
        (o..<min(o + n, b.count)).map { BinXmlValues.hex(ChunkBytes(bytes: b), $0, 1) }.joined(separator: " ")
    }
}
