#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonSystem

// The spool's two kinds of file: segments of records and the persisted cursor.

/// One segment file, mapped shared for its whole size.
final class Segment {
    let id: UInt64
    let path: String
    let mapping: UnsafeMutableRawBufferPointer
    var capacity: Int { mapping.count }
    /// End of the last record.
    private(set) var used: Int
    /// Start of each record, in order.
    private var offsets: [UInt32] = []
    var synced: Int
    /// Only the head segment of this run takes appends.
    var writable: Bool
    private var removed = false

    var count: Int { offsets.count }

    private init(id: UInt64, path: String, mapping: UnsafeMutableRawBufferPointer, writable: Bool) {
        self.id = id
        self.path = path
        self.mapping = mapping
        self.writable = writable
        used = DiskSpool.segmentHeaderBytes
        synced = used
    }

    deinit { Syscalls.unmap(UnsafeRawBufferPointer(mapping)) }

    /// A new, empty segment of `capacity` bytes (created under a temporary
    /// name and renamed once allocated and headed, so a crash leaves no half segment).
    static func create(directory: String, id: UInt64, capacity: Int) throws -> Segment {
        let path = DiskSpool.segmentPath(directory, id)
        let temporary = path + ".tmp"
        let fd = try Syscalls.open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o600)
        defer { Syscalls.close(fd) }
        do {
            try Syscalls.fchmod(fd, 0o600, temporary)
            try Syscalls.allocateFile(fd, size: capacity, temporary)
            let mapping = try Syscalls.mapShared(fd, size: capacity, temporary)
            let segment = Segment(id: id, path: path, mapping: mapping, writable: true)
            mapping.storeBytes(of: DiskSpool.magic.littleEndian, toByteOffset: 0, as: UInt64.self)
            mapping.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 8, as: UInt32.self)
            mapping.storeBytes(of: UInt32(DiskSpool.segmentHeaderBytes).littleEndian, toByteOffset: 12, as: UInt32.self)
            mapping.storeBytes(of: id.littleEndian, toByteOffset: 16, as: UInt64.self)
            segment.synced = 0  // the header goes to disk with the first sync
            try Syscalls.rename(temporary, path)
            return segment
        } catch {
            try? Syscalls.unlink(temporary)
            throw error
        }
    }

    /// An existing segment, read back: its valid records, and how many
    /// damaged stretches were skipped.
    static func open(directory: String, id: UInt64) throws -> (Segment, UInt64) {
        let path = DiskSpool.segmentPath(directory, id)
        let fd = try Syscalls.open(path, O_RDWR | O_NOFOLLOW)
        defer { Syscalls.close(fd) }
        try Syscalls.fchmod(fd, 0o600, path)
        let size = Int(try Syscalls.fstat(fd, path).st_size)
        guard size >= DiskSpool.segmentHeaderBytes + DiskSpool.recordHeaderBytes else {
            throw DiskSpoolError.notASegment(path: path)
        }
        let mapping = try Syscalls.mapShared(fd, size: size, path)
        let segment = Segment(id: id, path: path, mapping: mapping, writable: false)
        guard UInt64(littleEndian: mapping.load(fromByteOffset: 0, as: UInt64.self)) == DiskSpool.magic,
              UInt64(littleEndian: mapping.load(fromByteOffset: 16, as: UInt64.self)) == id
        else {
            throw DiskSpoolError.notASegment(path: path)
        }
        let torn = segment.scan()
        segment.synced = segment.used
        return (segment, torn)
    }

    /// Finds the valid records; a damaged stretch is skipped up to the next
    /// valid record (a power loss may have written later pages and not earlier ones).
    private func scan() -> UInt64 {
        var torn: UInt64 = 0
        var offset = DiskSpool.segmentHeaderBytes
        while offset + DiskSpool.recordHeaderBytes <= capacity {
            if let size = validRecord(at: offset) {
                offsets.append(UInt32(offset))
                offset += size
                used = offset
                continue
            }
            let zeroLength = mapping.load(fromByteOffset: offset, as: UInt32.self) == 0
            var next = offset + 8
            var found: Int?
            while next + DiskSpool.recordHeaderBytes <= capacity {
                if mapping.load(fromByteOffset: next, as: UInt32.self) != 0, validRecord(at: next) != nil {
                    found = next
                    break
                }
                next += 8
            }
            guard let found else {
                // The end of the data; something half written there is a torn record.
                // (A crash in the middle of an append leaves its length 0 and some of its bytes there.)
                if !zeroLength || !allZero(offset..<min(capacity, offset + DiskSpool.recordHeaderBytes + 16)) { torn += 1 }
                break
            }
            torn += 1
            offset = found
        }
        return torn
    }

    private func allZero(_ range: Range<Int>) -> Bool {
        range.allSatisfy { mapping[$0] == 0 }
    }

    private func validRecord(at offset: Int) -> Int? {
        let length = Int(UInt32(littleEndian: mapping.load(fromByteOffset: offset, as: UInt32.self)))
        guard length > 0 else { return nil }
        let size = DiskSpool.recordSize(length)
        guard offset + size <= capacity else { return nil }
        let stored = UInt32(littleEndian: mapping.load(fromByteOffset: offset + 4, as: UInt32.self))
        let sequence = UInt64(littleEndian: mapping.load(fromByteOffset: offset + 8, as: UInt64.self))
        let body = UnsafeRawBufferPointer(rebasing: mapping[(offset + DiskSpool.recordHeaderBytes)..<(offset + DiskSpool.recordHeaderBytes + length)])
        return DiskSpool.check(length: UInt32(length), sequence: sequence, message: body) == stored ? size : nil
    }

    /// Appends one record at `used` (the caller checked that it fits); the length goes last.
    func write(_ message: [UInt8], sequence: UInt64, size: Int) {
        let offset = used
        let length = UInt32(message.count)
        message.withUnsafeBytes { body in
            let target = UnsafeMutableRawBufferPointer(rebasing: mapping[(offset + DiskSpool.recordHeaderBytes)...])
            target.copyMemory(from: body)
            let check = DiskSpool.check(length: length, sequence: sequence, message: body)
            mapping.storeBytes(of: check.littleEndian, toByteOffset: offset + 4, as: UInt32.self)
        }
        mapping.storeBytes(of: sequence.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
        mapping.storeBytes(of: length.littleEndian, toByteOffset: offset, as: UInt32.self)
        offsets.append(UInt32(offset))
        used = offset + size
    }

    func read(_ index: Int) -> DiskSpool.Entry {
        let offset = Int(offsets[index])
        let length = Int(UInt32(littleEndian: mapping.load(fromByteOffset: offset, as: UInt32.self)))
        let sequence = UInt64(littleEndian: mapping.load(fromByteOffset: offset + 8, as: UInt64.self))
        let start = offset + DiskSpool.recordHeaderBytes
        return DiskSpool.Entry(sequence: sequence, message: Array(mapping[start..<(start + length)]))
    }

    /// The byte offset of record `index` (the end of the data for `count`).
    func offset(_ index: Int) -> Int { index < offsets.count ? Int(offsets[index]) : used }

    /// The index of the first record at or after `offset`.
    func index(ofOffset offset: Int) -> Int {
        var low = 0, high = offsets.count
        while low < high {
            let mid = (low + high) / 2
            if Int(offsets[mid]) < offset { low = mid + 1 } else { high = mid }
        }
        return low
    }

    func remove() {
        guard !removed else { return }
        removed = true
        try? Syscalls.unlink(path)  // already gone is fine; a leftover is deleted at the next open
    }
}

/// The persisted cursor: two slots written in turn, each with a check, in a
/// shared mapping of a one-page file.
final class CursorFile {
    struct Position: Equatable {
        var segment: UInt64
        var offset: UInt64
        /// The last acknowledged sequence (for messages; not needed to resume).
        var acknowledged: UInt64
    }

    let path: String
    private let mapping: UnsafeMutableRawBufferPointer
    private var generation: UInt64 = 0
    private(set) var position = Position(segment: 0, offset: UInt64(DiskSpool.segmentHeaderBytes), acknowledged: 0)
    private static let slotBytes = 64
    private static let magic: UInt64 = 0x5253_5543_4D57_5353  // "SSWMCUSR"

    init(path: String) throws {
        self.path = path
        let fd = try Syscalls.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        defer { Syscalls.close(fd) }
        try Syscalls.fchmod(fd, 0o600, path)
        try Syscalls.allocateFile(fd, size: 4096, path)
        mapping = try Syscalls.mapShared(fd, size: 4096, path)
        var best: (UInt64, Position)?
        for slot in 0..<2 {
            if let found = read(slot), found.0 > (best?.0 ?? 0) { best = found }
        }
        if let best {
            generation = best.0
            position = best.1
        }
    }

    deinit { Syscalls.unmap(UnsafeRawBufferPointer(mapping)) }

    private func read(_ slot: Int) -> (UInt64, Position)? {
        let base = slot * CursorFile.slotBytes
        func field(_ i: Int) -> UInt64 { UInt64(littleEndian: mapping.load(fromByteOffset: base + 8 * i, as: UInt64.self)) }
        guard field(0) == CursorFile.magic else { return nil }
        let values = (1...4).map(field)
        guard field(5) == CursorFile.check(values) else { return nil }
        return (values[0], Position(segment: values[1], offset: values[2], acknowledged: values[3]))
    }

    func write(_ new: Position) {
        generation += 1
        let base = Int(generation % 2) * CursorFile.slotBytes
        let values = [generation, new.segment, new.offset, new.acknowledged]
        // Invalidate first, fill, then the check: a slot cut short fails its check and the other one holds.
        mapping.storeBytes(of: UInt64(0), toByteOffset: base + 40, as: UInt64.self)
        mapping.storeBytes(of: CursorFile.magic.littleEndian, toByteOffset: base, as: UInt64.self)
        for (i, v) in values.enumerated() {
            mapping.storeBytes(of: v.littleEndian, toByteOffset: base + 8 * (i + 1), as: UInt64.self)
        }
        mapping.storeBytes(of: CursorFile.check(values).littleEndian, toByteOffset: base + 40, as: UInt64.self)
        position = new
    }

    func sync() throws { try Syscalls.syncMapping(mapping, range: 0..<(2 * CursorFile.slotBytes), path) }

    private static func check(_ values: [UInt64]) -> UInt64 {
        var h: UInt64 = 0x6A09_E667_F3BC_C908
        for v in values {
            h = (h ^ v) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 31
        }
        return h | 1  // never 0, the invalid mark
    }
}
