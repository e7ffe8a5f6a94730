import SwiftmonCore

/// The bytes one row binds (``EventInsert``): a buffer of its own, reused from
/// row to row, that appends with a capacity check and a `memcpy`.
///
/// Hot path, bytes: the row's bytes went through `Array.append(contentsOf:)`
/// per value (33 per ProcessCreate), ≈ 5,000 instructions per event with the
/// encoding, 12 % of the store writer's thread; this buffer saves ≈ 1,100 of
/// them (callgrind, `bench store` 30,000 events: 42,550 → 41,460 per event in
/// the writer thread). Nothing may hold `bytes` across an append (it may move
/// the buffer).
final class RowBytes {
    private(set) var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 8192) {
        self.capacity = max(16, capacity)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    /// The bytes so far, valid until the next append.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func removeAll() { count = 0 }

    /// Drops the bytes from `end` on.
    func truncate(to end: Int) {
        precondition(end >= 0 && end <= count)
        count = end
    }

    @inline(__always)
    private func reserve(_ extra: Int) {
        if count &+ extra > capacity { grow(count + extra) }
    }

    private func grow(_ needed: Int) {
        let larger = max(needed, capacity * 2)
        let moved = UnsafeMutableRawPointer.allocate(byteCount: larger, alignment: 8)
        moved.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = moved
        capacity = larger
    }

    @inline(__always)
    func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    func append(_ bytes: [UInt8]) { bytes.withUnsafeBufferPointer { append($0) } }

    /// LEB128, as ``EventStore/appendVarint(_:to:)``.
    @inline(__always)
    func appendVarint(_ value: UInt64) {
        reserve(10)
        var v = value
        while v >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: count, as: UInt8.self)
            count += 1
            v >>= 7
        }
        base.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// The bytes from `start` on, to change in place.
    func mutableBytes(from start: Int) -> UnsafeMutableBufferPointer<UInt8> {
        UnsafeMutableBufferPointer(start: (base + start).assumingMemoryBound(to: UInt8.self), count: count - start)
    }
}

extension EventStore {
    /// ``encodeFields(of:into:)`` into a ``RowBytes``: the same bytes
    /// (`StoreTests.testRowBytesEncodeAsTheArrayEncoder` compares them).
    static func encodeFields(of event: Event, into out: RowBytes) {
        for i in 0..<event.kind.fields.count {
            event.withUTF8(i) { utf8 in
                out.appendVarint(UInt64(utf8.count))
                out.append(utf8)
            }
        }
    }
}
