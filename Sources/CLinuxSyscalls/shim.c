// _GNU_SOURCE before any header: open_by_handle_at(2) is a GNU declaration.
#define _GNU_SOURCE
#include <fcntl.h>
#include "linux_syscalls.h"

int swiftmon_open_by_handle_at(int mount_fd, void *handle, int flags) {
    return open_by_handle_at(mount_fd, (struct file_handle *)handle, flags);
}
