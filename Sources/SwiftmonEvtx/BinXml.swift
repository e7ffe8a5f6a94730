/// A substitution value of a template instance: its type and where its bytes
/// are in the chunk. Rendered to text only when a field needs it.
struct ValueRef {
    let type: UInt8
    let offset: Int32
    let size: Int32
}

/// One step of a compiled binary XML stream (a template body or a record).
/// Plain numbers: running a compiled template touches no reference counts.
struct BinXmlOp {
    enum Kind: UInt8 {
        /// `a`: name index.
        case open, attribute
        case closeStart, closeEmpty, end
        /// `a`: text index.
        case text
        /// A template's placeholder; `a`: the index of the instance's value.
        case substitution
        /// A template instance in a record; `a`: the template's chunk offset,
        /// `b`, `c`: its values (first index in the value arena, count).
        case instance
    }
    let kind: Kind
    /// Int, not Int32: a template offset read from a damaged file can be any 32-bit value.
    let a: Int
    var b: Int32 = 0
    var c: Int32 = 0
}

/// Binary XML of one chunk: the chunk's string (name) and template tables,
/// compiled once per chunk and cached by chunk offset, and the expansion of
/// records into a ``RecordCollector``.
///
/// Compiled templates live in one op array for the chunk; a record's own
/// stream and its substitution values live in scratch arrays reused from record
/// to record, so decoding a record allocates nothing here.
///
/// Bounded: every read is checked against the chunk, template nesting and
/// nested binary XML stop at ``maximumDepth``, and every loop advances.
struct BinXmlChunk {
    let chunk: ChunkBytes
    /// Receives the records; it holds the chunk's strings (names and texts),
    /// which the compiled ops refer to by index.
    var collector: RecordCollector
    private var nameIndex: [Int: Int32] = [:]
    private var templates: [Int: Result<Range<Int32>, BinXmlError>] = [:]
    /// Plans of the chunk's templates by offset and context (nil: none).
    private var plans: [Int: TemplatePlan?] = [:]
    /// The plans last used, direct-mapped by key (template offset and
    /// context), in front of `plans`: a record of a planned template finds
    /// its plan without hashing, and without looking its compiled body up.
    private var recentPlans = [RecentPlan](repeating: RecentPlan(key: -1, plan: nil), count: 256)
    private struct RecentPlan {
        let key: Int
        let plan: TemplatePlan?
    }
    /// Plans shared with the chunks decoded before this one (on this thread),
    /// and the numbering of the contexts plans are made for.
    let cache: TemplateCache
    /// Per template offset: what its compiled form depends on besides its
    /// body — how far its compile read (a damaged body's last token can read
    /// past its size) and where its name references are (a 4-byte chunk
    /// offset each), whether each names the name defined in place.
    private var templateReads: [Int: (end: Int, names: [TemplateCache.NameField])] = [:]
    /// Set while a template body is compiled: its name references.
    private var recordingNames: [TemplateCache.NameField]?
    /// Whether records that are one instance of a planned template are decoded
    /// through its ``TemplatePlan`` (false: always interpreted, for tests).
    var usePlans = true
    /// Records decoded through a plan, and records interpreted.
    var recordsPlanned = 0
    var recordsInterpreted = 0
    /// Template bodies, one after the other (ranges in `templates`).
    private var templateOps: [BinXmlOp] = []
    /// The current record's stream and nested XML values.
    private var scratchOps: [BinXmlOp] = []
    /// The current record's substitution values.
    private var scratchValues: [ValueRef] = []
    static let maximumDepth = 16
    /// Tokens compiled plus steps expanded, per record: a template that uses a
    /// nested value many times, nested again, would otherwise grow without bound.
    static let recordBudget = 1 << 18
    var budget = BinXmlChunk.recordBudget

    @inline(__always)
    private mutating func spend(_ offset: Int) throws(BinXmlError) {
        budget &-= 1
        if budget < 0 {
            throw BinXmlError(offset: offset, "record expands to more than \(BinXmlChunk.recordBudget) XML steps")
        }
    }

    init(_ chunk: ChunkBytes, full: Bool, cache: TemplateCache? = nil) {
        self.chunk = chunk
        collector = RecordCollector(chunk: chunk, full: full)
        self.cache = cache.flatMap { $0.full == full ? $0 : nil } ?? TemplateCache(full: full)
        self.cache.trim()
        scratchOps.reserveCapacity(16)
        scratchValues.reserveCapacity(64)
    }

    /// The index of the name at chunk offset `offset`: next-string link (4),
    /// hash (2), UTF-16 unit count (2), the units and a NUL.
    mutating func name(at offset: Int) throws(BinXmlError) -> Int32 {
        if let cached = nameIndex[offset] { return cached }
        let units = Int(try chunk.u16(offset + 6, "name length"))
        let text = try chunk.utf16(offset + 8, units: units)
        let index = Int32(collector.strings.names.count)
        collector.strings.names.append(ChunkName(string: text, code: NameCode(text)))
        nameIndex[offset] = index
        return index
    }

    private mutating func addText(_ text: String) -> Int32 {
        collector.strings.texts.append(text)
        return Int32(collector.strings.texts.count - 1)
    }

    /// Reads a name reference at `p` (advancing past a name defined in place).
    @inline(__always)
    private mutating func nameRef(_ p: inout Int) throws(BinXmlError) -> Int32 {
        let offset = Int(try chunk.u32(p, "name offset"))
        p += 4
        recordingNames?.append(TemplateCache.NameField(position: p - 4, inPlace: offset == p))
        if offset == p {
            let units = Int(try chunk.u16(p + 6, "name length"))
            try chunk.check(p, 10 + 2 * units, "name")
            p += 10 + 2 * units
        }
        return try name(at: offset)
    }

    /// The compiled body of the template defined at chunk offset `offset`
    /// (a range of `templateOps`): next-template link (4), GUID (16), data size
    /// (4), then binary XML whose element starts carry a dependency identifier.
    mutating func compiledTemplate(at offset: Int, depth: Int) throws(BinXmlError) -> Range<Int32> {
        if let cached = templates[offset] { return try cached.get() }
        let result: Result<Range<Int32>, BinXmlError>
        let mark = templateOps.count
        recordingNames = []
        do {
            let size = Int(try chunk.u32(offset + 20, "template data size"))
            try chunk.check(offset + 24, size, "template body")
            let end = try compile(from: offset + 24, to: offset + 24 + size, template: true, depth: depth)
            result = .success(Int32(mark)..<Int32(templateOps.count))
            templateReads[offset] = (max(end, offset + 24 + size), recordingNames ?? [])
        } catch {
            templateOps.removeSubrange(mark...)
            result = .failure(error)
        }
        recordingNames = nil
        templates[offset] = result
        return try result.get()
    }

    @inline(__always)
    private mutating func emit(_ op: BinXmlOp, template: Bool) {
        if template { templateOps.append(op) } else { scratchOps.append(op) }
    }

    /// Compiles the binary XML in `start..<end`, appending to the template ops
    /// (`template`: a template body, with dependency identifiers and
    /// placeholders) or to the record's scratch ops (a record stream, with
    /// template instances instead). Returns where it stopped: every byte it
    /// read (but names referred to by offset) is before that.
    @discardableResult
    mutating func compile(from start: Int, to end: Int, template: Bool, depth: Int) throws(BinXmlError) -> Int {
        guard depth <= BinXmlChunk.maximumDepth else {
            throw BinXmlError(offset: start, "binary XML nested more than \(BinXmlChunk.maximumDepth) deep")
        }
        var p = start
        while p < end {
            try spend(p)
            let token = try chunk.u8(p, "token")
            p += 1
            switch token {
            case 0x00:
                return p
            case 0x01, 0x41:
                if template { p += 2 }
                p += 4  // data size
                let name = try nameRef(&p)
                if token == 0x41 { p += 4 }  // attribute list size
                emit(BinXmlOp(kind: .open, a: Int(name)), template: template)
            case 0x02: emit(BinXmlOp(kind: .closeStart, a: 0), template: template)
            case 0x03: emit(BinXmlOp(kind: .closeEmpty, a: 0), template: template)
            case 0x04: emit(BinXmlOp(kind: .end, a: 0), template: template)
            case 0x05, 0x45:
                let type = try chunk.u8(p, "value type")
                guard type == 0x01 else { throw BinXmlError(offset: p, "value text of type 0x\(String(type, radix: 16)) at chunk offset \(p)") }
                let units = Int(try chunk.u16(p + 1, "value length"))
                let text = try chunk.utf16(p + 3, units: units)
                emit(BinXmlOp(kind: .text, a: Int(addText(text))), template: template)
                p += 3 + 2 * units
            case 0x06, 0x46:
                emit(BinXmlOp(kind: .attribute, a: Int(try nameRef(&p))), template: template)
            case 0x07, 0x47:
                let units = Int(try chunk.u16(p, "CDATA length"))
                let text = try chunk.utf16(p + 2, units: units)
                emit(BinXmlOp(kind: .text, a: Int(addText(text))), template: template)
                p += 2 + 2 * units
            case 0x08, 0x48:
                let unit = try chunk.u16(p, "character reference")
                p += 2
                emit(BinXmlOp(kind: .text, a: Int(addText(String(decoding: [unit], as: UTF16.self)))), template: template)
            case 0x09, 0x49:
                let name = try nameRef(&p)
                emit(BinXmlOp(kind: .text, a: Int(addText(BinXmlChunk.entity(collector.strings.names[Int(name)].string)))), template: template)
            case 0x0A:
                _ = try nameRef(&p)
            case 0x0B:
                let units = Int(try chunk.u16(p, "processing instruction length"))
                try chunk.check(p + 2, 2 * units, "processing instruction")
                p += 2 + 2 * units
            case 0x0C:
                guard !template else { throw BinXmlError(offset: p - 1, "template instance inside a template at chunk offset \(p - 1)") }
                scratchOps.append(try instance(&p, end: end))
            case 0x0D, 0x0E:
                guard template else { throw BinXmlError(offset: p - 1, "substitution outside a template at chunk offset \(p - 1)") }
                let index = try chunk.u16(p, "substitution index")
                let type = try chunk.u8(p + 2, "substitution type")
                guard BinXmlChunk.isKnownType(type) else {
                    throw BinXmlError(offset: p + 2, "unknown value type 0x\(String(type, radix: 16)) at chunk offset \(p + 2)")
                }
                p += 3
                templateOps.append(BinXmlOp(kind: .substitution, a: Int(index)))
            case 0x0F:
                try chunk.check(p, 3, "fragment header")
                p += 3
            default:
                throw BinXmlError(offset: p - 1, "invalid binary XML token 0x\(String(token, radix: 16)) at chunk offset \(p - 1)")
            }
        }
        return p
    }

    /// A template instance at `p` (after its token): reserved byte, template
    /// id, definition offset (the definition itself follows when it is new in
    /// this chunk), then the substitution descriptors and values, which go to
    /// the record's value arena.
    private mutating func instance(_ p: inout Int, end: Int) throws(BinXmlError) -> BinXmlOp {
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
        let first = scratchValues.count
        var v = p + 4 * count
        for k in 0..<count {
            let size = Int(chunk.u16u(p + 4 * k))
            let type = chunk.bytes[p + 4 * k + 2]
            guard BinXmlChunk.isKnownType(type) else {
                throw BinXmlError(offset: p + 4 * k + 2, "unknown value type 0x\(String(type, radix: 16)) at chunk offset \(p + 4 * k + 2)")
            }
            try chunk.check(v, size, "substitution value")
            guard v + size <= end else { throw BinXmlError(offset: v, "substitution value at chunk offset \(v) runs past the record") }
            if !BinXmlValues.plainlyValid(type: type, size: size) {
                try BinXmlValues.validate(chunk, type: type, offset: v, size: size)
            }
            scratchValues.append(ValueRef(type: type, offset: Int32(v), size: Int32(size)))
            v += size
        }
        p = v
        return BinXmlOp(kind: .instance, a: definition, b: Int32(first), c: Int32(count))
    }

    /// Decodes the record stream in `start..<end` into ``collector``.
    mutating func record(from start: Int, to end: Int) throws(BinXmlError) {
        budget = BinXmlChunk.recordBudget
        scratchOps.removeAll(keepingCapacity: true)
        scratchValues.removeAll(keepingCapacity: true)
        try compile(from: start, to: end, template: false, depth: 0)
        if usePlans, scratchOps.count == 1, scratchOps[0].kind == .instance {
            let id = collector.record.recordID, written = collector.record.written, offset = collector.record.fileOffset
            if planned(scratchOps[0], runDepth: 0, context: 0) {
                recordsPlanned += 1
                return
            }
            // Start the record again, through the interpreter (which also
            // reports the error where the plan path gave up on one).
            collector.begin(recordID: id, written: written, fileOffset: offset, capacity: end - start + 28)
            budget = BinXmlChunk.recordBudget
            scratchOps.removeAll(keepingCapacity: true)
            scratchValues.removeAll(keepingCapacity: true)
            try compile(from: start, to: end, template: false, depth: 0)
        }
        recordsInterpreted += 1
        try run(template: false, scratchOps.startIndex..<scratchOps.endIndex, values: 0..<0, depth: 0)
    }

    /// Decodes the template instance `op` (met by a run at `runDepth`, where
    /// the elements of context `context` are open) through its template's
    /// plan, spending the budget as the interpreter would. False when a plan
    /// cannot do it (no plan, nested XML where the plan does not take it,
    /// an error, a budget running low): the caller starts the record again in
    /// the interpreter, so what the plan path leaves behind is discarded.
    private mutating func planned(_ op: BinXmlOp, runDepth: Int, context: Int) -> Bool {
        // Each compile spends at most a chunk's bytes; with this much left none
        // can fail for budget here, so the templates cached are the ones the
        // interpreter would cache.
        let reserve = 1 << 17
        guard runDepth <= 4 else { return false }
        budget &-= 1  // the instance op
        guard budget >= reserve else { return false }
        let key = op.a &* 4096 &+ context
        let slot = Int(truncatingIfNeeded: (UInt64(truncatingIfNeeded: key) &* 0x9E37_79B9_7F4A_7C15) >> 56)
        let plan: TemplatePlan
        if recentPlans[slot].key == key, let recent = recentPlans[slot].plan {
            // Planned before in this chunk: its body is compiled and cached (a
            // lookup would spend nothing), its plan is this one.
            plan = recent
        } else {
            guard let made = self.plan(op.a, context: context, depth: runDepth + 1) else { return false }
            recentPlans[slot] = RecentPlan(key: key, plan: made)
            plan = made
        }
        budget &-= plan.opCount
        guard budget >= reserve else { return false }
        let first = Int(op.b), count = Int(op.c)
        for k in 0..<count where scratchValues[first + k].type == 0x21 {
            if k < plan.nestedAllowed.count, !plan.nestedAllowed[k] { return false }
        }
        for step in plan.steps {
            if case .nested(let slot, let local) = step {
                guard slot < count, scratchValues[first + slot].type == 0x21 else { continue }
                let value = scratchValues[first + slot]
                let start = Int(value.offset)
                let opsMark = scratchOps.count, valuesMark = scratchValues.count
                do {
                    try compile(from: start, to: start + Int(value.size), template: false, depth: runDepth + 2)
                } catch {
                    return false
                }
                switch scratchOps.count - opsMark {
                case 0: break
                case 1 where scratchOps[opsMark].kind == .instance:
                    guard planned(scratchOps[opsMark], runDepth: runDepth + 2, context: plan.contextIDs[local]) else { return false }
                default: return false
                }
                scratchOps.removeSubrange(opsMark...)
                scratchValues.removeSubrange(valuesMark...)
            } else {
                scratchValues.withUnsafeBufferPointer { v in
                    collector.apply(step, of: plan, values: UnsafeBufferPointer(rebasing: v[first..<(first + count)]))
                }
            }
        }
        return true
    }

    /// The plan of the template at `offset` where the elements of `context`
    /// are open: this chunk's, else the one an earlier chunk made of the same
    /// template (``TemplateCache``), else made now. Nil when the template
    /// does not compile (nothing cached: the interpreter meets the same error)
    /// or has no plan.
    private mutating func plan(_ offset: Int, context: Int, depth: Int) -> TemplatePlan? {
        let key = offset &* 4096 &+ context
        if let cached = plans[key] { return cached }
        if let shared = cache.plan(chunk, template: offset, context: context) {
            plans[key] = shared
            return shared
        }
        let body: Range<Int32>
        do { body = try compiledTemplate(at: offset, depth: depth) } catch { return nil }
        var plan = TemplatePlanBuilder.plan(templateOps[Int(body.lowerBound)..<Int(body.upperBound)],
                                            context: cache.contexts[context], strings: collector.strings, full: collector.full)
        if let p = plan {
            for c in p.contexts { p.contextIDs.append(cache.contextID(c)) }
            plan = p.contextIDs.contains(-1) ? nil : p
        }
        plans[key] = plan
        if let plan, let reads = templateReads[offset] {
            cache.insert(plan, chunk, template: offset, context: context, readEnd: reads.end, names: reads.names)
        }
        return plan
    }

    /// Expands the ops `range` of the template ops (`template`) or the scratch
    /// ops, with `values` (a range of the value arena) for a template body.
    private mutating func run(template: Bool, _ range: Range<Int>, values: Range<Int>, depth: Int) throws(BinXmlError) {
        guard depth <= BinXmlChunk.maximumDepth else {
            throw BinXmlError(offset: 0, "templates nested more than \(BinXmlChunk.maximumDepth) deep")
        }
        var i = range.lowerBound
        while i < range.upperBound {
            try spend(0)
            // Read by index each step: running may compile more (a nested value,
            // a template first used here), which appends to these arrays.
            let op = template ? templateOps[i] : scratchOps[i]
            i += 1
            switch op.kind {
            case .open: collector.open(Int32(op.a))
            case .attribute: collector.attribute(Int32(op.a))
            case .closeStart: collector.closeStart()
            case .closeEmpty: collector.closeEmpty()
            case .end: collector.end()
            case .text: collector.text(Int32(op.a))
            case .substitution:
                let index = Int(op.a)
                guard index < values.count else { continue }
                let value = scratchValues[values.lowerBound + index]
                switch value.type {
                case 0x00: continue
                case 0x21:
                    let start = Int(value.offset)
                    let opsMark = scratchOps.count, valuesMark = scratchValues.count
                    try compile(from: start, to: start + Int(value.size), template: false, depth: depth + 1)
                    try run(template: false, opsMark..<scratchOps.count, values: 0..<0, depth: depth + 1)
                    scratchOps.removeSubrange(opsMark...)
                    scratchValues.removeSubrange(valuesMark...)
                default: collector.value(value)
                }
            case .instance:
                let body = try compiledTemplate(at: Int(op.a), depth: depth + 1)
                try run(template: true, Int(body.lowerBound)..<Int(body.upperBound),
                        values: Int(op.b)..<Int(op.b + op.c), depth: depth + 1)
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
