/// Why (part of) an .evtx file could not be read, and where: `offset` is a
/// byte offset in the file.
public struct EvtxError: Error, CustomStringConvertible, Sendable, Equatable {
    public let offset: Int
    public let message: String
    /// The file could not be opened or mapped at all (EX_NOINPUT rather than EX_DATAERR).
    public let cannotOpen: Bool

    public init(offset: Int, _ message: String, cannotOpen: Bool = false) {
        self.offset = offset
        self.message = message
        self.cannotOpen = cannotOpen
    }

    public var description: String { "byte offset \(offset): \(message)" }
}

/// One thing in a file that could not be read, or did not check out.
public struct EvtxProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The file header's CRC32 does not match its first 120 bytes.
        case fileHeaderChecksum
        /// A chunk whose header is not `ElfChnk`: none of its records can be read.
        case chunkDamaged
        /// A chunk cut short by the end of the file.
        case chunkTruncated
        /// A chunk header's CRC32 (bytes 0–120 and 128–512) does not match.
        case chunkHeaderChecksum
        /// The CRC32 of a chunk's record area does not match its header.
        case chunkRecordsChecksum
        /// A record that could not be decoded (it is counted in `recordsFailed`).
        case record
        /// Framing that ends the readable records of a chunk (bad record magic or size).
        case recordFraming
    }

    public let kind: Kind
    /// Byte offset in the file.
    public let offset: Int
    public let message: String

    public init(_ kind: Kind, offset: Int, _ message: String) {
        self.kind = kind
        self.offset = offset
        self.message = message
    }

    public var description: String { "byte offset \(offset): \(message)" }
}
