import SwiftmonCore
import XCTest
@testable import SwiftmonETL

/// Every record header kind, clock type and buffer form, on synthetic files.
final class EtlHeaderKindTests: XCTestCase {
    typealias B = EtlFileBuilder
    let manifest = Guid("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")!
    let mof = Guid("12345678-9abc-def0-1234-56789abcdef0")!

    private func records(_ bytes: [UInt8]) throws -> (EtlReader, [EtlRecord], [[UInt8]], [[UInt8]]) {
        let reader = try EtlReader(file: EtlFileBytes(copying: bytes))
        var out: [EtlRecord] = []
        var payloads: [[UInt8]] = []
        var items: [[UInt8]] = []
        reader.forEachRecord { r in
            out.append(r)
            payloads.append(Array(r.payload))
            items.append(r.extendedData.map { UInt8(truncatingIfNeeded: $0.type) })
        }
        return (reader, out, payloads, items)
    }

    func testEveryHeaderKindAndTheMergeAcrossProcessors() throws {
        var b = B()
        let sid: [UInt8] = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]
        let stack: [UInt8] = B.le(UInt64(77)) + B.le(UInt64(0xFFFF_F800_0000_1000)) + B.le(UInt64(0x7FF6_0000_2000))
        b.buffers.append((processor: 0, records: [
            B.system(type: 0x04, group: 5, opcode: 1, version: 3, pid: 100, tid: 200, ticks: 1_000_100,
                     payload: B.le(UInt32(100)) + B.le(UInt32(200))),
            B.perfInfo(type: 0x11, group: 15, opcode: 46, ticks: 1_000_300, payload: [1, 2, 3, 4]),
            B.classic(provider: mof, classType: 7, version: 3, pid: 300, tid: 301, ticks: 1_000_500, payload: [9, 9]),
            B.classic(type: 0x15, provider: mof, classType: 8, version: 1, ticks: 1_000_700,
                      instance: (41, 40, manifest)),
            B.event(provider: manifest, id: 1001, version: 2, opcode: 11, level: 3, task: 77, keywords: 0x8000_0000_0000_0010,
                    pid: 500, tid: 501, ticks: 1_000_900,
                    items: [(1, B.guidBytes(mof)), (2, sid), (6, stack)], payload: [0xAB, 0xCD]),
        ], compressed: false))
        b.buffers.append((processor: 1, records: [
            B.system(type: 0x01, group: 3, opcode: 2, version: 1, pid: 600, tid: 601, ticks: 1_000_200),
            B.system(type: 0x03, group: 5, opcode: 2, version: 3, pid: 700, tid: 701, ticks: 1_000_400),
            B.event(type: 0x12, provider: manifest, id: 5, ticks: 1_000_600, payload: [1]),
            B.wpp(id: 42, provider: mof, sequence: 9, ticks: 1_000_800, pid: 800, tid: 801, args: [0xDE, 0xAD]),
        ], compressed: true))
        let (reader, recs, payloads, items) = try records(b.build())
        XCTAssertEqual(reader.errors, [])
        XCTAssertEqual(reader.buffers.filter(\.isCompressed).count, 1)
        XCTAssertEqual(reader.header.loggerName, "Synthetic Logger")
        XCTAssertEqual(reader.header.eventsLost, 7)
        XCTAssertEqual(reader.header.buffersLost, 1)
        XCTAssertEqual(recs.count, 10)
        // Merged across the two processors into timestamp order.
        XCTAssertEqual(recs.map(\.ticks), [1_000_000] + (1...9).map { 1_000_000 + Int64($0) * 100 })
        XCTAssertEqual(recs.map(\.kind), [.system, .compactSystem, .system, .perfInfo, .compactSystem, .classic,
                                          .event, .instance, .message, .event])

        let compact = recs[1]
        XCTAssertEqual(compact.provider, KernelGroup.thread)
        XCTAssertEqual(compact.processId, 100)
        XCTAssertEqual(compact.threadId, 200)
        XCTAssertEqual(compact.pointerSize, 8)
        XCTAssertEqual(compact.version, 3)

        let system32 = recs[2]
        XCTAssertEqual(system32.pointerSize, 4)
        XCTAssertEqual(system32.provider, KernelGroup.process)
        XCTAssertEqual(system32.kernelTime, 5)
        XCTAssertEqual(system32.processor, 1)
        XCTAssertNotNil(system32.bufferOffset, "records of compressed buffers give their decompressed offset")

        let perf = recs[3]
        XCTAssertEqual(perf.provider, KernelGroup.perfInfo)
        XCTAssertNil(perf.processId)
        XCTAssertEqual(payloads[3], [1, 2, 3, 4])

        let classic = recs[5]
        XCTAssertEqual(classic.provider, mof)
        XCTAssertEqual(classic.opcode, 7)
        XCTAssertEqual(classic.version, 3)
        XCTAssertEqual(classic.processId, 300)
        XCTAssertEqual(payloads[5], [9, 9])

        let event = recs[9]
        XCTAssertEqual(event.provider, manifest)
        XCTAssertEqual(event.id, 1001)
        XCTAssertEqual(event.version, 2)
        XCTAssertEqual(event.opcode, 11)
        XCTAssertEqual(event.level, 3)
        XCTAssertEqual(event.task, 77)
        XCTAssertEqual(event.keywords, 0x8000_0000_0000_0010)
        XCTAssertEqual(event.activityId, Guid("11111111-2222-3333-4444-555555555555"))
        XCTAssertEqual(items[9], [1, 2, 6])
        XCTAssertEqual(payloads[9], [0xAB, 0xCD])

        let instance = recs[7]
        XCTAssertEqual(instance.instanceId, 41)
        XCTAssertEqual(instance.parentInstanceId, 40)
        XCTAssertEqual(instance.parentGuid, manifest)

        let wpp = recs[8]
        XCTAssertEqual(wpp.id, 42)
        XCTAssertEqual(wpp.provider, mof)
        XCTAssertEqual(wpp.sequence, 9)
        XCTAssertEqual(wpp.processId, 800)
        XCTAssertEqual(wpp.threadId, 801)
        XCTAssertEqual(payloads[8], [0xDE, 0xAD])

        XCTAssertEqual(recs[6].pointerSize, 4)
        XCTAssertEqual(recs[6].id, 5)

        // QPC at 10 MHz: 100 ticks after the anchor are 10 µs after StartTime.
        XCTAssertEqual(recs[0].time.iso8601Nanoseconds, "2024-01-01T00:00:00.000000000Z")
        XCTAssertEqual(recs[1].time.iso8601Nanoseconds, "2024-01-01T00:00:00.000010000Z")

        // Layer 2: the extended items reach the generic event; the summary counts all.
        let sink = CollectingSink()
        let summary = try EtlDecoder.decode(bytes: EtlFileBytes(copying: b.build()), into: sink)
        XCTAssertEqual(summary.records, 10)
        XCTAssertEqual(sink.events.count, 10)
        let generic = try XCTUnwrap(sink.events.first { $0.kind == .traceEvent && $0["EventId"] == "1001" })
        XCTAssertEqual(generic["ProviderGuid"], "{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}")
        XCTAssertEqual(generic["Keywords"], "0x8000000000000010")
        XCTAssertEqual(generic["Payload"], "abcd")
        XCTAssertEqual(generic["ProcessId"], "500")
        XCTAssertTrue(summary.json.contains("\"provider\":\"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\",\"id\":1001,\"opcode\":11,\"version\":2,\"count\":1"))
        XCTAssertTrue(summary.json.contains("\"eventsLost\":7"))
        XCTAssertTrue(summary.json.contains("\"buffersLost\":1"))
    }

    func testSystemTimeAndCpuCycleClocks() throws {
        var b = B()
        b.clockType = 2
        b.anchorTicks = b.startTime
        b.buffers.append((processor: 0, records: [B.system(group: 5, opcode: 1, ticks: b.startTime + 12_345_678)], compressed: false))
        var (_, recs, _, _) = try records(b.build())
        XCTAssertEqual(recs.last?.time.iso8601Nanoseconds, "2024-01-01T00:00:01.234567800Z")

        b = B()
        b.clockType = 3
        b.cpuSpeedMHz = 2000
        b.anchorTicks = 5_000_000_000
        b.buffers.append((processor: 0, records: [B.system(group: 5, opcode: 1, ticks: 5_000_000_000 + 3_000_000_001)], compressed: false))
        (_, recs, _, _) = try records(b.build())
        XCTAssertEqual(recs.last?.time.iso8601Nanoseconds, "2024-01-01T00:00:01.500000000Z")

        b = B()
        b.perfFrequency = 3_579_545
        b.buffers.append((processor: 0, records: [B.system(group: 5, opcode: 1, ticks: b.anchorTicks - 3_579_545)], compressed: false))
        (_, recs, _, _) = try records(b.build())
        XCTAssertEqual(recs.last?.time.iso8601Nanoseconds, "2023-12-31T23:59:59.000000000Z", "before the anchor")
    }

    func testDamagedExtendedItemIsAnErrorWithOffset() throws {
        var b = B()
        var bad = B.event(provider: manifest, id: 1, ticks: 1_000_100, items: [(1, B.guidBytes(mof))])
        bad[0x50] = 0xFF  // item size beyond the record
        bad[0x51] = 0x7F
        b.buffers.append((processor: 0, records: [bad], compressed: false))
        let (reader, recs, _, _) = try records(b.build())
        XCTAssertEqual(recs.count, 1)
        XCTAssertEqual(reader.errors.first?.offset, 4096 + 0x48 + 0x50)
    }

    // MARK: TraceLogging

    /// Metadata: UINT16 size, no tags, name, then fields.
    private func schema(_ name: String, _ fields: [UInt8]) -> [UInt8] {
        let body = [UInt8(0)] + Array(name.utf8) + [0] + fields
        return B.le(UInt16(2 + body.count)) + body
    }
    private func field(_ name: String, _ inType: UInt8, _ rest: [UInt8] = []) -> [UInt8] { Array(name.utf8) + [0, inType] + rest }

    private func traceLogging(_ meta: [UInt8], _ payload: [UInt8]) throws -> Event {
        var b = B()
        let traits = B.le(UInt16(2 + 9)) + Array("Contoso".utf8) + [0, 0]
        b.buffers.append((processor: 0, records: [
            B.event(provider: manifest, id: 0, ticks: 1_000_100, items: [(11, meta), (12, traits)], payload: payload),
        ], compressed: false))
        let sink = CollectingSink()
        _ = try EtlDecoder.decode(bytes: EtlFileBytes(copying: b.build()), into: sink)
        return try XCTUnwrap(sink.events.last)
    }

    func testTraceLoggingTypesArraysAndStructs() throws {
        let meta = schema("Connected", [
            field("Name", 1),
            field("Count", 8),
            field("Ok", 13),
            field("Flags", 0x80 | 8, [4]),                 // UINT32 shown as hex
            field("Port", 0x80 | 6, [7]),                  // UINT16 port, network order
            field("Ids", 0x40 | 6),                        // variable-count UINT16 array
            field("Pair", 0x20 | 3, B.le(UInt16(2))),      // constant-count INT8 array
            field("Peer", 0x80 | 24, [2]),                 // struct of the next 2 fields
            field("Host", 2),
            field("Id", 15),
            field("Note", 22),                             // counted UTF-16
        ].flatMap { $0 })
        var payload = B.utf16z("svc") + B.le(UInt32(3)) + B.le(UInt32(1)) + B.le(UInt32(255)) + [0x01, 0xBB]
        payload += B.le(UInt16(2)) + B.le(UInt16(7)) + B.le(UInt16(8)) + [0xFF, 0x02]
        payload += Array("example.org".utf8) + [0] + B.guidBytes(mof) + B.le(UInt16(4)) + B.utf16z("hi").dropLast(2)
        let e = try traceLogging(meta, payload)
        XCTAssertEqual(e["ProviderName"], "Contoso")
        XCTAssertEqual(e["Name"], "Connected")
        XCTAssertEqual(e["Data"], #"{"Name":"svc","Count":3,"Ok":true,"Flags":"0xff","Port":443,"Ids":[7,8],"Pair":[-1,2],"#
                       + #""Peer":{"Host":"example.org","Id":"{12345678-9ABC-DEF0-1234-56789ABCDEF0}"},"Note":"hi"}"#)
    }

    func testTraceLoggingTimesAreZeroPadded() throws {
        // SYSTEMTIME 2024-03-05 (a Tuesday) 07:08:09.048 and FILETIME 2024-01-01T00:00:00.0000001Z.
        let meta = schema("Times", field("At", 18) + field("Ft", 17))
        let systemTime = [2024, 3, 2, 5, 7, 8, 9, 48].flatMap { B.le(UInt16($0)) }
        let e = try traceLogging(meta, systemTime + B.le(Int64(133_485_408_000_000_001)))
        XCTAssertEqual(e["Data"], #"{"At":"2024-03-05T07:08:09.048Z","Ft":"2024-01-01T00:00:00.000000100Z"}"#)
        let late = try traceLogging(schema("T", field("At", 18)), [999, 12, 0, 31, 23, 59, 59, 999].flatMap { B.le(UInt16($0)) })
        XCTAssertEqual(late["Data"], #"{"At":"0999-12-31T23:59:59.999Z"}"#)
    }

    func testTraceLoggingShortDataAndHostileNesting() throws {
        let meta = schema("E", field("A", 8) + field("B", 8))
        let short = try traceLogging(meta, B.le(UInt32(1)))
        XCTAssertEqual(short["Data"], #"{"A":1,"B":null,"_truncated":true}"#)
        // Zero-size elements nested in big arrays: bounded work, not 4096^n.
        var nested: [UInt8] = []
        for depth in 0..<8 {
            let rest: [UInt8] = [1] + B.le(UInt16(4000))
            nested += field("S\(depth)", 0x80 | 0x20 | 24, rest)
        }
        nested += field("Z", 0)
        let start = EventTime.now()
        let hostile = try traceLogging(schema("H", nested), [])
        XCTAssertLessThan(EventTime.now().nanoseconds - start.nanoseconds, 5_000_000_000)
        XCTAssertTrue(hostile["Data"]!.hasSuffix(#""_truncated":true}"#))
    }
}
