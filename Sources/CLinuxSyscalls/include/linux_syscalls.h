// Linux interfaces that Swift's Glibc module does not export: epoll(7),
// signalfd(2), timerfd_create(2), netlink sockets and fanotify(7) for the
// fallback sources. Only declarations are pulled in here; the
// Swift wrappers live in SwiftmonLinux/System/Syscalls.swift.
#ifndef SWIFTMON_LINUX_SYSCALLS_H
#define SWIFTMON_LINUX_SYSCALLS_H
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <sys/fanotify.h>
#include <sys/vfs.h>

// open_by_handle_at(2) is declared by glibc only under _GNU_SOURCE; shim.c
// defines it and calls it from there.
int swiftmon_open_by_handle_at(int mount_fd, void *handle, int flags);
#endif
