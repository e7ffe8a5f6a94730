import SwiftmonCore
import SwiftmonEvtx

#if canImport(Glibc)
import Glibc
#endif

/// Feeds one input to the whole .evtx reader (file header, chunks, binary
/// XML, templates, event mapping), once on one thread and once on two. Any
/// trap, sanitizer report or hang is a bug: damaged input must end in an
/// EvtxError or in counted problems, nothing else.
func decodeFuzzInput(_ bytes: UnsafeRawBufferPointer) -> EvtxSummary? {
    final class CountingSink: EventSink {
        var count = 0
        func emit(_ event: Event) throws { count += 1 }
    }
    var last: EvtxSummary?
    for threads in [1, 2] {
        do {
            let sink = CountingSink()
            let summary = try EvtxDecoder.decode(bytes: EvtxFileBytes(copying: bytes), into: sink, threads: threads)
            if sink.count != summary.records { fatalError("\(summary.records) records but \(sink.count) events") }
            last = summary
        } catch is EvtxError {
            return nil
        } catch {
            fatalError("unexpected error kind: \(error)")
        }
    }
    return last
}

#if SWIFTMON_FUZZ
// Built by scripts/fuzz.sh evtx with -sanitize=fuzzer; see swiftmon-etl-fuzz
// for why the driver is entered this way.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("swiftmon_evtx_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
        _ = decodeFuzzInput(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }
}
#else
/// Without the fuzzer: replays the files named on the command line (a crash
/// file libFuzzer wrote, say) and prints each one's summary. `--bench FILE`
/// times the reader alone (what `swiftmon bench evtx` does, without building
/// the whole CLI).
@main
struct EvtxFuzzReplay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--bench", arguments.count == 2 {
            bench(arguments[1])
            return
        }
        if arguments.first == "--profile", arguments.count == 3 {
            // `--profile THREADS FILE`: records -> events, 200 times, for `perf record`.
            do {
                let bytes = try EvtxFileBytes(path: arguments[2])
                let threads = Int(arguments[1]) ?? 1
                for _ in 0..<200 { _ = try EvtxDecoder.decode(bytes: bytes, into: DiscardingSink(), threads: threads) }
            } catch {
                print("\(error)")
            }
            return
        }
        if arguments.first == "--events" {
            for path in arguments.dropFirst() { printEvents(path) }
            return
        }
        for path in arguments {
            do {
                let file = try EvtxFileBytes(path: path)
                if let summary = decodeFuzzInput(file.bytes) {
                    print("\(path): \(summary.json)")
                } else {
                    print("\(path): not readable as .evtx")
                }
            } catch {
                print("\(path): \(error)")
            }
        }
    }

    final class DiscardingSink: EventSink {
        var count = 0
        func emit(_ event: Event) throws { count += 1 }
    }

    /// `--events FILE…`: every record's System fields, data items and event,
    /// one line each, then the summary: for comparing two builds of the reader.
    static func printEvents(_ path: String) {
        do {
            let reader = try EvtxReader(file: EvtxFileBytes(path: path), threads: 1)
            let totals = try reader.forEachEvent { r, e in
                var line = "\(r.recordID) \(r.written) \(r.fileOffset) \(r.providerName ?? "nil") \(r.providerGuid ?? "nil")"
                line += " \(r.eventSourceName ?? "nil") \(r.eventID.map { String($0) } ?? "nil") \(r.qualifiers.map { String($0) } ?? "nil")"
                line += " \(String(describing: r.version)) \(String(describing: r.level)) \(String(describing: r.task)) \(String(describing: r.opcode))"
                line += " \(r.keywords ?? "nil") \(String(describing: r.timeCreated)) \(String(describing: r.eventRecordID)) \(r.activityID ?? "nil")"
                line += " \(r.relatedActivityID ?? "nil") \(String(describing: r.processID)) \(String(describing: r.threadID)) \(r.channel ?? "nil")"
                line += " \(r.computer ?? "nil") \(r.userID ?? "nil") \(r.section) \(r.data.map { "\($0.name)=\($0.value)" })"
                print(line)
                print("  \(e.kind.id) \(e.time.nanoseconds) \(e.values)")
            }
            print("\(path): \(totals.records) records, \(totals.recordsFailed) failed, \(totals.problems.map { "\($0)" })")
        } catch {
            print("\(path): \(error)")
        }
    }

    static func bench(_ path: String) {
        do {
            let bytes = try EvtxFileBytes(path: path)
            for threads in [1, 2] {
                for mode in 0..<3 {
                    let events = mode == 2
                    var rates: [Double] = []
                    var cpuRates: [Double] = []
                    var records = 0
                    for _ in 0..<21 {
                        var t0 = timespec(), t1 = timespec(), c0 = timespec(), c1 = timespec()
                        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0)
                        clock_gettime(CLOCK_MONOTONIC, &t0)
                        if mode == 1 {
                            records = try EvtxReader(file: bytes, threads: threads).forEachRecord(full: true) { _ in }.records
                        } else {
                            records = try EvtxDecoder.decode(bytes: bytes, into: events ? DiscardingSink() : nil, threads: threads).records
                        }
                        clock_gettime(CLOCK_MONOTONIC, &t1)
                        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1)
                        let elapsed = Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) / 1e9
                        cpuRates.append(Double(records) / (Double(c1.tv_sec - c0.tv_sec) + Double(c1.tv_nsec - c0.tv_nsec) / 1e9))
                        rates.append(Double(records) / elapsed)
                    }
                    rates.sort()
                    print("\(["records (summary)", "records (all fields)", "records -> events"][mode]), \(threads) thread(s): \(records) records, median \(Int(rates[rates.count / 2])) records/s (min \(Int(rates.first!)), max \(Int(rates.last!)), 21 runs); per CPU second \(Int(cpuRates.sorted()[10])) (min \(Int(cpuRates.min()!)), max \(Int(cpuRates.max()!)))")
                }
            }
        } catch {
            print("\(path): \(error)")
        }
    }
}
#endif
