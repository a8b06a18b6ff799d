/* One pipelined connection to a backend; see backend.h. */
#include "cluster/route/backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 16384
/* A buffer grown past this by one large value (up to -I) is freed once empty, so that a worker
 * does not keep tens of megabytes per backend after one big set or get. */
#define KEEP_BUF_MAX (1024 * 1024)

enum link_state {
    LINK_DOWN,       /* no socket; may connect at retry_at */
    LINK_CONNECTING, /* non-blocking connect in progress */
    LINK_UP,
};

struct pending {
    struct reply_parser parser;
    backend_done_fn done; /* NULL for the hello */
    void *arg;
    uint64_t deadline;
    bool dropping; /* past max_reply_bytes: framed parts are discarded as they arrive */
};

struct backend {
    struct backend_config cfg;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct sockaddr_storage source; /* valid when sourcelen > 0 */
    socklen_t sourcelen;

    enum link_state state;
    int fd;
    uint64_t fd_serial;
    uint64_t connect_deadline;
    uint64_t retry_at;
    unsigned failures; /* consecutive, for the backoff; reset by a reply */
    bool ever_connected;
    bool write_failed; /* a write inside backend_send failed: torn down at the next tick */
    enum backend_error last_teardown; /* why the connection last went down (BACKEND_OK: never) */

    /* bytes not yet written: out[out_sent..out_len) */
    char *out;
    size_t out_len, out_sent, out_cap;
    /* bytes read, not yet consumed: in[in_start..in_len) begins with the head's reply */
    char *in;
    size_t in_start, in_len, in_cap;

    /* requests in flight, FIFO: ring of cap entries from head */
    struct pending *queue;
    size_t q_head, q_count, q_cap;

    struct backend_counters counters;
};

const char *backend_error_text(enum backend_error err)
{
    switch (err) {
    case BACKEND_OK: return "ok";
    case BACKEND_REFUSED: return "backend connection refused";
    case BACKEND_DOWN: return "backend unavailable";
    case BACKEND_TIMEOUT: return "backend timeout";
    case BACKEND_LOST: return "backend connection lost";
    case BACKEND_MALFORMED: return "backend sent a malformed reply";
    case BACKEND_NOMEM: return "out of memory";
    case BACKEND_BUSY: return "backend busy";
    case BACKEND_TOO_LARGE: return "backend reply too large";
    }
    return "backend error";
}

struct backend *backend_new(const struct backend_config *cfg)
{
    if (cfg->host == NULL || cfg->timeout_ms == 0) {
        errno = EINVAL;
        return NULL;
    }
    struct backend *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->cfg = *cfg;
    if (b->cfg.backoff_min_ms == 0)
        b->cfg.backoff_min_ms = 1;
    if (b->cfg.backoff_max_ms < b->cfg.backoff_min_ms)
        b->cfg.backoff_max_ms = b->cfg.backoff_min_ms;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&b->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&b->addr;
    if (inet_pton(AF_INET, cfg->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(cfg->port);
        b->addrlen = sizeof *v4;
    } else if (inet_pton(AF_INET6, cfg->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(cfg->port);
        b->addrlen = sizeof *v6;
    } else {
        free(b);
        errno = EINVAL;
        return NULL;
    }
    if (cfg->source != NULL) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&b->source;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&b->source;
        if (b->addr.ss_family == AF_INET && inet_pton(AF_INET, cfg->source, &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
            b->sourcelen = sizeof *s4;
        } else if (b->addr.ss_family == AF_INET6 &&
                   inet_pton(AF_INET6, cfg->source, &s6->sin6_addr) == 1) {
            s6->sin6_family = AF_INET6;
            b->sourcelen = sizeof *s6;
        }
    }
    b->cfg.host = NULL; /* borrowed; not needed any more */
    b->cfg.source = NULL;
    b->fd = -1;
    b->state = LINK_DOWN;
    return b;
}

static struct pending *queue_at(struct backend *b, size_t i)
{
    return &b->queue[(b->q_head + i) % b->q_cap];
}

static int queue_push(struct backend *b, const struct pending *p)
{
    if (b->q_count == b->q_cap) {
        size_t cap = b->q_cap ? b->q_cap * 2 : 16;
        struct pending *q = malloc(cap * sizeof *q);
        if (q == NULL)
            return -1;
        for (size_t i = 0; i < b->q_count; i++)
            q[i] = *queue_at(b, i);
        free(b->queue);
        b->queue = q;
        b->q_cap = cap;
        b->q_head = 0;
    }
    *queue_at(b, b->q_count) = *p;
    b->q_count++;
    return 0;
}

static struct pending queue_pop(struct backend *b)
{
    struct pending p = *queue_at(b, 0);
    b->q_head = (b->q_head + 1) % b->q_cap;
    b->q_count--;
    return p;
}

/* Bytes moved on the connection: the request at the head (whose reply comes next, after those
 * bytes) gets a full timeout from now, so that a large value in transfer, or queued behind
 * one, is not taken for a backend that stopped answering. */
static void made_progress(struct backend *b, uint64_t now)
{
    if (b->q_count == 0)
        return;
    struct pending *head = queue_at(b, 0);
    if (head->deadline < now + b->cfg.timeout_ms)
        head->deadline = now + b->cfg.timeout_ms;
}

static void release_if_large(char **buf, size_t *cap)
{
    if (*cap > KEEP_BUF_MAX) {
        free(*buf);
        *buf = NULL;
        *cap = 0;
    }
}

static int out_append(struct backend *b, const char *bytes, size_t len)
{
    if (b->out_sent == b->out_len)
        b->out_sent = b->out_len = 0;
    if (len > b->out_cap - b->out_len) {
        if (b->out_sent > 0) { /* reclaim what was written before growing */
            memmove(b->out, b->out + b->out_sent, b->out_len - b->out_sent);
            b->out_len -= b->out_sent;
            b->out_sent = 0;
        }
        size_t cap = b->out_cap ? b->out_cap : 4096;
        while (cap - b->out_len < len) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        if (cap != b->out_cap) {
            char *p = realloc(b->out, cap);
            if (p == NULL)
                return -1;
            b->out = p;
            b->out_cap = cap;
        }
    }
    memcpy(b->out + b->out_len, bytes, len);
    b->out_len += len;
    return 0;
}

/* Fails every request in flight with err (the hello silently), closes the socket and schedules
 * the reconnect. The callbacks run last, on a consistent backend. */
static void fail_all(struct backend *b, enum backend_error err, uint64_t now)
{
    b->last_teardown = err;
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
    b->state = LINK_DOWN;
    b->failures++;
    unsigned shift = b->failures - 1 < 20 ? b->failures - 1 : 20;
    uint64_t delay = b->cfg.backoff_min_ms << shift;
    if (delay > b->cfg.backoff_max_ms)
        delay = b->cfg.backoff_max_ms;
    b->retry_at = now + delay;
    b->out_len = b->out_sent = 0;
    b->in_start = b->in_len = 0;
    release_if_large(&b->out, &b->out_cap);
    release_if_large(&b->in, &b->in_cap);
    b->write_failed = false;
    bool first = true;
    while (b->q_count > 0) {
        struct pending p = queue_pop(b);
        if (p.done == NULL)
            continue;
        b->counters.in_flight--;
        b->counters.errors++;
        /* only the request whose reply is overdue (or too large) failed so; the rest are lost
         * with it */
        bool head_only = err == BACKEND_TIMEOUT || err == BACKEND_TOO_LARGE;
        enum backend_error e = head_only && !first ? BACKEND_LOST : err;
        if (e == BACKEND_TIMEOUT)
            b->counters.timeouts++;
        first = false;
        p.done(p.arg, e, NULL, 0);
    }
}

/* Writes what it can. Returns false when the connection failed: torn down at once, or, when
 * !may_fail (inside backend_send, whose caller must not see a completion before it returns),
 * at the next backend_tick. */
static bool flush_out(struct backend *b, uint64_t now, bool may_fail)
{
    while (b->out_sent < b->out_len) {
        ssize_t n = send(b->fd, b->out + b->out_sent, b->out_len - b->out_sent, MSG_NOSIGNAL);
        if (n > 0) {
            b->out_sent += (size_t)n;
            made_progress(b, now);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (may_fail)
            fail_all(b, BACKEND_LOST, now);
        else
            b->write_failed = true;
        return false;
    }
    b->out_sent = b->out_len = 0;
    release_if_large(&b->out, &b->out_cap);
    return true;
}

static void start_connect(struct backend *b, uint64_t now)
{
    if (b->ever_connected)
        b->counters.reconnects++;
    b->ever_connected = true;
    int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_all(b, BACKEND_REFUSED, now);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (b->sourcelen > 0) {
        /* The port is picked at connect, knowing the destination: a port chosen at bind time
         * (without it) must be unused for every destination, and runs out far sooner. */
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        (void)bind(fd, (struct sockaddr *)&b->source, b->sourcelen); /* else: the kernel's choice */
    }
    b->fd = fd;
    b->fd_serial++;
    b->connect_deadline = now + b->cfg.timeout_ms;
    if (b->cfg.hello != NULL) {
        struct pending hello = {.deadline = now + b->cfg.timeout_ms};
        reply_parser_init(&hello.parser, b->cfg.hello_kind);
        if (queue_push(b, &hello) != 0 ||
            out_append(b, b->cfg.hello, strlen(b->cfg.hello)) != 0) {
            fail_all(b, BACKEND_NOMEM, now);
            return;
        }
    }
    int rc;
    do
        rc = connect(fd, (struct sockaddr *)&b->addr, b->addrlen);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        b->state = LINK_UP;
        flush_out(b, now, false);
    } else if (errno == EINPROGRESS) {
        b->state = LINK_CONNECTING;
    } else {
        fail_all(b, BACKEND_REFUSED, now);
    }
}

enum backend_error backend_send(struct backend *b, const char *req, size_t len,
                                enum reply_kind kind, backend_done_fn done, void *arg,
                                uint64_t now_ms)
{
    if (b->state == LINK_DOWN) {
        if (now_ms < b->retry_at) {
            b->counters.errors++;
            return BACKEND_DOWN;
        }
        start_connect(b, now_ms);
        if (b->state == LINK_DOWN) {
            b->counters.errors++;
            return BACKEND_REFUSED;
        }
    }
    size_t unwritten = b->out_len - b->out_sent;
    size_t cap = b->cfg.max_queued_bytes;
    /* a lone request larger than the limit still goes: it could never go otherwise */
    if (cap != 0 && unwritten > 0 && (unwritten >= cap || len > cap - unwritten)) {
        b->counters.errors++;
        return BACKEND_BUSY;
    }
    struct pending p = {.done = done, .arg = arg, .deadline = now_ms + b->cfg.timeout_ms};
    reply_parser_init(&p.parser, kind);
    if (queue_push(b, &p) != 0) {
        b->counters.errors++;
        return BACKEND_NOMEM;
    }
    if (out_append(b, req, len) != 0) {
        b->q_count--; /* un-queue it, so that requests and replies stay matched */
        b->counters.errors++;
        return BACKEND_NOMEM;
    }
    b->counters.requests++;
    b->counters.in_flight++;
    if (b->state == LINK_UP && !b->write_failed && !b->cfg.defer_writes)
        flush_out(b, now_ms, false);
    return BACKEND_OK;
}

/* An incomplete head reply holding more than max_reply_bytes: drops the parts of it already
 * framed (the parser only looks ahead of parser.pos, so the reply can restart there). False
 * when nothing can be dropped: one line or data block is itself over the bound. */
static bool drop_framed(struct backend *b, struct pending *head, size_t have)
{
    if (!head->dropping && (b->cfg.max_reply_bytes == 0 || have <= b->cfg.max_reply_bytes))
        return true;
    head->dropping = true;
    b->in_start += head->parser.pos;
    have -= head->parser.pos;
    head->parser.pos = 0;
    /* Move the rest to the front now, so that reading on does not walk through (and touch) the
     * whole grown buffer; copying no more than was dropped keeps this linear. */
    if (b->in_start >= have) {
        memmove(b->in, b->in + b->in_start, have);
        b->in_len = have;
        b->in_start = 0;
    }
    return have <= b->cfg.max_reply_bytes;
}

/* Completes every reply now whole at the head of the input. False after a teardown. */
static bool deliver(struct backend *b, uint64_t now)
{
    while (b->q_count > 0) {
        struct pending *head = queue_at(b, 0);
        const char *reply = b->in + b->in_start;
        size_t have = b->in_len - b->in_start;
        enum reply_status st = reply_parser_feed(&head->parser, reply, have);
        if (st == REPLY_INCOMPLETE) {
            if (drop_framed(b, head, have))
                return true;
            fail_all(b, BACKEND_TOO_LARGE, now);
            return false;
        }
        if (st == REPLY_MALFORMED) {
            fail_all(b, BACKEND_MALFORMED, now);
            return false;
        }
        size_t len = head->parser.length;
        struct pending p = queue_pop(b);
        b->in_start += len;
        b->failures = 0;
        /* also a reply that arrived whole in one read: the answer must not depend on how
         * the bytes were chunked */
        bool too_large = p.dropping || (b->cfg.max_reply_bytes && len > b->cfg.max_reply_bytes);
        if (p.done != NULL && too_large) {
            b->counters.in_flight--;
            b->counters.errors++;
            p.done(p.arg, BACKEND_TOO_LARGE, NULL, 0);
            if (b->state != LINK_UP)
                return false;
        } else if (p.done != NULL) {
            b->counters.in_flight--;
            b->counters.replies++;
            p.done(p.arg, BACKEND_OK, reply, len);
            if (b->state != LINK_UP)
                return false; /* torn down meanwhile (by a send inside the callback) */
        }
    }
    if (b->in_start < b->in_len) { /* bytes nobody asked for: the stream is broken */
        fail_all(b, BACKEND_MALFORMED, now);
        return false;
    }
    return true;
}

static bool finish_connect(struct backend *b, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return false;
    if (err != 0) {
        fail_all(b, BACKEND_REFUSED, now);
        return false;
    }
    b->state = LINK_UP;
    return true;
}

void backend_on_readable(struct backend *b, uint64_t now_ms)
{
    if (b->state == LINK_CONNECTING && !finish_connect(b, now_ms))
        return;
    if (b->state != LINK_UP)
        return;
    for (int rounds = 0; rounds < 64; rounds++) {
        if (b->in_start == b->in_len)
            b->in_start = b->in_len = 0;
        if (b->in_cap - b->in_len < READ_CHUNK) {
            if (b->in_start > 0) {
                memmove(b->in, b->in + b->in_start, b->in_len - b->in_start);
                b->in_len -= b->in_start;
                b->in_start = 0;
            }
            if (b->in_cap - b->in_len < READ_CHUNK) {
                size_t cap = b->in_cap ? b->in_cap * 2 : 2 * READ_CHUNK;
                char *p = realloc(b->in, cap);
                if (p == NULL) {
                    fail_all(b, BACKEND_NOMEM, now_ms);
                    return;
                }
                b->in = p;
                b->in_cap = cap;
            }
        }
        size_t room = b->in_cap - b->in_len;
        ssize_t n = recv(b->fd, b->in + b->in_len, room, 0);
        if (n > 0) {
            b->in_len += (size_t)n;
            if (!deliver(b, now_ms))
                return;
            made_progress(b, now_ms);
            if (b->in_start == b->in_len) {
                b->in_start = b->in_len = 0;
                release_if_large(&b->in, &b->in_cap);
            }
            if ((size_t)n < room)
                return; /* drained: the next recv would only say EAGAIN (epoll says when) */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        fail_all(b, BACKEND_LOST, now_ms);
        return;
    }
}

void backend_flush(struct backend *b, uint64_t now_ms)
{
    if (b->state == LINK_UP && !b->write_failed && b->out_sent < b->out_len)
        flush_out(b, now_ms, false);
}

void backend_on_writable(struct backend *b, uint64_t now_ms)
{
    if (b->state == LINK_CONNECTING && !finish_connect(b, now_ms))
        return;
    if (b->state == LINK_UP)
        flush_out(b, now_ms, true);
}

void backend_tick(struct backend *b, uint64_t now_ms)
{
    switch (b->state) {
    case LINK_DOWN:
        if (now_ms >= b->retry_at)
            start_connect(b, now_ms);
        return;
    case LINK_CONNECTING:
        if (now_ms >= b->connect_deadline)
            fail_all(b, BACKEND_TIMEOUT, now_ms);
        return;
    case LINK_UP:
        if (b->write_failed)
            fail_all(b, BACKEND_LOST, now_ms);
        else if (b->q_count > 0 && now_ms >= queue_at(b, 0)->deadline)
            fail_all(b, BACKEND_TIMEOUT, now_ms);
        return;
    }
}

uint64_t backend_next_deadline(const struct backend *b)
{
    switch (b->state) {
    case LINK_DOWN: return b->retry_at;
    case LINK_CONNECTING: return b->connect_deadline;
    case LINK_UP:
        if (b->write_failed)
            return 0;
        return b->q_count > 0 ? b->queue[b->q_head].deadline : UINT64_MAX;
    }
    return UINT64_MAX;
}

int backend_fd(const struct backend *b)
{
    return b->fd;
}

uint32_t backend_events(const struct backend *b)
{
    switch (b->state) {
    case LINK_DOWN: return 0;
    case LINK_CONNECTING: return BACKEND_WANT_WRITE;
    case LINK_UP:
        return BACKEND_WANT_READ | (b->out_sent < b->out_len ? BACKEND_WANT_WRITE : 0);
    }
    return 0;
}

uint64_t backend_fd_serial(const struct backend *b)
{
    return b->fd_serial;
}

bool backend_connected(const struct backend *b)
{
    return b->state == LINK_UP;
}

bool backend_peer_gone(const struct backend *b)
{
    return b->state != LINK_UP &&
           (b->last_teardown == BACKEND_REFUSED || b->last_teardown == BACKEND_LOST);
}

const struct backend_counters *backend_counters(const struct backend *b)
{
    return &b->counters;
}

void backend_free(struct backend *b)
{
    if (b == NULL)
        return;
    while (b->q_count > 0) {
        struct pending p = queue_pop(b);
        if (p.done != NULL)
            p.done(p.arg, BACKEND_LOST, NULL, 0);
    }
    if (b->fd >= 0)
        close(b->fd);
    free(b->queue);
    free(b->out);
    free(b->in);
    free(b);
}
