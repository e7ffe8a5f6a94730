import SwiftmonCore

/// Decodes an .etl file into swiftmon events: the container (``EtlReader``)
/// feeds each record to the provider decoders (``EtlEventDecoder``), whose
/// events go to a sink; every record is counted for the ``EtlSummary``.
public enum EtlDecoder {
    /// Decodes `path` into `sink` (nil: count only) and returns the summary.
    ///
    /// Throws ``EtlError`` when the file cannot be read as .etl at all, and
    /// ``EtlDecodeFailure`` — after every decodable record was delivered — when
    /// parts of it are damaged. Errors thrown by the sink stop decoding and are
    /// rethrown as they are.
    public static func decode(file path: String, into sink: (any EventSink)?, order: EtlReader.Order = .time) throws -> EtlSummary {
        try decode(EtlReader(path: path), into: sink, order: order)
    }

    public static func decode(bytes: EtlFileBytes, into sink: (any EventSink)?, order: EtlReader.Order = .time) throws -> EtlSummary {
        try decode(EtlReader(file: bytes), into: sink, order: order)
    }

    public static func decode(_ reader: EtlReader, into sink: (any EventSink)?, order: EtlReader.Order = .time) throws -> EtlSummary {
        var summary = EtlSummary(header: reader.header)
        summary.buffers = reader.buffers.count
        summary.compressedBuffers = reader.buffers.reduce(0) { $0 + ($1.isCompressed ? 1 : 0) }
        if let sink {
            let events = EtlEventDecoder(header: reader.header)
            // A first walk: the kernel writes the volume names and the
            // Windows directory at the end of a trace, and whether both
            // process providers report is known only from the whole file.
            reader.forEachRecordQuietly { record in events.prepare(record) }
            // Events counted by EventID: in a table for the ids swiftmon has
            // (all below 256), a dictionary for any other. The table is
            // reached by pointer: a variable the closure captured would cost
            // an exclusivity check on every event.
            let byLowID = UnsafeMutableBufferPointer<Int>.allocate(capacity: 256)
            byLowID.initialize(repeating: 0)
            defer { byLowID.deallocate() }
            var byID: [Int: Int] = [:]
            let deliver = { (event: Event) throws in
                let id = event.kind.id
                if id >= 0 && id < 256 { byLowID[id] += 1 } else { byID[id, default: 0] += 1 }
                try sink.emit(event)
            }
            try reader.forEachRecord(order: order) { record in
                summary.count(record)
                try events.decode(record, emit: deliver)
            }
            try events.finish(emit: deliver)
            for (id, n) in byLowID.enumerated() where n > 0 { byID[id] = n }
            summary.eventsByID = byID
            summary.mergedRecords = events.mergedRecords
            try sink.flush()
        } else {
            reader.forEachRecord(order: order) { record in summary.count(record) }
        }
        summary.finishCounting()
        summary.errors = reader.errors
        summary.errorCount = reader.errorCount
        if let first = reader.errors.min(by: { $0.offset < $1.offset }) {
            throw EtlDecodeFailure(error: first, errorCount: reader.errorCount, summary: summary)
        }
        return summary
    }
}
