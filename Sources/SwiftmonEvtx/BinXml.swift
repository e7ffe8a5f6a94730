/// A substitution value of a template instance: its type and where its bytes
/// are in the chunk. Rendered to text only when a field needs it.
struct ValueRef {
    let type: UInt8
    let offset: Int32
    let size: Int32
}

/// One step of a compiled binary XML stream (a template body or a record).
enum BinXmlOp {
    case open(String)
    case attribute(String)
    case closeStart
    case closeEmpty
    case end
    case text(String)
    /// A template's placeholder: the value of this index of the instance.
    case substitution(Int)
    /// A template instance in a record: the template's chunk offset and its values.
    case instance(Int, [ValueRef])
}

/// Receives the XML of a record as it is expanded.
protocol BinXmlVisitor {
    mutating func open(_ name: String)
    mutating func attribute(_ name: String)
    mutating func closeStart()
    mutating func closeEmpty()
    mutating func end()
    mutating func text(_ text: String)
    mutating func value(_ value: ValueRef)
}

/// Binary XML of one chunk: the chunk's string (name) and template tables,
/// compiled once per chunk and cached, and the expansion of records.
///
/// Bounded: every read is checked against the chunk, template nesting and
/// nested binary XML stop at ``maximumDepth``, and every loop advances.
final class BinXmlChunk {
    let chunk: ChunkBytes
    private var names: [Int: String] = [:]
    private var templates: [Int: Result<[BinXmlOp], BinXmlError>] = [:]
    static let maximumDepth = 16
    /// Tokens compiled plus steps expanded, per record: a template that uses a
    /// nested value many times, nested again, would otherwise grow without bound.
    static let recordBudget = 1 << 18
    var budget = BinXmlChunk.recordBudget

    @inline(__always)
    private func spend(_ offset: Int) throws(BinXmlError) {
        budget &-= 1
        if budget < 0 {
            throw BinXmlError(offset: offset, "record expands to more than \(BinXmlChunk.recordBudget) XML steps")
        }
    }

    init(_ chunk: ChunkBytes) { self.chunk = chunk }

    /// The name at chunk offset `offset`: next-string link (4), hash (2),
    /// UTF-16 unit count (2), the units and a NUL.
    func name(at offset: Int) throws(BinXmlError) -> String {
        if let cached = names[offset] { return cached }
        let units = Int(try chunk.u16(offset + 6, "name length"))
        let text = try chunk.utf16(offset + 8, units: units)
        names[offset] = text
        return text
    }

    /// Reads a name reference at `p` (advancing past a name defined in place).
    @inline(__always)
    private func nameRef(_ p: inout Int) throws(BinXmlError) -> String {
        let offset = Int(try chunk.u32(p, "name offset"))
        p += 4
        if offset == p {
            let units = Int(try chunk.u16(p + 6, "name length"))
            try chunk.check(p, 10 + 2 * units, "name")
            p += 10 + 2 * units
        }
        return try name(at: offset)
    }

    /// The compiled body of the template defined at chunk offset `offset`:
    /// next-template link (4), GUID (16), data size (4), then binary XML whose
    /// element starts carry a dependency identifier.
    func template(at offset: Int, depth: Int) throws(BinXmlError) -> [BinXmlOp] {
        if let cached = templates[offset] { return try cached.get() }
        let result: Result<[BinXmlOp], BinXmlError>
        do {
            let size = Int(try chunk.u32(offset + 20, "template data size"))
            try chunk.check(offset + 24, size, "template body")
            result = .success(try compile(from: offset + 24, to: offset + 24 + size, template: true, depth: depth))
        } catch {
            result = .failure(error)
        }
        templates[offset] = result
        return try result.get()
    }

    /// Compiles the binary XML in `start..<end`. Template bodies (`template`)
    /// have dependency identifiers and placeholders; record streams have
    /// template instances instead.
    func compile(from start: Int, to end: Int, template: Bool, depth: Int) throws(BinXmlError) -> [BinXmlOp] {
        guard depth <= BinXmlChunk.maximumDepth else {
            throw BinXmlError(offset: start, "binary XML nested more than \(BinXmlChunk.maximumDepth) deep")
        }
        var ops: [BinXmlOp] = []
        var p = start
        while p < end {
            try spend(p)
            let token = try chunk.u8(p, "token")
            p += 1
            switch token {
            case 0x00:
                return ops
            case 0x01, 0x41:
                if template { p += 2 }
                p += 4  // data size
                let name = try nameRef(&p)
                if token == 0x41 { p += 4 }  // attribute list size
                ops.append(.open(name))
            case 0x02: ops.append(.closeStart)
            case 0x03: ops.append(.closeEmpty)
            case 0x04: ops.append(.end)
            case 0x05, 0x45:
                let type = try chunk.u8(p, "value type")
                guard type == 0x01 else { throw BinXmlError(offset: p, "value text of type 0x\(String(type, radix: 16)) at chunk offset \(p)") }
                let units = Int(try chunk.u16(p + 1, "value length"))
                ops.append(.text(try chunk.utf16(p + 3, units: units)))
                p += 3 + 2 * units
            case 0x06, 0x46:
                ops.append(.attribute(try nameRef(&p)))
            case 0x07, 0x47:
                let units = Int(try chunk.u16(p, "CDATA length"))
                ops.append(.text(try chunk.utf16(p + 2, units: units)))
                p += 2 + 2 * units
            case 0x08, 0x48:
                let unit = try chunk.u16(p, "character reference")
                p += 2
                ops.append(.text(String(decoding: [unit], as: UTF16.self)))
            case 0x09, 0x49:
                let name = try nameRef(&p)
                ops.append(.text(BinXmlChunk.entity(name)))
            case 0x0A:
                _ = try nameRef(&p)
            case 0x0B:
                let units = Int(try chunk.u16(p, "processing instruction length"))
                try chunk.check(p + 2, 2 * units, "processing instruction")
                p += 2 + 2 * units
            case 0x0C:
                guard !template else { throw BinXmlError(offset: p - 1, "template instance inside a template at chunk offset \(p - 1)") }
                ops.append(try instance(&p, end: end, depth: depth))
            case 0x0D, 0x0E:
                guard template else { throw BinXmlError(offset: p - 1, "substitution outside a template at chunk offset \(p - 1)") }
                let index = Int(try chunk.u16(p, "substitution index"))
                let type = try chunk.u8(p + 2, "substitution type")
                guard BinXmlChunk.isKnownType(type) else {
                    throw BinXmlError(offset: p + 2, "unknown value type 0x\(String(type, radix: 16)) at chunk offset \(p + 2)")
                }
                p += 3
                ops.append(.substitution(index))
            case 0x0F:
                try chunk.check(p, 3, "fragment header")
                p += 3
            default:
                throw BinXmlError(offset: p - 1, "invalid binary XML token 0x\(String(token, radix: 16)) at chunk offset \(p - 1)")
            }
        }
        return ops
    }

    /// A template instance at `p` (after its token): reserved byte, template
    /// id, definition offset (the definition itself follows when it is new in
    /// this chunk), then the substitution descriptors and values.
    private func instance(_ p: inout Int, end: Int, depth: Int) throws(BinXmlError) -> BinXmlOp {
        let definition = Int(try chunk.u32(p + 5, "template definition offset"))
        p += 9
        if definition == p {
            let size = Int(try chunk.u32(p + 20, "template data size"))
            try chunk.check(p, 24 + size, "template definition")
            p += 24 + size
        }
        let count = Int(try chunk.u32(p, "substitution count"))
        p += 4
        guard count <= (end - p) / 4 else {
            throw BinXmlError(offset: p - 4, "\(count) substitutions at chunk offset \(p - 4) do not fit the record")
        }
        var values: [ValueRef] = []
        values.reserveCapacity(count)
        var v = p + 4 * count
        for k in 0..<count {
            let size = Int(chunk.u16u(p + 4 * k))
            let type = chunk.bytes[p + 4 * k + 2]
            guard BinXmlChunk.isKnownType(type) else {
                throw BinXmlError(offset: p + 4 * k + 2, "unknown value type 0x\(String(type, radix: 16)) at chunk offset \(p + 4 * k + 2)")
            }
            try chunk.check(v, size, "substitution value")
            guard v + size <= end else { throw BinXmlError(offset: v, "substitution value at chunk offset \(v) runs past the record") }
            try BinXmlValues.validate(chunk, type: type, offset: v, size: size)
            values.append(ValueRef(type: type, offset: Int32(v), size: Int32(size)))
            v += size
        }
        p = v
        return .instance(definition, values)
    }

    /// Expands `ops` (with `values` for a template body) into `visitor`.
    func run<V: BinXmlVisitor>(_ ops: [BinXmlOp], values: [ValueRef], depth: Int, into visitor: inout V) throws(BinXmlError) {
        guard depth <= BinXmlChunk.maximumDepth else {
            throw BinXmlError(offset: 0, "templates nested more than \(BinXmlChunk.maximumDepth) deep")
        }
        for op in ops {
            try spend(0)
            switch op {
            case .open(let name): visitor.open(name)
            case .attribute(let name): visitor.attribute(name)
            case .closeStart: visitor.closeStart()
            case .closeEmpty: visitor.closeEmpty()
            case .end: visitor.end()
            case .text(let text): visitor.text(text)
            case .substitution(let index):
                guard index < values.count else { continue }
                let value = values[index]
                switch value.type {
                case 0x00: continue
                case 0x21:
                    let start = Int(value.offset)
                    let nested = try compile(from: start, to: start + Int(value.size), template: false, depth: depth + 1)
                    try run(nested, values: [], depth: depth + 1, into: &visitor)
                default: visitor.value(value)
                }
            case .instance(let offset, let instanceValues):
                let body = try template(at: offset, depth: depth + 1)
                try run(body, values: instanceValues, depth: depth + 1, into: &visitor)
            }
        }
    }

    static func isKnownType(_ t: UInt8) -> Bool {
        switch t {
        case 0x00...0x15, 0x20, 0x21, 0x23, 0x81...0x95: return true
        default: return false
        }
    }

    static func entity(_ name: String) -> String {
        switch name {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos": return "'"
        default: return "&\(name);"
        }
    }
}
