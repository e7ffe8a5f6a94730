#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftmonSystem

/// The bytes of an .etl file, mapped read-only so that a large trace costs
/// address space, not memory. Also wraps bytes already in memory (tests, fuzzing).
public final class EtlFileBytes: @unchecked Sendable {  // `bytes` is read-only memory, set in init, released only in deinit
    public let bytes: UnsafeRawBufferPointer
    private let unmap: (() -> Void)?

    /// Maps `path`. Throws an ``EtlError`` at offset 0 naming the failing call.
    public init(path: String) throws(EtlError) {
        let fd: Int32
        let st: stat
        do {
            fd = try Syscalls.open(path, O_RDONLY)
        } catch {
            throw EtlError(offset: 0, "open \(path): \(error.reason)")
        }
        defer { Syscalls.close(fd) }
        do {
            st = try Syscalls.fstat(fd, path)
        } catch {
            throw EtlError(offset: 0, "fstat \(path): \(error.reason)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw EtlError(offset: 0, "\(path) is not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            unmap = nil
            return
        }
        let mapping: UnsafeRawBufferPointer
        do {
            mapping = try Syscalls.mapReadOnly(fd, size: size, path)
        } catch {
            throw EtlError(offset: 0, "mmap \(path): \(error.reason)")
        }
        bytes = mapping
        unmap = { Syscalls.unmap(mapping) }
    }

    /// Copies `data` into memory owned by this object.
    public init(copying data: some Collection<UInt8>) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, data.count), alignment: 16)
        _ = storage.initializeMemory(as: UInt8.self, from: data)
        bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage)[0..<data.count])
        unmap = { storage.deallocate() }
    }

    deinit { unmap?() }
}
