import CSwiftmonRecords
import Foundation
import XCTest
@testable import SwiftmonLinux

/// Swift's view of swiftmon_records.h must match what the BPF programs write.
final class RecordLayoutTests: XCTestCase {
    func testRecordSizesMatchTheHeader() {
        XCTAssertEqual(MemoryLayout<sm_record_header>.size, 32)
        XCTAssertEqual(MemoryLayout<sm_credentials>.size, 24)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.size, 104)
        XCTAssertEqual(MemoryLayout<sm_fork_record>.size, 72)
        XCTAssertEqual(MemoryLayout<sm_exit_record>.size, 40)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.size % 8, 0, "variable data follows the fixed part directly")
    }

    func testFieldOffsets() {
        XCTAssertEqual(MemoryLayout<sm_record_header>.offset(of: \.size), 4)
        XCTAssertEqual(MemoryLayout<sm_record_header>.offset(of: \.time_boot_ns), 8)
        XCTAssertEqual(MemoryLayout<sm_record_header>.offset(of: \.pid), 16)
        XCTAssertEqual(MemoryLayout<sm_record_header>.offset(of: \.tid), 20)
        XCTAssertEqual(MemoryLayout<sm_record_header>.offset(of: \.start_boot_ns), 24)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.credentials), 32)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.parent_pid), 56)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.parent_start_boot_ns), 64)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.image_inode), 72)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.image_device), 88)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.image_size), 92)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.args_size), 96)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.elf_class), 100)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.elf_machine), 102)
        XCTAssertEqual(MemoryLayout<sm_fork_record>.offset(of: \.parent_start_boot_ns), 64)
        XCTAssertEqual(MemoryLayout<sm_exit_record>.offset(of: \.exit_code), 32)
    }

    func testDecodingAnExecRecord() throws {
        var r = sm_exec_record()
        r.header.kind = UInt16(SM_RECORD_EXEC.rawValue)
        r.header.pid = 42
        let image = Array("true\0bin\0usr\0".utf8), cwd = Array("tmp\0".utf8), args = Array("/bin/true\0x\0".utf8)
        r.image_size = UInt16(image.count)
        r.cwd_size = UInt16(cwd.count)
        r.args_size = UInt32(args.count)
        r.args_total = UInt32(args.count)
        var bytes = withUnsafeBytes(of: r) { Array($0) } + image + cwd + args
        r.header.size = UInt32(bytes.count)
        withUnsafeBytes(of: r.header.size) { bytes.replaceSubrange(4..<8, with: $0) }
        let record = try XCTUnwrap(bytes.withUnsafeBytes { KernelRecord($0) })
        guard case .exec(let exec) = record else { return XCTFail("not an exec record") }
        XCTAssertEqual(KernelText.path(fromComponents: exec.imageComponents, truncated: false), Array("/usr/bin/true".utf8))
        XCTAssertEqual(KernelText.path(fromComponents: exec.cwdComponents, truncated: false), Array("/tmp".utf8))
        XCTAssertEqual(String(decoding: KernelText.commandLine(fromArguments: exec.arguments, total: r.args_total, truncated: false), as: UTF8.self), "/bin/true x")
    }

    func testShortOrUnknownRecordsAreRejectedNotRead() {
        var bytes = [UInt8](repeating: 0, count: 16)
        XCTAssertNil(bytes.withUnsafeBytes { KernelRecord($0) }, "shorter than a header")
        var h = sm_record_header()
        h.kind = UInt16(SM_RECORD_EXEC.rawValue)
        h.size = 32
        bytes = withUnsafeBytes(of: h) { Array($0) }
        XCTAssertNil(bytes.withUnsafeBytes { KernelRecord($0) }, "exec header without its body")
        h.kind = 999
        bytes = withUnsafeBytes(of: h) { Array($0) }
        XCTAssertNil(bytes.withUnsafeBytes { KernelRecord($0) }, "unknown kind")
        var exec = sm_exec_record()
        exec.header.kind = UInt16(SM_RECORD_EXEC.rawValue)
        exec.header.size = 104
        exec.args_size = 5000  // claims more data than the record holds
        bytes = withUnsafeBytes(of: exec) { Array($0) }
        XCTAssertNil(bytes.withUnsafeBytes { KernelRecord($0) })
    }
}

final class KernelTextTests: XCTestCase {
    func testPaths() {
        XCTAssertEqual(KernelText.path(fromComponents: [], truncated: false), Array("/".utf8))
        XCTAssertEqual(String(decoding: KernelText.path(fromComponents: Array("c\0b\0a\0".utf8), truncated: true), as: UTF8.self), "…/a/b/c")
    }

    func testCommandLineTruncationMarker() {
        let args = Array("ls\0-l\0".utf8)
        XCTAssertEqual(String(decoding: KernelText.commandLine(fromArguments: args, total: 6, truncated: false), as: UTF8.self), "ls -l")
        XCTAssertEqual(String(decoding: KernelText.commandLine(fromArguments: args, total: 100_000, truncated: true), as: UTF8.self),
                       "ls -l …[command line truncated: 6 of 100000 bytes]")
    }

    func testExitStatus() {
        XCTAssertEqual(ProcessEventBuilder.exitStatus(3 << 8), 3)
        XCTAssertEqual(ProcessEventBuilder.exitStatus(0), 0)
        XCTAssertEqual(ProcessEventBuilder.exitStatus(9), 137, "SIGKILL as a shell shows it")
        XCTAssertEqual(ProcessEventBuilder.exitStatus(0x80 | 11), 139, "SIGSEGV with core dump")
    }

    func testHashAlgorithmsParse() throws {
        XCTAssertEqual(try FileHasher.parse("sha256,MD5"), [.sha256, .md5])
        XCTAssertEqual(try FileHasher.parse("*"), FileHasher.Algorithm.allCases)
        XCTAssertEqual(try FileHasher.parse("SHA1,IMPHASH"), [.sha1])
        XCTAssertThrowsError(try FileHasher.parse("sha3")) { error in
            XCTAssertTrue("\(error)".contains("sha256"), "lists the valid ones")
        }
    }

    func testHashesAreCachedPerFileIdentity() throws {
        let path = NSTemporaryDirectory() + "swiftmon-hash-\(getpid())"
        try Data("abc".utf8).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        let identity = FileHasher.Identity(device: FileHasher.kernelDevice(UInt64(st.st_dev)), inode: UInt64(st.st_ino), ctimeNanoseconds: 1)
        let hasher = FileHasher(algorithms: [.sha256, .md5])
        let text = hasher.hashes(path: Array(path.utf8), identity: identity)
        XCTAssertEqual(text, "SHA256=BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD,MD5=900150983CD24FB0D6963F7D28E17F72")
        _ = hasher.hashes(path: Array(path.utf8), identity: identity)
        XCTAssertEqual(hasher.filesHashed, 1, "second ask comes from the cache")
        let other = FileHasher.Identity(device: identity.device, inode: identity.inode + 1, ctimeNanoseconds: 1)
        XCTAssertNil(hasher.hashes(path: Array(path.utf8), identity: other), "a replaced file is not hashed as the original")
    }
}
