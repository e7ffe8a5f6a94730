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

enum sm_record_kind {
    SM_RECORD_EXEC = 1,        // struct sm_exec_record: a process image was replaced (execve)
    SM_RECORD_FORK = 2,        // struct sm_fork_record: a process or a thread was created
    SM_RECORD_EXIT = 3,        // struct sm_exit_record: a thread or a whole process ended
    SM_RECORD_KIND_COUNT = 4,  // one past the last kind: sizes the loss counters
};

// sm_record_header.flags
enum sm_record_flags {
    SM_FLAG_THREAD = 1 << 0,          // fork/exit of a thread, not of a whole process
    SM_FLAG_IMAGE_TRUNCATED = 1 << 1, // the image path was deeper or longer than the limits
    SM_FLAG_CWD_TRUNCATED = 1 << 2,   // the working directory path was too
    SM_FLAG_ARGS_TRUNCATED = 1 << 3,  // argv was longer than SM_ARGS_MAX
    SM_FLAG_ARGS_UNREADABLE = 1 << 4, // argv could not be read from the new image's memory
    SM_FLAG_GROUP_DEAD = 1 << 5,      // exit: this was the last thread of its process
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
    // __u8 data[]: image components, cwd components, argv
};

struct sm_fork_record {
    struct sm_record_header header;       // pid/tid/start of the new process or thread
    struct sm_credentials credentials;
    __u32 parent_pid;
    __u32 parent_tid;
    __u64 parent_start_boot_ns;
};

struct sm_exit_record {
    struct sm_record_header header;
    __u32 exit_code;         // as wait(2) reports it: (status << 8) | signal
    __u32 pad0;
};

// Pinned sizes: the BPF compiler and the host compiler must agree on them,
// and SwiftmonLinuxTests checks that Swift sees the same.
_Static_assert(sizeof(struct sm_record_header) == 32, "sm_record_header layout");
_Static_assert(sizeof(struct sm_credentials) == 24, "sm_credentials layout");
_Static_assert(sizeof(struct sm_exec_record) == 104, "sm_exec_record layout");
_Static_assert(sizeof(struct sm_fork_record) == 72, "sm_fork_record layout");
_Static_assert(sizeof(struct sm_exit_record) == 40, "sm_exit_record layout");

#endif
