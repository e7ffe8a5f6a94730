@testable import SwiftmonETL

/// Writes small synthetic .etl files with records of every header kind, for
/// the kinds and clocks the real corpus does not hold.
struct EtlFileBuilder {
    var clockType: UInt32 = 1
    var perfFrequency: Int64 = 10_000_000
    var cpuSpeedMHz: UInt32 = 3000
    /// 2024-01-01T00:00:00Z as a FILETIME.
    var startTime: Int64 = 133_485_408_000_000_000
    var anchorTicks: Int64 = 1_000_000
    var bufferSize = 4096
    var buffers: [(processor: UInt16, records: [[UInt8]], compressed: Bool)] = []

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }

    static func guidBytes(_ g: Guid) -> [UInt8] {
        le(UInt32(g.high >> 32)) + le(UInt16(truncatingIfNeeded: g.high >> 16)) + le(UInt16(truncatingIfNeeded: g.high))
            + withUnsafeBytes(of: g.low.bigEndian, Array.init)
    }

    static func utf16z(_ s: String) -> [UInt8] { s.utf16.flatMap { le($0) } + [0, 0] }

    // MARK: Records

    static func system(type: UInt8 = 0x02, group: UInt8, opcode: UInt8, version: UInt16 = 2,
                       pid: UInt32 = 10, tid: UInt32 = 11, ticks: Int64, payload: [UInt8] = []) -> [UInt8] {
        let compact = type == 0x03 || type == 0x04
        let header = compact ? 0x18 : 0x20
        var r = le(version) + [type, 0xC0] + le(UInt16(header + payload.count)) + [opcode, group]
        r += le(tid) + le(pid) + le(ticks)
        if !compact { r += le(UInt32(5)) + le(UInt32(6)) }
        return r + payload
    }

    static func perfInfo(type: UInt8 = 0x11, group: UInt8, opcode: UInt8, version: UInt16 = 2, ticks: Int64, payload: [UInt8] = []) -> [UInt8] {
        le(version) + [type, 0xC0] + le(UInt16(0x10 + payload.count)) + [opcode, group] + le(ticks) + payload
    }

    static func classic(type: UInt8 = 0x14, provider: Guid, classType: UInt8, level: UInt8 = 4, version: UInt16,
                        pid: UInt32 = 10, tid: UInt32 = 11, ticks: Int64, payload: [UInt8] = [],
                        instance: (UInt32, UInt32, Guid)? = nil) -> [UInt8] {
        let header = instance == nil ? 0x30 : 0x48
        var r = le(UInt16(header + payload.count)) + [type, 0xC0, classType, level] + le(version)
        r += le(tid) + le(pid) + le(ticks) + guidBytes(provider) + le(UInt32(0)) + le(UInt32(0))
        if let (id, parent, parentGuid) = instance { r += le(id) + le(parent) + guidBytes(parentGuid) }
        return r + payload
    }

    static func extendedItem(type: UInt16, _ data: [UInt8], more: Bool) -> [UInt8] {
        let padded = data + [UInt8](repeating: 0, count: (8 - data.count % 8) % 8)
        return le(UInt16(8 + padded.count)) + le(type) + le(UInt16(more ? 1 : 0)) + le(UInt16(data.count)) + padded
    }

    static func event(type: UInt8 = 0x13, provider: Guid, id: UInt16, version: UInt8 = 0, opcode: UInt8 = 0,
                      level: UInt8 = 4, task: UInt16 = 0, keywords: UInt64 = 0, pid: UInt32 = 10, tid: UInt32 = 11,
                      ticks: Int64, items: [(UInt16, [UInt8])] = [], payload: [UInt8] = []) -> [UInt8] {
        var ext: [UInt8] = []
        for (i, item) in items.enumerated() { ext += extendedItem(type: item.0, item.1, more: i < items.count - 1) }
        let flags: UInt16 = (items.isEmpty ? 0 : 1) | (type == 0x13 ? 0x40 : 0x20)
        var r = le(UInt16(0x50 + ext.count + payload.count)) + [type, 0xC0] + le(flags) + le(UInt16(0))
        r += le(tid) + le(pid) + le(ticks) + guidBytes(provider)
        r += le(id) + [version, 0, level, opcode] + le(task) + le(keywords) + le(UInt64(0))
        r += guidBytes(Guid("11111111-2222-3333-4444-555555555555")!)
        return r + ext + payload
    }

    static func wpp(id: UInt16, provider: Guid, sequence: UInt32, ticks: Int64, pid: UInt32, tid: UInt32, args: [UInt8]) -> [UInt8] {
        let body = le(sequence) + guidBytes(provider) + le(ticks) + le(tid) + le(pid) + args
        return le(UInt16(8 + body.count)) + [0x00, 0x90] + le(id) + le(UInt16(0x01 | 0x02 | 0x08 | 0x20)) + body
    }

    func logfileHeader() -> [UInt8] {
        var p = [UInt8](repeating: 0, count: 0x118)
        func put(_ bytes: [UInt8], _ at: Int) { for (i, b) in bytes.enumerated() { p[at + i] = b } }
        put(EtlFileBuilder.le(UInt32(bufferSize)), 0)
        put([10, 0, 0, 0], 4)
        put(EtlFileBuilder.le(UInt32(19045)), 8)
        put(EtlFileBuilder.le(UInt32(2)), 0x0C)
        put(EtlFileBuilder.le(UInt32(buffers.count + 1)), 0x24)
        put(EtlFileBuilder.le(UInt32(8)), 0x2C)
        put(EtlFileBuilder.le(UInt32(7)), 0x30)  // events lost
        put(EtlFileBuilder.le(cpuSpeedMHz), 0x34)
        put(EtlFileBuilder.le(perfFrequency), 0x100)
        put(EtlFileBuilder.le(startTime), 0x108)
        put(EtlFileBuilder.le(clockType), 0x110)
        put(EtlFileBuilder.le(UInt32(1)), 0x114)  // buffers lost
        p += EtlFileBuilder.utf16z("Synthetic Logger") + EtlFileBuilder.utf16z("C:\\synthetic.etl")
        return EtlFileBuilder.system(group: 0, opcode: 0, ticks: anchorTicks, payload: p)
    }

    /// Literal-only XPRESS: a zero flag word before every 32 literal bytes.
    static func xpressLiterals(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < data.count {
            out += [0, 0, 0, 0]
            out += data[i..<min(i + 32, data.count)]
            i += 32
        }
        return out
    }

    func build() -> [UInt8] {
        var file: [UInt8] = []
        let all = [(processor: UInt16(0), records: [logfileHeader()], compressed: false)] + buffers
        for (n, b) in all.enumerated() {
            var body: [UInt8] = []
            for r in b.records {
                body += r
                body += [UInt8](repeating: 0, count: (8 - r.count % 8) % 8)
            }
            let filled = 0x48 + body.count
            precondition(filled <= bufferSize)
            let data = b.compressed ? EtlFileBuilder.xpressLiterals(body) : body + [UInt8](repeating: 0xFF, count: bufferSize - filled)
            let size = b.compressed ? 0x48 + data.count : bufferSize
            var h = [UInt8](repeating: 0, count: 0x48)
            func put(_ bytes: [UInt8], _ at: Int) { for (i, x) in bytes.enumerated() { h[at + i] = x } }
            put(EtlFileBuilder.le(UInt32(size)), 0)
            put(EtlFileBuilder.le(UInt32(filled)), 4)
            put(EtlFileBuilder.le(Int64(n)), 0x18)
            put(EtlFileBuilder.le(b.processor), 0x28)
            put(EtlFileBuilder.le(UInt32(filled)), 0x30)
            put(EtlFileBuilder.le(UInt16(0x20 | (b.compressed ? 0x40 : 0))), 0x34)
            put(EtlFileBuilder.le(UInt16(n == 0 ? 4 : 0)), 0x36)
            file += h + data
        }
        return file
    }
}
