/// Why an .etl file could not be decoded, and where.
///
/// `offset` is a byte offset in the file. A record inside an XPRESS-compressed
/// buffer has no file offset of its own; there `offset` is the file offset of
/// its buffer and `bufferOffset` the record's offset in the decompressed bytes.
public struct EtlError: Error, CustomStringConvertible, Sendable, Equatable {
    public let offset: Int
    public let bufferOffset: Int?
    public let message: String

    public init(offset: Int, bufferOffset: Int? = nil, _ message: String) {
        self.offset = offset
        self.bufferOffset = bufferOffset
        self.message = message
    }

    public var description: String {
        if let inner = bufferOffset {
            return "byte offset \(offset) (compressed buffer), decompressed offset \(inner): \(message)"
        }
        return "byte offset \(offset): \(message)"
    }
}

/// A decode that stopped or skipped data because of an ``EtlError``. Everything
/// that could be decoded was delivered to the sink first; ``summary`` tells what.
public struct EtlDecodeFailure: Error, CustomStringConvertible, Sendable {
    /// The first problem met, by file position.
    public let error: EtlError
    /// How many problems there were in all (one per damaged buffer at most).
    public let errorCount: Int
    public let summary: EtlSummary

    public var description: String {
        errorCount > 1 ? "\(error) (and \(errorCount - 1) more damaged buffer(s))" : error.description
    }
}
