#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftmonSystem

/// The bytes of an .evtx file, mapped read-only: a large log costs address
/// space, not memory, and chunks are read in place. Also wraps bytes already in
/// memory (tests, fuzzing).
public final class EvtxFileBytes: @unchecked Sendable {  // `bytes` is read-only, set in init, released in deinit
    public let bytes: UnsafeRawBufferPointer
    /// Whether `bytes` is a file mapping (whose read pages may be dropped).
    public let isMapped: Bool
    private let release: (() -> Void)?

    /// Maps `path`. Throws an ``EvtxError`` at offset 0 naming the failing call.
    public init(path: String) throws(EvtxError) {
        let fd: Int32
        let st: stat
        do {
            fd = try Syscalls.open(path, O_RDONLY)
        } catch {
            throw EvtxError(offset: 0, "open \(path): \(error.reason)", cannotOpen: true)
        }
        defer { Syscalls.close(fd) }
        do {
            st = try Syscalls.fstat(fd, path)
        } catch {
            throw EvtxError(offset: 0, "fstat \(path): \(error.reason)", cannotOpen: true)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw EvtxError(offset: 0, "\(path) is not a regular file", cannotOpen: true)
        }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            isMapped = false
            release = nil
            return
        }
        let mapping: UnsafeRawBufferPointer
        do {
            mapping = try Syscalls.mapReadOnly(fd, size: size, path)
        } catch {
            throw EvtxError(offset: 0, "mmap \(path): \(error.reason)", cannotOpen: true)
        }
        bytes = mapping
        isMapped = true
        release = { Syscalls.unmap(mapping) }
    }

    /// Copies `data` into memory owned by this object.
    public init(copying data: some Collection<UInt8>) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, data.count), alignment: 16)
        _ = storage.initializeMemory(as: UInt8.self, from: data)
        bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage)[0..<data.count])
        isMapped = false
        release = { storage.deallocate() }
    }

    deinit { release?() }
}
