import SwiftmonCore
import SwiftmonSystem

/// `--format xml`: one Sysmon-for-Linux `<Event>` document per line, to
/// standard output or a file (through ``FileOutput``).
public final class XMLSink: EventSink, DeliveryReporting, ReopenableOutput, @unchecked Sendable {  // the output is used under `lock`
    public let renderer: SysmonXMLRenderer
    public let recordIDs: EventRecordCounter
    private let output: FileOutput
    private let lock = Lock()

    public init(output: FileOutput, renderer: SysmonXMLRenderer = SysmonXMLRenderer(), recordIDs: EventRecordCounter) {
        self.output = output
        self.renderer = renderer
        self.recordIDs = recordIDs
    }

    /// Writes to `fileDescriptor`, which the caller keeps open and closes.
    public convenience init(fileDescriptor: Int32, renderer: SysmonXMLRenderer = SysmonXMLRenderer(), recordIDs: EventRecordCounter) {
        self.init(output: FileOutput(descriptor: fileDescriptor), renderer: renderer, recordIDs: recordIDs)
    }

    /// Appends to the file at `path`, created mode 0600 when missing.
    public convenience init(path: String, renderer: SysmonXMLRenderer = SysmonXMLRenderer(), recordIDs: EventRecordCounter) throws {
        self.init(output: try FileOutput(path: path), renderer: renderer, recordIDs: recordIDs)
    }

    public func emit(_ event: Event) throws {
        let id: UInt64
        do {
            id = try recordIDs.nextID()
        } catch {
            // Without an id the event cannot be written in sequence.
            lock.withLock { output.countLost(cause: "recordID") }
            throw error
        }
        let threadID = Syscalls.currentThreadID()
        try lock.withLock {
            // Rendered straight into the output's buffer: no String per event.
            try output.appendEvent { buffer in
                renderer.render(event, recordID: id, threadID: threadID, into: &buffer)
                buffer.append(0x0A)
            }
        }
    }

    public func flush() throws {
        try lock.withLock { try output.flush() }
    }

    public func close() { lock.withLock { output.close() } }

    public var deliveryName: String { "xml \(output.path)" }
    public var deliveryCounts: SinkDeliveryCounts { output.deliveryCounts }
    public var destinationClosed: Bool { output.destinationClosed }
    public func reopen() { output.requestReopen() }
}
