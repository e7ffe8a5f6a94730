import CLibbpf
import CSensorSkeleton
import CSwiftmonRecords
@preconcurrency import Glibc  // for `stderr`, which libc sets before main and never reassigns
import SwiftmonCore
import SwiftmonSystem

/// Why the sensor could not start, naming the loader stage and the probe.
public struct SensorError: Error, CustomStringConvertible {
    public enum Stage: String, Sendable { case open, configure, load, attach, read }
    public let stage: Stage
    public let probe: String?
    public let message: String
    /// What libbpf said just before the failure (verifier log tail and such).
    public let libbpfLog: [String]
    /// The error number the failing call returned, when there was one.
    public var errno: Int32? = nil

    public var description: String {
        var s = "cannot \(stage.rawValue) the BPF sensor"
        if let probe { s += " (\(probe))" }
        s += ": \(message)"
        return s
    }
}

/// swiftmon's BPF programs, loaded with libbpf through the skeleton
/// `bpftool gen skeleton` makes of the object (it holds the object's bytes,
/// so the binary stays one file), in explicit stages:
/// open → configure → load → attach → read. Closing it (or the process
/// ending) removes every program, link and map but the kill ledger and its
/// loss counter, which are pinned in the BPF file system so that a SIGKILL's
/// record outlives the process it ended (see ``KillLedger``).
final class BPFSensor {
    private var skeleton: UnsafeMutablePointer<swiftmon_sensor>?
    private var object: OpaquePointer? { skeleton?.pointee.obj }
    private var links: [OpaquePointer] = []
    private var ringBuffer: OpaquePointer?
    private(set) var attachedPrograms: [String] = []
    private let possibleCPUs: Int

    /// Programs that stop start-up when they cannot load or attach: without
    /// them there are no processes to attribute anything to. Every other
    /// program is optional: reported and skipped.
    static func isRequired(_ program: String) -> Bool { program.hasPrefix("sched_process_") }

    /// Optional programs left out, with the reason (for -v and event 4).
    private(set) var skippedPrograms: [(name: String, reason: String)] = []
    private let ringBufferBytes: Int
    /// Where SIGKILL records outlive the process (pinned before load).
    let killLedger: KillLedger

    /// Opens and configures the embedded object; nothing is in the kernel yet.
    init(ringBufferBytes: Int, disabledPrograms: [String] = [], killLedger: KillLedger = KillLedger()) throws {
        LibbpfLog.install()
        self.killLedger = killLedger
        possibleCPUs = Int(libbpf_num_possible_cpus())
        self.ringBufferBytes = ringBufferBytes
        try open()
        for name in disabledPrograms {
            guard let program = program(named: name) else {
                throw SensorError(stage: .configure, probe: name, message: "no such probe (probes: \(programNames.joined(separator: ", ")))", libbpfLog: [])
            }
            guard !BPFSensor.isRequired(name) else {
                throw SensorError(stage: .configure, probe: name, message: "a required probe cannot be disabled", libbpfLog: [])
            }
            skip(program, name, "disabled")
        }
    }

    /// Every program in the object, by name.
    var programNames: [String] { programs.map { String(cString: bpf_program__name($0)) } }

    func program(named name: String) -> OpaquePointer? { bpf_object__find_program_by_name(object, name) }

    private var programs: [OpaquePointer] {
        var all: [OpaquePointer] = []
        var program = bpf_object__next_program(object, nil)
        while let p = program {
            all.append(p)
            program = bpf_object__next_program(object, p)
        }
        return all
    }

    /// The tracepoint a program attaches to, from its section ("tp_btf/NAME",
    /// "raw_tp/NAME"); nil for the syscall handlers (section "raw_tp"),
    /// which the dispatcher reaches by tail call.
    static func hook(of program: OpaquePointer) -> String? {
        let section = String(cString: bpf_program__section_name(program))
        guard let slash = section.firstIndex(of: "/") else { return nil }
        return String(section[section.index(after: slash)...])
    }

    /// Open and configure stages: the skeleton's object parsed, maps sized,
    /// settings written to its .rodata; programs skipped so far stay out.
    private func open() throws {
        guard let skeleton = sm_sensor_open() else { throw failure(.open, nil, errno) }
        self.skeleton = skeleton
        let maps = skeleton.pointee.maps
        try setMaxEntries(maps.events, "events", UInt32(ringBufferBytes))
        try setMaxEntries(maps.exec_scratch_area, "exec_scratch_area", UInt32(max(1, possibleCPUs)))
        try setMaxEntries(maps.path_scratch_area, "path_scratch_area", UInt32(max(1, possibleCPUs)))
        skeleton.pointee.rodata.pointee.sm_self_tgid = UInt32(bitPattern: getpid())
        killLedger.pin(ledger: maps.kill_ledger, lost: maps.kill_ledger_lost)
        for skipped in skippedPrograms {
            if let program = program(named: skipped.name) {
                bpf_program__set_autoload(program, false)
            }
        }
    }

    private func setMaxEntries(_ map: OpaquePointer?, _ name: String, _ maxEntries: UInt32) throws {
        let rc = bpf_map__set_max_entries(map, maxEntries)
        if rc != 0 { throw failure(.configure, name, -rc) }
    }

    private func skip(_ program: OpaquePointer, _ name: String, _ reason: String) {
        bpf_program__set_autoload(program, false)
        skippedPrograms.append((name, reason))
    }

    deinit {
        close()
    }

    /// Load stage. First each program the kernel cannot run (its hook or a
    /// helper missing, asked of the kernel's BTF and libbpf's probes) is
    /// left out, or stops start-up if required; then the object loads once.
    /// Should the verifier still refuse an optional program, libbpf's
    /// per-program log names it: it is reported and the object, which
    /// libbpf loads only once, opened again without it.
    func load() throws {
        try leaveOutWhatTheKernelLacks()
        while true {
            leaveOutHandlersWithoutDispatcher()
            let (rc, refused) = VerifierLogs.load(programs.filter { bpf_program__autoload($0) }) {
                sm_sensor_load(skeleton)
            }
            if rc == 0 { return }
            if refused == nil, killLedger.isPinned {
                // Pinning the ledger (reusing or creating the pin) is what
                // failed, or may have: swiftmon runs without it rather than not at all.
                killLedger.giveUp("load with the pinned ledger failed: " + String(cString: strerror(-rc)))
                sm_sensor_destroy(skeleton)
                skeleton = nil
                try open()
                continue
            }
            guard let refused else { throw failure(.load, nil, -rc) }
            let name = refused.name
            let why = "refused by the verifier: " + String(cString: strerror(-rc))
            if BPFSensor.isRequired(name) {
                throw SensorError(stage: .load, probe: name, message: why, libbpfLog: refused.log, errno: -rc)
            }
            if LibbpfLog.verbose {
                fputs("swiftmon: the verifier refused \(name):\n  " + refused.log.joined(separator: "\n  ") + "\n", stderr)
            }
            skippedPrograms.append((name, why))
            sm_sensor_destroy(skeleton)
            skeleton = nil
            try open()
        }
    }

    private func leaveOutWhatTheKernelLacks() throws {
        let kernel = KernelFeatures()
        for program in programs where bpf_program__autoload(program) {
            let name = String(cString: bpf_program__name(program))
            let required = BPFSensor.isRequired(name)
            guard let lack = kernel.lack(of: program, required: required) else { continue }
            if required { throw SensorError(stage: .load, probe: name, message: lack, libbpfLog: []) }
            skip(program, name, lack)
        }
    }

    /// The syscall handlers run only by tail call from the dispatcher.
    private func leaveOutHandlersWithoutDispatcher() {
        guard let dispatcher = skeleton?.pointee.progs.sys_exit_dispatch, !bpf_program__autoload(dispatcher) else { return }
        for program in programs where bpf_program__autoload(program) && BPFSensor.hook(of: program) == nil {
            skip(program, String(cString: bpf_program__name(program)), "no sys_exit dispatcher")
        }
    }

    /// The syscalls each sys_exit handler serves: its slots in the
    /// dispatcher's table (syscalls.bpf.c). -1 marks a syscall this
    /// architecture does not have.
    static let syscallHandlers: [String: [Int32]] = [
        "file_sys_exit": [SM_NR_open, SM_NR_creat, SM_NR_openat, SM_NR_openat2, SM_NR_unlink, SM_NR_unlinkat,
                          SM_NR_rename, SM_NR_renameat, SM_NR_renameat2, SM_NR_mknod, SM_NR_mknodat, SM_NR_link,
                          SM_NR_linkat],
        "network_sys_exit": [SM_NR_accept, SM_NR_accept4, SM_NR_sendto, SM_NR_sendmsg],
        "module_sys_exit": [SM_NR_init_module, SM_NR_finit_module],
        "access_sys_exit": [SM_NR_ptrace, SM_NR_process_vm_readv, SM_NR_process_vm_writev],
        "bpf_sys_exit": [SM_NR_bpf],
        "image_sys_exit": [SM_NR_mmap, SM_NR_mprotect],
    ]

    /// The events each syscall handler produces: a handler whose events the
    /// configuration cannot log is taken out of the dispatch table (idle),
    /// so the kernel does no work for them.
    static let handlerEventIDs: [String: Set<Int>] = [
        "file_sys_exit": [11, 23, 203, 9, 202], "network_sys_exit": [3], "module_sys_exit": [6],
        "access_sys_exit": [10, 206], "bpf_sys_exit": [100], "image_sys_exit": [7],
    ]
    private var handlerPrograms: [String: OpaquePointer] = [:]
    /// Handlers out of the dispatch table because nothing they report is logged.
    private(set) var idleHandlers: Set<String> = []

    /// Puts each attached handler in the dispatch table, or takes it out,
    /// as the logged event kinds (nil: all) ask.
    func route(loggedEventIDs: Set<Int>?) {
        guard let table = skeleton?.pointee.maps.sys_exit_handlers else { return }
        for (name, program) in handlerPrograms {
            let wanted = loggedEventIDs.map { !$0.isDisjoint(with: BPFSensor.handlerEventIDs[name] ?? []) } ?? true
            var fd = bpf_program__fd(program)
            for number in BPFSensor.syscallHandlers[name] ?? [] where number >= 0 {
                var key = UInt32(number)
                if wanted {
                    _ = bpf_map__update_elem(table, &key, 4, &fd, 4, 0)
                } else {
                    _ = bpf_map__delete_elem(table, &key, 4, 0)
                }
            }
            if wanted { idleHandlers.remove(name) } else { idleHandlers.insert(name) }
        }
    }

    /// Attaches every loaded program at the hook its section names; the
    /// syscall handlers (section "raw_tp", no hook of their own) go into the
    /// dispatcher's table instead.
    func attach() throws {
        var handlers: [(name: String, program: OpaquePointer)] = []
        for p in programs where bpf_program__autoload(p) {
            let name = String(cString: bpf_program__name(p))
            guard BPFSensor.hook(of: p) != nil else {
                handlers.append((name, p))
                continue
            }
            guard let link = bpf_program__attach(p) else {
                let code = errno
                if BPFSensor.isRequired(name) { throw failure(.attach, name, code) }
                skippedPrograms.append((name, "attach: " + String(cString: strerror(code))))
                continue
            }
            links.append(link)
            attachedPrograms.append(name)
        }
        guard attachedPrograms.contains("sys_exit_dispatch") else {
            for handler in handlers { skippedPrograms.append((handler.name, "no sys_exit dispatcher")) }
            return
        }
        let table = skeleton?.pointee.maps.sys_exit_handlers
        for handler in handlers {
            var fd = bpf_program__fd(handler.program)
            var failed: Int32 = 0
            for number in BPFSensor.syscallHandlers[handler.name] ?? [] where number >= 0 {
                var key = UInt32(number)
                let rc = bpf_map__update_elem(table, &key, 4, &fd, 4, 0)
                if rc != 0 { failed = -rc }
            }
            if BPFSensor.syscallHandlers[handler.name] == nil { failed = ENOENT }
            if failed != 0 {
                skippedPrograms.append((handler.name, "attach: " + String(cString: strerror(failed))))
            } else {
                attachedPrograms.append(handler.name)
                handlerPrograms[handler.name] = handler.program
            }
        }
    }

    /// Starts reading the ring buffer: `handler` gets each record's bytes.
    /// Returns the descriptor to wait on for new records.
    func openRingBuffer(_ handler: RecordHandler) throws -> Int32 {
        let map = skeleton?.pointee.maps.events
        let context = Unmanaged.passUnretained(handler).toOpaque()
        ringBuffer = ring_buffer__new(bpf_map__fd(map), { context, data, size in
            let handler = Unmanaged<RecordHandler>.fromOpaque(context!).takeUnretainedValue()
            handler.handle(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }, context, nil)
        guard ringBuffer != nil else { throw failure(.read, "events", errno) }
        return ring_buffer__epoll_fd(ringBuffer)
    }

    /// Hands every record now in the ring buffer to the handler, without waiting.
    @discardableResult
    func consume() throws -> Int {
        let n = ring_buffer__consume(ringBuffer)
        if n < 0 { throw failure(.read, "events", -n) }
        return Int(n)
    }

    /// Records the kernel could not write (ring buffer full), per record kind,
    /// summed over CPUs: running totals since load.
    func lostRecords() -> [UInt32: UInt64] { recordCounts(skeleton?.pointee.maps.lost_records) }

    /// Records the kernel made, per record kind (written to the ring buffer or
    /// lost), summed over CPUs: running totals since load.
    func generatedRecords() -> [UInt32: UInt64] { recordCounts(skeleton?.pointee.maps.generated_records) }

    private func recordCounts(_ map: OpaquePointer?) -> [UInt32: UInt64] {
        guard let map else { return [:] }
        var out: [UInt32: UInt64] = [:]
        var perCPU = [UInt64](repeating: 0, count: max(1, possibleCPUs))
        for kind in UInt32(1)..<UInt32(SM_RECORD_KIND_COUNT.rawValue) {
            var key = kind
            let rc = perCPU.withUnsafeMutableBytes { values in
                bpf_map__lookup_elem(map, &key, 4, values.baseAddress, values.count, 0)
            }
            if rc == 0 { out[kind] = perCPU.reduce(0, +) }
        }
        return out
    }

    /// Detaches every program, keeping the maps and the ring buffer: no record
    /// is made afterwards, so once the ring buffer is drained, generated =
    /// read + lost holds exactly. A program already running when its link goes
    /// finishes within microseconds; the short wait covers it.
    func detachPrograms() {
        guard !links.isEmpty else { return }
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        Syscalls.sleep(microseconds: 20_000)
    }

    /// Whether the kernel watches protected files (a tamper_file_ctime_* program is attached).
    var watchesProtectedFiles: Bool { attachedPrograms.contains { $0.hasPrefix("tamper_file_ctime_") } }

    /// Makes `protected_files` hold exactly these identities (with their
    /// sm_protected_file_role). Returns how many could not be added (the map is full).
    @discardableResult
    func protect(_ identities: [ProtectedFiles.Identity: UInt32]) -> Int {
        guard let map = skeleton?.pointee.maps.protected_files else { return identities.count }
        let size = MemoryLayout<sm_protected_file_key>.size
        var present: [sm_protected_file_key] = []
        var key = sm_protected_file_key()
        var next = sm_protected_file_key()
        var rc = bpf_map__get_next_key(map, nil, &next, size)
        while rc == 0, present.count < 4096 {
            present.append(next)
            key = next
            rc = bpf_map__get_next_key(map, &key, &next, size)
        }
        for var old in present where identities[ProtectedFiles.Identity(device: old.device, inode: old.inode)] == nil {
            _ = bpf_map__delete_elem(map, &old, size, 0)
        }
        var failed = 0
        for (identity, role) in identities {
            var entry = sm_protected_file_key(inode: identity.inode, device: identity.device, pad0: 0)
            var value = role
            if bpf_map__update_elem(map, &entry, size, &value, 4, 0) != 0 { failed += 1 }
        }
        return failed
    }

    /// Detaches and unloads everything. Safe to call twice.
    func close() {
        if let rb = ringBuffer { ring_buffer__free(rb); ringBuffer = nil }
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        sm_sensor_destroy(skeleton)
        skeleton = nil
    }

    private func failure(_ stage: SensorError.Stage, _ probe: String?, _ code: Int32) -> SensorError {
        SensorError(stage: stage, probe: probe, message: String(cString: strerror(code)), libbpfLog: LibbpfLog.recent(), errno: code)
    }
}

/// Receives raw records from the ring buffer, on the reading thread.
class RecordHandler {
    func handle(_ record: UnsafeRawBufferPointer) {}
}

/// libbpf's diagnostics: kept (the last lines) to explain a failure, and
/// printed to stderr only in verbose mode.
enum LibbpfLog {
    nonisolated(unsafe) static var verbose = false  // set before the sensor loads, only read after
    nonisolated(unsafe) private static var lines: [String] = []  // guarded by `lock`
    private static let lock = Lock()

    static func install() {
        libbpf_set_print { level, format, args in
            guard let format, let args else { return 0 }
            var buffer = [CChar](repeating: 0, count: 1024)
            _ = vsnprintf(&buffer, buffer.count, format, args)
            let line = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.trimmingCharacters(in: "\n")
            LibbpfLog.lock.withLock {
                LibbpfLog.lines.append(line)
                if LibbpfLog.lines.count > 40 { LibbpfLog.lines.removeFirst(LibbpfLog.lines.count - 40) }
            }
            // Debug lines (relocations, section dumps) are kept for failure
            // reports only; warnings and information show in verbose mode.
            if LibbpfLog.verbose && level != LIBBPF_DEBUG {
                fputs("\(line.hasPrefix("libbpf:") ? "" : "libbpf: ")\(line)\n", stderr)
            }
            return 0
        }
    }

    static func recent() -> [String] { lock.withLock { lines } }
}

/// A load with a verifier log buffer per program. libbpf asks the kernel
/// for no log while loading; for a program the kernel refuses, it loads it
/// again with the log on, into that program's buffer, and stops there. So
/// after a failed load the one buffer written names the refused program and
/// holds why. The buffers no load writes are never touched, so cost no memory.
enum VerifierLogs {
    private static let bytes = 1 << 20

    /// Runs `load` with the buffers in place; the refused program's name and
    /// the end of its log (where the verifier says why), if it failed there.
    static func load(_ programs: [OpaquePointer], _ load: () -> Int32) -> (rc: Int32, refused: (name: String, log: [String])?) {
        let buffers = programs.map { program in
            let log = UnsafeMutablePointer<CChar>.allocate(capacity: bytes)
            log[0] = 0
            bpf_program__set_log_buf(program, log, bytes)
            return (program: program, log: log)
        }
        let rc = load()
        var refused: (name: String, log: [String])?
        if rc != 0, let buffer = buffers.first(where: { $0.log[0] != 0 }) {
            buffer.log[bytes - 1] = 0
            refused = (String(cString: bpf_program__name(buffer.program)),
                       String(cString: buffer.log).split(separator: "\n").suffix(20).map(String.init))
        }
        for buffer in buffers {
            bpf_program__set_log_buf(buffer.program, nil, 0)
            buffer.log.deallocate()
        }
        return (rc, refused)
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
