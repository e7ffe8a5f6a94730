// swiftmon-testhelper: real processes for swiftmon's end-to-end tests, doing
// exactly one kernel-visible thing per mode so the tests can assert on the
// events it causes.
//
//   threads N            start N threads, join them, exit 0
//   storm N MARKER       fork+exec "/bin/true MARKER-i" N times, waiting for each
//   fork-storm N         fork N children that _exit(0) at once, waiting for each (no exec)
//   vfork-storm N        the same with vfork(2): the child shares the parent's
//                        memory until it exits (no page tables copied, so
//                        cheaper); still a new process, a fork and an exit
//   exec-storm N BYTES MARKER  fork+exec "/bin/true MARKER-i AAA…" N times, the
//                        last argument BYTES long, waiting for each (records
//                        as big as the kernel captures: overloads the sensor)
//   exec-rate RATE SECONDS MARKER  fork+exec "/bin/true MARKER-i" RATE times a
//                        second for SECONDS, reaping as it goes; prints
//                        "EXECS SECONDS" (what it managed: below RATE when the
//                        machine cannot keep up)
//   exec-hostile MARKER  exec /bin/true with hostile arguments (newline, quotes,
//                        <, &, tab, bytes that are not UTF-8, 100 KiB argument)
//   exec PATH ARGS...    exec PATH with ARGS (for a 32-bit image written by a test)
//   files DIR            in DIR: create (O_EXCL, then again: must fail EEXIST),
//                        rename and delete files with hostile names, relative
//                        to the working directory and to a directory fd, and
//                        the same in a directory nested to a ~4,000-byte path
//                        (DIR/deep/ddd…/ddd…/…/f); prints the deep
//                        directory's path length (3,990 bytes)
//   create PATH          create PATH (O_EXCL), write a line, close
//   rename OLD NEW       rename(2)
//   unlink PATH          unlink(2)
//   link OLD NEW         link(2)
//   mknod PATH           mknod(2) of a regular file, then of a FIFO (PATH.fifo)
//   open PATH            open PATH read-only and close it
//   tcp 4|6              loopback TCP server and client; prints
//                        "CLIENT_PORT SERVER_PORT"
//   udp                  sends two datagrams to 127.0.0.1:9 and one to ::1:9
//                        from one socket; prints its port
//   finit-module PATH    finit_module on PATH; prints the errno (0 on success)
//   init-module          init_module on a few bytes; prints the errno
//   ptrace-pair          starts a target (pause) and a tracer that
//                        PTRACE_ATTACHes to it and reads its memory with
//                        process_vm_readv; prints "TRACER TARGET"
//   bpf-load NAME        loads a two-instruction socket filter named NAME
//   dlopen PATH          dlopen()s PATH
//   mprotect-exec PATH   maps PATH read-only, then mprotect()s it executable
//   file-storm N DIR MARKER   create+write+close+unlink DIR/MARKER-i, N times
//   connect-storm N      N loopback TCP connections (connect, accept, close)
//   signal PID SIGNO [MARKER]  kill(PID, SIGNO); prints the errno (0 on success)
//   ptrace-seize PID [MARKER]  PTRACE_SEIZE on PID, then PTRACE_DETACH; prints
//                        the errno of the seize (0 on success)
//   signal-storm N       N × kill(own pid, SIGUSR2) with SIGUSR2 ignored;
//                        prints the nanoseconds per kill
//   in-cgroup PROCS PATH ARGS...  write its pid to PROCS (a cgroup's cgroup.procs),
//                        then exec PATH with ARGS: a process placed in a cgroup
//                        the way a container runtime places its init
//   container-probe FILE brings up lo (a new network namespace has it down),
//                        prints "PID PIDNS MNTNS NETNS" as it sees them, creates
//                        FILE, then does what tcp 4 does
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <net/if.h>
#include <sys/ioctl.h>

static void *thread_body(void *arg) {
    (void)arg;
    usleep(20000);
    return NULL;
}

static int threads(int n) {
    pthread_t t[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, thread_body, NULL) != 0) return 2;
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return 0;
}

static int storm(int n, const char *marker) {
    char arg[256];
    for (int i = 0; i < n; i++) {
        snprintf(arg, sizeof arg, "%s-%d", marker, i);
        pid_t pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) {
            execl("/bin/true", "/bin/true", arg, (char *)NULL);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) return 2;
    }
    return 0;
}

static int exec_storm(long n, long bytes, const char *marker) {
    if (bytes < 1 || bytes > 1024 * 1024) return 2;
    char *big = malloc(bytes + 1);
    if (!big) return 2;
    memset(big, 'A', bytes);
    big[bytes] = 0;
    char arg[256];
    for (long i = 0; i < n; i++) {
        snprintf(arg, sizeof arg, "%s-%ld", marker, i);
        pid_t pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) {
            execl("/bin/true", "/bin/true", arg, big, (char *)NULL);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) return 2;
    }
    free(big);
    return 0;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int exec_rate(long rate, long seconds, const char *marker) {
    if (rate < 1 || seconds < 1) return 2;
    char arg[256];
    double start = now_seconds(), end = start + seconds;
    long done = 0, running = 0;
    while (now_seconds() < end) {
        double due = start + (double)done / rate;
        double wait = due - now_seconds();
        if (wait > 0) usleep((useconds_t)(wait * 1e6));
        snprintf(arg, sizeof arg, "%s-%ld", marker, done);
        pid_t pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) {
            execl("/bin/true", "/bin/true", arg, (char *)NULL);
            _exit(127);
        }
        done++;
        running++;
        while (running > 0 && waitpid(-1, NULL, WNOHANG) > 0) running--;
    }
    while (running > 0 && waitpid(-1, NULL, 0) > 0) running--;
    printf("%ld %.3f\n", done, now_seconds() - start);
    return 0;
}

/* n short-lived processes that exit at once, without exec (bench-memory.sh). */
static int fork_storm(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) return 2;
        if (pid == 0) _exit(0);
        int status;
        if (waitpid(pid, &status, 0) < 0) return 2;
    }
    return 0;
}

static int vfork_storm(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = vfork();
        if (pid < 0) return 2;
        if (pid == 0) _exit(0);
        int status;
        if (waitpid(pid, &status, 0) < 0) return 2;
    }
    return 0;
}

static int exec_hostile(const char *marker) {
    static char big[100 * 1024 + 1];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char *argv[] = {
        "/bin/true", (char *)marker, "line1\nline2", "say \"hi\" 'there'", "<tag>&amp;",
        "tab\there", "bad\xff\xfe" "bytes", "back\\slash", big, NULL,
    };
    execv("/bin/true", argv);
    return 127;
}

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "failed: %s (%s)\n", #x, strerror(errno)); return 3; } } while (0)

static const char *hostile_names[] = {
    "plain", "with space", "new\nline", "quo\"te's", "bad\xff\xfe" "bytes",
};

// Create (twice: the second must fail), rename, delete `name` in the
// directory `dirfd`; the create uses the working directory when `cwd` is set.
static int file_cycle(int dirfd, const char *name, int cwd) {
    int at = cwd ? AT_FDCWD : dirfd;
    int fd = openat(at, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "x\n", 2) == 2);
    close(fd);
    CHECK(openat(at, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644) < 0 && errno == EEXIST);
    char renamed[512];
    snprintf(renamed, sizeof renamed, "%s.renamed", name);
    CHECK(renameat(at, name, dirfd, renamed) == 0);
    CHECK(unlinkat(dirfd, renamed, 0) == 0);
    return 0;
}

static int files(const char *dir) {
    CHECK(chdir(dir) == 0);
    int dirfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dirfd >= 0);
    for (unsigned i = 0; i < sizeof hostile_names / sizeof *hostile_names; i++) {
        int rc = file_cycle(dirfd, hostile_names[i], i % 2 == 0);
        if (rc) return rc;
    }
    // A directory ~3,990 bytes deep below DIR: 19 components of 200 bytes.
    char component[201];
    memset(component, 'd', 200);
    component[200] = 0;
    CHECK(mkdirat(dirfd, "deep", 0755) == 0);
    int deep = openat(dirfd, "deep", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(deep >= 0);
    size_t length = strlen(dir) + 5;
    while (length < 3990) {
        size_t size = 3990 - length - 1 < 200 ? 3990 - length - 1 : 200;
        if (size == 0) break;
        component[size] = 0;
        CHECK(mkdirat(deep, component, 0755) == 0);
        int next = openat(deep, component, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(next >= 0);
        close(deep);
        deep = next;
        length += size + 1;
        component[size] = 'd';
    }
    int rc = file_cycle(deep, "f", 0);
    if (rc) return rc;
    printf("%zu\n", length);
    return 0;
}

static int tcp(int family) {
    int server = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(server >= 0);
    struct sockaddr_storage address = {0};
    socklen_t length;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&address;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        length = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&address;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        length = sizeof *a;
    }
    CHECK(bind(server, (struct sockaddr *)&address, length) == 0);
    CHECK(listen(server, 1) == 0);
    CHECK(getsockname(server, (struct sockaddr *)&address, &length) == 0);
    int client = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(client >= 0);
    CHECK(connect(client, (struct sockaddr *)&address, length) == 0);
    int accepted = accept(server, NULL, NULL);
    CHECK(accepted >= 0);
    struct sockaddr_storage local;
    socklen_t local_length = sizeof local;
    CHECK(getsockname(client, (struct sockaddr *)&local, &local_length) == 0);
    unsigned client_port = ntohs(((struct sockaddr_in *)&local)->sin_port);
    unsigned server_port = ntohs(((struct sockaddr_in *)&address)->sin_port);
    CHECK(write(client, "ping", 4) == 4);
    char buffer[4];
    CHECK(read(accepted, buffer, 4) == 4);
    close(client);
    close(accepted);
    close(server);
    printf("%u %u\n", client_port, server_port);
    return 0;
}

static int udp(void) {
    int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(s >= 0);
    struct sockaddr_in6 v4mapped = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &v4mapped.sin6_addr);
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(9), .sin6_addr = in6addr_loopback};
    CHECK(sendto(s, "a", 1, 0, (struct sockaddr *)&v4mapped, sizeof v4mapped) == 1);
    CHECK(sendto(s, "b", 1, 0, (struct sockaddr *)&v4mapped, sizeof v4mapped) == 1);
    struct iovec iov = {.iov_base = "c", .iov_len = 1};
    struct msghdr msg = {.msg_name = &v6, .msg_namelen = sizeof v6, .msg_iov = &iov, .msg_iovlen = 1};
    CHECK(sendmsg(s, &msg, 0) == 1);
    struct sockaddr_in6 local;
    socklen_t length = sizeof local;
    CHECK(getsockname(s, (struct sockaddr *)&local, &length) == 0);
    printf("%u\n", ntohs(local.sin6_port));
    close(s);
    return 0;
}

static int finit_module_path(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    long rc = syscall(SYS_finit_module, fd, "", 0);
    printf("%d\n", rc == 0 ? 0 : errno);
    close(fd);
    return 0;
}

static int init_module_image(void) {
    static const char image[64] = "\x7f" "ELF";
    long rc = syscall(SYS_init_module, image, sizeof image, "");
    printf("%d\n", rc == 0 ? 0 : errno);
    return 0;
}

static int ptrace_pair(const char *self) {
    pid_t target = fork();
    CHECK(target >= 0);
    if (target == 0) {
        execl(self, self, "pause", (char *)NULL);
        _exit(127);
    }
    usleep(100000);  // let the target exec before it is traced
    char target_text[32];
    snprintf(target_text, sizeof target_text, "%d", target);
    pid_t tracer = fork();
    CHECK(tracer >= 0);
    if (tracer == 0) {
        execl(self, self, "ptrace-attach", target_text, (char *)NULL);
        _exit(127);
    }
    int status;
    CHECK(waitpid(tracer, &status, 0) == tracer);
    kill(target, SIGKILL);
    waitpid(target, &status, 0);
    printf("%d %d\n", tracer, target);
    return 0;
}

static int ptrace_attach(pid_t target) {
    CHECK(ptrace(PTRACE_ATTACH, target, NULL, NULL) == 0);
    int status;
    CHECK(waitpid(target, &status, 0) == target);
    CHECK(ptrace(PTRACE_DETACH, target, NULL, NULL) == 0);
    // The target's first mapping (its ELF header) is an address surely mapped.
    char maps[64];
    snprintf(maps, sizeof maps, "/proc/%d/maps", target);
    FILE *f = fopen(maps, "r");
    CHECK(f != NULL);
    unsigned long start = 0;
    CHECK(fscanf(f, "%lx", &start) == 1);
    fclose(f);
    char buffer[8];
    struct iovec local = {.iov_base = buffer, .iov_len = sizeof buffer};
    struct iovec remote = {.iov_base = (void *)start, .iov_len = sizeof buffer};
    CHECK(process_vm_readv(target, &local, 1, &remote, 1, 0) == sizeof buffer);
    return 0;
}

static int bpf_load(const char *name) {
    struct bpf_insn program[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = (unsigned long)program;
    attr.insn_cnt = 2;
    attr.license = (unsigned long)"GPL";
    strncpy(attr.prog_name, name, sizeof attr.prog_name - 1);
    int fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    CHECK(fd >= 0);
    close(fd);
    return 0;
}

static int file_storm(int n, const char *dir, const char *marker) {
    char path[4096];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s-%d", dir, marker, i);
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(write(fd, "x", 1) == 1);
        close(fd);
        CHECK(unlink(path) == 0);
    }
    return 0;
}

static int connect_storm(int n) {
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(server >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    CHECK(bind(server, (struct sockaddr *)&address, length) == 0);
    CHECK(listen(server, 128) == 0);
    CHECK(getsockname(server, (struct sockaddr *)&address, &length) == 0);
    for (int i = 0; i < n; i++) {
        int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(client >= 0);
        CHECK(connect(client, (struct sockaddr *)&address, length) == 0);
        int accepted = accept(server, NULL, NULL);
        CHECK(accepted >= 0);
        // The client closes last-but-one so its port lingers in TIME_WAIT on
        // the server side, not exhausting the client's ephemeral range.
        close(accepted);
        close(client);
    }
    close(server);
    return 0;
}

static int send_signal(pid_t pid, int signo) {
    int rc = kill(pid, signo);
    printf("%d\n", rc == 0 ? 0 : errno);
    return 0;
}

static int ptrace_seize(pid_t pid) {
    long rc = ptrace(PTRACE_SEIZE, pid, NULL, NULL);
    int error = rc == 0 ? 0 : errno;
    if (rc == 0) ptrace(PTRACE_DETACH, pid, NULL, NULL);
    printf("%d\n", error);
    return 0;
}

static int signal_storm(long n) {
    signal(SIGUSR2, SIG_IGN);
    pid_t self = getpid();
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < n; i++) CHECK(kill(self, SIGUSR2) == 0);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
    printf("%.1f\n", n > 0 ? ns / n : 0.0);
    return 0;
}

static int in_cgroup(const char *procs, char **program) {
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    CHECK(write(fd, pid, n) == n);
    close(fd);
    execv(program[0], program);
    perror("exec");
    return 127;
}

static unsigned long ns_inode(const char *link) {
    struct stat st;
    CHECK(stat(link, &st) == 0);
    return (unsigned long)st.st_ino;
}

static int container_probe(const char *file) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(s >= 0);
    struct ifreq request = {0};
    strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    CHECK(ioctl(s, SIOCGIFFLAGS, &request) == 0);
    request.ifr_flags |= IFF_UP;
    CHECK(ioctl(s, SIOCSIFFLAGS, &request) == 0);
    close(s);
    printf("%d %lu %lu %lu\n", (int)getpid(), ns_inode("/proc/self/ns/pid"), ns_inode("/proc/self/ns/mnt"),
           ns_inode("/proc/self/ns/net"));
    int fd = open(file, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    close(fd);
    return tcp(AF_INET);
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "in-cgroup") == 0) return in_cgroup(argv[2], &argv[3]);
    if (argc >= 3 && strcmp(argv[1], "container-probe") == 0) return container_probe(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "files") == 0) return files(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "create") == 0) {
        int fd = open(argv[2], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(write(fd, "[Unit]\n", 7) == 7);
        close(fd);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "rename") == 0) { CHECK(rename(argv[2], argv[3]) == 0); return 0; }
    if (argc >= 3 && strcmp(argv[1], "unlink") == 0) { CHECK(unlink(argv[2]) == 0); return 0; }
    if (argc >= 4 && strcmp(argv[1], "link") == 0) { CHECK(link(argv[2], argv[3]) == 0); return 0; }
    if (argc >= 3 && strcmp(argv[1], "mknod") == 0) {
        char fifo[4096];
        snprintf(fifo, sizeof fifo, "%s.fifo", argv[2]);
        CHECK(mknod(argv[2], S_IFREG | 0644, 0) == 0);
        CHECK(mknod(fifo, S_IFIFO | 0644, 0) == 0);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "open") == 0) {
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        close(fd);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "tcp") == 0) return tcp(strcmp(argv[2], "6") == 0 ? AF_INET6 : AF_INET);
    if (argc >= 2 && strcmp(argv[1], "udp") == 0) return udp();
    if (argc >= 3 && strcmp(argv[1], "finit-module") == 0) return finit_module_path(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "init-module") == 0) return init_module_image();
    if (argc >= 2 && strcmp(argv[1], "ptrace-pair") == 0) return ptrace_pair("/proc/self/exe");
    if (argc >= 3 && strcmp(argv[1], "ptrace-attach") == 0) return ptrace_attach(atoi(argv[2]));
    if (argc >= 2 && strcmp(argv[1], "pause") == 0) { pause(); return 0; }
    if (argc >= 3 && strcmp(argv[1], "bpf-load") == 0) return bpf_load(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "file-storm") == 0) return file_storm(atoi(argv[2]), argv[3], argv[4]);
    if (argc >= 3 && strcmp(argv[1], "connect-storm") == 0) return connect_storm(atoi(argv[2]));
    if (argc >= 4 && strcmp(argv[1], "signal") == 0) return send_signal(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "ptrace-seize") == 0) return ptrace_seize(atoi(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "signal-storm") == 0) return signal_storm(atol(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "mprotect-exec") == 0) {
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        CHECK(p != MAP_FAILED);
        close(fd);
        CHECK(mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0);
        munmap(p, 4096);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "dlopen") == 0) {
        void *handle = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
        if (!handle) { fprintf(stderr, "%s\n", dlerror()); return 3; }
        dlclose(handle);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "threads") == 0) return threads(atoi(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "fork-storm") == 0) return fork_storm(atol(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "vfork-storm") == 0) return vfork_storm(atol(argv[2]));
    if (argc >= 5 && strcmp(argv[1], "exec-rate") == 0) return exec_rate(atol(argv[2]), atol(argv[3]), argv[4]);
    if (argc >= 5 && strcmp(argv[1], "exec-storm") == 0) return exec_storm(atol(argv[2]), atol(argv[3]), argv[4]);
    if (argc >= 4 && strcmp(argv[1], "storm") == 0) return storm(atoi(argv[2]), argv[3]);
    if (argc >= 3 && strcmp(argv[1], "exec-hostile") == 0) return exec_hostile(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
        execv(argv[2], &argv[2]);
        perror("exec");
        return 127;
    }
    fprintf(stderr, "usage: swiftmon-testhelper MODE ARGS... (modes at the top of main.c)\n");
    return 64;
}
