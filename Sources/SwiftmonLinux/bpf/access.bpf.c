// Process access: one process taking hold of another's memory or execution —
// ptrace attach/seize and process_vm_readv/writev.
//
// Why sys_exit: these are syscalls with no tracepoint of their own; at exit
// the result says whether access was granted. Only granted access is
// reported, as Sysmon reports opened handles — except on swiftmon itself,
// where an attempt that failed is tamper too (SensorAccess, 206).
#include "sensor.bpf.h"

#define SM_PTRACE_ATTACH 16
#define SM_PTRACE_SEIZE 0x4206

SEC("raw_tp")  // reached from sys_exit_dispatch (syscalls.bpf.c) by tail call
int BPF_PROG(access_sys_exit, struct pt_regs *regs, long ret)
{
    long nr = SM_SYSCALL_NR(regs);
    if (nr != SM_NR_ptrace && nr != SM_NR_process_vm_readv && nr != SM_NR_process_vm_writev)
        return 0;
    long request = 0, target;
    if (nr == SM_NR_ptrace) {
        request = SM_ARG1(regs);
        if (request != SM_PTRACE_ATTACH && request != SM_PTRACE_SEIZE)
            return 0;
        target = SM_ARG2(regs);
    } else {
        target = SM_ARG1(regs);
    }
    // A failed attempt counts only against swiftmon's own process id (a
    // thread id of swiftmon is recognised by user space, for granted ones).
    if (ret < 0 && (sm_self_tgid == 0 || (__u32)target != sm_self_tgid))
        return 0;
    if (sm_is_self())
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    struct sm_access_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
    if (!r) {
        sm_count_lost(SM_RECORD_ACCESS);
        return 0;
    }
    sm_fill_header(&r->header, SM_RECORD_ACCESS, task);
    r->header.size = sizeof(*r);
    r->euid = BPF_CORE_READ(task, cred, euid.val);
    r->target_pid = target;
    r->operation = nr;
    r->request = request;
    r->result = ret;
    r->pad0 = 0;
    sm_submit(r, SM_RECORD_ACCESS);
    return 0;
}
