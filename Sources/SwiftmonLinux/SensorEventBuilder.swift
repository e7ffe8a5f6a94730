import CSwiftmonRecords
import SwiftmonCore
import SwiftmonSystem

/// Routes each kernel record to the builder of its concern. Every builder
/// attributes its events through the one process cache that
/// ProcessEventBuilder keeps, so a file, network or access event names the
/// same ProcessGuid, Image and User as the process's ProcessCreate. Runs on
/// the ring-buffer reader's thread only.
final class SensorEventBuilder {
    let processes: ProcessEventBuilder
    let files: FileEventBuilder
    let network: NetworkEventBuilder
    let modules: DriverLoadEventBuilder
    let access: ProcessAccessEventBuilder
    let bpf: BPFProgramEventBuilder
    let images: ImageLoadEventBuilder
    let tamper: TamperEventBuilder
    /// Whether an exec also gives the ImageLoad of the executable (off when
    /// the configuration logs no ImageLoad).
    var buildsExecutableImageLoads = true

    /// `selfPID` and `isSelfThread` name swiftmon's own process (the
    /// target of tamper); the scenario tests give fixed ones.
    init(processes: ProcessEventBuilder, selfPID: UInt32 = UInt32(bitPattern: Syscalls.processID()),
         isSelfThread: @escaping (UInt32) -> Bool = Syscalls.isThreadOfSelf) {
        self.processes = processes
        files = FileEventBuilder(processes: processes)
        network = NetworkEventBuilder(processes: processes)
        modules = DriverLoadEventBuilder(processes: processes)
        access = ProcessAccessEventBuilder(processes: processes)
        bpf = BPFProgramEventBuilder(processes: processes)
        images = ImageLoadEventBuilder(processes: processes)
        tamper = TamperEventBuilder(processes: processes, selfPID: selfPID, isSelfThread: isSelfThread)
    }

    func events(for record: KernelRecord, into out: inout [Event]) {
        switch record {
        case .exec:
            processes.events(for: record, into: &out)
            // The kernel maps the new executable itself during exec, not
            // through mmap(): its ImageLoad comes from the exec record.
            if buildsExecutableImageLoads, let create = out.last, create.kind == .processCreate {
                out.append(images.imageLoad(executableOf: create))
            }
        case .fork, .exit: processes.events(for: record, into: &out)
        case .path(let r):
            switch UInt32(r.raw.header.kind) {
            case SM_RECORD_FILE.rawValue: files.events(for: r, into: &out)
            case SM_RECORD_MODULE.rawValue: out.append(modules.driverLoad(r))
            case SM_RECORD_IMAGE.rawValue: out.append(images.imageLoad(r))
            default: break
            }
        case .network(let r): out.append(network.networkConnect(r))
        case .access(let r):
            // The kernel sends failed attempts only when they aim at swiftmon.
            if r.result >= 0 { out.append(access.processAccess(r)) }
            if tamper.targetsSelf(r) { out.append(tamper.sensorAccess(r)) }
        case .signal(let r): out.append(tamper.sensorSignal(r, recovered: false))
        case .protectedFile(let r): tamper.sensorFileChanges(r, into: &out)
        case .bpf(let r): out.append(bpf.bpfEvent(r))
        }
    }
}

extension ProcessEventBuilder {
    /// An event of `kind` at the record's time, with ProcessGuid, ProcessId,
    /// Image and User of the process the header names (from the cache; the
    /// user from `euid` when the process is unknown).
    func attributedEvent(_ kind: EventKind, _ header: sm_record_header, euid: UInt32) -> Event {
        let time = host.time(bootNanoseconds: header.time_boot_ns)
        var e = newEvent(kind, time: time)
        let guid = host.guid(pid: header.pid, startBootNanoseconds: header.start_boot_ns)
        let user = users.name(euid)
        // The entry read in place (no copy of it per event).
        if withCachedEntry(pid: header.pid, guid: guid, { e.fill(process: guid, pid: header.pid, from: $0) }) == nil {
            e.fill(process: guid, pid: header.pid, from: nil, fallbackUser: user)
        }
        return e
    }

    /// Hashes of a file the kernel identified, when hashing was asked for.
    func hashes(of path: [UInt8], device: UInt32, inode: UInt64, ctime: UInt64) -> String? {
        guard let hasher, inode != 0 else { return nil }
        return hasher.hashes(path: path, identity: .init(device: UInt64(device), inode: inode, ctimeNanoseconds: ctime))
    }
}
