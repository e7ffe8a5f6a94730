import CSwiftmonRecords
import Foundation
import XCTest
@testable import SwiftmonLinux

/// Swift's view of swiftmon_records.h must match what the BPF programs write.
final class RecordLayoutTests: XCTestCase {
    func testRecordSizesMatchTheHeader() {
        XCTAssertEqual(MemoryLayout<sm_record_header>.size, 32)
        XCTAssertEqual(MemoryLayout<sm_credentials>.size, 24)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.size, 128)
        XCTAssertEqual(MemoryLayout<sm_fork_record>.size, 96)
        XCTAssertEqual(MemoryLayout<sm_container_identity>.size, 24)
        XCTAssertEqual(MemoryLayout<sm_exit_record>.size, 40)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.size % 8, 0, "variable data follows the fixed part directly")
        XCTAssertEqual(MemoryLayout<sm_path_record>.size, 80)
        XCTAssertEqual(MemoryLayout<sm_path_record>.size % 8, 0, "variable data follows the fixed part directly")
        XCTAssertEqual(MemoryLayout<sm_network_record>.size, 80)
        XCTAssertEqual(MemoryLayout<sm_access_record>.size, 56)
        XCTAssertEqual(MemoryLayout<sm_bpf_record>.size, 72)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.size, 96)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.size % 8, 0, "the sender's image follows the fixed part directly")
    }

    func testRecordKindsAreNeverRenumbered() {
        XCTAssertEqual(SM_RECORD_EXEC.rawValue, 1)
        XCTAssertEqual(SM_RECORD_FORK.rawValue, 2)
        XCTAssertEqual(SM_RECORD_EXIT.rawValue, 3)
        XCTAssertEqual(SM_RECORD_FILE.rawValue, 4)
        XCTAssertEqual(SM_RECORD_NETWORK.rawValue, 5)
        XCTAssertEqual(SM_RECORD_MODULE.rawValue, 6)
        XCTAssertEqual(SM_RECORD_ACCESS.rawValue, 7)
        XCTAssertEqual(SM_RECORD_BPF.rawValue, 8)
        XCTAssertEqual(SM_RECORD_IMAGE.rawValue, 9)
        XCTAssertEqual(SM_RECORD_SIGNAL.rawValue, 10)
        XCTAssertEqual(SM_RECORD_PROTECTED_FILE.rawValue, 20)
        XCTAssertEqual(SM_RECORD_KIND_COUNT.rawValue, 21)
    }

    func testContainerIdentityOffsets() {
        XCTAssertEqual(MemoryLayout<sm_container_identity>.offset(of: \.cgroup_id), 0)
        XCTAssertEqual(MemoryLayout<sm_container_identity>.offset(of: \.pid_ns), 8)
        XCTAssertEqual(MemoryLayout<sm_container_identity>.offset(of: \.mnt_ns), 12)
        XCTAssertEqual(MemoryLayout<sm_container_identity>.offset(of: \.net_ns), 16)
        XCTAssertEqual(MemoryLayout<sm_container_identity>.offset(of: \.ns_pid), 20)
        XCTAssertEqual(MemoryLayout<sm_exec_record>.offset(of: \.container), 104)
        XCTAssertEqual(MemoryLayout<sm_fork_record>.offset(of: \.container), 72)
    }

    func testNewRecordFieldOffsets() {
        XCTAssertEqual(MemoryLayout<sm_path_record>.offset(of: \.euid), 32)
        XCTAssertEqual(MemoryLayout<sm_path_record>.offset(of: \.result), 36)
        XCTAssertEqual(MemoryLayout<sm_path_record>.offset(of: \.op), 40)
        XCTAssertEqual(MemoryLayout<sm_path_record>.offset(of: \.mode), 44)
        XCTAssertEqual(MemoryLayout<sm_path_record>.offset(of: \.inode), 48)
        XCTAssertEqual(MemoryLayout<sm_path_record>.offset(of: \.ctime_ns), 56)
        XCTAssertEqual(MemoryLayout<sm_path_record>.offset(of: \.device), 64)
        XCTAssertEqual(MemoryLayout<sm_path_record>.offset(of: \.dir1_size), 68)
        XCTAssertEqual(MemoryLayout<sm_path_record>.offset(of: \.name2_size), 74)
        XCTAssertEqual(MemoryLayout<sm_network_record>.offset(of: \.family), 36)
        XCTAssertEqual(MemoryLayout<sm_network_record>.offset(of: \.protocol), 38)
        XCTAssertEqual(MemoryLayout<sm_network_record>.offset(of: \.local_port), 40)
        XCTAssertEqual(MemoryLayout<sm_network_record>.offset(of: \.remote_port), 42)
        XCTAssertEqual(MemoryLayout<sm_network_record>.offset(of: \.local_address), 48)
        XCTAssertEqual(MemoryLayout<sm_network_record>.offset(of: \.remote_address), 64)
        XCTAssertEqual(MemoryLayout<sm_access_record>.offset(of: \.target_pid), 36)
        XCTAssertEqual(MemoryLayout<sm_access_record>.offset(of: \.result), 48)
        XCTAssertEqual(MemoryLayout<sm_bpf_record>.offset(of: \.program_id), 44)
        XCTAssertEqual(MemoryLayout<sm_bpf_record>.offset(of: \.program_name), 56)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.euid), 32)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.signal), 36)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.code), 40)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.result), 44)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.target_pid), 48)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.target_start_boot_ns), 56)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.unread_bytes), 64)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.group), 72)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.image_size), 74)
        XCTAssertEqual(MemoryLayout<sm_signal_record>.offset(of: \.comm), 80)
        XCTAssertEqual(MemoryLayout<sm_protected_file_key>.size, 16)
        XCTAssertEqual(MemoryLayout<sm_protected_file_key>.offset(of: \.device), 8)
        XCTAssertEqual(MemoryLayout<sm_protected_file_record>.size, 64)
        XCTAssertEqual(MemoryLayout<sm_protected_file_record>.offset(of: \.euid), 32)
        XCTAssertEqual(MemoryLayout<sm_protected_file_record>.offset(of: \.syscall), 36)
        XCTAssertEqual(MemoryLayout<sm_protected_file_record>.offset(of: \.role), 40)
        XCTAssertEqual(MemoryLayout<sm_protected_file_record>.offset(of: \.nlink), 48)
        XCTAssertEqual(MemoryLayout<sm_protected_file_record>.offset(of: \.device), 52)
        XCTAssertEqual(MemoryLayout<sm_protected_file_record>.offset(of: \.inode), 56)
    }

    func testDecodingAPathRecordWithTwoPaths() throws {
        var r = sm_path_record()
        r.header.kind = UInt16(SM_RECORD_FILE.rawValue)
        r.op = SM_PATH_OP_RENAME.rawValue
        let dir1 = Array("work\0tmp\0".utf8), name1 = Array("./a b/../old".utf8)
        let name2 = Array("/abs/new".utf8)
        r.dir1_size = UInt16(dir1.count)
        r.name1_size = UInt16(name1.count)
        r.name2_size = UInt16(name2.count)
        var bytes = withUnsafeBytes(of: r) { Array($0) } + dir1 + name1 + name2
        r.header.size = UInt32(bytes.count)
        withUnsafeBytes(of: r.header.size) { bytes.replaceSubrange(4..<8, with: $0) }
        let record = try XCTUnwrap(bytes.withUnsafeBytes { KernelRecord($0) })
        guard case .path(let p) = record else { return XCTFail("not a path record") }
        XCTAssertEqual(String(decoding: p.path1, as: UTF8.self), "/tmp/work/old")
        XCTAssertEqual(String(decoding: p.path2, as: UTF8.self), "/abs/new")
        // Claiming more than the record holds is refused.
        bytes.removeLast()
        XCTAssertNil(bytes.withUnsafeBytes { KernelRecord($0) })
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
        // An exec record points into its bytes: read inside their scope.
        try bytes.withUnsafeBytes { raw in
            let record = try XCTUnwrap(KernelRecord(raw))
            guard case .exec(let exec) = record else { return XCTFail("not an exec record") }
            var out: [UInt8] = []
            KernelText.path(fromComponents: exec.imageComponents, truncated: false, into: &out)
            XCTAssertEqual(out, Array("/usr/bin/true".utf8))
            KernelText.path(fromComponents: exec.cwdComponents, truncated: false, into: &out)
            XCTAssertEqual(out, Array("/tmp".utf8))
            KernelText.commandLine(fromArguments: exec.arguments, total: r.args_total, truncated: false, into: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), "/bin/true x")
        }
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

    /// The edges of the components encoding, and one buffer reused for
    /// paths of different lengths (as the exec builder reuses it).
    func testPathEdgesIntoAReusedBuffer() {
        var out: [UInt8] = []
        func path(_ components: String, truncated: Bool = false) -> String {
            Array(components.utf8).withUnsafeBytes { KernelText.path(fromComponents: $0, truncated: truncated, into: &out) }
            return String(decoding: out, as: UTF8.self)
        }
        XCTAssertEqual(path("a-long-leaf-name\0some-directory\0usr\0"), "/usr/some-directory/a-long-leaf-name")
        XCTAssertEqual(path(""), "/")
        XCTAssertEqual(path("", truncated: true), "…", "nothing captured but the truncation")
        XCTAssertEqual(path("leaf\0/\0"), "/leaf", "the root written as a last component")
        XCTAssertEqual(path("/\0"), "/")
        XCTAssertEqual(path("\0\0b\0\0a\0\0"), "/a/b", "empty components dropped")
        XCTAssertEqual(path("x\0/\0y\0"), "/y///x", "a \"/\" that is not last is a name")
        XCTAssertEqual(path("b\0a"), "/a/b", "no NUL after the last component")
        XCTAssertEqual(Array(path("\u{FF}\0").utf8).count, 1 + 2, "bytes copied as they are")
        out = []
        Array([0x66, 0xFF, 0x00] as [UInt8]).withUnsafeBytes { KernelText.path(fromComponents: $0, truncated: false, into: &out) }
        XCTAssertEqual(out, [0x2F, 0x66, 0xFF], "invalid UTF-8 kept exactly")
    }

    func testCommandLineEdgesIntoAReusedBuffer() {
        var out: [UInt8] = Array(repeating: 0x41, count: 100)
        func line(_ args: String) -> String {
            Array(args.utf8).withUnsafeBytes { KernelText.commandLine(fromArguments: $0, total: 0, truncated: false, into: &out) }
            return String(decoding: out, as: UTF8.self)
        }
        XCTAssertEqual(line("a\0\0b\0\0\0"), "a  b", "an empty argument stays; trailing NULs go")
        XCTAssertEqual(line(""), "")
        XCTAssertEqual(line("\0\0"), "")
        XCTAssertEqual(line("/usr/bin/python3\0-c\0print(1)"), "/usr/bin/python3 -c print(1)")
    }

    func testPathsJoinedFromDirectoryAndName() {
        func join(_ dir: String, _ name: String, truncated: Bool = false) -> String {
            String(decoding: KernelText.path(directoryComponents: Array(dir.utf8), name: Array(name.utf8), truncated: truncated), as: UTF8.self)
        }
        XCTAssertEqual(join("b\0a\0", "f"), "/a/b/f")
        XCTAssertEqual(join("b\0a\0", ""), "/a/b", "an empty name is the directory itself (AT_EMPTY_PATH)")
        XCTAssertEqual(join("b\0a\0", "/etc//x/./y"), "/etc/x/y", "an absolute name ignores the directory")
        XCTAssertEqual(join("b\0a\0", "../../../../f"), "/f", "'..' stops at the root")
        XCTAssertEqual(join("", "f"), "/f")
        XCTAssertEqual(join("b\0a\0", "c", truncated: true), "…/a/b/c")
        XCTAssertEqual(join("b\0a\0", "new\nline \"q\""), "/a/b/new\nline \"q\"")
    }

    func testSystemdUnitPaths() {
        func unit(_ path: String) -> String? {
            SystemdUnit(path: Array(path.utf8)).map { String(decoding: $0.name, as: UTF8.self) }
        }
        XCTAssertEqual(unit("/etc/systemd/system/evil.service"), "evil.service")
        XCTAssertEqual(unit("/run/systemd/system/multi-user.target.wants/x.timer"), "x.timer")
        XCTAssertEqual(unit("/home/u/.config/systemd/user/agent.service"), "agent.service")
        XCTAssertNil(unit("/etc/systemd/system/notes.txt"))
        XCTAssertNil(unit("/etc/systemd/system/.service"))
        XCTAssertNil(unit("/tmp/etc/systemd/system/x.service"))
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
