// _GNU_SOURCE before any header: open_by_handle_at(2), strerrorname_np(3),
// gettid(2) and O_PATH are GNU declarations.
#define _GNU_SOURCE
#include <malloc.h>
#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/socket.h>
#include "linux_syscalls.h"

int swiftmon_open_by_handle_at(int mount_fd, void *handle, int flags) {
    return open_by_handle_at(mount_fd, (struct file_handle *)handle, flags);
}

const char *swiftmon_errno_name(int code) { return strerrorname_np(code); }

// A thread's id never changes, so it is asked for once per thread: the XML
// renderers stamp every event with it (a system call per event otherwise).
// swiftmon never forks, so no child inherits a stale value.
static __thread int cached_tid;
int swiftmon_gettid(void) {
    if (cached_tid == 0) cached_tid = (int)gettid();
    return cached_tid;
}

int swiftmon_name_thread(const char *name) { return pthread_setname_np(pthread_self(), name); }

int swiftmon_accept4(int listener, int flags) { return accept4(listener, NULL, NULL, flags); }

int swiftmon_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

int swiftmon_release_free_heap(void)
{
    return malloc_trim(0);
}

int swiftmon_fix_allocator_thresholds(int mmap_threshold, int trim_threshold)
{
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
}

const int swiftmon_O_PATH = O_PATH;
const short swiftmon_POLLRDHUP = POLLRDHUP;
const unsigned int swiftmon_FAN_CLASS_NOTIF = FAN_CLASS_NOTIF;
const unsigned int swiftmon_FAN_CLOEXEC = FAN_CLOEXEC;
const unsigned int swiftmon_FAN_NONBLOCK = FAN_NONBLOCK;
const unsigned int swiftmon_FAN_REPORT_DFID_NAME = FAN_REPORT_DFID_NAME;
const unsigned int swiftmon_FAN_MARK_ADD = FAN_MARK_ADD;
const unsigned int swiftmon_FAN_MARK_FILESYSTEM = FAN_MARK_FILESYSTEM;
const unsigned long long swiftmon_FAN_CREATE = FAN_CREATE;
const unsigned long long swiftmon_FAN_DELETE = FAN_DELETE;
const unsigned long long swiftmon_FAN_MOVED_FROM = FAN_MOVED_FROM;
const unsigned long long swiftmon_FAN_MOVED_TO = FAN_MOVED_TO;
const unsigned long long swiftmon_FAN_ONDIR = FAN_ONDIR;
