// swiftmon-testhelper: real processes for swiftmon's end-to-end tests, doing
// exactly one kernel-visible thing per mode so the tests can assert on the
// events it causes.
//
//   threads N            start N threads, join them, exit 0
//   storm N MARKER       fork+exec "/bin/true MARKER-i" N times, waiting for each
//   exec-hostile MARKER  exec /bin/true with hostile arguments (newline, quotes,
//                        <, &, tab, bytes that are not UTF-8, 100 KiB argument)
//   exec PATH ARGS...    exec PATH with ARGS (for a 32-bit image written by a test)
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "threads") == 0) return threads(atoi(argv[2]));
    if (argc >= 4 && strcmp(argv[1], "storm") == 0) return storm(atoi(argv[2]), argv[3]);
    if (argc >= 3 && strcmp(argv[1], "exec-hostile") == 0) return exec_hostile(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
        execv(argv[2], &argv[2]);
        perror("exec");
        return 127;
    }
    fprintf(stderr, "usage: swiftmon-testhelper threads N | storm N MARKER | exec-hostile MARKER | exec PATH ARGS...\n");
    return 64;
}
