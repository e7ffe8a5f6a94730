// The records that cross from the BPF programs to Swift: defined here once,
// included by every *.bpf.c and imported by SwiftmonLinux only.
//
// Rules for this file:
//  - fixed-width fields only, no pointers, no bitfields; explicit padding;
//  - every record starts with struct sm_record_header;
//  - record kinds are never renumbered or reused: add new ones at the end;
//  - Swift checks the sizes and offsets below in SwiftmonLinuxTests.
#ifndef SWIFTMON_RECORDS_H
#define SWIFTMON_RECORDS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

// Capture limits. A path is sent as its components, leaf first, each ending in
// NUL; user space reverses them. The command line is argv as the kernel holds
// it (NUL-separated) up to SM_ARGS_MAX bytes; args_total says how long it was.
#define SM_PATH_MAX 4096
#define SM_PATH_DEPTH_MAX 128
#define SM_NAME_MAX 256
#define SM_ARGS_MAX 32768

// The scratch area a record is assembled in before it is copied to the ring
// buffer; a power of two so that offsets can be bounded by masking.
#define SM_DATA_SIZE 65536
// The same for path records (up to two directories and two names).
#define SM_PATH_DATA_SIZE 32768

// The syscall numbers the syscall-level probes handle, for x86-64 and arm64;
// -1 for calls an architecture does not have (arm64 has only the *at forms).
// Shared: the BPF side dispatches on them, user space fills the dispatch
// table (sys_exit_handlers) with them.
#if defined(__TARGET_ARCH_x86) || (!defined(__bpf__) && defined(__x86_64__))
#define SM_NR_open 2
#define SM_NR_creat 85
#define SM_NR_openat 257
#define SM_NR_openat2 437
#define SM_NR_unlink 87
#define SM_NR_unlinkat 263
#define SM_NR_rename 82
#define SM_NR_renameat 264
#define SM_NR_renameat2 316
#define SM_NR_mknod 133
#define SM_NR_mknodat 259
#define SM_NR_link 86
#define SM_NR_linkat 265
#define SM_NR_init_module 175
#define SM_NR_finit_module 313
#define SM_NR_ptrace 101
#define SM_NR_process_vm_readv 310
#define SM_NR_process_vm_writev 311
#define SM_NR_bpf 321
#define SM_NR_mmap 9
#define SM_NR_mprotect 10
#define SM_NR_accept 43
#define SM_NR_accept4 288
#define SM_NR_sendto 44
#define SM_NR_sendmsg 46
#elif defined(__TARGET_ARCH_arm64) || (!defined(__bpf__) && defined(__aarch64__))
#define SM_NR_open -1
#define SM_NR_creat -1
#define SM_NR_openat 56
#define SM_NR_openat2 437
#define SM_NR_unlink -1
#define SM_NR_unlinkat 35
#define SM_NR_rename -1
#define SM_NR_renameat 38
#define SM_NR_renameat2 276
#define SM_NR_mknod -1
#define SM_NR_mknodat 33
#define SM_NR_link -1
#define SM_NR_linkat 37
#define SM_NR_init_module 105
#define SM_NR_finit_module 273
#define SM_NR_ptrace 117
#define SM_NR_process_vm_readv 270
#define SM_NR_process_vm_writev 271
#define SM_NR_bpf 280
#define SM_NR_mmap 222
#define SM_NR_mprotect 226
#define SM_NR_accept 202
#define SM_NR_accept4 242
#define SM_NR_sendto 206
#define SM_NR_sendmsg 211
#else
#error "swiftmon's syscall probes know x86-64 and arm64 only"
#endif

// Slots of the dispatch table: every syscall number above is below this.
#define SM_SYSCALL_SLOTS 512

enum sm_record_kind {
    SM_RECORD_EXEC = 1,        // struct sm_exec_record: a process image was replaced (execve)
    SM_RECORD_FORK = 2,        // struct sm_fork_record: a process or a thread was created
    SM_RECORD_EXIT = 3,        // struct sm_exit_record: a thread or a whole process ended
    SM_RECORD_FILE = 4,        // struct sm_path_record: a file created, deleted, renamed, or a block device opened
    SM_RECORD_NETWORK = 5,     // struct sm_network_record: a TCP connection made or accepted, a UDP flow's first send
    SM_RECORD_MODULE = 6,      // struct sm_path_record: init_module / finit_module, with its result
    SM_RECORD_ACCESS = 7,      // struct sm_access_record: ptrace attach/seize, process_vm_readv/writev
    SM_RECORD_BPF = 8,         // struct sm_bpf_record: a BPF program loaded or attached
    SM_RECORD_IMAGE = 9,       // struct sm_path_record: a file mapped executable
    // --- tamper (sensor self-protection): kinds from 10 ---
    SM_RECORD_SIGNAL = 10,     // struct sm_signal_record: a signal raised against swiftmon itself
    SM_RECORD_PROTECTED_FILE = 20, // struct sm_protected_file_record: swiftmon's config, unit or binary changed
    // --- end of tamper kinds ---
    SM_RECORD_KIND_COUNT = 21, // one past the last kind: sizes the generated and lost counters (not a kind)
};

// sm_path_record.op: what happened to the path(s).
enum sm_path_op {
    SM_PATH_OP_CREATE = 1,       // a regular file created (open/creat with O_CREAT that created it)
    SM_PATH_OP_MKNOD = 2,        // mknod/mknodat of a regular file
    SM_PATH_OP_LINK = 3,         // link/linkat: path 2 is the new name (a file created)
    SM_PATH_OP_DELETE = 4,       // unlink/unlinkat of a non-directory
    SM_PATH_OP_RENAME = 5,       // rename/renameat/renameat2: path 1 → path 2
    SM_PATH_OP_BLOCK_OPEN = 6,   // a block device opened (raw disk access)
    SM_PATH_OP_INIT_MODULE = 7,  // init_module: an image from memory, no path
    SM_PATH_OP_FINIT_MODULE = 8, // finit_module: path 1 is the module file
    SM_PATH_OP_MMAP_EXEC = 9,    // mmap with PROT_EXEC of a file
    SM_PATH_OP_MPROTECT_EXEC = 10, // mprotect that made a file mapping executable
};


// sm_record_header.flags
enum sm_record_flags {
    SM_FLAG_THREAD = 1 << 0,          // fork/exit of a thread, not of a whole process
    SM_FLAG_IMAGE_TRUNCATED = 1 << 1, // the image path was deeper or longer than the limits
    SM_FLAG_CWD_TRUNCATED = 1 << 2,   // the working directory path was too
    SM_FLAG_ARGS_TRUNCATED = 1 << 3,  // argv was longer than SM_ARGS_MAX
    SM_FLAG_ARGS_UNREADABLE = 1 << 4, // argv could not be read from the new image's memory
    SM_FLAG_GROUP_DEAD = 1 << 5,      // exit: this was the last thread of its process
    SM_FLAG_PATH1_TRUNCATED = 1 << 6, // path record: path 1's directory was deeper or longer than the limits
    SM_FLAG_PATH2_TRUNCATED = 1 << 7, // path record: path 2's too
    SM_FLAG_INITIATED = 1 << 8,       // network: this end made the connection (connect, or sent first)
};

struct sm_record_header {
    __u16 kind;              // enum sm_record_kind
    __u16 flags;             // enum sm_record_flags
    __u32 size;              // bytes in the whole record, header included
    __u64 time_boot_ns;      // bpf_ktime_get_boot_ns() when it happened
    __u32 pid;               // process id (the kernel's tgid)
    __u32 tid;               // thread id (the kernel's pid)
    __u64 start_boot_ns;     // the process's start_boottime: with pid, names the process
};

// ---- containers: cgroup and namespace identity (issue 12) -------------------
// Where a process runs, captured with its exec and fork records (the process
// cache hands it to every other event of the process). Inode numbers are those
// /proc/PID/ns/* shows; the cgroup id is the kernfs node id of the task's
// cgroup on the default (v2) hierarchy, which user space resolves to a path.
struct sm_container_identity {
    __u64 cgroup_id;         // the task's cgroup on the unified hierarchy (0: none)
    __u32 pid_ns;            // inode of its active pid namespace
    __u32 mnt_ns;            // inode of its mount namespace
    __u32 net_ns;            // inode of its network namespace
    __u32 ns_pid;            // the process id as its own pid namespace numbers it
};
// ---- end containers ---------------------------------------------------------

// The credentials and session of the task, captured with the event.
struct sm_credentials {
    __u32 uid;
    __u32 euid;
    __u32 gid;
    __u32 egid;
    __u32 login_uid;         // audit login uid (Sysmon for Linux's LogonId), or -1
    __u32 session_id;        // audit session id (TerminalSessionId), or -1
};

struct sm_exec_record {
    struct sm_record_header header;
    struct sm_credentials credentials;
    __u32 parent_pid;
    __u32 args_total;        // bytes of argv in the new image (may exceed args_size)
    __u64 parent_start_boot_ns;
    __u64 image_inode;       // identity of the executable, for the hash cache
    __u64 image_ctime_ns;
    __u32 image_device;
    __u16 image_size;        // bytes of image path components in data
    __u16 cwd_size;          // bytes of working-directory components after them
    __u32 args_size;         // bytes of argv after those
    __u8 elf_class;          // 1 = 32-bit, 2 = 64-bit, 0 = not an ELF file
    __u8 pad0;
    __u16 elf_machine;       // ELF e_machine of the executable
    struct sm_container_identity container;  // containers: where the new image runs
    // __u8 data[]: image components, cwd components, argv
};

struct sm_fork_record {
    struct sm_record_header header;       // pid/tid/start of the new process or thread
    struct sm_credentials credentials;
    __u32 parent_pid;
    __u32 parent_tid;
    __u64 parent_start_boot_ns;
    struct sm_container_identity container;  // containers: the new process's (may differ from its parent's)
};

struct sm_exit_record {
    struct sm_record_header header;
    __u32 exit_code;         // as wait(2) reports it: (status << 8) | signal
    __u32 pad0;
};

// A record about up to two paths. Each path is sent in two parts: the
// components of a directory the kernel resolved (leaf first, NUL-terminated,
// as in the exec record), then a name as the process gave it (bytes without
// a NUL). User space joins them: a name starting with '/' stands alone, an
// empty name means the directory part is the whole path.
struct sm_path_record {
    struct sm_record_header header;
    __u32 euid;
    __s32 result;            // the syscall's return: 0, a descriptor, or -errno
    __u32 op;                // enum sm_path_op
    __u32 mode;              // the file's inode mode, when the kernel had the inode
    __u64 inode;
    __u64 ctime_ns;          // inode change time (with device/inode: the file's identity)
    __u32 device;
    __u16 dir1_size;         // bytes of directory components of path 1
    __u16 name1_size;        // bytes of path 1's name
    __u16 dir2_size;
    __u16 name2_size;
    __u32 pad0;
    // __u8 data[]: dir1, name1, dir2, name2
};

struct sm_network_record {
    struct sm_record_header header;  // the process that owns the socket
    __u32 euid;
    __u16 family;            // AF_INET or AF_INET6
    __u8 protocol;           // IPPROTO_TCP or IPPROTO_UDP
    __u8 pad0;
    __u16 local_port;        // host byte order
    __u16 remote_port;
    __u32 pad1;
    __u8 local_address[16];  // IPv4 in the first 4 bytes
    __u8 remote_address[16];
};

struct sm_access_record {
    struct sm_record_header header;  // the accessing process and thread
    __u32 euid;
    __u32 target_pid;
    __u32 operation;         // the syscall number (ptrace, process_vm_readv, process_vm_writev)
    __u32 request;           // for ptrace: the request (PTRACE_ATTACH, PTRACE_SEIZE)
    __s32 result;
    __u32 pad0;
};

struct sm_bpf_record {
    struct sm_record_header header;
    __u32 euid;
    __u32 command;           // the bpf(2) command
    __u32 program_type;      // enum bpf_prog_type, or 0 when unknown
    __u32 program_id;
    __s32 result;
    __u32 attach_type;
    char program_name[16];   // as the loader named it (BPF_OBJ_NAME_LEN)
};

// --- tamper (sensor self-protection) ---------------------------------------
// A signal raised against swiftmon's own process by another one (or by the
// kernel): seen at signal_generate, whatever swiftmon then does with it. The
// header names the sender: the task running when the signal was raised (for
// kill/tgkill/sigqueue, the caller). SIGKILL records go to the pinned kill
// ledger (tamper.bpf.c) instead of the ring buffer: the process they end
// cannot read them; its next start does.
struct sm_signal_record {
    struct sm_record_header header;  // the sender's process and thread
    __u32 euid;              // the sender's effective uid
    __u32 signal;            // signal number
    __s32 code;              // siginfo si_code (SI_USER 0, SI_KERNEL 0x80, SI_QUEUE -1, SI_TKILL -6…)
    __u32 result;            // the kernel's verdict: 0 delivered, 1 ignored, 2 already pending, 3 queue overflow, 4 info lost
    __u32 target_pid;        // swiftmon's process (tgid) and the thread the signal was aimed at
    __u32 target_tid;
    __u64 target_start_boot_ns;  // with target_pid, names the swiftmon process (ProcessGuid)
    __u64 unread_bytes;      // kill ledger only: bytes swiftmon had not read from its ring buffer when killed
    __u8 group;              // 1: sent to the whole process (kill), 0: to one thread (tgkill)
    __u8 pad0;
    __u16 image_size;        // bytes of the sender's image path components after the record (leaf first)
    __u32 pad1;
    char comm[16];           // the sender's task name, for a sender gone before the next start
    // __u8 data[]: the sender's image path components
};

// A change to one of the files swiftmon protects (its configuration, unit
// files, binary) or to a directory where one of them is missing (a new name
// there may be one of them): seen where the kernel updates the inode's change
// time, in the context of the task that changed it. User space names the file
// from the identity (it filled the map `protected_files` by stat).
struct sm_protected_file_key {
    __u64 inode;
    __u32 device;            // the kernel's dev_t (major << 20 | minor)
    __u32 pad0;
};

// sm_protected_file_key's value in `protected_files`.
enum sm_protected_file_role {
    SM_PROTECTED_FILE = 1,       // the file itself: any change to it
    SM_PROTECTED_DIRECTORY = 2,  // a directory: a name in it appeared, went or was replaced
};

struct sm_protected_file_record {
    struct sm_record_header header;  // the task that changed it
    __u32 euid;
    __s32 syscall;           // the syscall the task was in (SM_NR_*), -1 outside one
    __u32 role;              // enum sm_protected_file_role
    __u32 mode;              // the inode's mode
    __u32 nlink;             // its link count at the change
    __u32 device;            // with inode: the identity user space put in the map
    __u64 inode;
};
// --- end of tamper ---------------------------------------------------------

// Pinned sizes: the BPF compiler and the host compiler must agree on them,
// and SwiftmonLinuxTests checks that Swift sees the same.
_Static_assert(sizeof(struct sm_record_header) == 32, "sm_record_header layout");
_Static_assert(sizeof(struct sm_credentials) == 24, "sm_credentials layout");
_Static_assert(sizeof(struct sm_exec_record) == 128, "sm_exec_record layout");
_Static_assert(sizeof(struct sm_fork_record) == 96, "sm_fork_record layout");
_Static_assert(sizeof(struct sm_container_identity) == 24, "sm_container_identity layout");
_Static_assert(sizeof(struct sm_exit_record) == 40, "sm_exit_record layout");
_Static_assert(sizeof(struct sm_path_record) == 80, "sm_path_record layout");
_Static_assert(sizeof(struct sm_network_record) == 80, "sm_network_record layout");
_Static_assert(sizeof(struct sm_access_record) == 56, "sm_access_record layout");
_Static_assert(sizeof(struct sm_bpf_record) == 72, "sm_bpf_record layout");
_Static_assert(sizeof(struct sm_signal_record) == 96, "sm_signal_record layout");
_Static_assert(sizeof(struct sm_protected_file_key) == 16, "sm_protected_file_key layout");
_Static_assert(sizeof(struct sm_protected_file_record) == 64, "sm_protected_file_record layout");

#endif
