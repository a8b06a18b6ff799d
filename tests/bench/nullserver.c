/* shoal-nullserver: a memcached-protocol server that stores nothing. Every get is a 100-byte
 * hit per key, every storage command is STORED (its data block read and dropped). It costs as
 * little as a server can, so it marks the speed of light for a benchmark on this machine, and
 * gives the tests a server whose values are wrong on purpose.
 *
 * Accepts memcached's common flags so scripts can start it the same way: -p, -l, -t; -m, -c,
 * -U, -u, -v and -o are accepted and ignored. Each thread runs its own epoll loop over the shared
 * listening socket; a connection stays on the thread that accepted it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define VALUE_LEN 100
#define LINE_MAX_LEN 8192

struct client {
    int fd;
    char *in;            /* unparsed input; owned */
    size_t in_len, in_cap;
    size_t skip;         /* bytes of a data block still to drop */
    char *out;           /* unsent output; owned */
    size_t out_len, out_cap, out_sent;
    bool want_out;
};

struct server {
    int listen_fd;
};

static char value_block[VALUE_LEN];

static int reserve(char **buf, size_t *cap, size_t len, size_t need)
{
    if (*cap - len >= need)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c - len < need)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p)
        return -1;
    *buf = p;
    *cap = c;
    return 0;
}

static int emit(struct client *c, const char *p, size_t n)
{
    if (reserve(&c->out, &c->out_cap, c->out_len, n))
        return -1;
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

static void client_free(struct client *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Splits a line into at most max words, in place; returns how many. */
static int split(char *line, char **words, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " ", &save); w && n < max; w = strtok_r(NULL, " ", &save))
        words[n++] = w;
    return n;
}

/* Handles one command line (without its line end). Returns -1 to close the connection. */
static int handle_line(struct client *c, char *line)
{
    char *w[260];
    int n = split(line, w, 260);
    if (n == 0)
        return emit(c, "ERROR\r\n", 7);
    if (strcmp(w[0], "get") == 0 || strcmp(w[0], "gets") == 0) {
        for (int i = 1; i < n; i++) {
            char head[320];
            int len = snprintf(head, sizeof head, "VALUE %s 0 %d\r\n", w[i], VALUE_LEN);
            if (emit(c, head, (size_t)len) || emit(c, value_block, VALUE_LEN) || emit(c, "\r\n", 2))
                return -1;
        }
        return emit(c, "END\r\n", 5);
    }
    if (strcmp(w[0], "set") == 0 || strcmp(w[0], "add") == 0 || strcmp(w[0], "replace") == 0 ||
        strcmp(w[0], "append") == 0 || strcmp(w[0], "prepend") == 0 || strcmp(w[0], "cas") == 0) {
        char *end;
        if (n < 5)
            return emit(c, "ERROR\r\n", 7);
        unsigned long long bytes = strtoull(w[4], &end, 10);
        if (*end || bytes > (1ULL << 30))
            return emit(c, "CLIENT_ERROR bad data chunk\r\n", 29);
        c->skip = (size_t)bytes + 2;
        bool noreply = strcmp(w[n - 1], "noreply") == 0;
        return noreply ? 0 : emit(c, "STORED\r\n", 8);
    }
    if (strcmp(w[0], "version") == 0)
        return emit(c, "VERSION 0.0.0-null\r\n", 20);
    if (strcmp(w[0], "stats") == 0)
        return emit(c, "END\r\n", 5);
    if (strcmp(w[0], "quit") == 0)
        return -1;
    return emit(c, "ERROR\r\n", 7);
}

/* Consumes whole lines and data blocks from the input buffer. */
static int process_input(struct client *c)
{
    size_t pos = 0;
    while (pos < c->in_len) {
        if (c->skip) {
            size_t take = c->in_len - pos < c->skip ? c->in_len - pos : c->skip;
            pos += take;
            c->skip -= take;
            continue;
        }
        char *nl = memchr(c->in + pos, '\n', c->in_len - pos);
        if (!nl) {
            if (c->in_len - pos > LINE_MAX_LEN) {
                emit(c, "CLIENT_ERROR line too long\r\n", 28);
                return -1;
            }
            break;
        }
        char *line = c->in + pos;
        size_t len = (size_t)(nl - line);
        pos += len + 1;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        line[len] = '\0';
        if (handle_line(c, line))
            return -1;
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
    return 0;
}

static void watch_out(int epfd, struct client *c, bool on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

static int flush(int epfd, struct client *c)
{
    while (c->out_sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch_out(epfd, c, true);
            return 0;
        } else {
            return -1;
        }
    }
    c->out_len = c->out_sent = 0;
    watch_out(epfd, c, false);
    return 0;
}

static int on_readable(struct client *c)
{
    for (int rounds = 0; rounds < 8; rounds++) {
        if (reserve(&c->in, &c->in_cap, c->in_len, 16384))
            return -1;
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->in_len += (size_t)n;
        if (process_input(c))
            return -1;
    }
    return 0;
}

static void accept_all(int epfd, int listen_fd)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct client *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            client_free(c);
    }
}

static void *serve(void *arg)
{
    const struct server *s = arg;
    static int listen_marker; /* epoll data for the listening socket */
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &listen_marker};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0) {
        perror("shoal-nullserver: epoll");
        exit(1);
    }
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == &listen_marker) {
                accept_all(epfd, s->listen_fd);
                continue;
            }
            struct client *c = events[i].data.ptr;
            int rc = 0;
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                rc = on_readable(c);
            if (c->out_len > c->out_sent && flush(epfd, c))
                rc = -1;
            if (rc) {
                epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                client_free(c);
            }
        }
    }
    return NULL;
}

static void usage(void)
{
    fputs("Usage: shoal-nullserver [-p PORT] [-l ADDR] [-t THREADS]\n"
          "A memcached-protocol server that stores nothing: every get key is a 100-byte hit,\n"
          "every set is STORED. (-m, -c, -U, -u, -v, -o are accepted and ignored.)\n",
          stderr);
}

int main(int argc, char **argv)
{
    int port = 11211, threads = 4, opt;
    const char *addr = "127.0.0.1";
    while ((opt = getopt(argc, argv, "p:l:t:m:c:U:u:o:vh")) != -1) {
        switch (opt) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'l':
            addr = optarg;
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'm': case 'c': case 'U': case 'u': case 'o': case 'v':
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 1;
        }
    }
    if (port < 0 || port > 65535 || threads < 1 || threads > 256) {
        usage();
        return 1;
    }
    memset(value_block, 'n', sizeof value_block);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "shoal-nullserver: bad address %s\n", addr);
        return 1;
    }
    static struct server server;
    server.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(server.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (server.listen_fd < 0 || bind(server.listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(server.listen_fd, 1024) < 0) {
        fprintf(stderr, "shoal-nullserver: cannot listen on %s:%d: %s\n", addr, port,
                strerror(errno));
        return 1;
    }
    pthread_t tid;
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&tid, NULL, serve, &server)) {
            fprintf(stderr, "shoal-nullserver: cannot start a thread\n");
            return 1;
        }
    }
    serve(&server);
    return 0;
}
