#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of an .etl file, mapped read-only so that a large trace costs
/// address space, not memory. Also wraps bytes already in memory (tests, fuzzing).
public final class EtlFileBytes: @unchecked Sendable {  // `bytes` is read-only memory, set in init, released only in deinit
    public let bytes: UnsafeRawBufferPointer
    private let unmap: (() -> Void)?

    /// Maps `path`. Throws an ``EtlError`` at offset 0 naming the failing call.
    public init(path: String) throws(EtlError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EtlError(offset: 0, "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw EtlError(offset: 0, "fstat \(path): \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw EtlError(offset: 0, "\(path) is not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            unmap = nil
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw EtlError(offset: 0, "mmap \(path): \(String(cString: strerror(errno)))")
        }
        _ = madvise(base, size, MADV_SEQUENTIAL)
        bytes = UnsafeRawBufferPointer(start: base, count: size)
        unmap = { munmap(base, size) }
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
