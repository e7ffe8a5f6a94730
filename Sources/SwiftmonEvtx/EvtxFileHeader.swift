/// The 4 KiB file header (`ElfFile`): chunk numbers, the next record id,
/// versions, the declared chunk count, flags and CRC32 of its first 120 bytes.
public struct EvtxFileHeader: Sendable, Equatable {
    public static let size = 4096
    public static let magic: [UInt8] = Array("ElfFile".utf8) + [0]

    public let firstChunkNumber: UInt64
    public let lastChunkNumber: UInt64
    public let nextRecordID: UInt64
    public let headerSize: UInt32
    public let minorVersion: UInt16
    public let majorVersion: UInt16
    public let headerBlockSize: UInt16
    /// The chunk count the header declares; a dirty file holds more.
    public let chunkCount: UInt16
    public let flags: UInt32
    public let checksum: UInt32
    public let computedChecksum: UInt32

    /// Not closed cleanly: the header may lag behind the chunks.
    public var isDirty: Bool { flags & 1 != 0 }
    public var isFull: Bool { flags & 2 != 0 }
    public var checksumMatches: Bool { checksum == computedChecksum }

    /// Whether `bytes` begin like an .evtx file.
    public static func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 8 && zip(bytes.prefix(8), magic).allSatisfy { $0 == $1 }
    }

    init(_ b: UnsafeRawBufferPointer) throws(EvtxError) {
        guard EvtxFileHeader.matches(b) else {
            throw EvtxError(offset: 0, "not an .evtx file (no ElfFile signature)")
        }
        guard b.count >= 128 else {
            throw EvtxError(offset: b.count, "file header cut short: \(b.count) of 128 bytes")
        }
        func u16(_ o: Int) -> UInt16 { UInt16(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        firstChunkNumber = u64(8)
        lastChunkNumber = u64(16)
        nextRecordID = u64(24)
        headerSize = u32(32)
        minorVersion = u16(36)
        majorVersion = u16(38)
        headerBlockSize = u16(40)
        chunkCount = u16(42)
        flags = u32(120)
        checksum = u32(124)
        computedChecksum = CRC32.checksum(UnsafeRawBufferPointer(rebasing: b[0..<120]))
    }
}
