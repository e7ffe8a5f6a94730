/// A damaged record: where in its buffer, and why.
struct RecordFault: Error {
    let position: Int
    let message: String
}

/// Reads the record headers of every kind from a buffer's bytes.
///
/// Every record starts with a 32-bit marker. Its top byte has
/// TRACE_HEADER_FLAG (0x80); with TRACE_HEADER_EVENT_TRACE (0x40) the next
/// byte is the header type (TRACE_HEADER_TYPE_*), with TRACE_MESSAGE (0x10) the
/// record is a WPP message. Records are 8-byte aligned; 0xFFFFFFFF fills the
/// rest of a buffer.
enum EtlRecordParser {
    static let endOfBuffer: UInt32 = 0xFFFF_FFFF

    /// Parses the record at `pos` of `bytes` into `r`, and returns the distance
    /// to the next record, or 0 at the end-of-buffer filler.
    @inline(__always)
    static func parse(
        _ bytes: UnsafeRawBufferPointer, at pos: Int, into r: inout EtlRecord, fallbackTicks: Int64
    ) throws(RecordFault) -> Int {
        let avail = bytes.count - pos
        guard avail >= 8 else {
            if avail >= 4 && bytes.loadLE(UInt32.self, pos) == endOfBuffer { return 0 }
            if avail <= 0 { return 0 }
            throw RecordFault(position: pos, message: "\(avail) stray bytes at the end of the buffer")
        }
        let marker = bytes.loadLE(UInt32.self, pos)
        if marker == endOfBuffer { return 0 }
        let flags = UInt8(truncatingIfNeeded: marker >> 24)
        let type = UInt8(truncatingIfNeeded: marker >> 16)
        let low = UInt16(truncatingIfNeeded: marker)

        r.headerType = type
        r.extendedData = EtlExtendedData(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        r.processId = nil
        r.threadId = nil
        r.id = 0
        r.level = 0
        r.channel = 0
        r.task = 0
        r.keywords = 0
        r.group = 0
        r.eventFlags = 0
        r.eventProperty = 0
        r.sequence = nil
        r.kernelTime = 0
        r.userTime = 0

        if flags & 0xD0 == 0x90 && flags & 0x40 == 0 {
            return try parseMessage(bytes, at: pos, size: Int(low), into: &r, fallbackTicks: fallbackTicks)
        }
        guard flags & 0xC0 == 0xC0 else {
            throw RecordFault(position: pos, message: "not a record header (marker 0x\(hex(marker)))")
        }

        switch type {
        case 0x01, 0x02, 0x03, 0x04, 0x10, 0x11:
            // System, compact system and perfinfo headers: the low 16 bits of the
            // marker are the version; bits 0x8000 and 0x0700 announce extra
            // 8-byte words (PMC counters and the like) between header and payload.
            let size = Int(bytes.loadLE(UInt16.self, pos + 4))
            let base: Int
            switch type {
            case 0x01, 0x02: base = 0x20; r.kind = .system
            case 0x03, 0x04: base = 0x18; r.kind = .compactSystem
            default: base = 0x10; r.kind = .perfInfo
            }
            let extra = (low & 0x8000 != 0 ? 8 : 0) + 8 * Int((low & 0x0700) >> 8)
            let headerSize = base + extra
            try checkSize(size, headerSize, avail, pos)
            r.pointerSize = (type == 0x02 || type == 0x04 || type == 0x11) ? 8 : 4
            r.version = low & 0x00FF
            r.opcode = bytes[pos + 6]
            r.group = bytes[pos + 7]
            r.provider = KernelGroup.guid(group: r.group, opcode: r.opcode)
            if r.kind == .perfInfo {
                r.ticks = bytes.loadLE(Int64.self, pos + 8)
            } else {
                r.threadId = bytes.loadLE(UInt32.self, pos + 8)
                r.processId = bytes.loadLE(UInt32.self, pos + 12)
                r.ticks = bytes.loadLE(Int64.self, pos + 16)
                if r.kind == .system {
                    r.kernelTime = bytes.loadLE(UInt32.self, pos + 24)
                    r.userTime = bytes.loadLE(UInt32.self, pos + 28)
                }
            }
            r.size = size
            r.payload = UnsafeRawBufferPointer(rebasing: bytes[(pos + headerSize)..<(pos + size)])

        case 0x0A, 0x14, 0x0B, 0x15:
            // EVENT_TRACE_HEADER / EVENT_INSTANCE_GUID_HEADER: size first, then the
            // class (type, level, version), tid, pid, timestamp, GUID, CPU times.
            let size = Int(low)
            let instance = type == 0x0B || type == 0x15
            let headerSize = instance ? 0x48 : 0x30
            try checkSize(size, headerSize, avail, pos)
            r.kind = instance ? .instance : .classic
            r.pointerSize = (type == 0x14 || type == 0x15) ? 8 : 4
            r.opcode = bytes[pos + 4]
            r.level = bytes[pos + 5]
            r.version = bytes.loadLE(UInt16.self, pos + 6)
            r.threadId = bytes.loadLE(UInt32.self, pos + 8)
            r.processId = bytes.loadLE(UInt32.self, pos + 12)
            r.ticks = bytes.loadLE(Int64.self, pos + 16)
            r.provider = Guid(windowsBytes: bytes, at: pos + 0x18)
            r.kernelTime = bytes.loadLE(UInt32.self, pos + 0x28)
            r.userTime = bytes.loadLE(UInt32.self, pos + 0x2C)
            if instance {
                r.instanceId = bytes.loadLE(UInt32.self, pos + 0x30)
                r.parentInstanceId = bytes.loadLE(UInt32.self, pos + 0x34)
                r.parentGuid = Guid(windowsBytes: bytes, at: pos + 0x38)
            }
            r.size = size
            r.payload = UnsafeRawBufferPointer(rebasing: bytes[(pos + headerSize)..<(pos + size)])

        case 0x12, 0x13:
            // EVENT_HEADER, then extended data items when flagged, then the payload.
            let size = Int(low)
            try checkSize(size, 0x50, avail, pos)
            r.kind = .event
            r.eventFlags = bytes.loadLE(UInt16.self, pos + 4)
            r.eventProperty = bytes.loadLE(UInt16.self, pos + 6)
            r.pointerSize = type == 0x13 ? 8 : 4
            if r.eventFlags & EtlRecord.flag64BitHeader != 0 { r.pointerSize = 8 }
            if r.eventFlags & EtlRecord.flag32BitHeader != 0 { r.pointerSize = 4 }
            r.threadId = bytes.loadLE(UInt32.self, pos + 8)
            r.processId = bytes.loadLE(UInt32.self, pos + 12)
            r.ticks = bytes.loadLE(Int64.self, pos + 16)
            r.provider = Guid(windowsBytes: bytes, at: pos + 0x18)
            r.id = bytes.loadLE(UInt16.self, pos + 0x28)
            r.version = UInt16(bytes[pos + 0x2A])
            r.channel = bytes[pos + 0x2B]
            r.level = bytes[pos + 0x2C]
            r.opcode = bytes[pos + 0x2D]
            r.task = bytes.loadLE(UInt16.self, pos + 0x2E)
            r.keywords = bytes.loadLE(UInt64.self, pos + 0x30)
            r.kernelTime = bytes.loadLE(UInt32.self, pos + 0x38)
            r.userTime = bytes.loadLE(UInt32.self, pos + 0x3C)
            r.activityId = Guid(windowsBytes: bytes, at: pos + 0x40)
            var payloadStart = pos + 0x50
            let end = pos + size
            if r.eventFlags & EtlRecord.flagExtendedInfo != 0 {
                // Items: u16 size (with this 8-byte head), u16 type, u16 with bit 0
                // set when another item follows, u16 data size.
                var p = payloadStart
                var count = 0
                while true {
                    guard end - p >= 8 else {
                        throw RecordFault(position: p, message: "extended data item header runs past the record end")
                    }
                    let itemSize = Int(bytes.loadLE(UInt16.self, p))
                    let linkage = bytes.loadLE(UInt16.self, p + 4)
                    let dataSize = Int(bytes.loadLE(UInt16.self, p + 6))
                    guard itemSize >= 8, dataSize <= itemSize - 8, itemSize <= end - p else {
                        throw RecordFault(position: p, message: "extended data item of size \(itemSize) (data \(dataSize)) does not fit the record")
                    }
                    p += itemSize
                    count += 1
                    if linkage & 1 == 0 || count >= 256 { break }
                }
                r.extendedData = EtlExtendedData(bytes: UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<p]))
                payloadStart = p
            }
            r.size = size
            r.payload = UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<end])

        case 0x0C, 0x0D, 0x0E:
            // Timed, error and WNODE headers: laid out like EVENT_TRACE_HEADER as
            // far as a consumer can tell; kept as opaque records with their GUID.
            let size = Int(low)
            try checkSize(size, 0x30, avail, pos)
            r.kind = .other
            r.pointerSize = 8
            r.opcode = bytes[pos + 4]
            r.version = bytes.loadLE(UInt16.self, pos + 6)
            r.ticks = bytes.loadLE(Int64.self, pos + 16)
            r.provider = Guid(windowsBytes: bytes, at: pos + 0x18)
            r.size = size
            r.payload = UnsafeRawBufferPointer(rebasing: bytes[(pos + 0x30)..<(pos + size)])

        default:
            throw RecordFault(position: pos, message: "unknown record header type 0x\(hex(UInt32(type)))")
        }
        return (r.size + 7) & ~7
    }

    @inline(__always)
    static func checkSize(_ size: Int, _ headerSize: Int, _ avail: Int, _ pos: Int) throws(RecordFault) {
        guard size >= headerSize else {
            throw RecordFault(position: pos, message: "record size \(size) is smaller than its \(headerSize)-byte header")
        }
        guard size <= avail else {
            throw RecordFault(position: pos, message: "record size \(size) runs past the buffer's filled bytes (\(avail) left)")
        }
    }

    /// MESSAGE_TRACE_HEADER (WPP): size, message number, properties saying which
    /// optional fields follow (sequence, GUID or component id, timestamp,
    /// thread/process id), then the raw message arguments.
    static func parseMessage(
        _ bytes: UnsafeRawBufferPointer, at pos: Int, size: Int, into r: inout EtlRecord, fallbackTicks: Int64
    ) throws(RecordFault) -> Int {
        try checkSize(size, 8, bytes.count - pos, pos)
        r.kind = .message
        r.headerType = 0x0F
        r.pointerSize = 8
        r.id = bytes.loadLE(UInt16.self, pos + 4)
        r.eventProperty = bytes.loadLE(UInt16.self, pos + 6)
        r.version = 0
        r.opcode = 0
        r.provider = .zero
        r.ticks = fallbackTicks
        var p = EtlPayload(UnsafeRawBufferPointer(rebasing: bytes[(pos + 8)..<(pos + size)]), pointerSize: 8)
        let property = r.eventProperty
        func need<T>(_ value: T?, _ what: String) throws(RecordFault) -> T {
            guard let value else { throw RecordFault(position: pos, message: "WPP message too short for its \(what)") }
            return value
        }
        if property & 0x01 != 0 { r.sequence = try need(p.u32(), "sequence number") }
        if property & 0x02 != 0 {
            r.provider = try need(p.guid(), "GUID")
        } else if property & 0x04 != 0 {
            // A component id instead of a GUID: shown in the GUID's first group.
            r.provider = Guid(high: UInt64(try need(p.u32(), "component id")) << 32, low: 0)
        }
        if property & 0x08 != 0 { r.ticks = Int64(bitPattern: try need(p.u64(), "timestamp")) }
        if property & 0x20 != 0 {
            r.threadId = try need(p.u32(), "thread id")
            r.processId = try need(p.u32(), "process id")
        }
        if property & 0x40 != 0 { r.pointerSize = 4 }
        r.size = size
        r.payload = UnsafeRawBufferPointer(rebasing: p.bytes[p.position...])
        return (size + 7) & ~7
    }

    static func hex(_ v: UInt32) -> String { String(v, radix: 16, uppercase: false) }
}
