import CLibbpf
import CSwiftmonRecords
@preconcurrency import Glibc  // for `stderr`, which libc sets before main and never reassigns
import SwiftmonCore

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

/// swiftmon's BPF programs, loaded with libbpf in explicit stages:
/// open → configure → load → attach → read. Closing it (or the process ending)
/// removes every program, link and map: nothing is pinned.
final class BPFSensor {
    /// The BPF object file, kept alive for libbpf while the object is open.
    private let objectBytes: UnsafeMutableRawBufferPointer
    private var object: OpaquePointer?
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

    /// Opens and configures the embedded object; nothing is in the kernel yet.
    init(objectBytes bytes: [UInt8], ringBufferBytes: Int, disabledPrograms: [String] = []) throws {
        LibbpfLog.install()
        objectBytes = .allocate(byteCount: bytes.count, alignment: 8)
        objectBytes.copyBytes(from: bytes)
        possibleCPUs = Int(libbpf_num_possible_cpus())
        self.ringBufferBytes = ringBufferBytes
        try open()
        for name in disabledPrograms {
            guard let program = bpf_object__find_program_by_name(object, name) else {
                throw SensorError(stage: .configure, probe: name, message: "no such probe (probes: \(programNames.joined(separator: ", ")))", libbpfLog: [])
            }
            guard !BPFSensor.isRequired(name) else {
                throw SensorError(stage: .configure, probe: name, message: "a required probe cannot be disabled", libbpfLog: [])
            }
            skippedPrograms.append((name, "disabled"))
            bpf_program__set_autoload(program, false)
        }
    }

    /// Every program in the object, by name.
    var programNames: [String] {
        var names: [String] = []
        var program = bpf_object__next_program(object, nil)
        while let p = program {
            names.append(String(cString: bpf_program__name(p)))
            program = bpf_object__next_program(object, p)
        }
        return names
    }

    /// Open and configure stages; programs skipped so far are not loaded again.
    private func open() throws {
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        object = "swiftmon".withCString { name in
            opts.object_name = name
            return bpf_object__open_mem(objectBytes.baseAddress, objectBytes.count, &opts)
        }
        guard object != nil else { throw failure(.open, nil, errno) }

        try configureMap("events", maxEntries: UInt32(ringBufferBytes))
        try configureMap("exec_scratch_area", maxEntries: UInt32(max(1, possibleCPUs)))
        try configureMap("path_scratch_area", maxEntries: UInt32(max(1, possibleCPUs)))
        try setConstant("sm_self_tgid", UInt32(bitPattern: getpid()))
        for skipped in skippedPrograms {
            if let program = bpf_object__find_program_by_name(object, skipped.name) {
                bpf_program__set_autoload(program, false)
            }
        }
    }

    /// Sets a `const volatile` global of the BPF programs (in .rodata) before
    /// load, finding its offset through the object's BTF.
    private func setConstant(_ name: String, _ value: UInt32) throws {
        func fail(_ why: String) -> SensorError {
            SensorError(stage: .configure, probe: name, message: why, libbpfLog: [])
        }
        guard let map = bpf_object__find_map_by_name(object, ".rodata"),
              let btf = bpf_object__btf(object) else { throw fail("no .rodata in the object") }
        var size = 0
        guard let data = bpf_map__initial_value(map, &size) else { throw fail("no initial value for .rodata") }
        let section = btf__find_by_name_kind(btf, ".rodata", 15 /* BTF_KIND_DATASEC (linux/btf.h) */)
        guard section > 0, let type = btf__type_by_id(btf, UInt32(section)) else { throw fail(".rodata has no BTF") }
        let count = Int(type.pointee.info & 0xFFFF)
        let entries = UnsafeRawPointer(type).advanced(by: MemoryLayout<btf_type>.size)
            .bindMemory(to: btf_var_secinfo.self, capacity: count)
        for i in 0..<count {
            let entry = entries[i]
            guard let variable = btf__type_by_id(btf, entry.type),
                  let text = btf__name_by_offset(btf, variable.pointee.name_off),
                  String(cString: text) == name else { continue }
            guard Int(entry.size) == MemoryLayout<UInt32>.size, Int(entry.offset) + 4 <= size else {
                throw fail("unexpected size")
            }
            // libbpf hands the initial value as const, but it is the buffer it loads from.
            UnsafeMutableRawPointer(mutating: data).storeBytes(of: value, toByteOffset: Int(entry.offset), as: UInt32.self)
            return
        }
        throw fail("not found in .rodata")
    }

    deinit {
        close()
        objectBytes.deallocate()
    }

    private func configureMap(_ name: String, maxEntries: UInt32) throws {
        guard let map = bpf_object__find_map_by_name(object, name) else {
            throw SensorError(stage: .configure, probe: name, message: "map not found in the object", libbpfLog: [])
        }
        let rc = bpf_map__set_max_entries(map, maxEntries)
        if rc != 0 { throw failure(.configure, name, -rc) }
    }

    /// Loads every program into the kernel (the verifier runs here). An
    /// optional program the kernel refuses is left out and the object loaded
    /// again without it; a required one stops start-up.
    func load() throws {
        while true {
            let logMark = LibbpfLog.count
            let rc = bpf_object__load(object)
            if rc == 0 { return }
            let failed = LibbpfLog.failedProgram(since: logMark)
            guard let failed, !BPFSensor.isRequired(failed), !skippedPrograms.contains(where: { $0.name == failed }),
                  bpf_object__find_program_by_name(object, failed) != nil
            else { throw failure(.load, failed, -rc) }
            skippedPrograms.append((failed, "load: " + String(cString: strerror(-rc))))
            bpf_object__close(object)
            object = nil
            try open()
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
        "access_sys_exit": [10], "bpf_sys_exit": [100], "image_sys_exit": [7],
    ]
    private var handlerPrograms: [String: OpaquePointer] = [:]
    /// Handlers out of the dispatch table because nothing they report is logged.
    private(set) var idleHandlers: Set<String> = []

    /// Puts each attached handler in the dispatch table, or takes it out,
    /// as the logged event kinds (nil: all) ask.
    func route(loggedEventIDs: Set<Int>?) {
        guard let table = bpf_object__find_map_by_name(object, "sys_exit_handlers") else { return }
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
        var program = bpf_object__next_program(object, nil)
        while let p = program {
            program = bpf_object__next_program(object, p)
            guard bpf_program__autoload(p) else { continue }
            let name = String(cString: bpf_program__name(p))
            if String(cString: bpf_program__section_name(p)) == "raw_tp" {
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
        guard let table = bpf_object__find_map_by_name(object, "sys_exit_handlers") else {
            throw SensorError(stage: .attach, probe: "sys_exit_handlers", message: "map not found", libbpfLog: [])
        }
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
        guard let map = bpf_object__find_map_by_name(object, "events") else {
            throw SensorError(stage: .read, probe: "events", message: "map not found", libbpfLog: [])
        }
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
    func lostRecords() -> [UInt32: UInt64] {
        guard let map = bpf_object__find_map_by_name(object, "lost_records") else { return [:] }
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

    /// Detaches and unloads everything. Safe to call twice.
    func close() {
        if let rb = ringBuffer { ring_buffer__free(rb); ringBuffer = nil }
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        if let obj = object { bpf_object__close(obj); object = nil }
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
    nonisolated(unsafe) private static var total = 0  // guarded by `lock`
    private static let lock = Lock()

    static func install() {
        libbpf_set_print { level, format, args in
            guard let format, let args else { return 0 }
            var buffer = [CChar](repeating: 0, count: 1024)
            _ = vsnprintf(&buffer, buffer.count, format, args)
            let line = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.trimmingCharacters(in: "\n")
            LibbpfLog.lock.withLock {
                LibbpfLog.lines.append(line)
                LibbpfLog.total += 1
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

    /// Lines printed so far (a mark for `failedProgram(since:)`).
    static var count: Int { lock.withLock { total } }

    /// The program libbpf said it could not load, among the lines printed
    /// since `mark` ("prog 'NAME': failed to load" and the like).
    static func failedProgram(since mark: Int) -> String? {
        let (recent, printed) = lock.withLock { (lines, total) }
        for line in recent.suffix(max(0, min(recent.count, printed - mark))).reversed() {
            guard let start = line.range(of: "prog '"), line.contains("fail") || line.contains("relo") else { continue }
            let rest = line[start.upperBound...]
            if let end = rest.firstIndex(of: "'") { return String(rest[..<end]) }
        }
        return nil
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
