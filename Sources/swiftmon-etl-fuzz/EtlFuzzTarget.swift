import SwiftmonCore
import SwiftmonETL

#if canImport(Glibc)
import Glibc
#endif

/// Feeds one input to the whole .etl decoder (container and provider
/// decoders). Any trap, sanitizer report or hang is a bug: damaged input must
/// end in an EtlError, nothing else.
func decodeFuzzInput(_ bytes: UnsafeRawBufferPointer) {
    final class CountingSink: EventSink {
        var count = 0
        func emit(_ event: Event) throws { count += 1 }
    }
    do {
        _ = try EtlDecoder.decode(bytes: EtlFileBytes(copying: bytes), into: CountingSink())
    } catch is EtlError {
    } catch is EtlDecodeFailure {
    } catch {
        fatalError("unexpected error kind: \(error)")
    }
}

#if SWIFTMON_FUZZ
// Built by scripts/fuzz.sh etl with -sanitize=fuzzer. SwiftPM links an
// executable's entry point as `<module>_main`, so libFuzzer's own main is not
// used: this entry point hands control to libFuzzer's driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("swiftmon_etl_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
        decodeFuzzInput(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }
}
#else
/// Without the fuzzer: replays the files named on the command line (for
/// example a crash file libFuzzer wrote), so a finding can be debugged.
@main
struct EtlFuzzReplay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            do {
                let file = try EtlFileBytes(path: path)
                decodeFuzzInput(file.bytes)
                print("\(path): ok")
            } catch {
                print("\(path): \(error)")
            }
        }
    }
}
#endif
