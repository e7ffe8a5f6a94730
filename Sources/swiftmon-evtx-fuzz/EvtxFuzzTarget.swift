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
// Built by scripts/fuzz-evtx.sh with -sanitize=fuzzer; see swiftmon-etl-fuzz
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
/// file libFuzzer wrote, say) and prints each one's summary.
@main
struct EvtxFuzzReplay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
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
}
#endif
