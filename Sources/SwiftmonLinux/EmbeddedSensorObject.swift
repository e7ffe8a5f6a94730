import Foundation

/// The BPF object built from bpf/*.bpf.c by `make` and embedded in the binary
/// (base64 in a generated source file), so that swiftmon is one file.
enum EmbeddedSensorObject {
    static var bytes: [UInt8]? {
        Data(base64Encoded: embeddedSensorObjectBase64).map { [UInt8]($0) }
    }
}
