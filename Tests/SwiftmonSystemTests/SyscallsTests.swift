import Glibc
import XCTest
@testable import SwiftmonSystem

/// The errno funnel: names from the C library, -1 turned into a thrown error
/// naming the call and its subject, short writes resumed, a failed write
/// saying how much the kernel took first.
final class SyscallsTests: XCTestCase {
    func testErrnoNamesComeFromTheCLibrary() {
        XCTAssertEqual(ErrnoName.text(forResult: -38), "ENOSYS")
        XCTAssertEqual(ErrnoName.text(forResult: -1), "EPERM")
        XCTAssertEqual(ErrnoName.text(forResult: 0), "0")
        XCTAssertEqual(ErrnoName.text(forResult: -4000), "errno 4000")
        XCTAssertEqual(ErrnoName.text(forResult: Int32.min), "errno 2147483648")
        XCTAssertEqual(ErrnoName.of(ENOSPC), "ENOSPC")
        XCTAssertEqual(ErrnoName.of(EPIPE), "EPIPE")
    }

    func testAFailedCallThrowsItsNameSubjectAndErrno() {
        XCTAssertThrowsError(try Syscalls.open("/nonexistent/swiftmon-test", O_RDONLY)) { error in
            let e = error as? SystemCallError
            XCTAssertEqual(e?.call, "open")
            XCTAssertEqual(e?.subject, "/nonexistent/swiftmon-test")
            XCTAssertEqual(e?.errnoName, "ENOENT")
            XCTAssertTrue("\(error)".contains("No such file or directory (ENOENT)"), "\(error)")
        }
    }

    func testAWriteToAFullDeviceSaysNothingWasTaken() throws {
        let fd = try Syscalls.open("/dev/full", O_WRONLY)
        defer { Syscalls.close(fd) }
        XCTAssertThrowsError(try [UInt8](repeating: 65, count: 10).withUnsafeBytes { try Syscalls.writeAll(fd, $0, "/dev/full") }) { error in
            let e = error as? PartialWriteError
            XCTAssertEqual(e?.bytesWritten, 0)
            XCTAssertEqual(e?.errno, ENOSPC)
        }
    }

    func testSmallFilesAndMissingOnes() throws {
        XCTAssertNil(try Syscalls.readSmallFile("/nonexistent/swiftmon-test"))
        let text = try XCTUnwrap(Syscalls.readSmallFile("/proc/self/comm"))
        XCTAssertFalse(text.isEmpty)
    }

    func testThreadIDIsTheKernelsAndEventfdWakes() throws {
        XCTAssertEqual(Syscalls.currentThreadID(), getpid(), "the main thread's tid is the pid")
        let fd = try Syscalls.eventDescriptor()
        defer { Syscalls.close(fd) }
        let epoll = try Syscalls.epollCreate()
        defer { Syscalls.close(epoll) }
        try Syscalls.epollAdd(epoll, fd, token: 7)
        XCTAssertEqual(try Syscalls.epollWait(epoll, timeoutMilliseconds: 0), [])
        Syscalls.signalEvent(fd)
        XCTAssertEqual(try Syscalls.epollWait(epoll, timeoutMilliseconds: 1000), [7])
    }
}
