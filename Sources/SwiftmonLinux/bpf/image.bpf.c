// Images: files mapped executable into a process — shared libraries mapped
// by the dynamic loader, dlopen()ed plugins, and file mappings an mprotect
// makes executable.
//
// Why sys_exit of mmap/mprotect: the loader maps each library's code with
// mmap(PROT_EXEC) from an open descriptor, which still names the file at
// exit; mprotect names an address, whose mapping (and its file) the kernel
// finds with bpf_find_vma. The main executable and the loader itself are
// mapped by the kernel during exec, not by these calls: ProcessCreate covers
// the executable.
#include "sensor.bpf.h"

#define SM_PROT_EXEC 0x4
#define SM_MAP_ANONYMOUS 0x20

struct vma_file {
    struct file *file;
};

static long image_vma_file(struct task_struct *task, struct vm_area_struct *vma, void *context)
{
    struct vma_file *found = context;
    found->file = BPF_CORE_READ(vma, vm_file);
    return 0;
}

static __always_inline int image_mapped(struct task_struct *task, struct file *file, __u32 op, long ret)
{
    if (!file)
        return 0;
    struct path_scratch *s = sm_path_begin(SM_RECORD_IMAGE, op, task, ret);
    if (!s)
        return 0;
    sm_path_put_inode(s, BPF_CORE_READ(file, f_inode));
    __u32 offset = sm_path_put_kernel(s, 0, &file->f_path, &s->record.dir1_size, SM_FLAG_PATH1_TRUNCATED);
    sm_path_emit(s, offset);
    return 0;
}

SEC("raw_tp")  // reached from sys_exit_dispatch (syscalls.bpf.c) by tail call
int BPF_PROG(image_sys_exit, struct pt_regs *regs, long ret)
{
    long nr = SM_SYSCALL_NR(regs);
    if (nr != SM_NR_mmap && nr != SM_NR_mprotect)
        return 0;
    if ((unsigned long)ret >= (unsigned long)-4095)  // an error
        return 0;
    if (nr == SM_NR_mmap) {
        if (!(SM_ARG3(regs) & SM_PROT_EXEC) || (SM_ARG4(regs) & SM_MAP_ANONYMOUS))
            return 0;
        if (sm_is_self())
            return 0;
        struct task_struct *task = bpf_get_current_task_btf();
        return image_mapped(task, sm_file_of_fd(task, SM_ARG5(regs)), SM_PATH_OP_MMAP_EXEC, ret);
    }
    if (!(SM_ARG3(regs) & SM_PROT_EXEC) || sm_is_self())
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    struct vma_file found = { .file = NULL };
    bpf_find_vma(task, SM_ARG1(regs), image_vma_file, &found, 0);
    return image_mapped(task, found.file, SM_PATH_OP_MPROTECT_EXEC, 0);
}
