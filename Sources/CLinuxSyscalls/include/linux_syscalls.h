// Linux interfaces that Swift's Glibc module does not export, imported by one
// Swift target only (SwiftmonSystem, which wraps each call once):
// epoll(7), signalfd(2), timerfd_create(2), eventfd(2), netlink sockets and
// fanotify(7) for the fallback sources, and the GNU extensions below.
#ifndef SWIFTMON_LINUX_SYSCALLS_H
#define SWIFTMON_LINUX_SYSCALLS_H
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <sys/fanotify.h>
#include <sys/vfs.h>

// open_by_handle_at(2) is declared by glibc only under _GNU_SOURCE; shim.c
// defines it and calls it from there.
int swiftmon_open_by_handle_at(int mount_fd, void *handle, int flags);

// strerrorname_np(3) ("ENOSPC" for 28) and gettid(2) are GNU declarations too.
const char *swiftmon_errno_name(int code);
int swiftmon_gettid(void);
// pthread_setname_np(3) for the calling thread (what ps -L and top -H show).
int swiftmon_name_thread(const char *name);
// accept4(2) and struct ucred (SO_PEERCRED) are GNU declarations too: the
// control socket's accept and its check of the peer's uid.
int swiftmon_accept4(int listener, int flags);
int swiftmon_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid);

// Hands the allocator's free memory back to the system (glibc malloc_trim:
// free pages inside every arena, not only the top of the heap). Returns 1
// when some was released.
int swiftmon_release_free_heap(void);
// Fixes glibc malloc's mmap and trim thresholds (mallopt M_MMAP_THRESHOLD,
// M_TRIM_THRESHOLD), which turns off their growth as blocks are freed.
// Returns 1 when both were taken.
int swiftmon_fix_allocator_thresholds(int mmap_threshold, int trim_threshold);

// Macros Swift cannot import as constants (they expand to expressions or
// need _GNU_SOURCE), exported as values so no Swift file spells them in hex.
extern const int swiftmon_O_PATH;
extern const short swiftmon_POLLRDHUP;
extern const unsigned int swiftmon_FAN_CLASS_NOTIF;
extern const unsigned int swiftmon_FAN_CLOEXEC;
extern const unsigned int swiftmon_FAN_NONBLOCK;
extern const unsigned int swiftmon_FAN_REPORT_DFID_NAME;
extern const unsigned int swiftmon_FAN_MARK_ADD;
extern const unsigned int swiftmon_FAN_MARK_FILESYSTEM;
extern const unsigned long long swiftmon_FAN_CREATE;
extern const unsigned long long swiftmon_FAN_DELETE;
extern const unsigned long long swiftmon_FAN_MOVED_FROM;
extern const unsigned long long swiftmon_FAN_MOVED_TO;
extern const unsigned long long swiftmon_FAN_ONDIR;
#endif
