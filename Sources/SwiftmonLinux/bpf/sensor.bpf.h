// What every swiftmon BPF program shares: the ring buffer, the record counters,
// and the helpers that read a task's identity and a path out of the kernel.
// Each *.bpf.c includes this once; one concern per *.bpf.c file.
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "swiftmon_records.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// One ring buffer for all records, so user space sees them in the order they
// were reserved across CPUs. User space sizes it before load (--buffer-size).
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

// Per record kind and per CPU (user space sums them; event 255, --stats,
// `service status`):
//  - generated_records: every record a program made, whether it reached the
//    ring buffer or not: the kernel side's ground truth for the accounting
//    generated = read by swiftmon + lost_records;
//  - lost_records: those that could not be written (ring buffer full, no
//    scratch area, a full map that would have held the record's start).
// A SIGKILL against swiftmon goes to the kill ledger instead (tamper.bpf.c),
// counted there, not here.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SM_RECORD_KIND_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} generated_records SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SM_RECORD_KIND_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} lost_records SEC(".maps");

// Per-CPU slots: a program does not migrate while it runs, so a plain add is exact.
static __always_inline void sm_count_in(void *counters, __u32 kind)
{
    __u64 *count = bpf_map_lookup_elem(counters, &kind);
    if (count)
        *count += 1;
}

// A record made and lost before it could be written: generated and lost.
static __always_inline void sm_count_lost(__u32 kind)
{
    sm_count_in(&generated_records, kind);
    sm_count_in(&lost_records, kind);
}

// Hands a reserved record to user space. Counted as generated first, so that
// user space never reads more records than the kernel says it made.
static __always_inline void sm_submit(void *record, __u32 kind)
{
    sm_count_in(&generated_records, kind);
    bpf_ringbuf_submit(record, 0);
}

// Copies an assembled record into the ring buffer, or counts it lost.
static __always_inline void sm_output(void *record, __u64 size, __u32 kind)
{
    sm_count_in(&generated_records, kind);
    if (bpf_ringbuf_output(&events, record, size, 0) != 0)
        sm_count_in(&lost_records, kind);
}

// The process a task belongs to is named by its tgid and the start time of its
// thread-group leader: the same pair /proc/PID/stat gives for a live process.
static __always_inline void sm_fill_header(struct sm_record_header *h, __u16 kind,
                                           struct task_struct *task)
{
    h->kind = kind;
    h->flags = 0;
    h->time_boot_ns = bpf_ktime_get_boot_ns();
    h->pid = BPF_CORE_READ(task, tgid);
    h->tid = BPF_CORE_READ(task, pid);
    h->start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline void sm_fill_credentials(struct sm_credentials *c, struct task_struct *task)
{
    const struct cred *cred = BPF_CORE_READ(task, cred);
    c->uid = BPF_CORE_READ(cred, uid.val);
    c->euid = BPF_CORE_READ(cred, euid.val);
    c->gid = BPF_CORE_READ(cred, gid.val);
    c->egid = BPF_CORE_READ(cred, egid.val);
    c->login_uid = (__u32)-1;
    c->session_id = (__u32)-1;
    // Present only in kernels built with audit support.
    if (bpf_core_field_exists(task->loginuid)) {
        c->login_uid = BPF_CORE_READ(task, loginuid.val);
        c->session_id = BPF_CORE_READ(task, sessionid);
    }
}

// Offsets into a scratch data area are masked with this so the verifier can
// prove every write stays inside it; the code keeps them far below it anyway.
#define SM_PATH_AREA_MASK 0x3FFF

struct sm_path_walk {
    __u8 *data;
    __u32 offset;
    __u32 written;
    struct dentry *dentry;
    struct mount *mnt;
    bool truncated;
    bool done;
};

// One step up the tree: one component written, or one mount point crossed.
// A bpf_loop callback so that the verifier checks the step once, not once per
// possible depth.
static long sm_path_step(__u32 index, void *context)
{
    struct sm_path_walk *walk = context;
    struct dentry *dentry = walk->dentry;
    struct mount *mnt = walk->mnt;
    struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
    struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

    if (dentry == mnt_root) {
        struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
        if (mnt_parent == mnt) {
            walk->done = true;                  // the root of the namespace
            return 1;
        }
        walk->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
        walk->mnt = mnt_parent;
        return 0;
    }
    if (walk->written >= SM_PATH_MAX) {
        walk->truncated = true;
        return 1;
    }
    const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
    __u32 at = (walk->offset + walk->written) & SM_PATH_AREA_MASK;
    long n = bpf_probe_read_kernel_str(&walk->data[at], SM_NAME_MAX, name);
    if (n <= 0) {
        walk->done = true;
        return 1;
    }
    walk->written += n;
    if (dentry == parent) {
        walk->done = true;                      // a root that is not a mount root (pipe:, anon)
        return 1;
    }
    walk->dentry = parent;
    return 0;
}

// Writes the components of `path`, leaf first, each ending in NUL, starting at
// data[offset]. Crosses mount points up to the root of the mount namespace.
// Returns the bytes written; sets *truncated when the path was deeper or
// longer than SM_PATH_DEPTH_MAX / SM_PATH_MAX.
static __always_inline __u32 sm_put_path(__u8 *data, __u32 offset, const struct path *path,
                                         bool *truncated)
{
    struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
    struct sm_path_walk walk = {
        .data = data,
        .offset = offset,
        .written = 0,
        .dentry = BPF_CORE_READ(path, dentry),
        .mnt = container_of(vfsmnt, struct mount, mnt),
        .truncated = false,
        .done = false,
    };
    bpf_loop(SM_PATH_DEPTH_MAX, sm_path_step, &walk, 0);
    if (walk.truncated || !walk.done)
        *truncated = true;
    return walk.written;
}

// swiftmon's own process, set by user space before load: its own file writes,
// connections and BPF calls are not events (they would feed back on
// themselves: every event written would be a file event).
const volatile __u32 sm_self_tgid = 0;

static __always_inline bool sm_is_self(void)
{
    return sm_self_tgid != 0 && (bpf_get_current_pid_tgid() >> 32) == sm_self_tgid;
}

// Where an architecture keeps the syscall number and the sixth argument in
// the saved registers (the syscall numbers are in swiftmon_records.h).
#if defined(__TARGET_ARCH_x86)
#define SM_SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#define SM_ARG6(regs) BPF_CORE_READ(regs, r9)
#elif defined(__TARGET_ARCH_arm64)
#define SM_SYSCALL_NR(regs) BPF_CORE_READ(regs, syscallno)
#define SM_ARG6(regs) BPF_CORE_READ(regs, regs[5])
#else
#error "swiftmon's syscall probes know x86-64 and arm64 only"
#endif

// Syscall arguments, read at sys_exit from the registers saved at entry: the
// syscall does not change them, so the exit probe sees the arguments and the
// result together, with no per-task map between an enter and an exit probe.
#define SM_ARG1(regs) PT_REGS_PARM1_CORE_SYSCALL(regs)
#define SM_ARG2(regs) PT_REGS_PARM2_CORE_SYSCALL(regs)
#define SM_ARG3(regs) PT_REGS_PARM3_CORE_SYSCALL(regs)
#define SM_ARG4(regs) PT_REGS_PARM4_CORE_SYSCALL(regs)
#define SM_ARG5(regs) PT_REGS_PARM5_CORE_SYSCALL(regs)

#define SM_AT_FDCWD -100
#define SM_S_IFMT 00170000
#define SM_S_IFREG 0100000
#define SM_S_IFBLK 0060000

// The open file behind descriptor `fd` of `task`, or NULL.
static __always_inline struct file *sm_file_of_fd(struct task_struct *task, long fd_arg)
{
    // A descriptor is an int: the upper half of its register is not part of it.
    int fd = (int)fd_arg;
    if (fd < 0)
        return NULL;
    struct files_struct *files = BPF_CORE_READ(task, files);
    struct fdtable *fdt = BPF_CORE_READ(files, fdt);
    unsigned int max = BPF_CORE_READ(fdt, max_fds);
    if ((unsigned int)fd >= max)
        return NULL;
    struct file **fds = BPF_CORE_READ(fdt, fd);
    struct file *file = NULL;
    if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) != 0)
        return NULL;
    return file;
}

// The inode change time, under the names it had in different kernels.
struct inode___ctime_timespec { struct timespec64 i_ctime; };
struct inode___ctime_private { struct timespec64 __i_ctime; };

static __always_inline __u64 sm_inode_ctime_ns(struct inode *inode)
{
    if (bpf_core_field_exists(inode->i_ctime_sec))
        return BPF_CORE_READ(inode, i_ctime_sec) * 1000000000ULL + BPF_CORE_READ(inode, i_ctime_nsec);
    struct inode___ctime_timespec *a = (void *)inode;
    if (bpf_core_field_exists(a->i_ctime))
        return BPF_CORE_READ(a, i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(a, i_ctime.tv_nsec);
    struct inode___ctime_private *b = (void *)inode;
    if (bpf_core_field_exists(b->__i_ctime))
        return BPF_CORE_READ(b, __i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(b, __i_ctime.tv_nsec);
    return 0;
}

// Assembly area for a record with paths (file, module, image records).
struct path_scratch {
    struct sm_path_record record;
    __u8 data[SM_PATH_DATA_SIZE];
};

_Static_assert(sizeof(struct sm_path_record) % 8 == 0, "data must follow the record directly");

// One slot per CPU, as exec_scratch_area (user space sizes it). Programs that
// use it run in task context at sys_exit, one at a time on a CPU.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct path_scratch);
} path_scratch_area SEC(".maps");

#define SM_NAME_AREA_MASK 0x3FFF

static __always_inline struct path_scratch *sm_path_begin(__u16 kind, __u32 op, struct task_struct *task, long result)
{
    __u32 cpu = bpf_get_smp_processor_id();
    struct path_scratch *s = bpf_map_lookup_elem(&path_scratch_area, &cpu);
    if (!s) {
        sm_count_lost(kind);
        return NULL;
    }
    struct sm_path_record *r = &s->record;
    sm_fill_header(&r->header, kind, task);
    r->euid = BPF_CORE_READ(task, cred, euid.val);
    r->result = result;
    r->op = op;
    r->mode = 0;
    r->inode = 0;
    r->ctime_ns = 0;
    r->device = 0;
    r->dir1_size = 0;
    r->name1_size = 0;
    r->dir2_size = 0;
    r->name2_size = 0;
    r->pad0 = 0;
    return s;
}

// A path the kernel holds (an open file's, a directory's): its components.
static __always_inline __u32 sm_path_put_kernel(struct path_scratch *s, __u32 offset, const struct path *path,
                                                 __u16 *dir_size, __u16 flag)
{
    bool truncated = false;
    __u32 n = sm_put_path(s->data, offset & SM_NAME_AREA_MASK, path, &truncated);
    if (truncated)
        s->record.header.flags |= flag;
    *dir_size = n;
    return offset + n;
}

// A path as a process named it to a *at() syscall: the directory it is
// relative to (dirfd, or the working directory for AT_FDCWD) resolved in the
// kernel unless the name is absolute, then the name's bytes.
static __always_inline __u32 sm_path_put_at(struct path_scratch *s, __u32 offset, struct task_struct *task,
                                             long dirfd, const char *name, __u16 *dir_size, __u16 *name_size,
                                             __u16 flag)
{
    char first = 0;
    bpf_probe_read_user(&first, 1, name);
    if (first != '/') {
        const struct path *dir = NULL;
        if ((int)dirfd == SM_AT_FDCWD) {  // an int, whatever the register's upper half holds
            struct fs_struct *fs = BPF_CORE_READ(task, fs);
            dir = &fs->pwd;
        } else {
            struct file *file = sm_file_of_fd(task, dirfd);
            if (file)
                dir = &file->f_path;
        }
        if (dir)
            offset = sm_path_put_kernel(s, offset, dir, dir_size, flag);
    }
    long n = bpf_probe_read_user_str(&s->data[offset & SM_NAME_AREA_MASK], SM_PATH_MAX, name);
    if (n > 1) {
        *name_size = n - 1;
        offset += n - 1;
    }
    return offset;
}

// The file's identity and type, for hashing and for IsExecutable.
static __always_inline void sm_path_put_inode(struct path_scratch *s, struct inode *inode)
{
    s->record.mode = BPF_CORE_READ(inode, i_mode);
    s->record.inode = BPF_CORE_READ(inode, i_ino);
    s->record.device = BPF_CORE_READ(inode, i_sb, s_dev);
    s->record.ctime_ns = sm_inode_ctime_ns(inode);
}

static __always_inline void sm_path_emit(struct path_scratch *s, __u32 offset)
{
    __u32 size = sizeof(s->record) + offset;
    if (size > sizeof(*s))
        size = sizeof(*s);
    s->record.header.size = size;
    sm_output(s, size, s->record.header.kind);
}
