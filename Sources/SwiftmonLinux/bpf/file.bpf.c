// Files: created, deleted, renamed; block devices opened (raw disk access).
//
// Why sys_exit: there is no VFS tracepoint, and fentry/LSM hooks are refused
// on the hosts swiftmon targets. At sys_exit the result is known, so a create
// that failed (EEXIST with O_EXCL, EACCES) or an unlink that did not happen
// is no event. A successful open hands back a descriptor whose struct file
// says whether this open created the file (FMODE_CREATED) and holds the
// file's exact path, which the dentry walk turns into an absolute one.
// Deletes and renames leave no descriptor: their names are resolved against
// the directory descriptor or working directory they were given relative to.
#include "sensor.bpf.h"

// include/linux/fs.h: set on the struct file when this open created the inode.
#define SM_FMODE_CREATED (1U << 20)
#define SM_FMODE_READ 0x1
#define SM_FMODE_WRITE 0x2
#define SM_AT_REMOVEDIR 0x200

static __always_inline int file_opened(struct task_struct *task, long fd)
{
    struct file *file = sm_file_of_fd(task, fd);
    if (!file)
        return 0;
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    __u32 mode = BPF_CORE_READ(inode, i_mode);
    __u32 op;
    if ((mode & SM_S_IFMT) == SM_S_IFBLK) {
        // An O_PATH descriptor (neither FMODE_READ nor FMODE_WRITE) cannot touch the data.
        if (!(BPF_CORE_READ(file, f_mode) & (SM_FMODE_READ | SM_FMODE_WRITE)))
            return 0;
        op = SM_PATH_OP_BLOCK_OPEN;
    } else if ((mode & SM_S_IFMT) == SM_S_IFREG && (BPF_CORE_READ(file, f_mode) & SM_FMODE_CREATED)) {
        // O_TMPFILE creates an inode without a name: nothing to report.
        if (BPF_CORE_READ(inode, __i_nlink) == 0)
            return 0;
        op = SM_PATH_OP_CREATE;
    } else {
        return 0;
    }
    struct path_scratch *s = sm_path_begin(SM_RECORD_FILE, op, task, fd);
    if (!s)
        return 0;
    sm_path_put_inode(s, inode);
    __u32 offset = sm_path_put_kernel(s, 0, &file->f_path, &s->record.dir1_size, SM_FLAG_PATH1_TRUNCATED);
    sm_path_emit(s, offset);
    return 0;
}

// The mode of the file an unlink removes, by thread: by sys_exit the inode is
// gone, and no VFS tracepoint names it. The one tracepoint on that path is the
// change-time update the filesystem makes to the victim (ext4, tmpfs, xfs,
// btrfs all do): seen inside an unlink syscall, the regular file whose ctime
// changes is the one being removed (the directory's changes too, and is told
// apart by its type). FileDelete's IsExecutable comes from this mode.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);    // thread id
    __type(value, __u32);  // i_mode of the file being unlinked
} unlink_victims SEC(".maps");

static __always_inline void file_note_ctime(struct inode *inode)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    long nr = SM_SYSCALL_NR(regs);
    if (nr != SM_NR_unlink && nr != SM_NR_unlinkat)
        return;
    __u32 mode = BPF_CORE_READ(inode, i_mode);
    if ((mode & SM_S_IFMT) != SM_S_IFREG)
        return;
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    bpf_map_update_elem(&unlink_victims, &tid, &mode, BPF_ANY);
}

// The three ways the kernel records a new ctime (with and without multigrain
// timestamps); each is optional, a kernel without it loads without it.
SEC("tp_btf/inode_set_ctime_to_ts")
int BPF_PROG(file_ctime_set, struct inode *inode)
{
    file_note_ctime(inode);
    return 0;
}

SEC("tp_btf/ctime_ns_xchg")
int BPF_PROG(file_ctime_xchg, struct inode *inode)
{
    file_note_ctime(inode);
    return 0;
}

SEC("tp_btf/ctime_xchg_skip")
int BPF_PROG(file_ctime_skip, struct inode *inode)
{
    file_note_ctime(inode);
    return 0;
}

// One name given relative to a directory: unlink, mknod.
static __always_inline int file_named(struct task_struct *task, __u32 op, long ret, long dirfd, const char *name)
{
    struct path_scratch *s = sm_path_begin(SM_RECORD_FILE, op, task, ret);
    if (!s)
        return 0;
    if (op == SM_PATH_OP_DELETE) {
        __u32 tid = (__u32)bpf_get_current_pid_tgid();
        __u32 *mode = bpf_map_lookup_elem(&unlink_victims, &tid);
        if (mode) {
            s->record.mode = *mode;
            bpf_map_delete_elem(&unlink_victims, &tid);
        }
    }
    __u32 offset = sm_path_put_at(s, 0, task, dirfd, name, &s->record.dir1_size, &s->record.name1_size,
                                  SM_FLAG_PATH1_TRUNCATED);
    sm_path_emit(s, offset);
    return 0;
}

// Two names: rename (old → new), link (existing → new).
static __always_inline int file_two_named(struct task_struct *task, __u32 op, long ret, long dirfd1,
                                          const char *name1, long dirfd2, const char *name2)
{
    struct path_scratch *s = sm_path_begin(SM_RECORD_FILE, op, task, ret);
    if (!s)
        return 0;
    __u32 offset = sm_path_put_at(s, 0, task, dirfd1, name1, &s->record.dir1_size, &s->record.name1_size,
                                  SM_FLAG_PATH1_TRUNCATED);
    offset = sm_path_put_at(s, offset, task, dirfd2, name2, &s->record.dir2_size, &s->record.name2_size,
                            SM_FLAG_PATH2_TRUNCATED);
    sm_path_emit(s, offset);
    return 0;
}

SEC("raw_tp")  // reached from sys_exit_dispatch (syscalls.bpf.c) by tail call
int BPF_PROG(file_sys_exit, struct pt_regs *regs, long ret)
{
    long nr = SM_SYSCALL_NR(regs);
    if (ret < 0 && (nr == SM_NR_unlink || nr == SM_NR_unlinkat)) {
        // A failed unlink leaves no victim behind for the next one.
        __u32 tid = (__u32)bpf_get_current_pid_tgid();
        bpf_map_delete_elem(&unlink_victims, &tid);
    }
    if (ret < 0 || sm_is_self())
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();

    if (nr == SM_NR_openat || nr == SM_NR_open || nr == SM_NR_creat || nr == SM_NR_openat2)
        return file_opened(task, ret);
    if (nr == SM_NR_unlinkat) {
        if (SM_ARG3(regs) & SM_AT_REMOVEDIR)
            return 0;
        return file_named(task, SM_PATH_OP_DELETE, ret, SM_ARG1(regs), (const char *)SM_ARG2(regs));
    }
    if (nr == SM_NR_unlink)
        return file_named(task, SM_PATH_OP_DELETE, ret, SM_AT_FDCWD, (const char *)SM_ARG1(regs));
    if (nr == SM_NR_renameat || nr == SM_NR_renameat2)
        return file_two_named(task, SM_PATH_OP_RENAME, ret, SM_ARG1(regs), (const char *)SM_ARG2(regs),
                              SM_ARG3(regs), (const char *)SM_ARG4(regs));
    if (nr == SM_NR_rename)
        return file_two_named(task, SM_PATH_OP_RENAME, ret, SM_AT_FDCWD, (const char *)SM_ARG1(regs),
                              SM_AT_FDCWD, (const char *)SM_ARG2(regs));
    if (nr == SM_NR_linkat)
        return file_two_named(task, SM_PATH_OP_LINK, ret, SM_ARG1(regs), (const char *)SM_ARG2(regs),
                              SM_ARG3(regs), (const char *)SM_ARG4(regs));
    if (nr == SM_NR_link)
        return file_two_named(task, SM_PATH_OP_LINK, ret, SM_AT_FDCWD, (const char *)SM_ARG1(regs),
                              SM_AT_FDCWD, (const char *)SM_ARG2(regs));
    if (nr == SM_NR_mknodat || nr == SM_NR_mknod) {
        bool at = nr == SM_NR_mknodat;
        __u32 mode = at ? SM_ARG3(regs) : SM_ARG2(regs);
        // mode 0 means a regular file, as S_IFREG does.
        if ((mode & SM_S_IFMT) != 0 && (mode & SM_S_IFMT) != SM_S_IFREG)
            return 0;
        return file_named(task, SM_PATH_OP_MKNOD, ret, at ? SM_ARG1(regs) : SM_AT_FDCWD,
                          (const char *)(at ? SM_ARG2(regs) : SM_ARG1(regs)));
    }
    return 0;
}
