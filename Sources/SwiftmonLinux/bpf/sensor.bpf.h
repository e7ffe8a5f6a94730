// What every swiftmon BPF program shares: the ring buffer, the loss counters,
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

// Records that could not be written because the ring buffer was full, per
// record kind and per CPU. User space sums and reports them (event 255).
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SM_RECORD_KIND_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} lost_records SEC(".maps");

static __always_inline void sm_count_lost(__u32 kind)
{
    __u64 *count = bpf_map_lookup_elem(&lost_records, &kind);
    if (count)
        *count += 1;
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
    if (walk->written > SM_PATH_MAX - SM_NAME_MAX) {
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
