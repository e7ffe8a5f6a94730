#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SwiftmonCore

/// `--format xml`: one Sysmon-for-Linux `<Event>` document per line on a file
/// descriptor (standard output or a file it opened).
public final class XMLSink: EventSink, @unchecked Sendable {
    public let renderer: SysmonXMLRenderer
    public let recordIDs: EventRecordCounter
    private let fd: Int32
    private let closesDescriptor: Bool
    private let lock = Lock()
    private var buffer: [UInt8] = []
    private let bufferLimit = 64 * 1024
    /// Sysmon's `Execution ThreadID` is the thread that wrote the event.
    private let threadIDs = CallingThreadID()

    /// Writes to `fileDescriptor`, which the caller keeps open and closes.
    public init(fileDescriptor: Int32, renderer: SysmonXMLRenderer = SysmonXMLRenderer(), recordIDs: EventRecordCounter) {
        self.fd = fileDescriptor
        self.closesDescriptor = false
        self.renderer = renderer
        self.recordIDs = recordIDs
    }

    /// Appends to the file at `path`, created mode 0600 when missing.
    public init(path: String, renderer: SysmonXMLRenderer = SysmonXMLRenderer(), recordIDs: EventRecordCounter) throws {
        self.fd = try SinkSystemCalls.open(path, O_WRONLY | O_CREAT | O_APPEND)
        self.closesDescriptor = true
        self.renderer = renderer
        self.recordIDs = recordIDs
    }

    deinit {
        try? flush()
        if closesDescriptor { SinkSystemCalls.close(fd) }
    }

    public func emit(_ event: Event) throws {
        let id = try recordIDs.nextID()
        let line = renderer.render(event, recordID: id, threadID: threadIDs.current())
        try lock.withLock {
            buffer.append(contentsOf: line.utf8)
            buffer.append(0x0A)
            if buffer.count >= bufferLimit { try writeBuffer() }
        }
    }

    public func flush() throws {
        try lock.withLock { try writeBuffer() }
    }

    private func writeBuffer() throws {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        try buffer.withUnsafeBytes { try SinkSystemCalls.writeAll(fd, $0, "XML output") }
    }
}
