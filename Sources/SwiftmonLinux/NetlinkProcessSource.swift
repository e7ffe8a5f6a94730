import Glibc
import SwiftmonCore
import SwiftmonSystem

/// The fallback process source: the kernel's process connector (netlink,
/// NETLINK_CONNECTOR / CN_IDX_PROC), for hosts where the BPF sensor cannot
/// load. It says only which pid forked, exec'd or exited; the rest is read
/// from /proc at once. A process that is gone before swiftmon reads it keeps
/// the fields it could not fill as `-` — the price of this source, and why
/// the BPF sensor captures everything in the kernel.
final class NetlinkProcessSource {
    let descriptor: Int32
    private let processes: ProcessEventBuilder
    private var buffer = [UInt8](repeating: 0, count: 65536)
    /// Messages that were not whole proc events (counted, skipped).
    private(set) var malformed: UInt64 = 0
    /// Times the socket's queue overflowed (ENOBUFS): proc events the kernel dropped.
    private(set) var overflows: UInt64 = 0

    // linux/cn_proc.h and linux/connector.h
    private static let connectorIndexProc: UInt32 = 1, connectorValueProc: UInt32 = 1
    private static let listen: UInt32 = 1
    private static let eventFork: UInt32 = 0x1, eventExec: UInt32 = 0x2, eventExit: UInt32 = 0x8000_0000

    init(processes: ProcessEventBuilder) throws {
        self.processes = processes
        descriptor = try Syscalls.netlinkConnectorSocket(groups: NetlinkProcessSource.connectorIndexProc)
        do {
            // nlmsghdr (16) + cn_msg (20) + the operation (4).
            var message = [UInt8](repeating: 0, count: 40)
            func put32(_ value: UInt32, at offset: Int) {
                withUnsafeBytes(of: value.littleEndian) { message.replaceSubrange(offset..<(offset + 4), with: $0) }
            }
            put32(40, at: 0)                                      // nlmsg_len
            message[4] = UInt8(Syscalls.netlinkMessageDone)       // nlmsg_type
            put32(UInt32(bitPattern: getpid()), at: 12)           // nlmsg_pid
            put32(NetlinkProcessSource.connectorIndexProc, at: 16) // cb_id.idx
            put32(NetlinkProcessSource.connectorValueProc, at: 20) // cb_id.val
            message[32] = 4                                       // cn_msg.len
            put32(NetlinkProcessSource.listen, at: 36)
            _ = try message.withUnsafeBytes { try Syscalls.send(descriptor, $0, "PROC_CN_MCAST_LISTEN") }
        } catch {
            Syscalls.close(descriptor)
            throw error
        }
    }

    deinit { Syscalls.close(descriptor) }

    /// Turns every message waiting on the socket into events.
    func drain(into out: inout [Event]) {
        while true {
            let n: Int
            do {
                guard let got = try buffer.withUnsafeMutableBytes({ try Syscalls.receive(descriptor, into: $0, "NETLINK_CONNECTOR") }),
                      got > 0 else { return }
                n = got
            } catch let error as SystemCallError where error.errno == ENOBUFS {
                // The socket's queue overflowed: the kernel dropped messages.
                overflows += 1
                continue
            } catch {
                return
            }
            var at = 0
            while at + 16 <= n {
                let length = Int(load32(at))
                guard length >= 16, at + length <= n else { malformed += 1; break }
                // nlmsghdr, cn_msg (20 bytes), then struct proc_event.
                if length >= 16 + 20 + 16 + 8 { event(at: at + 36, end: at + length, into: &out) } else { malformed += 1 }
                at += (length + 3) & ~3
            }
        }
    }

    private func load32(_ offset: Int) -> UInt32 {
        buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    private func event(at base: Int, end: Int, into out: inout [Event]) {
        let what = load32(base)
        let data = base + 16
        switch what {
        case NetlinkProcessSource.eventExec where data + 8 <= end:
            let pid = load32(data + 4)  // process_tgid
            if load32(data) != pid { return }  // a thread exec'ing becomes the leader: reported by the leader
            out.append(processCreate(pid: pid))
        case NetlinkProcessSource.eventFork where data + 16 <= end:
            let (parent, childTid, child) = (load32(data + 4), load32(data + 8), load32(data + 12))
            guard childTid == child else { return }  // a thread: the fallback reports processes only
            // Until it execs, the child runs its parent's image: /proc says so.
            if let entry = processes.scanner().read(pid: child) {
                processes.remember(entry)
            } else if var entry = processes.cache[parent] {
                entry.pid = child
                processes.remember(entry)
            }
        case NetlinkProcessSource.eventExit where data + 16 <= end:
            let (tid, pid) = (load32(data), load32(data + 4))
            guard tid == pid else { return }
            let code = load32(data + 8)
            var e = Event(.processTerminate, time: .now())
            let entry = processes.cache[pid]
            e["ProcessGuid"] = entry?.guidText ?? "-"
            e["ProcessId"] = String(pid)
            if let entry {
                e.setText("Image", entry.image, exact: entry.imageBytes)
                e["User"] = entry.user
                e.setContainer(entry.container, pid: pid, containerPid: entry.containerPid)
                processes.forget(pid: pid, guid: entry.guid)
            }
            e["ExitCode"] = String(ProcessEventBuilder.exitStatus(code))
            out.append(e)
        default:
            break
        }
    }

    private func processCreate(pid: UInt32) -> Event {
        var e = Event(.processCreate, time: .now())
        e["ProcessId"] = String(pid)
        let scanner = processes.scanner()
        guard let entry = scanner.read(pid: pid) else { return e }  // gone already: only the pid is known
        e["ProcessGuid"] = entry.guidText
        e.setText("Image", entry.image, exact: entry.imageBytes)
        e.setText("CommandLine", entry.commandLine, exact: entry.commandLineBytes)
        e["User"] = entry.user
        e.setContainer(entry.container, pid: pid, containerPid: entry.containerPid)
        if let cwd = ProcFile.readLink("/proc/\(pid)/cwd") { e.set("CurrentDirectory", bytes: cwd) }
        if let parentPid = NetlinkProcessSource.parentPid(of: pid) {
            e["ParentProcessId"] = String(parentPid)
            if let parent = processes.cache[parentPid] {
                e["ParentProcessGuid"] = parent.guidText
                e.set(parent: parent)
            }
        }
        processes.remember(entry)
        return e
    }

    static func parentPid(of pid: UInt32) -> UInt32? {
        guard let stat = ProcFile.read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let rest = stat[(close + 2)...].split(separator: UInt8(ascii: " "))
        return rest.count > 1 ? UInt32(String(decoding: rest[1], as: UTF8.self)) : nil
    }
}
