/// A template compiled once per chunk into what a record of it yields: a flat
/// list of steps, each mapping one substitution slot (or a literal text of the
/// template) to a field of the ``EvtxRecord`` — a System field, a System
/// attribute, or an EventData item with its name already known. A record that
/// is one instance of a planned template is decoded by walking its
/// substitution array through the plan: no per-record tree walk, no element
/// stack, no name comparisons.
///
/// The plan is made by running the template's compiled ops through the same
/// rules ``RecordCollector`` applies (``TemplatePlanBuilder``), with the
/// values left symbolic. What it cannot express exactly (an element nested in
/// a kept field, a field or name made of several pieces, a name from a value,
/// UserData) makes no plan. Nested binary XML (a value of type 0x21, how
/// Windows writes most EventData) is decoded through the plan of its own
/// template, made for the elements open where it sits. Records with no plan,
/// or with nested XML where the plan does not take it, start again in the
/// interpreter (``BinXmlChunk``), which counts them. `EvtxPlanTests` checks
/// both paths give identical records on every record of the corpus.
///
/// A plan refers to nothing of its chunk (its literal texts are its own, its
/// contexts are names, not a chunk's indices), so one made in a chunk serves
/// the same template in later chunks (``TemplateCache``).
///
/// A class: a record's walk then retains one object, not each of its arrays.
final class TemplatePlan {
    enum Field: UInt8 {
        // Strings.
        case providerName, providerGuid, eventSourceName, keywords, activityID, relatedActivityID
        case channel, computer, userID
        // Integers (decimal or `0x…` text parsed as the collector does).
        case eventID, qualifiers, version, level, task, opcode, eventRecordID, processID, threadID
        // FILETIME / SYSTEMTIME, or ISO 8601 text.
        case timeCreated
    }

    /// Where a step's text comes from.
    enum Source: Equatable {
        /// Nothing (an empty element or attribute).
        case empty
        /// A literal text of the template (index in the plan's `texts`).
        case text(Int32)
        /// The instance's value `n` (empty when absent or NULL).
        case slot(Int)
    }

    enum Step {
        case field(Field, Source)
        /// One EventData item: its name (index in `names`), and its value's pieces
        /// (`pieces[range]`) appended one after the other.
        case item(name: Int32, Range<Int>)
        /// A substitution where the collector keeps nothing (no attribute,
        /// no kept text): a value there matters only when it is nested
        /// binary XML, decoded at runtime through the plan of its template
        /// in `contexts[context]` (the open elements at this point).
        case nested(slot: Int, context: Int)
    }

    /// What a plan is made of, as ``TemplatePlanBuilder`` collects it.
    struct Parts {
        var steps: [Step] = []
        var pieces: [Source] = []
        var names: [String] = []
        var texts: [String] = []
        var opCount = 0
        var contexts: [[ChunkName]] = []
        var nestedAllowed: [Bool] = []
    }

    // Constants once made: reading a class's `let` needs no exclusivity
    // check (a `var` of a class is checked at runtime on every access).
    let steps: [Step]
    let pieces: [Source]
    /// Names of the EventData items.
    let names: [String]
    /// The literal texts the steps use.
    let texts: [String]
    /// Ops of the template: what interpreting it spends of the record's budget.
    let opCount: Int
    /// The open elements at each `nested` step.
    let contexts: [[ChunkName]]
    /// `contexts` as the ``TemplateCache`` numbers them (set by ``BinXmlChunk``).
    var contextIDs: [Int] = []
    /// Per slot: whether nested binary XML there can be planned (it is used
    /// only at `nested` steps). A nested value elsewhere sends the record to
    /// the interpreter.
    let nestedAllowed: [Bool]

    init(_ parts: Parts) {
        steps = parts.steps
        pieces = parts.pieces
        names = parts.names
        texts = parts.texts
        opCount = parts.opCount
        contexts = parts.contexts
        nestedAllowed = parts.nestedAllowed
    }
}

/// Runs a template's ops through the rules of ``RecordCollector`` with symbolic
/// values, producing a ``TemplatePlan``, or nil where the plan could differ
/// from the interpreter. Mirrors the collector function for function; keep the
/// two in step (the plan tests catch a divergence on the corpus).
struct TemplatePlanBuilder {
    let strings: ChunkStrings
    let full: Bool
    private var plan = TemplatePlan.Parts()
    private struct Frame {
        let name: ChunkName
        var code: NameCode { name.code }
    }
    private var stack: [Frame] = []
    private var inAttribute = false
    private var attribute: NameCode?
    private var attributePieces: [TemplatePlan.Source] = []
    private enum Capture { case none, system, data }
    private var capture = Capture.none
    private var content: [TemplatePlan.Source] = []
    private var dataName: TemplatePlan.Source?
    /// Set when the template needs something the plan cannot express.
    private var unplannable = false
    /// Elements open where the template runs.
    private var contextDepth = 0

    init(strings: ChunkStrings, full: Bool) {
        self.strings = strings
        self.full = full
    }

    /// The plan of the template `ops`, run where the elements `context` are open.
    static func plan(_ ops: ArraySlice<BinXmlOp>, context: [ChunkName], strings: ChunkStrings, full: Bool) -> TemplatePlan? {
        var b = TemplatePlanBuilder(strings: strings, full: full)
        b.plan.opCount = ops.count
        for name in context { b.stack.append(Frame(name: name)) }
        b.contextDepth = context.count
        for op in ops {
            switch op.kind {
            case .open: b.open(Int32(op.a))
            case .attribute: b.attribute(Int32(op.a))
            case .closeStart: b.finishAttribute()
            case .closeEmpty: b.finishAttribute(); b.end()
            case .end: b.end()
            case .text:
                // The plan's own copy of the text: no index into this chunk's.
                b.plan.texts.append(strings.texts[op.a])
                b.piece(.text(Int32(b.plan.texts.count - 1)))
            case .substitution: b.substitution(op.a)
            case .instance: b.unplannable = true
            }
            // An end closing an element of the context: not planned.
            if b.unplannable || b.stack.count < b.contextDepth { return nil }
        }
        // The context must be as it was (no element or attribute left open).
        guard b.stack.count == b.contextDepth, !b.inAttribute, b.capture == .none else { return nil }
        return TemplatePlan(b.plan)
    }

    private mutating func substitution(_ slot: Int) {
        while plan.nestedAllowed.count <= slot { plan.nestedAllowed.append(true) }
        if !inAttribute && capture == .none {
            plan.contexts.append(stack.map(\.name))
            plan.steps.append(.nested(slot: slot, context: plan.contexts.count - 1))
        } else {
            plan.nestedAllowed[slot] = false
            piece(.slot(slot))
        }
    }

    private mutating func open(_ index: Int32) {
        finishAttribute()
        // A child inside a kept field: the collector then drops or truncates
        // the field's text; not worth mirroring.
        if capture != .none { unplannable = true; return }
        stack.append(Frame(name: strings.names[Int(index)]))
        dataName = nil
        capture = wantsText()
        content.removeAll(keepingCapacity: true)
    }

    private func wantsText() -> Capture {
        let depth = stack.count
        guard depth >= 3 else { return .none }
        switch stack[1].code {
        case .system:
            guard depth == 3 else { return .none }
            switch stack[2].code {
            case .eventID: return .system
            case .version, .level, .task, .opcode, .keywords, .eventRecordID, .channel, .computer: return full ? .system : .none
            default: return .none
            }
        case .eventData: return full && depth == 3 ? .data : .none
        case .userData: return full && depth >= 4 ? .data : .none
        default: return .none
        }
    }

    private mutating func attribute(_ index: Int32) {
        finishAttribute()
        inAttribute = true
        let code = strings.names[Int(index)].code
        attribute = wantsAttribute(code) ? code : nil
        attributePieces.removeAll(keepingCapacity: true)
    }

    private func wantsAttribute(_ name: NameCode) -> Bool {
        guard stack.count == 3 else { return false }
        switch (stack[1].code, stack[2].code, name) {
        case (.eventData, _, .name): return full
        case (.system, .provider, .name): return true
        case (.system, .provider, .guid), (.system, .provider, .eventSourceName),
             (.system, .eventID, .qualifiers), (.system, .timeCreated, .systemTime),
             (.system, .correlation, .activityID), (.system, .correlation, .relatedActivityID),
             (.system, .execution, .processID), (.system, .execution, .threadID),
             (.system, .security, .userID):
            return full
        default: return false
        }
    }

    private mutating func piece(_ s: TemplatePlan.Source) {
        if inAttribute {
            if attribute != nil { attributePieces.append(s) }
        } else if capture != .none {
            content.append(s)
        }
    }

    /// One piece or none: the collector's single-piece text; several pieces
    /// (whose count depends on which values are NULL) are not planned.
    private mutating func single(_ pieces: [TemplatePlan.Source]) -> TemplatePlan.Source {
        if pieces.count > 1 { unplannable = true }
        return pieces.first ?? .empty
    }

    private mutating func finishAttribute() {
        guard inAttribute else { return }
        inAttribute = false
        guard let name = attribute else { return }
        attribute = nil
        // The element changed under the attribute (an end without a close): not planned.
        guard stack.count == 3 else { unplannable = true; return }
        let source = single(attributePieces)
        if stack[1].code == .eventData {
            // A name made of a value is rendered per record: not planned.
            if case .slot = source { unplannable = true }
            dataName = source
            return
        }
        let field: TemplatePlan.Field
        switch (stack[2].code, name) {
        case (.provider, .name): field = .providerName
        case (.provider, .guid): field = .providerGuid
        case (.provider, .eventSourceName): field = .eventSourceName
        case (.eventID, .qualifiers): field = .qualifiers
        case (.timeCreated, .systemTime): field = .timeCreated
        case (.correlation, .activityID): field = .activityID
        case (.correlation, .relatedActivityID): field = .relatedActivityID
        case (.execution, .processID): field = .processID
        case (.execution, .threadID): field = .threadID
        case (.security, .userID): field = .userID
        default: return
        }
        plan.steps.append(.field(field, source))
    }

    private mutating func end() {
        finishAttribute()
        guard !stack.isEmpty else { return }
        if capture != .none { finishElement() }
        stack.removeLast()
        capture = .none
    }

    private mutating func finishElement() {
        switch stack[1].code {
        case .system:
            let field: TemplatePlan.Field
            switch stack[2].code {
            case .eventID: field = .eventID
            case .version: field = .version
            case .level: field = .level
            case .task: field = .task
            case .opcode: field = .opcode
            case .keywords: field = .keywords
            case .eventRecordID: field = .eventRecordID
            case .channel: field = .channel
            case .computer: field = .computer
            default: return
            }
            plan.steps.append(.field(field, single(content)))
        case .eventData:
            let name: String
            if stack[2].code == .data {
                switch dataName ?? .empty {
                case .empty: name = ""
                case .text(let i): name = plan.texts[Int(i)]
                case .slot: unplannable = true; return
                }
            } else {
                name = stack[2].name.string
            }
            let first = plan.pieces.count
            plan.pieces += content
            plan.names.append(name)
            plan.steps.append(.item(name: Int32(plan.names.count - 1), first..<plan.pieces.count))
        default:
            // UserData: its section name and leaves follow rules not mirrored here.
            unplannable = true
        }
    }
}

extension RecordCollector {
    /// Applies one step of `plan` to ``record`` with the instance values
    /// `values` — what running that part of the template through the collector
    /// yields (checked on the corpus by `EvtxPlanTests`). `nested` steps are
    /// the caller's (``BinXmlChunk``).
    mutating func apply(_ step: TemplatePlan.Step, of plan: TemplatePlan, values: UnsafeBufferPointer<ValueRef>) {
        @inline(__always) func value(_ slot: Int) -> ValueRef? {
            guard slot < values.count else { return nil }
            let v = values[slot]
            return v.type == 0 ? nil : v
        }
        do {
            switch step {
            case .item(let name, let range):
                for k in range {
                    switch plan.pieces[k] {
                    case .empty: break
                    case .text(let i): record.values.bytes.append(contentsOf: plan.texts[Int(i)].utf8)
                    case .slot(let s): if let v = value(s) { BinXmlValues.append(chunk, v, to: &record.values.bytes) }
                    }
                }
                let n = Int(name)
                if n == record.values.ends.count, n == 0 || namesShared == ObjectIdentifier(plan) {
                    // The plan's items in its order from the first: the
                    // record's names are the plan's array (no String
                    // retained per item; ``EvtxEventMaker`` knows the list by it).
                    if n == 0 {
                        record.values.names = plan.names
                        namesShared = ObjectIdentifier(plan)
                    }
                    committed = record.values.bytes.count
                    record.values.ends.append(committed)
                } else {
                    commit(plan.names[n])
                }
                record.section = .eventData
            case .nested:
                break  // handled by the caller (BinXmlChunk), which walks the steps
            case .field(let field, let source):
                var ref: ValueRef?
                var text: String?
                switch source {
                case .empty: break
                case .text(let i): text = plan.texts[Int(i)]
                case .slot(let s): ref = value(s)
                }
                setField(field, ref, text)
            }
        }
    }

    /// The text of one piece (a value, a literal, or nothing), as
    /// ``Accumulator/string(_:_:)`` makes it. A value whose bytes equal the
    /// field's value in the previous record reuses that String without
    /// rendering it (provider, GUID, channel, computer, user repeat record
    /// after record); others are rendered into the reused ``scratch`` buffer.
    private mutating func pieceString(_ ref: ValueRef?, _ text: String?, _ field: TemplatePlan.Field) -> String {
        if let v = ref {
            return lastStrings.string(for: field.rawValue, chunk, v, scratch: &scratch)
        }
        return text ?? ""
    }

    private mutating func pieceInteger(_ ref: ValueRef?, _ text: String?, _ field: TemplatePlan.Field) -> UInt64? {
        if let v = ref, let n = BinXmlValues.integer(chunk, v) { return n }
        let t = pieceString(ref, text, field)
        if t.hasPrefix("0x") || t.hasPrefix("0X") { return UInt64(t.dropFirst(2), radix: 16) }
        return UInt64(t)
    }

    private mutating func setField(_ field: TemplatePlan.Field, _ ref: ValueRef?, _ text: String?) {
        @inline(__always) func u32() -> UInt32? { pieceInteger(ref, text, field).map { UInt32(truncatingIfNeeded: $0) } }
        switch field {
        case .providerName: record.providerName = pieceString(ref, text, field)
        case .providerGuid: record.providerGuid = pieceString(ref, text, field)
        case .eventSourceName: record.eventSourceName = pieceString(ref, text, field)
        case .keywords: record.keywords = pieceString(ref, text, field)
        case .activityID: record.activityID = pieceString(ref, text, field)
        case .relatedActivityID: record.relatedActivityID = pieceString(ref, text, field)
        case .channel: record.channel = pieceString(ref, text, field)
        case .computer: record.computer = pieceString(ref, text, field)
        case .userID: record.userID = pieceString(ref, text, field)
        case .eventID: record.eventID = u32()
        case .qualifiers: record.qualifiers = u32()
        case .version: record.version = u32()
        case .level: record.level = u32()
        case .task: record.task = u32()
        case .opcode: record.opcode = u32()
        case .processID: record.processID = u32()
        case .threadID: record.threadID = u32()
        case .eventRecordID: record.eventRecordID = pieceInteger(ref, text, field)
        case .timeCreated:
            if let v = ref, let t = BinXmlValues.time(chunk, v) { record.timeCreated = t }
            else { record.timeCreated = EvtxTimeText.parse(pieceString(ref, text, field)) }
        }
    }
}

/// The last String made for each System field, with the value it was
/// rendered from (type and bytes): the next record's value, when its bytes are
/// the same, is the same text — one comparison instead of rendering it and
/// allocating (and releasing the previous record's copy).
struct RecentStrings {
    private struct Entry {
        var type: UInt8 = 0
        var raw: [UInt8] = []
        var string: String?
    }
    private var entries = [Entry](repeating: Entry(), count: 32)

    mutating func string(for key: UInt8, _ c: ChunkBytes, _ v: ValueRef, scratch: inout [UInt8]) -> String {
        let k = Int(key)
        let raw = UnsafeRawBufferPointer(rebasing: c.bytes[Int(v.offset)..<(Int(v.offset) + Int(v.size))])
        if let s = entries[k].string, entries[k].type == v.type,
           entries[k].raw.withUnsafeBytes({ RecentStrings.equal($0, raw) }) {
            return s
        }
        scratch.removeAll(keepingCapacity: true)
        BinXmlValues.append(c, v, to: &scratch)
        let s = String(decoding: scratch, as: UTF8.self)
        entries[k].type = v.type
        entries[k].raw.removeAll(keepingCapacity: true)
        entries[k].raw.append(contentsOf: raw)
        entries[k].string = s
        return s
    }

    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var i = 0
        while i + 8 <= a.count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        while i < a.count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }
}
