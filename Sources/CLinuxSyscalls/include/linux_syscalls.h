// Linux interfaces that Swift's Glibc module does not export: epoll(7),
// signalfd(2), timerfd_create(2). Only declarations are pulled in here; the
// Swift wrappers live in SwiftmonLinux/System/Syscalls.swift.
#ifndef SWIFTMON_LINUX_SYSCALLS_H
#define SWIFTMON_LINUX_SYSCALLS_H
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#endif
