/// Template plans shared by the chunks one thread decodes. Every chunk has
/// its own template table, but a log's chunks mostly define the same
/// templates again: a plan made in one chunk serves the same template in
/// the next, instead of compiling it and planning it anew.
///
/// "The same" is decided on bytes, never on a hash: the body in full (and
/// any bytes after it its compile read), except its name references, which
/// are chunk offsets. Each of those must name the name defined in place
/// where the original did (that name's bytes are in the body), or else a
/// name elsewhere whose bytes (length and UTF-16 units) equal the original's
/// — another chunk can hold any name at any offset, and a body found at
/// another offset has its in-place names at other offsets. With those equal
/// the body compiles to the same ops with the same names and texts, and the
/// plan, which refers to nothing of its chunk (``TemplatePlan``), is the
/// same. The context it is planned for is part of the key, numbered here by
/// its names. Candidates are found by the template's GUID and size.
///
/// One per decoding thread (no locks); bounded (``trim()`` at each chunk's
/// start empties it when it holds too much), so memory stays flat.
final class TemplateCache {
    /// Whether the plans keep every field (``RecordCollector/full``).
    let full: Bool
    /// The open elements where templates were met, numbered; 0 is the
    /// record's root (nothing open).
    private(set) var contexts: [[ChunkName]] = [[]]
    private var contextIDs: [[ChunkName]: Int] = [[]: 0]

    /// A name reference met compiling a template: where its 4-byte chunk
    /// offset is, and whether it names the name defined right there.
    struct NameField {
        let position: Int
        let inPlace: Bool
    }

    private struct Key: Hashable {
        let guid: UInt64
        let guid2: UInt64
        let size: Int
        let context: Int
    }
    private struct Entry {
        /// The body, and any bytes after it its compile read.
        let body: [UInt8]
        /// The name references by position in `body`, with the bytes (unit
        /// count and UTF-16 units) of the name each refers to; nil for a
        /// name defined in place.
        let names: [(position: Int, bytes: [UInt8]?)]
        let plan: TemplatePlan
    }
    private var entries: [Key: Entry] = [:]
    private var bytes = 0
    /// Plans handed to a chunk other than the one that made them (for tests).
    private(set) var shared = 0

    static let maximumEntries = 4096
    static let maximumBytes = 16 << 20
    /// Contexts are numbered below this (``BinXmlChunk`` keys plans by
    /// template offset × 4096 + context).
    static let maximumContexts = 4096

    init(full: Bool) {
        self.full = full
    }

    /// The number of context `c`, added when new; -1 when no room is left.
    func contextID(_ c: [ChunkName]) -> Int {
        if let id = contextIDs[c] { return id }
        guard contexts.count < TemplateCache.maximumContexts else { return -1 }
        contextIDs[c] = contexts.count
        contexts.append(c)
        return contexts.count - 1
    }

    /// Called before a chunk is decoded: empties the cache when it is full
    /// (no plan of it is in use then).
    func trim() {
        guard entries.count > TemplateCache.maximumEntries || bytes > TemplateCache.maximumBytes
            || contexts.count > TemplateCache.maximumContexts / 2 else { return }
        entries.removeAll()
        bytes = 0
        contexts = [[]]
        contextIDs = [[]: 0]
    }

    /// The key of the template defined at `offset` of `chunk`: next-template
    /// link (4), GUID (16), body size (4), body.
    private static func key(_ chunk: ChunkBytes, _ offset: Int, context: Int) -> Key? {
        guard offset >= 0, offset <= chunk.count - 24 else { return nil }
        return Key(guid: chunk.u64u(offset + 4), guid2: chunk.u64u(offset + 12), size: Int(chunk.u32u(offset + 20)), context: context)
    }

    /// The bytes of the name record at chunk offset `n` that its text is
    /// read from (unit count at +6, units at +8), nil when past the chunk.
    private static func nameBytes(_ chunk: ChunkBytes, _ n: Int) -> UnsafeRawBufferPointer? {
        guard n >= 0, n <= chunk.count - 8 else { return nil }
        let length = 2 + 2 * Int(chunk.u16u(n + 6))
        guard length <= chunk.count - n - 6 else { return nil }
        return UnsafeRawBufferPointer(rebasing: chunk.bytes[(n + 6)..<(n + 6 + length)])
    }

    /// The plan an earlier chunk made for the same template in context `context`.
    func plan(_ chunk: ChunkBytes, template offset: Int, context: Int) -> TemplatePlan? {
        guard !entries.isEmpty, let key = TemplateCache.key(chunk, offset, context: context),
              let entry = entries[key] else { return nil }
        let start = offset + 24
        guard entry.body.count <= chunk.count - start else { return nil }
        let here = UnsafeRawBufferPointer(rebasing: chunk.bytes[start..<(start + entry.body.count)])
        let same = entry.body.withUnsafeBytes { body -> Bool in
            var k = 0
            for name in entry.names {
                guard RecentStrings.equal(UnsafeRawBufferPointer(rebasing: body[k..<name.position]),
                                          UnsafeRawBufferPointer(rebasing: here[k..<name.position])) else { return false }
                let target = Int(UInt32(littleEndian: here.loadUnaligned(fromByteOffset: name.position, as: UInt32.self)))
                let inPlace = target == start + name.position + 4
                if let original = name.bytes {
                    guard !inPlace, let bytes = TemplateCache.nameBytes(chunk, target),
                          original.withUnsafeBytes({ RecentStrings.equal($0, bytes) }) else { return false }
                } else if !inPlace {
                    return false
                }
                k = name.position + 4
            }
            return RecentStrings.equal(UnsafeRawBufferPointer(rebasing: body[k...]), UnsafeRawBufferPointer(rebasing: here[k...]))
        }
        guard same else { return nil }
        shared += 1
        return entry.plan
    }

    /// Keeps `plan`, made in `chunk` for the template at `offset` (whose
    /// compile read up to `readEnd`, with the name references `names`) in
    /// context `context`.
    func insert(_ plan: TemplatePlan, _ chunk: ChunkBytes, template offset: Int, context: Int, readEnd: Int, names: [NameField]) {
        let start = offset + 24
        guard let key = TemplateCache.key(chunk, offset, context: context), readEnd >= start, readEnd <= chunk.count else { return }
        var refs: [(position: Int, bytes: [UInt8]?)] = []
        var last = 0
        for n in names {
            let position = n.position - start
            // In order and inside what the compile read (as it always is).
            guard position >= last, position <= readEnd - start - 4 else { return }
            last = position + 4
            if n.inPlace {
                refs.append((position, nil))
            } else {
                let target = Int(chunk.u32u(n.position))
                guard let bytes = TemplateCache.nameBytes(chunk, target) else { return }
                refs.append((position, Array(bytes)))
            }
        }
        let entry = Entry(body: Array(UnsafeRawBufferPointer(rebasing: chunk.bytes[start..<readEnd])), names: refs, plan: plan)
        if let old = entries.updateValue(entry, forKey: key) { bytes -= old.body.count }
        bytes += entry.body.count
    }
}
