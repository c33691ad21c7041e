/*
 * runyard-spawn: start one sandboxed program and report its exact rusage.
 *
 * usage: runyard-spawn [--as-root] REPORT_FD UID GID CPU_S FSIZE_BYTES STACK_BYTES NOFILE WORKDIR -- PROGRAM [ARG...]
 *
 * The agent is a Python process. A program forked straight from it would
 * inherit Python's resident-set high-water mark (ru_maxrss survives exec), so
 * every run would appear to use at least ~12 MB. This small static binary is
 * forked from instead: its own child starts with a tiny address space and a
 * fresh rusage, so the reported peak memory is the program's own.
 *
 * The child sets its limits, empties its capability bounding set, drops to UID/GID with no supplementary groups,
 * (with --as-root, for a persistent sandbox whose image runs as root inside a user namespace, it stays uid 0
 * and keeps the container's own few capabilities: package managers need them, and the host never sees root),
 * enters WORKDIR (as that user: the agent itself may not look inside), asks
 * to die with its parent, and execs PROGRAM. The parent waits for it and
 * writes one line to REPORT_FD:
 *     ok WSTATUS UTIME_US STIME_US MAXRSS_KB
 *     spawn_error ERRNO
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static long parse(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) {
        fprintf(stderr, "runyard-spawn: bad number %s\n", s);
        exit(125);
    }
    return v;
}

static int errpipe[2];

/* In the child: hand errno to the parent, which reports it as a spawn error. */
static void fail(void) {
    int e = errno;
    (void)!write(errpipe[1], &e, sizeof e);
    _exit(127);
}

static void limit(int resource, rlim_t soft, rlim_t hard) {
    struct rlimit rl = {soft, hard};
    if (setrlimit(resource, &rl) != 0) fail();
}

int main(int argc, char **argv) {
    int as_root = argc > 1 && strcmp(argv[1], "--as-root") == 0;
    if (as_root) {
        argv++;
        argc--;
    }
    if (argc < 11 || strcmp(argv[9], "--") != 0) {
        fprintf(stderr, "usage: runyard-spawn REPORT_FD UID GID CPU_S FSIZE STACK NOFILE WORKDIR -- PROGRAM [ARG...]\n");
        return 125;
    }
    int report_fd = (int)parse(argv[1]);
    uid_t uid = (uid_t)parse(argv[2]);
    gid_t gid = (gid_t)parse(argv[3]);
    rlim_t cpu_s = (rlim_t)parse(argv[4]);
    rlim_t fsize = (rlim_t)parse(argv[5]);
    rlim_t stack = (rlim_t)parse(argv[6]);
    rlim_t nofile = (rlim_t)parse(argv[7]);
    const char *workdir = argv[8];
    if (as_root ? (uid != 0 || gid != 0) : (uid == 0 || gid == 0)) {
        fprintf(stderr, as_root ? "runyard-spawn: --as-root takes uid and gid 0\n" : "runyard-spawn: refusing to run as root\n");
        return 125;
    }

    if (pipe2(errpipe, O_CLOEXEC) != 0) return 125;

    pid_t pid = fork();
    if (pid < 0) return 125;
    if (pid == 0) {
        close(errpipe[0]);
        close(report_fd);
        setpgid(0, 0);
        limit(RLIMIT_CPU, cpu_s, cpu_s + 1);
        limit(RLIMIT_FSIZE, fsize, fsize);
        limit(RLIMIT_STACK, stack, stack);
        limit(RLIMIT_NOFILE, nofile, nofile);
        limit(RLIMIT_CORE, 0, 0);
        /* Empty the bounding set while CAP_SETPCAP is still ours: nothing the
         * program execs later (setuid binaries included) can gain a capability. */
        if (as_root) {
            /* The agent's own capability (it sets the sandbox's egress allow-list) is never the program's. */
            if (prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0) != 0 && errno != EINVAL) fail();
            if (setgroups(0, NULL) != 0) fail();
        } else {
            for (int cap = 0; cap <= 63; cap++) {
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail();
            }
            if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) fail();
            if (setuid(0) == 0) { /* never continue if privileges could come back */
                errno = EPERM;
                fail();
            }
        }
        if (chdir(workdir) != 0) fail();
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (adj >= 0) {
            (void)!write(adj, "1000", 4);
            close(adj);
        }
        signal(SIGPIPE, SIG_DFL);
        execv(argv[10], &argv[10]);
        fail();
    }
    close(errpipe[1]);
    /* The program owns stdio now; holding it would delay EOF for the agent. */
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);

    int exec_errno = 0;
    ssize_t n = read(errpipe[0], &exec_errno, sizeof exec_errno);
    close(errpipe[0]);

    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    if (n == (ssize_t)sizeof exec_errno) {
        dprintf(report_fd, "spawn_error %d\n", exec_errno);
        return 0;
    }
    dprintf(report_fd, "ok %d %lld %lld %ld\n", status,
            (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
            (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
            ru.ru_maxrss);
    return 0;
}
