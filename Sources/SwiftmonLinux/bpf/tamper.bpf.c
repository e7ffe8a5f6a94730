// Tamper: signals raised against swiftmon itself.
//
// Why signal_generate: it fires where the kernel decides a signal for a task
// (kill, tgkill, sigqueue, the terminal's ^C, the OOM killer), in the
// sender's context, with the target and the kernel's verdict — before the
// target can react, so even SIGKILL and SIGSTOP, which swiftmon cannot catch,
// are seen. It runs for every signal on the machine: the first test (is the
// target swiftmon?) is one load and one compare, and everything else is
// done only for swiftmon's own signals.
//
// SIGKILL leaves the process no time to read a record. Its record goes to
// the kill ledger, a ring buffer user space pins in the BPF file system
// (/sys/fs/bpf/swiftmon/): the map outlives the process, and the next start
// of swiftmon reads what it holds and reports it with the time it happened.
#include "sensor.bpf.h"

#define SM_SIGKILL 9
#define SM_SIGCHLD 17
#define SM_SIGURG 23
#define SM_SIGWINCH 28
#define SM_SI_USER 0
#define SM_SI_KERNEL 0x80

// The data area is large enough for the path walker's masked offsets.
#define SM_SIGNAL_DATA_SIZE (SM_PATH_AREA_MASK + 1 + SM_NAME_MAX)

struct signal_scratch {
    struct sm_signal_record record;
    __u8 data[SM_SIGNAL_DATA_SIZE];
};

_Static_assert(sizeof(struct sm_signal_record) % 8 == 0, "data must follow the record directly");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct signal_scratch);
} signal_scratch_area SEC(".maps");

// SIGKILL records, kept past the process's death: pinned by user space
// before load (and reused by the next start). 64 KiB holds a dozen records
// with long image paths, hundreds with ordinary ones.
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024);
} kill_ledger SEC(".maps");

// SIGKILL records the ledger had no room for (no start read it for that
// long): pinned with it, reported as a loss by the next start.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} kill_ledger_lost SEC(".maps");

SEC("tp_btf/signal_generate")
int BPF_PROG(tamper_signal, int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result)
{
    // The cost every other signal on the machine pays: this test.
    if (sm_self_tgid == 0 || task->tgid != sm_self_tgid)
        return 0;
    // Ignored by default and by swiftmon: they cannot stop, pause or steer it.
    if (sig == SM_SIGCHLD || sig == SM_SIGURG || sig == SM_SIGWINCH)
        return 0;
    // swiftmon's own (SIGPIPE of a write to a closed pipe, a raise()).
    if (sm_is_self())
        return 0;

    __u32 zero = 0;
    struct signal_scratch *s = bpf_map_lookup_elem(&signal_scratch_area, &zero);
    if (!s) {
        sm_count_lost(SM_RECORD_SIGNAL);
        return 0;
    }
    struct task_struct *sender = bpf_get_current_task_btf();
    struct sm_signal_record *r = &s->record;
    sm_fill_header(&r->header, SM_RECORD_SIGNAL, sender);
    r->euid = BPF_CORE_READ(sender, cred, euid.val);
    r->signal = sig;
    // The kernel passes two special values instead of a siginfo:
    // SEND_SIG_NOINFO (0, a kill() without details) and SEND_SIG_PRIV (1, the kernel itself).
    if ((unsigned long)info == 0)
        r->code = SM_SI_USER;
    else if ((unsigned long)info == 1)
        r->code = SM_SI_KERNEL;
    else
        r->code = BPF_CORE_READ(info, si_code);
    r->result = result;
    r->target_pid = task->tgid;
    r->target_tid = task->pid;
    r->target_start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime);
    r->unread_bytes = 0;
    r->group = group ? 1 : 0;
    r->pad0 = 0;
    r->image_size = 0;
    r->pad1 = 0;
    bpf_get_current_comm(r->comm, sizeof(r->comm));

    // The sender's executable: the next start may find it gone.
    struct file *exe = BPF_CORE_READ(sender, mm, exe_file);
    if (exe) {
        bool truncated = false;
        r->image_size = sm_put_path(s->data, 0, &exe->f_path, &truncated);
        if (truncated)
            r->header.flags |= SM_FLAG_IMAGE_TRUNCATED;
    }
    __u32 size = sizeof(*r) + r->image_size;
    if (size > sizeof(*s))
        size = sizeof(*s);
    r->header.size = size;

    if (sig == SM_SIGKILL) {
        r->unread_bytes = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
        if (bpf_ringbuf_output(&kill_ledger, s, size, 0) != 0) {
            __u64 *lost = bpf_map_lookup_elem(&kill_ledger_lost, &zero);
            if (lost)
                __sync_fetch_and_add(lost, 1);
        }
        return 0;
    }
    sm_output(s, size, SM_RECORD_SIGNAL);
    return 0;
}
