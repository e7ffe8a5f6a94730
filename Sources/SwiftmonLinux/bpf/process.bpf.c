// Process and thread lifecycle: exec, fork/clone, exit.
//
// Why these hooks: the sched_process_* tracepoints fire for every process and
// thread on the machine, whatever syscall or kernel path created it, and at
// exec the new image's argv, file and working directory are all in place, so
// even a process that lives a millisecond is captured completely in the
// kernel. tp_btf gives typed access to task_struct without tracefs.
#include "sensor.bpf.h"
#include "container.bpf.h"

// Assembly area for one exec record: the fixed part, then paths and argv.
struct exec_scratch {
    struct sm_exec_record record;
    __u8 data[SM_DATA_SIZE];
};

_Static_assert(sizeof(struct sm_exec_record) % 8 == 0, "data must follow the record directly");

// One slot per CPU, indexed by the CPU id: per-CPU maps cannot hold values
// this large (32 KiB limit). Tracepoint programs do not migrate while they
// run, so a CPU's slot has one user at a time. User space sets max_entries to
// the number of possible CPUs before load.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct exec_scratch);
} exec_scratch_area SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 cpu = bpf_get_smp_processor_id();
    struct exec_scratch *s = bpf_map_lookup_elem(&exec_scratch_area, &cpu);
    if (!s) {
        sm_count_lost(SM_RECORD_EXEC);
        return 0;
    }
    struct sm_exec_record *r = &s->record;

    sm_fill_header(&r->header, SM_RECORD_EXEC, task);
    sm_fill_credentials(&r->credentials, task);
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    r->parent_pid = BPF_CORE_READ(parent, tgid);
    r->parent_start_boot_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
    sm_fill_container(&r->container, task);

    // The file that now runs: for a script, its interpreter (as /proc/PID/exe).
    struct file *file = BPF_CORE_READ(bprm, file);
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    r->image_inode = BPF_CORE_READ(inode, i_ino);
    r->image_device = BPF_CORE_READ(inode, i_sb, s_dev);
    r->image_ctime_ns = sm_inode_ctime_ns(inode);

    // bprm->buf holds the first bytes of that file: the ELF identification.
    unsigned char ident[20];
    r->elf_class = 0;
    r->elf_machine = 0;
    if (bpf_probe_read_kernel(ident, sizeof(ident), bprm->buf) == 0 &&
        ident[0] == 0x7f && ident[1] == 'E' && ident[2] == 'L' && ident[3] == 'F') {
        r->elf_class = ident[4];
        r->elf_machine = ident[18] | (ident[19] << 8);
    }

    bool truncated = false;
    __u32 offset = sm_put_path(s->data, 0, &file->f_path, &truncated);
    if (truncated)
        r->header.flags |= SM_FLAG_IMAGE_TRUNCATED;
    r->image_size = offset;

    truncated = false;
    struct fs_struct *fs = BPF_CORE_READ(task, fs);
    __u32 cwd_size = sm_put_path(s->data, offset, &fs->pwd, &truncated);
    if (truncated)
        r->header.flags |= SM_FLAG_CWD_TRUNCATED;
    r->cwd_size = cwd_size;
    offset = (offset + cwd_size) & SM_PATH_AREA_MASK;

    // argv of the new image, NUL-separated, as laid out on its stack.
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
    unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
    __u64 total = arg_end > arg_start ? arg_end - arg_start : 0;
    __u32 length = total > SM_ARGS_MAX ? SM_ARGS_MAX : total;
    r->args_total = total > 0xFFFFFFFFULL ? 0xFFFFFFFF : total;
    if (total > SM_ARGS_MAX)
        r->header.flags |= SM_FLAG_ARGS_TRUNCATED;
    if (length > SM_ARGS_MAX)  // restated for the verifier
        length = SM_ARGS_MAX;
    if (length > 0 && bpf_probe_read_user(&s->data[offset], length, (void *)arg_start) != 0) {
        r->header.flags |= SM_FLAG_ARGS_UNREADABLE;
        length = 0;
    }
    r->args_size = length;

    __u32 size = sizeof(*r) + offset + length;
    if (size > sizeof(*s))
        size = sizeof(*s);
    r->header.size = size;
    sm_output(s, size, SM_RECORD_EXEC);
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
    struct sm_fork_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
    if (!r) {
        sm_count_lost(SM_RECORD_FORK);
        return 0;
    }
    sm_fill_header(&r->header, SM_RECORD_FORK, child);
    r->header.size = sizeof(*r);
    // The child has no start_boottime of its own yet in some paths of older
    // kernels' group_leader reads: read the child directly for a new process.
    if (r->header.pid == r->header.tid)
        r->header.start_boot_ns = BPF_CORE_READ(child, start_boottime);
    else
        r->header.flags |= SM_FLAG_THREAD;
    sm_fill_credentials(&r->credentials, child);
    r->parent_pid = BPF_CORE_READ(parent, tgid);
    r->parent_tid = BPF_CORE_READ(parent, pid);
    r->parent_start_boot_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
    sm_fill_container(&r->container, child);
    sm_submit(r, SM_RECORD_FORK);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *task)
{
    struct sm_exit_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
    if (!r) {
        sm_count_lost(SM_RECORD_EXIT);
        return 0;
    }
    sm_fill_header(&r->header, SM_RECORD_EXIT, task);
    r->header.size = sizeof(*r);
    // do_exit() drops signal->live before this tracepoint: zero means the
    // last thread of the process is leaving. Read rather than taking the
    // tracepoint's group_dead argument, which older kernels do not pass.
    if (BPF_CORE_READ(task, signal, live.counter) == 0)
        r->header.flags |= SM_FLAG_GROUP_DEAD;
    if (r->header.pid != r->header.tid)
        r->header.flags |= SM_FLAG_THREAD;
    r->exit_code = BPF_CORE_READ(task, exit_code);
    r->pad0 = 0;
    sm_submit(r, SM_RECORD_EXIT);
    return 0;
}
