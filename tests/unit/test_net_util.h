/* Helpers shared by the unit tests that talk to real peers on 127.0.0.1 (not a test itself: the
 * Makefile builds test_*.c): a monotonic clock, free ports, and Debian's memcached started on a
 * free port, polled until it accepts, killed by the test (and by PR_SET_PDEATHSIG if a failed
 * check ends the test process first). */
#ifndef SHOAL_TEST_NET_UTIL_H
#define SHOAL_TEST_NET_UTIL_H
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEMCACHED "/usr/bin/memcached"
#define WAIT_LIMIT_MS 10000

static inline uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void pause_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* A loopback socket bound to a free port; listening when `listening`. */
static inline int bound_socket(uint16_t *port, bool listening)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (listening)
        ck_assert_int_eq(listen(fd, 16), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static inline uint16_t free_port(void)
{
    uint16_t port;
    close(bound_socket(&port, false));
    return port;
}

static inline bool accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Starts a memcached-compatible server binary (memcached or shoal: same flags). */
static inline pid_t start_server(const char *path, uint16_t port)
{
    char portbuf[8];
    snprintf(portbuf, sizeof portbuf, "%u", port);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        if (geteuid() == 0)
            execl(path, path, "-u", "nobody", "-l", "127.0.0.1", "-p", portbuf, "-U",
                  "0", "-t", "1", (char *)NULL);
        else
            execl(path, path, "-l", "127.0.0.1", "-p", portbuf, "-U", "0", "-t", "1",
                  (char *)NULL);
        _exit(127);
    }
    uint64_t end = now_ms() + WAIT_LIMIT_MS;
    while (!accepts(port)) {
        int status;
        ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0, "%s exited", path);
        ck_assert_msg(now_ms() < end, "%s did not accept on port %u", path, port);
        pause_ms(10);
    }
    return pid;
}

static inline pid_t start_memcached(uint16_t port)
{
    return start_server(MEMCACHED, port);
}

/* Kills and reaps a server started above. */
static inline void stop_memcached(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

#endif
