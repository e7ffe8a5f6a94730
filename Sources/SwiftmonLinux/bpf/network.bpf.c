// Network: TCP connections made and accepted, the first UDP datagram a
// socket sends to each destination.
//
// Why these hooks: inet_sock_set_state sees every TCP state change with the
// socket. CLOSE → SYN_SENT happens inside connect(), in the connecting
// process, before the source port is chosen; SYN_SENT → ESTABLISHED happens
// later in softirq context, where the current task is anyone. So the owner is
// remembered per socket at the first and the event is sent at the second,
// with the complete four-tuple. An accepted connection is reported when
// accept() hands the new socket to a process (sys_exit), which names it. UDP
// has no state: sendto()/sendmsg() are watched at sys_exit, once per
// (socket, destination).
#include "sensor.bpf.h"
#include <bpf/bpf_endian.h>

#define SM_AF_INET 2
#define SM_AF_INET6 10
#define SM_IPPROTO_TCP 6
#define SM_IPPROTO_UDP 17

struct socket_owner {
    __u32 pid;
    __u32 tid;
    __u64 start_boot_ns;
    __u32 euid;
    __u32 pad0;
};

// Sockets in SYN_SENT, by address: who called connect().
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct socket_owner);
} connecting SEC(".maps");

struct udp_flow {
    __u64 sock;
    __u8 address[16];
    __u16 port;
    __u16 family;
    __u32 pad0;
};

// UDP destinations already reported, per socket. LRU: a busy resolver's
// flows age out instead of filling the map (an old flow may be reported again).
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct udp_flow);
    __type(value, __u8);
} udp_flows SEC(".maps");

// Local and remote ends of a socket, as the socket holds them now.
static __always_inline void net_put_ends(struct sm_network_record *r, const struct sock *sk)
{
    r->family = BPF_CORE_READ(sk, __sk_common.skc_family);
    r->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
    r->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    __builtin_memset(r->local_address, 0, 16);
    __builtin_memset(r->remote_address, 0, 16);
    if (r->family == SM_AF_INET6) {
        BPF_CORE_READ_INTO(&r->local_address, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
        BPF_CORE_READ_INTO(&r->remote_address, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
    } else {
        BPF_CORE_READ_INTO((__u32 *)r->local_address, sk, __sk_common.skc_rcv_saddr);
        BPF_CORE_READ_INTO((__u32 *)r->remote_address, sk, __sk_common.skc_daddr);
    }
}

static __always_inline struct sm_network_record *net_begin(void)
{
    struct sm_network_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
    if (!r) {
        sm_count_lost(SM_RECORD_NETWORK);
        return NULL;
    }
    r->pad0 = 0;
    r->pad1 = 0;
    return r;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
    if (BPF_CORE_READ(sk, sk_protocol) != SM_IPPROTO_TCP)
        return 0;
    __u64 key = (__u64)sk;
    if (newstate == TCP_SYN_SENT) {
        if (sm_is_self())
            return 0;
        struct task_struct *task = bpf_get_current_task_btf();
        struct socket_owner owner = {
            .pid = BPF_CORE_READ(task, tgid),
            .tid = BPF_CORE_READ(task, pid),
            .start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime),
            .euid = BPF_CORE_READ(task, cred, euid.val),
        };
        // A full map (65,536 connects in flight) loses this one: counted.
        if (bpf_map_update_elem(&connecting, &key, &owner, BPF_ANY) != 0)
            sm_count_lost(SM_RECORD_NETWORK);
        return 0;
    }
    if (oldstate != TCP_SYN_SENT)
        return 0;
    struct socket_owner *owner = bpf_map_lookup_elem(&connecting, &key);
    if (!owner)
        return 0;
    if (newstate == TCP_ESTABLISHED) {
        struct sm_network_record *r = net_begin();
        if (r) {
            r->header.kind = SM_RECORD_NETWORK;
            r->header.flags = SM_FLAG_INITIATED;
            r->header.size = sizeof(*r);
            r->header.time_boot_ns = bpf_ktime_get_boot_ns();
            r->header.pid = owner->pid;
            r->header.tid = owner->tid;
            r->header.start_boot_ns = owner->start_boot_ns;
            r->euid = owner->euid;
            r->protocol = SM_IPPROTO_TCP;
            net_put_ends(r, sk);
            sm_submit(r, SM_RECORD_NETWORK);
        }
    }
    bpf_map_delete_elem(&connecting, &key);
    return 0;
}

static __always_inline struct sock *net_sock_of_fd(struct task_struct *task, long fd)
{
    struct file *file = sm_file_of_fd(task, fd);
    if (!file)
        return NULL;
    // A socket's file holds its struct socket; anything else is not ours to read.
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    if ((BPF_CORE_READ(inode, i_mode) & SM_S_IFMT) != 0140000)
        return NULL;
    struct socket *sock = BPF_CORE_READ(file, private_data);
    return BPF_CORE_READ(sock, sk);
}

static __always_inline int net_accepted(struct task_struct *task, long fd)
{
    struct sock *sk = net_sock_of_fd(task, fd);
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != SM_IPPROTO_TCP)
        return 0;
    __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (family != SM_AF_INET && family != SM_AF_INET6)
        return 0;
    struct sm_network_record *r = net_begin();
    if (!r)
        return 0;
    sm_fill_header(&r->header, SM_RECORD_NETWORK, task);
    r->header.size = sizeof(*r);
    r->euid = BPF_CORE_READ(task, cred, euid.val);
    r->protocol = SM_IPPROTO_TCP;
    net_put_ends(r, sk);
    sm_submit(r, SM_RECORD_NETWORK);
    return 0;
}

// A UDP send: the destination is the address passed (sockaddr in user
// memory) or, for a connected socket, the socket's peer.
static __always_inline int net_sent(struct task_struct *task, long fd, const void *address, long length)
{
    struct sock *sk = net_sock_of_fd(task, fd);
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != SM_IPPROTO_UDP)
        return 0;
    __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (family != SM_AF_INET && family != SM_AF_INET6)
        return 0;
    struct udp_flow flow = { .sock = (__u64)sk };
    if (address && length >= 8) {
        __u16 given_family = 0;
        bpf_probe_read_user(&given_family, 2, address);
        __u16 port = 0;
        bpf_probe_read_user(&port, 2, address + 2);
        flow.port = bpf_ntohs(port);
        flow.family = given_family;
        if (given_family == SM_AF_INET6 && length >= 24)
            bpf_probe_read_user(flow.address, 16, address + 8);
        else if (given_family == SM_AF_INET)
            bpf_probe_read_user(flow.address, 4, address + 4);
        else
            return 0;
    } else {
        flow.family = family;
        flow.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
        if (family == SM_AF_INET6)
            BPF_CORE_READ_INTO(&flow.address, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
        else
            BPF_CORE_READ_INTO((__u32 *)flow.address, sk, __sk_common.skc_daddr);
    }
    __u8 seen = 1;
    if (bpf_map_update_elem(&udp_flows, &flow, &seen, BPF_NOEXIST) != 0)
        return 0;  // this socket has sent there before
    struct sm_network_record *r = net_begin();
    if (!r)
        return 0;
    sm_fill_header(&r->header, SM_RECORD_NETWORK, task);
    r->header.flags = SM_FLAG_INITIATED;
    r->header.size = sizeof(*r);
    r->euid = BPF_CORE_READ(task, cred, euid.val);
    r->protocol = SM_IPPROTO_UDP;
    net_put_ends(r, sk);
    r->family = flow.family;
    r->remote_port = flow.port;
    __builtin_memcpy(r->remote_address, flow.address, 16);
    sm_submit(r, SM_RECORD_NETWORK);
    return 0;
}

SEC("raw_tp")  // reached from sys_exit_dispatch (syscalls.bpf.c) by tail call
int BPF_PROG(network_sys_exit, struct pt_regs *regs, long ret)
{
    long nr = SM_SYSCALL_NR(regs);
    if (ret < 0)
        return 0;
    if (nr != SM_NR_accept && nr != SM_NR_accept4 && nr != SM_NR_sendto && nr != SM_NR_sendmsg)
        return 0;
    if (sm_is_self())
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    if (nr == SM_NR_accept || nr == SM_NR_accept4)
        return net_accepted(task, ret);
    if (nr == SM_NR_sendto)
        return net_sent(task, SM_ARG1(regs), (const void *)SM_ARG5(regs), SM_ARG6(regs));
    // sendmsg: the destination is msg_name of the struct msghdr.
    struct user_msghdr msg = {};
    if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)SM_ARG2(regs)) != 0)
        return 0;
    return net_sent(task, SM_ARG1(regs), msg.msg_name, msg.msg_namelen);
}
