import CSwiftmonRecords
@preconcurrency import Glibc  // as the other files of this module import it
import SwiftmonService
import SwiftmonSystem

/// The files whose change is tamper (SensorFileChange, 207): the
/// configuration swiftmon loaded, its systemd unit files and drop-ins, its
/// running binary. The kernel watches them by identity (device, inode) in
/// the BPF map `protected_files` (tamper_files.bpf.c); this keeps that map
/// current — at start, after every reload, and after every change it reports
/// (a file replaced by a rename has a new inode; a missing one may appear) —
/// and turns the kernel's record of a change into what happened to which path.
///
/// Where a protected path names nothing (no unit in /etc/systemd/system, no
/// drop-in folder), the nearest folder above it that exists is watched
/// instead: a change of names in it makes a new scan, and a protected path
/// that appeared is reported as created by the task that changed the folder.
final class ProtectedFiles {
    enum Role: String { case configuration, unit, binary }

    /// A file as the kernel names it: its superblock's dev_t and inode number.
    struct Identity: Hashable {
        let device: UInt32
        let inode: UInt64
    }

    struct Protected: Equatable {
        let path: String
        let role: Role
    }

    /// What a kernel record of a change became.
    struct Change: Equatable {
        let path: String
        let role: Role
        /// `modified` (the path names the same file), `replaced` (another file
        /// now), `removed` (nothing now), `created` (it named nothing before).
        let outcome: String
    }

    private let configuration: String?
    private let binary: String?
    private let unitDirectories: [String]
    /// Puts the identities to watch (with their sm_protected_file_role) in the kernel's map.
    private let install: ([Identity: UInt32]) -> Void

    /// Each protected path's file at the last scan (absent: it named nothing).
    private(set) var files: [String: Identity] = [:]
    private var protected: [Identity: Protected] = [:]
    /// Folders watched for a protected name that is missing.
    private var folders: Set<Identity> = []
    /// Files that were protected and no longer are (replaced, removed): a
    /// record about them may still be in the ring buffer.
    private var earlier: [Identity: Protected] = [:]
    private(set) var scans = 0

    /// `configuration` is the file the sensor loads (and reloads; nil: the
    /// embedded default); `binary` is the running executable's path.
    init(configuration: String?, binary: String?,
         unitDirectories: [String] = ProtectedFiles.unitDirectories,
         install: @escaping ([Identity: UInt32]) -> Void) {
        // A relative --config is relative to the working directory at start.
        if let configuration, !configuration.hasPrefix("/"), let cwd = try? Syscalls.readLink("/proc/self/cwd") {
            self.configuration = cwd + "/" + configuration
        } else {
            self.configuration = configuration
        }
        self.binary = binary
        self.unitDirectories = unitDirectories
        self.install = install
    }

    /// Where systemd reads a system unit, by precedence; /usr/lib and /lib are
    /// one folder on a merged-/usr system, and identities make them one.
    static let unitDirectories = [ServiceLayout.administratorUnitDirectory, "/run/systemd/system",
                                  ServiceLayout.packageUnitDirectory, "/usr/lib/systemd/system"]

    /// The running executable, as the kernel resolved it.
    static func runningBinary() -> String? {
        guard let path = try? Syscalls.readLink("/proc/self/exe"), path.hasPrefix("/") else { return nil }
        // A replaced binary reads "/path (deleted)": the path is still the one to watch.
        return path.hasSuffix(" (deleted)") ? String(path.dropLast(10)) : path
    }

    /// The paths protected now: configuration, unit files and every file in
    /// a unit's drop-in folders, binary.
    func paths() -> [Protected] {
        var out: [Protected] = []
        if let configuration { out.append(Protected(path: configuration, role: .configuration)) }
        for directory in unitDirectories {
            // A unit folder that does not exist cannot hold a unit systemd loads.
            guard ProtectedFiles.identity(of: directory) != nil else { continue }
            let unit = directory + "/" + ServiceLayout.unitName
            out.append(Protected(path: unit, role: .unit))
            let dropIns = unit + ".d"
            out.append(Protected(path: dropIns, role: .unit))
            // Only *.conf files in a drop-in folder configure the unit.
            for name in ((try? Syscalls.directoryEntries(dropIns)) ?? nil)?.sorted() ?? [] where name.hasSuffix(".conf") {
                out.append(Protected(path: dropIns + "/" + name, role: .unit))
            }
        }
        if let binary { out.append(Protected(path: binary, role: .binary)) }
        return out
    }

    /// Stats every protected path and puts what to watch in the kernel's map.
    /// Returns the paths that exist now and did not at the previous scan.
    @discardableResult
    func scan() -> [Protected] {
        scans += 1
        var newFiles: [String: Identity] = [:]
        var newProtected: [Identity: Protected] = [:]
        var newFolders: Set<Identity> = []
        var appeared: [Protected] = []
        let items = paths()
        for item in items {
            if let identity = ProtectedFiles.identity(of: item.path) {
                newFiles[item.path] = identity
                if newProtected[identity] == nil { newProtected[identity] = item }
                if files[item.path] == nil, scans > 1 { appeared.append(item) }
            } else if let folder = ProtectedFiles.nearestExistingFolder(above: item.path) {
                newFolders.insert(folder)
            }
        }
        // A drop-in folder is a file of the unit and a folder whose new names matter.
        for item in items where item.path.hasSuffix(".service.d") {
            if let identity = newFiles[item.path] { newFolders.insert(identity) }
        }
        for (identity, item) in protected where newProtected[identity] == nil {
            earlier[identity] = item
        }
        if earlier.count > 256 { earlier.removeAll() }
        files = newFiles
        protected = newProtected
        folders = newFolders
        var map: [Identity: UInt32] = [:]
        for identity in newFolders { map[identity] = SM_PROTECTED_DIRECTORY.rawValue }
        for identity in newProtected.keys where map[identity] == nil { map[identity] = SM_PROTECTED_FILE.rawValue }
        install(map)
        return appeared
    }

    /// What the kernel's record of a change to `identity` means, after a new
    /// scan (which also watches a file that replaced a protected one).
    /// `renamesOrRemoves`: the change was made by a call that can change what
    /// a path names (rename, unlink, link, or unknown); the others (write,
    /// chmod…) leave the file where it was: `modified`, whatever happened
    /// between the change and this record.
    func changes(device: UInt32, inode: UInt64, role: UInt32, renamesOrRemoves: Bool) -> [Change] {
        let identity = Identity(device: device, inode: inode)
        let before = protected[identity] ?? earlier[identity]
        let appeared = scan()
        var out: [Change] = appeared.map { Change(path: $0.path, role: $0.role, outcome: "created") }
        if role == SM_PROTECTED_FILE.rawValue, let before, !out.contains(where: { $0.path == before.path }) {
            let outcome: String
            switch files[before.path] {
            case _ where !renamesOrRemoves: outcome = "modified"
            case identity?: outcome = "modified"
            case nil: outcome = "removed"
            default: outcome = "replaced"
            }
            out.append(Change(path: before.path, role: before.role, outcome: outcome))
        }
        return out
    }

    /// The kernel's identity of the file at `path` (symbolic links followed), or nil.
    static func identity(of path: String) -> Identity? {
        // O_PATH: no read, so a FIFO or device put in a protected file's place cannot block the scan.
        guard let fd = try? Syscalls.open(path, ProtectedFiles.pathOnly) else { return nil }
        defer { Syscalls.close(fd) }
        guard let st = try? Syscalls.fstat(fd, path) else { return nil }
        return Identity(device: UInt32(truncatingIfNeeded: FileHasher.kernelDevice(UInt64(st.st_dev))), inode: UInt64(st.st_ino))
    }

    /// O_PATH (010000000 on x86-64 and arm64), which Glibc's module does not export.
    static let pathOnly: Int32 = 0o10_000_000

    static func nearestExistingFolder(above path: String) -> Identity? {
        var current = Substring(path)
        while let slash = current.lastIndex(of: "/") {
            current = slash == current.startIndex ? "/" : current[..<slash]
            if let identity = identity(of: String(current)) { return identity }
            if current == "/" { break }
        }
        return nil
    }
}
