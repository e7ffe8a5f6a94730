import SwiftmonCore

/// Microsoft-Windows-Kernel-Process (the manifest provider
/// {22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716}): ProcessStart (1), ProcessStop (2),
/// ThreadStart (3), ThreadStop (4), ImageLoad (5), in each version.
///
/// Version differences: ProcessStart v1+ adds Flags before ImageName; v3+
/// (Windows 10) adds process sequence numbers after the pid and parent pid,
/// token elevation fields and a mandatory label SID. ProcessStop v2+ adds the
/// sequence number after the pid.
extension EtlEventDecoder {
    static let kernelProcessProvider = Guid("22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716")!

    func decodeKernelProcessProvider(_ r: EtlRecord) -> Event? {
        var p = r.payloadReader
        switch r.id {
        case 1:
            guard let pid = p.u32() else { return nil }
            if r.version >= 3 { guard p.u64() != nil else { return nil } }
            guard let createTime = p.u64(), let ppid = p.u32() else { return nil }
            if r.version >= 3 { guard p.u64() != nil else { return nil } }
            guard let session = p.u32() else { return nil }
            if r.version >= 1 { guard p.u32() != nil else { return nil } }  // Flags
            var integrity: String?
            if r.version >= 3 {
                guard p.u32() != nil, p.u32() != nil, let label = p.sid() else { return nil }
                integrity = integrityLevel(label)
            }
            let (image, ntImage) = shownPath(p.utf16String())
            // UtcTime is the creation time the payload carries (a FILETIME),
            // unless it is missing or implausible.
            let created = Int64(bitPattern: createTime)
            let ns = created > 0 ? EtlClock.nanoseconds(filetime: created) : r.time.nanoseconds
            let time = (ns &- r.time.nanoseconds).magnitude < 86_400_000_000_000 ? EventTime(nanosecondsSinceEpoch: ns) : r.time
            let process = processes.started(pid: pid, startKey: createTime, at: time.nanoseconds,
                                            image: image.isEmpty ? nil : image, commandLine: nil, user: nil,
                                            imageNtPath: ntImage)
            var e = newEvent(.processCreate, time)
            e["ImageNtPath"] = process.imageNtPath
            e["ProcessGuid"] = process.guid
            e["ProcessId"] = String(pid)
            e["Image"] = process.image
            e["CommandLine"] = process.commandLine
            e["User"] = process.user
            e["TerminalSessionId"] = String(session)
            if let integrity { e["IntegrityLevel"] = integrity }
            let parent = processes.known(ppid, seenAt: r.time.nanoseconds)
            e["ParentProcessGuid"] = parent.guid
            e["ParentProcessId"] = String(ppid)
            e["ParentImage"] = parent.image
            e["ParentCommandLine"] = parent.commandLine
            e["ParentUser"] = parent.user
            return e
        case 2:
            guard let pid = p.u32() else { return nil }
            if r.version >= 2 { guard p.u64() != nil else { return nil } }
            guard let createTime = p.u64(), p.u64() != nil, let exitCode = p.u32() else { return nil }
            let process = processes.lookup(pid)
                ?? processes.started(pid: pid, startKey: createTime, at: EtlClock.nanoseconds(filetime: Int64(bitPattern: createTime)),
                                     image: nil, commandLine: nil, user: nil)
            var e = newEvent(.processTerminate, r.time)
            e["ProcessGuid"] = process.guid
            e["ProcessId"] = String(pid)
            e["Image"] = process.image
            e["User"] = process.user
            e["ExitCode"] = String(Int32(bitPattern: exitCode))
            processes.ended(pid)
            return e
        case 3, 4:
            guard let pid = p.u32(), let tid = p.u32() else { return nil }
            return threadEvent(start: r.id == 3, pid: pid, tid: tid, r)
        case 5:
            guard let base = p.pointer(), let size = p.pointer(), let pid = p.u32(), p.skip(8),
                  p.pointer() != nil else { return nil }
            return imageEvent(pid: pid, base: base, size: size, pointerSize: r.pointerSize, path: p.utf16String(), r)
        default:
            return nil
        }
    }

    /// Sysmon's IntegrityLevel names for the mandatory label SIDs (S-1-16-RID).
    func integrityLevel(_ sid: String) -> String {
        switch sid {
        case "S-1-16-0": return "Untrusted"
        case "S-1-16-4096": return "Low"
        case "S-1-16-8192": return "Medium"
        case "S-1-16-8448": return "MediumPlus"
        case "S-1-16-12288": return "High"
        case "S-1-16-16384": return "System"
        case "S-1-16-20480": return "Protected"
        default: return sid
        }
    }
}
