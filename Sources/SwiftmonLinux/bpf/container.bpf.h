// Containers: where a task runs — its cgroup on the unified (v2) hierarchy and
// its pid, mount and network namespaces — read from the task itself, so a
// process is placed correctly even when it is not the current task (the child
// at fork, which clone3(CLONE_INTO_CGROUP) may have put in another cgroup than
// its parent's). User space turns the cgroup id into a path and a container.
#pragma once

#include "sensor.bpf.h"

// Deeper pid namespace nesting than the kernel allows (MAX_PID_NS_LEVEL is 32).
#define SM_PID_NS_LEVEL_MAX 32

static __always_inline void sm_fill_container(struct sm_container_identity *c, struct task_struct *task)
{
    // task->cgroups->dfl_cgrp is the task's cgroup on the default hierarchy
    // (the root cgroup when v2 has no controllers); its kernfs node id is the
    // cgroup id that bpf_get_current_cgroup_id() and file handles use.
    c->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);

    struct nsproxy *ns = BPF_CORE_READ(task, nsproxy);
    c->mnt_ns = ns ? BPF_CORE_READ(ns, mnt_ns, ns.inum) : 0;
    c->net_ns = ns ? BPF_CORE_READ(ns, net_ns, ns.inum) : 0;

    // The active pid namespace is the deepest level of the process's struct
    // pid (task_active_pid_ns); the number there is the pid the process sees.
    struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
    unsigned int level = BPF_CORE_READ(pid, level);
    c->pid_ns = 0;
    c->ns_pid = 0;
    if (pid && level < SM_PID_NS_LEVEL_MAX) {
        struct upid upid = {};
        if (bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]) == 0) {
            c->ns_pid = upid.nr;
            c->pid_ns = BPF_CORE_READ(upid.ns, ns.inum);
        }
    }
}
