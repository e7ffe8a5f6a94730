import SwiftmonCore

/// Decodes an .evtx file into swiftmon events: records from ``EvtxReader``
/// become events through ``EvtxEventMapper`` and go to a sink; every record is
/// counted for the ``EvtxSummary``.
public enum EvtxDecoder {
    /// Decodes `path` into `sink` (nil: count only) and returns the summary.
    ///
    /// Throws ``EvtxError`` when the file cannot be read as .evtx at all.
    /// Damaged parts do not throw: they are in the summary's `problems` (with
    /// byte offsets) and `recordsFailed`. Errors thrown by the sink stop
    /// decoding and are rethrown.
    public static func decode(file path: String, into sink: (any EventSink)?) throws -> EvtxSummary {
        try decode(EvtxReader(path: path), into: sink)
    }

    public static func decode(bytes: EvtxFileBytes, into sink: (any EventSink)?, threads: Int = EvtxReader.defaultThreads) throws -> EvtxSummary {
        try decode(EvtxReader(file: bytes, threads: threads), into: sink)
    }

    public static func decode(_ reader: EvtxReader, into sink: (any EventSink)?) throws -> EvtxSummary {
        var summary = EvtxSummary(header: reader.header, physicalChunks: reader.physicalChunks)
        if let sink {
            let recordSink = sink as? EvtxRecordSink
            // Event IDs are below 256: counted in an array, not hashed per record.
            var byID = [Int](repeating: 0, count: 256)
            var otherIDs: [Int: Int] = [:]
            // Records without their data items: the events hold the values (one materialisation).
            summary.totals = try reader.forEachEvent(keepData: false) { record, event in
                summary.count(record)
                let id = event.kind.id
                if id >= 0 && id < 256 { byID[id] += 1 } else { otherIDs[id, default: 0] += 1 }
                if let recordSink { try recordSink.emit(event, from: record) } else { try sink.emit(event) }
            }
            for (id, n) in byID.enumerated() where n > 0 { otherIDs[id] = n }
            summary.eventsByID = otherIDs
            try sink.flush()
        } else {
            summary.totals = reader.forEachRecord(full: false) { record in summary.count(record) }
        }
        summary.finishCounting()
        return summary
    }
}

/// A sink that is handed each event with the record it came from, for what
/// the event's fields do not hold (the record's `Computer`, for one). The
/// record has its framing and System fields, not its data items (they are in
/// the event: see ``EvtxReader/forEachEvent(keepData:_:)``).
public protocol EvtxRecordSink: EventSink {
    func emit(_ event: Event, from record: EvtxRecord) throws
}
