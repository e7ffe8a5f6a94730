/// The source side of the accounting for one record kind: what the kernel
/// made, what swiftmon read, what the kernel could not write. The kernel's
/// own count of records made is the ground truth; once the source has stopped
/// producing and is drained, `generated == read + lost` exactly (while it
/// runs, records in the ring buffer are generated but not yet read).
public struct RecordAccount: Codable, Sendable, Equatable {
    /// Records the kernel made (written to its ring buffer or lost).
    public var generated: UInt64
    /// Records swiftmon read from the ring buffer (malformed ones included).
    public var read: UInt64
    /// Records the kernel could not write (ring buffer full).
    public var lost: UInt64

    public init(generated: UInt64, read: UInt64, lost: UInt64) {
        self.generated = generated
        self.read = read
        self.lost = lost
    }

    /// Made but neither read nor lost: in the ring buffer (0 once drained).
    public var inFlight: Int64 { Int64(bitPattern: generated &- read &- lost) }

    /// "exec: 1200 generated = 1150 read + 50 lost in the kernel"
    public static func describe(_ kind: String, _ a: RecordAccount) -> String {
        "\(kind): \(a.generated) generated = \(a.read) read + \(a.lost) lost in the kernel"
            + (a.inFlight != 0 ? " + \(a.inFlight) in the ring buffer" : "")
    }
}
