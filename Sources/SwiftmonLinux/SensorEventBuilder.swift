import CSwiftmonRecords
import SwiftmonCore

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
    /// Whether an exec also gives the ImageLoad of the executable (off when
    /// the configuration logs no ImageLoad).
    var buildsExecutableImageLoads = true

    init(processes: ProcessEventBuilder) {
        self.processes = processes
        files = FileEventBuilder(processes: processes)
        network = NetworkEventBuilder(processes: processes)
        modules = DriverLoadEventBuilder(processes: processes)
        access = ProcessAccessEventBuilder(processes: processes)
        bpf = BPFProgramEventBuilder(processes: processes)
        images = ImageLoadEventBuilder(processes: processes)
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
        case .access(let r): out.append(access.processAccess(r))
        case .bpf(let r): out.append(bpf.bpfEvent(r))
        }
    }
}

extension ProcessEventBuilder {
    /// An event of `kind` at the record's time, with ProcessGuid, ProcessId,
    /// Image and User of the process the header names (from the cache; the
    /// user from `euid` when the process is unknown).
    func attributedEvent(_ kind: EventKind, _ header: sm_record_header, euid: UInt32) -> Event {
        var e = Event(kind, time: host.time(bootNanoseconds: header.time_boot_ns))
        let guid = host.guid(pid: header.pid, startBootNanoseconds: header.start_boot_ns)
        e.fill(process: guid, pid: header.pid, from: cache.lookup(pid: header.pid, guid: guid),
               fallbackUser: users.name(euid))
        return e
    }

    /// Hashes of a file the kernel identified, when hashing was asked for.
    func hashes(of path: [UInt8], device: UInt32, inode: UInt64, ctime: UInt64) -> String? {
        guard let hasher, inode != 0 else { return nil }
        return hasher.hashes(path: path, identity: .init(device: UInt64(device), inode: inode, ctimeNanoseconds: ctime))
    }
}

/// errno values as their names: a Result of "ENOSYS" says more than "38".
enum ErrnoName {
    static func text(forResult result: Int32) -> String {
        guard result < 0 else { return "0" }
        let code = -Int(result)  // Int32.min has no Int32 negation
        return code < names.count && !names[code].isEmpty ? names[code] : "errno \(code)"
    }

    /// Linux's errno names, by number (asm-generic/errno*.h).
    private static let names: [String] = [
        "", "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF",
        "ECHILD", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV",
        "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE",
        "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY",
        "ELOOP", "", "ENOMSG", "EIDRM", "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH",
        "ENOCSI", "EL2HLT", "EBADE", "EBADR", "EXFULL", "ENOANO", "EBADRQC", "EBADSLT", "", "EBFONT",
        "ENOSTR", "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG", "EREMOTE", "ENOLINK", "EADV", "ESRMNT",
        "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW", "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC",
        "ELIBBAD", "ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ", "ERESTART", "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ",
        "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL",
        "ENETDOWN", "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS",
        "ETIMEDOUT", "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE", "EUCLEAN", "ENOTNAM", "ENAVAIL",
        "EISNAM", "EREMOTEIO", "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED", "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED", "EKEYREJECTED",
        "EOWNERDEAD", "ENOTRECOVERABLE", "ERFKILL", "",
    ]
}
