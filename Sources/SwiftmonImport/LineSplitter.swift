/// Cuts a byte stream into lines (LF; a CR before it is dropped by the
/// parser), numbering them. A line longer than ``maxLineBytes`` is not kept in
/// memory: it is reported as too long once its end arrives, and skipped.
struct LineSplitter {
    let maxLineBytes: Int
    private var pending: [UInt8] = []
    private var pendingTooLong = 0
    private(set) var lineNumber = 0

    init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

    enum Line {
        case text(UnsafeRawBufferPointer, number: Int)
        case tooLong(bytes: Int, number: Int)
    }

    /// Calls `body` for each complete line in `pending + chunk`.
    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (Line) -> Void) {
        var start = 0
        while start < chunk.count {
            guard let newline = memchrLF(chunk, from: start) else {
                keep(UnsafeRawBufferPointer(rebasing: chunk[start...]))
                return
            }
            lineNumber += 1
            if pendingTooLong > 0 {
                body(.tooLong(bytes: pendingTooLong + newline - start, number: lineNumber))
                pendingTooLong = 0
            } else if pending.isEmpty {
                if newline - start > maxLineBytes {
                    body(.tooLong(bytes: newline - start, number: lineNumber))
                } else {
                    body(.text(UnsafeRawBufferPointer(rebasing: chunk[start..<newline]), number: lineNumber))
                }
            } else {
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<newline]))
                if pending.count > maxLineBytes {
                    body(.tooLong(bytes: pending.count, number: lineNumber))
                } else {
                    pending.withUnsafeBytes { body(.text($0, number: lineNumber)) }
                }
                pending.removeAll(keepingCapacity: pending.count <= 1 << 16)
            }
            start = newline + 1
        }
    }

    /// The last line, when the stream ended without a line feed.
    mutating func finish(_ body: (Line) -> Void) {
        guard !pending.isEmpty || pendingTooLong > 0 else { return }
        lineNumber += 1
        if pendingTooLong > 0 {
            body(.tooLong(bytes: pendingTooLong, number: lineNumber))
        } else {
            pending.withUnsafeBytes { body(.text($0, number: lineNumber)) }
        }
        pending.removeAll()
        pendingTooLong = 0
    }

    /// Whether a partial line waits for its end.
    var hasPartialLine: Bool { !pending.isEmpty || pendingTooLong > 0 }

    private mutating func keep(_ bytes: UnsafeRawBufferPointer) {
        if pendingTooLong > 0 {
            pendingTooLong += bytes.count
        } else if pending.count + bytes.count > maxLineBytes {
            pendingTooLong = pending.count + bytes.count
            pending.removeAll()
        } else {
            pending.append(contentsOf: bytes)
        }
    }

    private func memchrLF(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard from < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let hit = memchr(base + from, 0x0A, bytes.count - from) else { return nil }
        return UnsafeRawPointer(hit) - base
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
