// The one program on the sys_exit tracepoint: it hands each syscall to the
// handler of its concern (file, network, module, access, bpf, image) by a
// tail call through a table indexed by syscall number, which user space fills
// after load.
//
// Why one dispatcher: every program on sys_exit runs for every syscall on
// the machine. Six handlers attached side by side cost six program runs per
// read() or write(); one dispatcher costs one run and a lookup of an empty
// slot, and the handlers still load (or fail to load) one by one, so an
// optional concern the kernel refuses leaves its slots empty and the others
// working.
#include "sensor.bpf.h"

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, SM_SYSCALL_SLOTS);
    __type(key, __u32);
    __type(value, __u32);
} sys_exit_handlers SEC(".maps");

SEC("raw_tp/sys_exit")
int sys_exit_dispatch(struct bpf_raw_tracepoint_args *ctx)
{
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    long nr = SM_SYSCALL_NR(regs);
    if ((unsigned long)nr >= SM_SYSCALL_SLOTS)
        return 0;
    bpf_tail_call(ctx, &sys_exit_handlers, nr);
    return 0;
}
