import SwiftmonCore

/// TraceLogging events: self-describing. The event's schema travels in the
/// EVENT_SCHEMA_TL extended item (type 11), the provider's name in the
/// provider-traits item (type 12); with them the payload decodes fully.
///
/// Schema blob: UINT16 size, extension bytes (continued while the high bit is
/// set), the event name (NUL-terminated UTF-8), then per field: name, InType
/// byte (type in the low 5 bits; 0x20 constant count in metadata, 0x40
/// variable count in data, 0x60 custom; 0x80 an OutType byte follows), the
/// OutType (0x80: extension bytes follow; for structs the low 7 bits count the
/// member fields that follow), a UINT16 constant count, or for custom fields a
/// UINT16 type-info size and type info.
struct TraceLoggingDecoder {
    struct Decoded {
        let provider: String
        let event: String
        /// The fields as one JSON object.
        let fields: String
    }

    indirect enum FieldKind { case scalar(UInt8, UInt8), structure([Field]), custom }
    struct Field {
        let name: String
        let kind: FieldKind
        /// 0 scalar, 0x20 constant count, 0x40 variable count.
        let countMode: UInt8
        let constantCount: Int
    }

    static let maxFields = 512
    static let maxDepth = 8
    static let maxElements = 4096
    /// Values decoded per event in all: zero-size elements in nested arrays
    /// must not multiply into unbounded work.
    static let maxValues = 1 << 16

    func decode(_ r: EtlRecord) -> Decoded? {
        guard let schema = r.extendedData.first(type: EtlExtendedData.Item.traceLoggingSchema) else { return nil }
        var provider = ""
        if let traits = r.extendedData.first(type: EtlExtendedData.Item.providerTraits) {
            var p = EtlPayload(traits.data, pointerSize: 8)
            if p.u16() != nil { provider = String(decoding: p.ansiString(), as: UTF8.self) }
        }
        var m = EtlPayload(schema.data, pointerSize: r.pointerSize)
        guard let size = m.u16(), Int(size) <= schema.data.count else { return nil }
        m = EtlPayload(UnsafeRawBufferPointer(rebasing: schema.data[0..<Int(size)]), pointerSize: r.pointerSize)
        _ = m.u16()
        while let b = m.u8(), b & 0x80 != 0 {}  // event tags
        let eventName = String(decoding: m.ansiString(), as: UTF8.self)
        var budget = TraceLoggingDecoder.maxFields
        guard let fields = parseFields(&m, count: nil, depth: 0, budget: &budget) else { return nil }
        var data = r.payloadReader
        var values = TraceLoggingDecoder.maxValues
        var out = "{"
        var truncated = false
        for (i, f) in fields.enumerated() {
            if i > 0 { out += "," }
            out += JSONString.quoted(f.name) + ":"
            if !value(f, &data, &out, depth: 0, budget: &values) { truncated = true; out += "null"; break }
        }
        out += "}"
        if truncated { out = String(out.dropLast()) + ",\"_truncated\":true}" }
        return Decoded(provider: provider.isEmpty ? Event.absent : provider, event: eventName, fields: out)
    }

    /// Reads field metadata: all remaining fields (`count` nil) or `count` of them.
    private func parseFields(_ m: inout EtlPayload, count: Int?, depth: Int, budget: inout Int) -> [Field]? {
        var fields: [Field] = []
        while count.map({ fields.count < $0 }) ?? (m.remaining > 0) {
            budget -= 1
            guard budget >= 0, depth <= TraceLoggingDecoder.maxDepth, m.remaining > 0 else { return nil }
            let name = String(decoding: m.ansiString(), as: UTF8.self)
            guard let inType = m.u8() else { return nil }
            var outType: UInt8 = 0
            if inType & 0x80 != 0 {
                guard let o = m.u8() else { return nil }
                outType = o
                if o & 0x80 != 0 { while let b = m.u8(), b & 0x80 != 0 {} }
            }
            let countMode = inType & 0x60
            var constant = 0
            if countMode == 0x20 {
                guard let c = m.u16() else { return nil }
                constant = Int(c)
            }
            let type = inType & 0x1F
            if countMode == 0x60 {
                guard let n = m.u16(), m.skip(Int(n)) else { return nil }
                fields.append(Field(name: name, kind: .custom, countMode: 0, constantCount: 0))
            } else if type == 24 {
                guard let members = parseFields(&m, count: Int(outType & 0x7F), depth: depth + 1, budget: &budget) else { return nil }
                fields.append(Field(name: name, kind: .structure(members), countMode: countMode, constantCount: constant))
            } else {
                fields.append(Field(name: name, kind: .scalar(type, outType & 0x7F), countMode: countMode, constantCount: constant))
            }
        }
        return fields
    }

    /// Appends the JSON of one field's value(s); false when the data ran out.
    private func value(_ f: Field, _ d: inout EtlPayload, _ out: inout String, depth: Int, budget: inout Int) -> Bool {
        var n = 1
        switch f.countMode {
        case 0x20: n = f.constantCount
        case 0x40:
            guard let c = d.u16() else { return false }
            n = Int(c)
        default:
            return single(f, &d, &out, depth: depth, budget: &budget)
        }
        guard n <= TraceLoggingDecoder.maxElements else { return false }
        out += "["
        for i in 0..<n {
            if i > 0 { out += "," }
            guard single(f, &d, &out, depth: depth, budget: &budget) else { return false }
        }
        out += "]"
        return true
    }

    private func single(_ f: Field, _ d: inout EtlPayload, _ out: inout String, depth: Int, budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch f.kind {
        case .custom:
            guard let n = d.u16(), let b = d.take(Int(n)) else { return false }
            out += "\"" + hexString(b) + "\""
        case .structure(let members):
            out += "{"
            for (i, m) in members.enumerated() {
                if i > 0 { out += "," }
                out += JSONString.quoted(m.name) + ":"
                guard value(m, &d, &out, depth: depth + 1, budget: &budget) else { return false }
            }
            out += "}"
        case .scalar(let type, let outType):
            guard let text = scalar(type, outType, &d) else { return false }
            out += text
        }
        return true
    }

    /// One value as JSON text.
    private func scalar(_ type: UInt8, _ outType: UInt8, _ d: inout EtlPayload) -> String? {
        func q(_ s: String) -> String { JSONString.quoted(s) }
        switch type {
        case 0: return "null"
        case 1: return q(d.utf16String())
        case 2: return q(FieldText(d.ansiString()).string)
        case 3: return d.u8().map { String(Int8(bitPattern: $0)) }
        case 4:
            guard let v = d.u8() else { return nil }
            if outType == 3 { return v != 0 ? "true" : "false" }
            if outType == 4 { return q("0x" + String(v, radix: 16)) }
            return String(v)
        case 5: return d.u16().map { String(Int16(bitPattern: $0)) }
        case 6:
            guard let v = d.u16() else { return nil }
            if outType == 7 { return String(UInt16(bigEndian: v)) }  // port, network order
            if outType == 4 { return q("0x" + String(v, radix: 16)) }
            return String(v)
        case 7: return d.u32().map { String(Int32(bitPattern: $0)) }
        case 8:
            guard let v = d.u32() else { return nil }
            if outType == 8 { return q("\(v & 0xFF).\(v >> 8 & 0xFF).\(v >> 16 & 0xFF).\(v >> 24)") }
            if outType == 4 { return q("0x" + String(v, radix: 16)) }
            if outType == 3 { return v != 0 ? "true" : "false" }
            return String(v)
        case 9: return d.u64().map { String(Int64(bitPattern: $0)) }
        case 10:
            guard let v = d.u64() else { return nil }
            return outType == 4 ? q("0x" + String(v, radix: 16)) : String(v)
        case 11:
            guard let v = d.u32() else { return nil }
            let f = Float(bitPattern: v)
            return f.isFinite ? "\(f)" : q("\(f)")
        case 12:
            guard let v = d.u64() else { return nil }
            let f = Double(bitPattern: v)
            return f.isFinite ? "\(f)" : q("\(f)")
        case 13: return d.u32().map { $0 != 0 ? "true" : "false" }
        case 14, 25:
            guard let n = d.u16(), let b = d.take(Int(n)) else { return nil }
            if outType == 9 && n == 16 { return q(ipText(b)) }
            return q(hexString(b))
        case 15: return d.guid().map { q($0.braced) }
        case 17:
            guard let v = d.u64() else { return nil }
            return q(EventTime(nanosecondsSinceEpoch: EtlClock.nanoseconds(filetime: Int64(bitPattern: v))).iso8601Nanoseconds)
        case 18:
            guard let b = d.take(16) else { return nil }
            // SYSTEMTIME: year, month, day of week, day, hour, minute, second,
            // milliseconds; shown like FILETIME values, each part zero-padded
            // to its width (48 ms is ".048").
            let w = (0..<8).map { Int(b.loadLE(UInt16.self, $0 * 2)) }
            func pad(_ v: Int, _ width: Int) -> String {
                let digits = String(v)
                return String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
            return q("\(pad(w[0], 4))-\(pad(w[1], 2))-\(pad(w[3], 2))T\(pad(w[4], 2)):\(pad(w[5], 2)):\(pad(w[6], 2)).\(pad(w[7], 3))Z")
        case 19: return d.sid().map(q)
        case 20: return d.u32().map { q("0x" + String($0, radix: 16)) }
        case 21: return d.u64().map { q("0x" + String($0, radix: 16)) }
        case 22:
            guard let n = d.u16(), let s = d.utf16String(count: Int(n) / 2) else { return nil }
            return q(s)
        case 23:
            guard let n = d.u16(), let b = d.take(Int(n)) else { return nil }
            return q(FieldText(b).string)
        default:
            return nil  // unknown type: its size is unknown, the rest cannot be read
        }
    }
}
