// BPF programs loaded or attached by other processes (bpf(2)).
//
// Why sys_exit: the program exists (and has its id) only once the load
// succeeded; the returned descriptor, or the one an attach command names,
// leads to the kernel's struct bpf_prog with its type, id and name.
#include "sensor.bpf.h"

#define SM_BPF_PROG_LOAD 5
#define SM_BPF_PROG_ATTACH 8
#define SM_BPF_RAW_TRACEPOINT_OPEN 17
#define SM_BPF_LINK_CREATE 28

SEC("raw_tp")  // reached from sys_exit_dispatch (syscalls.bpf.c) by tail call
int BPF_PROG(bpf_sys_exit, struct pt_regs *regs, long ret)
{
    long nr = SM_SYSCALL_NR(regs);
    if (nr != SM_NR_bpf || ret < 0)
        return 0;
    long command = SM_ARG1(regs);
    const void *attr = (const void *)SM_ARG2(regs);
    __u32 prog_fd = 0, attach_type = 0;
    switch (command) {
    case SM_BPF_PROG_LOAD:
        prog_fd = ret;
        break;
    case SM_BPF_PROG_ATTACH:      // target_fd, attach_bpf_fd, attach_type
        bpf_probe_read_user(&prog_fd, 4, attr + 4);
        bpf_probe_read_user(&attach_type, 4, attr + 8);
        break;
    case SM_BPF_RAW_TRACEPOINT_OPEN:  // name (u64), prog_fd
        bpf_probe_read_user(&prog_fd, 4, attr + 8);
        break;
    case SM_BPF_LINK_CREATE:      // prog_fd, target_fd, attach_type
        bpf_probe_read_user(&prog_fd, 4, attr);
        bpf_probe_read_user(&attach_type, 4, attr + 8);
        break;
    default:
        return 0;
    }
    if (sm_is_self())
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    struct sm_bpf_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
    if (!r) {
        sm_count_lost(SM_RECORD_BPF);
        return 0;
    }
    sm_fill_header(&r->header, SM_RECORD_BPF, task);
    r->header.size = sizeof(*r);
    r->euid = BPF_CORE_READ(task, cred, euid.val);
    r->command = command;
    r->result = ret;
    r->attach_type = attach_type;
    r->program_type = 0;
    r->program_id = 0;
    __builtin_memset(r->program_name, 0, sizeof(r->program_name));
    struct file *file = sm_file_of_fd(task, prog_fd);
    if (file) {
        struct bpf_prog *prog = BPF_CORE_READ(file, private_data);
        r->program_type = BPF_CORE_READ(prog, type);
        r->program_id = BPF_CORE_READ(prog, aux, id);
        BPF_CORE_READ_INTO(&r->program_name, prog, aux, name);
    }
    sm_submit(r, SM_RECORD_BPF);
    return 0;
}
