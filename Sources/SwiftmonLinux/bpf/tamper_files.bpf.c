// Tamper: changes to swiftmon's own files — its configuration, its unit
// files, its binary — by another process.
//
// Why the inode change time: every change to a file's data or metadata, and
// every change to a name that points to it, updates its ctime in the task
// that makes the change: write and truncate (file_update_time, O_TRUNC),
// chmod, chown, utimensat (touch), setxattr, link, unlink, and rename — both
// the file renamed and the file a rename replaces. The kernel has one
// tracepoint on each of the three ways a ctime is set (with and without
// multigrain timestamps); there is no VFS tracepoint for the changes
// themselves, and fentry/LSM hooks are refused where swiftmon runs. So
// these programs see a change by the file's identity, whichever syscall,
// path, hard link or descriptor (opened before swiftmon started) it came
// through, and name the task that made it, as the kernel saw it.
//
// User space puts the identities (device, inode) of the files it protects in
// `protected_files`, and of the directory where a protected name is missing
// (a new unit drop-in, a file renamed into place), and keeps the map current
// across reloads and replacements. For every other change on the machine the
// cost is one hash lookup in a map of a few entries.
//
// Not seen: a change within the same clock tick (a few ms) as the file's
// previous ctime update, which the kernel folds into that one (the first is
// reported); attempts the kernel refused (they change nothing).
#include "sensor.bpf.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct sm_protected_file_key);
    __type(value, __u32);  // enum sm_protected_file_role
} protected_files SEC(".maps");

static __always_inline void tamper_file_changed(struct inode *inode)
{
    struct sm_protected_file_key key = {
        .inode = BPF_CORE_READ(inode, i_ino),
        .device = BPF_CORE_READ(inode, i_sb, s_dev),
        .pad0 = 0,
    };
    __u32 *role = bpf_map_lookup_elem(&protected_files, &key);
    if (!role || sm_is_self())
        return;
    struct task_struct *task = bpf_get_current_task_btf();
    struct sm_protected_file_record r = {};
    sm_fill_header(&r.header, SM_RECORD_PROTECTED_FILE, task);
    r.header.size = sizeof(r);
    r.euid = BPF_CORE_READ(task, cred, euid.val);
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    r.syscall = (__s32)SM_SYSCALL_NR(regs);
    r.role = *role;
    r.mode = BPF_CORE_READ(inode, i_mode);
    r.nlink = BPF_CORE_READ(inode, __i_nlink);
    r.device = key.device;
    r.inode = key.inode;
    sm_output(&r, sizeof(r), SM_RECORD_PROTECTED_FILE);
}

SEC("tp_btf/inode_set_ctime_to_ts")
int BPF_PROG(tamper_file_ctime_set, struct inode *inode)
{
    tamper_file_changed(inode);
    return 0;
}

SEC("tp_btf/ctime_ns_xchg")
int BPF_PROG(tamper_file_ctime_xchg, struct inode *inode)
{
    tamper_file_changed(inode);
    return 0;
}

SEC("tp_btf/ctime_xchg_skip")
int BPF_PROG(tamper_file_ctime_skip, struct inode *inode)
{
    tamper_file_changed(inode);
    return 0;
}
