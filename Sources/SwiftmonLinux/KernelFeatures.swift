import CLibbpf

/// What the running kernel offers BPF programs, asked before load so that a
/// program it cannot run is left out by decision, not by a failed load: the
/// tracepoints its BTF describes, and (through libbpf's probes) the program
/// types and helpers it accepts. One instance serves one load; answers are
/// cached, and the kernel's BTF is freed with it.
final class KernelFeatures {
    /// The kernel's own BTF (/sys/kernel/btf/vmlinux), nil if it has none.
    private let vmlinux: OpaquePointer?
    private var programTypes: [UInt32: Int32] = [:]
    private var helpers: [UInt64: Int32] = [:]

    init() {
        vmlinux = btf__load_vmlinux_btf()
    }

    deinit {
        btf__free(vmlinux)
    }

    /// Why `program` cannot run on this kernel, or nil when nothing it needs
    /// is missing. For a required program the program-type probe is not
    /// trusted (see `accepts`): the load tries it, and its errno says why.
    func lack(of program: OpaquePointer, required: Bool) -> String? {
        let type = bpf_program__type(program)
        if !required && !accepts(type) {
            return "this kernel does not load \(String(cString: libbpf_bpf_prog_type_str(type))) programs"
        }
        if let tracepoint = BPFSensor.hook(of: program), !hasTracepoint(tracepoint) {
            return "this kernel has no tracepoint \(tracepoint)"
        }
        for helper in KernelFeatures.helpers(calledBy: program).sorted() where !offers(helper, to: type) {
            let name = sm_bpf_helper_name(UInt32(helper)).map { String(cString: $0) } ?? "#\(helper)"
            return "this kernel lacks the BPF helper \(name)"
        }
        return nil
    }

    /// Whether the kernel's BTF has the tracepoint: every tracepoint built
    /// into the kernel comes with a `btf_trace_<name>` typedef, which is
    /// what libbpf itself looks up to attach a tp_btf program.
    func hasTracepoint(_ name: String) -> Bool {
        guard let vmlinux else { return false }
        return btf__find_by_name_kind(vmlinux, "btf_trace_" + name, UInt32(BTF_KIND_TYPEDEF)) > 0
    }

    /// libbpf's probe loads a minimal program of the type. It cannot tell a
    /// type the kernel lacks from a load it refuses (EPERM without
    /// CAP_BPF), so a "no" here is acted on for optional programs only.
    /// Tracing programs are not probed: libbpf (1.1 as today) expects the
    /// verifier's wording for a bad attach target, which newer kernels
    /// changed (6.18 answers "no" while tp_btf programs load). A tp_btf
    /// program needs the `btf_trace_` typedef of its tracepoint, which
    /// came with the program type (5.5): `hasTracepoint` answers for it.
    func accepts(_ type: bpf_prog_type) -> Bool {
        if type == BPF_PROG_TYPE_TRACING { return true }
        if let known = programTypes[type.rawValue] { return known == 1 }
        let answer = libbpf_probe_bpf_prog_type(type, nil)
        programTypes[type.rawValue] = answer
        return answer == 1
    }

    /// Whether programs of `type` may call `helper`. libbpf cannot probe
    /// helpers for tracing (tp_btf) programs, which need an attach target
    /// to load at all; they are offered every helper raw_tp programs are
    /// (the kernel's tracing_prog_func_proto falls back to
    /// raw_tp_prog_func_proto), so the raw_tp answer stands for both. Only a
    /// definite "no" counts: a probe error reads as "offered".
    func offers(_ helper: Int32, to type: bpf_prog_type) -> Bool {
        let asked = type == BPF_PROG_TYPE_TRACING ? BPF_PROG_TYPE_RAW_TRACEPOINT : type
        let key = UInt64(asked.rawValue) << 32 | UInt64(UInt32(bitPattern: helper))
        if let known = helpers[key] { return known != 0 }
        let answer = libbpf_probe_bpf_helper(asked, bpf_func_id(UInt32(bitPattern: helper)), nil)
        helpers[key] = answer
        return answer != 0
    }

    /// The helpers a program calls by number (a call instruction whose
    /// source register is 0; 1 calls a subprogram, 2 a kernel function).
    /// Before load libbpf holds each program's own instructions only:
    /// helpers called just from a subprogram (a bpf_loop callback) are not
    /// seen here, and the load reports them if the kernel lacks one.
    static func helpers(calledBy program: OpaquePointer) -> Set<Int32> {
        guard let instructions = bpf_program__insns(program) else { return [] }
        var found: Set<Int32> = []
        for i in 0..<bpf_program__insn_cnt(program) {
            let instruction = instructions[i]
            if instruction.code == UInt8(BPF_JMP | BPF_CALL) && instruction.src_reg == 0 {
                found.insert(instruction.imm)
            }
        }
        return found
    }
}
