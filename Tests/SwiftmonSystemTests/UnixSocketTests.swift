import Foundation
import Glibc
import XCTest
@testable import SwiftmonSystem

/// The AF_UNIX stream calls of the control socket: listen with a mode,
/// accept4 non-blocking, SO_PEERCRED, connect; and the file calls the
/// installer uses.
final class UnixSocketTests: XCTestCase {
    func path(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "swiftmon-sock-\(UUID().uuidString.prefix(8))"
        mkdir(dir, 0o700)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir + "/" + name
    }

    func testListenAcceptAndThePeersCredentials() throws {
        let socketPath = path("s.sock")
        let listener = try Syscalls.listenUnixStream(socketPath, mode: 0o600)
        defer { Syscalls.close(listener) }
        let st = try XCTUnwrap(Syscalls.linkStatus(socketPath))
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFSOCK)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertNil(try Syscalls.accept(listener), "nothing waiting: nil, not a block")

        let client = try Syscalls.connectUnixStream(socketPath)
        defer { Syscalls.close(client) }
        let server = try XCTUnwrap(Syscalls.accept(listener))
        defer { Syscalls.close(server) }
        let peer = try Syscalls.peerCredentials(server)
        XCTAssertEqual(peer.pid, getpid())
        XCTAssertEqual(peer.uid, getuid())
        XCTAssertEqual(peer.gid, getgid())
        // Accepted non-blocking: a read with nothing sent says "nothing now".
        var buffer = [UInt8](repeating: 0, count: 8)
        XCTAssertNil(try buffer.withUnsafeMutableBytes { try Syscalls.receive(server, into: $0) })
        try Array("hi".utf8).withUnsafeBytes { try Syscalls.writeAll(client, $0) }
        XCTAssertEqual(try buffer.withUnsafeMutableBytes { try Syscalls.receive(server, into: $0) }, 2)
    }

    func testAddressesThatDoNotFitAreRefusedByName() {
        XCTAssertThrowsError(try Syscalls.listenUnixStream("/tmp/" + String(repeating: "x", count: 200))) { error in
            XCTAssertEqual((error as? SystemCallError)?.errnoName, "ENAMETOOLONG")
        }
        XCTAssertThrowsError(try Syscalls.connectUnixStream("")) { error in
            XCTAssertEqual((error as? SystemCallError)?.errnoName, "EINVAL")
        }
        XCTAssertThrowsError(try Syscalls.connectUnixStream(path("none.sock"))) { error in
            XCTAssertEqual((error as? SystemCallError)?.errnoName, "ENOENT")
        }
    }

    func testFileCallsForTheInstaller() throws {
        let file = path("f")
        XCTAssertNil(try Syscalls.linkStatus(file))
        try Syscalls.unlink(file)  // gone already: not an error
        let fd = try Syscalls.open(file, O_WRONLY | O_CREAT)
        Syscalls.close(fd)
        try Syscalls.changeMode(file, 0o640)
        XCTAssertEqual(try XCTUnwrap(Syscalls.linkStatus(file)).st_mode & 0o777, 0o640)
        let dir = NSString(string: file).deletingLastPathComponent
        XCTAssertEqual(try Syscalls.directoryEntries(dir), ["f"])
        XCTAssertNil(try Syscalls.directoryEntries(dir + "/missing"))
        symlink("/proc/self", dir + "/l")
        XCTAssertEqual(try Syscalls.readLink(dir + "/l"), "/proc/self")
        try Syscalls.unlink(file)
        try Syscalls.unlink(dir + "/l")
        try Syscalls.removeDirectory(dir)
        try Syscalls.removeDirectory(dir)
        XCTAssertNil(try Syscalls.linkStatus(dir))
    }
}
