// Kernel modules: init_module and finit_module, whatever their result.
//
// Why sys_exit: the attempt is what matters — a kernel built without module
// support still has the syscalls (they return ENOSYS), and a refused load is
// as telling as a successful one; at sys_exit the result comes with it.
// finit_module names its file by descriptor, still open at exit.
#include "sensor.bpf.h"

SEC("raw_tp")  // reached from sys_exit_dispatch (syscalls.bpf.c) by tail call
int BPF_PROG(module_sys_exit, struct pt_regs *regs, long ret)
{
    long nr = SM_SYSCALL_NR(regs);
    if (nr != SM_NR_init_module && nr != SM_NR_finit_module)
        return 0;
    if (sm_is_self())
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    __u32 op = nr == SM_NR_init_module ? SM_PATH_OP_INIT_MODULE : SM_PATH_OP_FINIT_MODULE;
    struct path_scratch *s = sm_path_begin(SM_RECORD_MODULE, op, task, ret);
    if (!s)
        return 0;
    __u32 offset = 0;
    if (op == SM_PATH_OP_FINIT_MODULE) {
        struct file *file = sm_file_of_fd(task, SM_ARG1(regs));
        if (file) {
            sm_path_put_inode(s, BPF_CORE_READ(file, f_inode));
            offset = sm_path_put_kernel(s, 0, &file->f_path, &s->record.dir1_size, SM_FLAG_PATH1_TRUNCATED);
        }
    }
    sm_path_emit(s, offset);
    return 0;
}
