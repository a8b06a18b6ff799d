/* A shoal-bench client thread: non-blocking connections on one epoll loop, requests generated
 * into a write buffer, replies parsed and verified as they arrive. See worker.h. */
#include "tests/bench/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/reply.h"

enum { REQ_SET, REQ_GET };

struct pending {
    uint8_t type;
    uint32_t nkeys;
    uint64_t start_ns;
};

struct bytebuf {
    char *data;
    size_t start, end, cap;
};

struct conn {
    int fd;
    bool idle;
    bool want_out;            /* EPOLLOUT registered */
    struct worker *w;
    unsigned global;          /* index among all active connections */
    struct key_picker keys;
    struct bench_rng rng;     /* value sizes and versions */
    bool unlimited;
    uint64_t quota;           /* requests still to send when !unlimited */
    uint64_t op_counter;
    uint64_t interval_ns;     /* rate mode: time between this connection's requests */
    uint64_t next_send_ns;
    bool held_back;           /* rate mode: a request came due while the pipeline was full */
    struct pending *ring;     /* depth slots */
    uint64_t *ring_keys;      /* depth * multiget key numbers */
    unsigned head, count;
    unsigned get_pos;         /* keys of the head get already answered or missed */
    uint64_t last_rx_ns;
    struct bytebuf out, in;
};

/* Per-phase settings the loop reads. */
struct phase {
    struct phase_result *res;
    bool fill;
    unsigned depth;
    unsigned multiget;
    unsigned ratio_set, ratio_get;
    uint64_t deadline_ns;
    bool rate_limited;
};

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void bench_abort(struct bench_run *run, const char *fmt, ...)
{
    pthread_mutex_lock(&run->abort_lock);
    if (!atomic_load(&run->aborted)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(run->abort_reason, sizeof run->abort_reason, fmt, ap);
        va_end(ap);
        atomic_store(&run->aborted, 1);
    }
    pthread_mutex_unlock(&run->abort_lock);
}

static bool aborted(const struct worker *w)
{
    return atomic_load_explicit(&w->run->aborted, memory_order_relaxed) != 0;
}

/* ---- byte buffers ---- */

static int buf_reserve(struct bytebuf *b, size_t need)
{
    if (b->cap - b->end >= need)
        return 0;
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
        if (b->cap - b->end >= need)
            return 0;
    }
    size_t cap = b->cap ? b->cap : 16384;
    while (cap - b->end < need)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static void buf_append(struct bytebuf *b, const void *p, size_t n)
{
    memcpy(b->data + b->end, p, n);
    b->end += n;
}

/* ---- errors ---- */

static void note_error(struct phase_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note_error(struct phase_result *r, const char *fmt, ...)
{
    if (r->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first_error, sizeof r->first_error, fmt, ap);
    va_end(ap);
}

static void server_gone(struct conn *c, const char *what)
{
    const struct bench_options *o = c->w->run->opt;
    bench_abort(c->w->run, "server %s:%d %s", o->host, o->port, what);
}

static void publish_progress(struct worker *w, const struct phase_result *r)
{
    atomic_store_explicit(&w->progress_ops, r->sets + r->gets, memory_order_relaxed);
    atomic_store_explicit(&w->progress_errors,
                          r->server_errors + r->protocol_errors + r->verify_errors,
                          memory_order_relaxed);
    atomic_store_explicit(&w->progress_hits, r->hits, memory_order_relaxed);
    atomic_store_explicit(&w->progress_keys, r->get_keys, memory_order_relaxed);
}

/* ---- requests ---- */

static size_t pick_value_len(struct conn *c)
{
    const struct bench_options *o = c->w->run->opt;
    if (o->value_min == o->value_max)
        return o->value_min;
    return o->value_min + (size_t)bench_rng_below(&c->rng, o->value_max - o->value_min + 1);
}

/* ---- memcached's binary protocol (--protocol=binary) ---- */

enum {
    BIN_HEADER = 24,
    BIN_OP_GETK = 0x0c,
    BIN_OP_GETKQ = 0x0d,
    BIN_OP_NOOP = 0x0a,
    BIN_OP_SET = 0x01,
};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A request header: magic 0x80, CAS 0, opaque 0. */
static void bin_header(struct bytebuf *b, uint8_t op, size_t key_len, uint8_t ext_len,
                       size_t body_len)
{
    unsigned char h[BIN_HEADER] = {0x80, op, (unsigned char)(key_len >> 8), (unsigned char)key_len,
                                   ext_len};
    put32(h + 8, (uint32_t)body_len);
    buf_append(b, h, sizeof h);
}

/* A set is Set (flags: the value's version, exptime 0); a get is GetK, or with -m N, N GetKQ
 * and a Noop, as binary clients send a multi-get. */
static int enqueue_binary(struct conn *c, const struct phase *ph, struct pending *p,
                          uint64_t *keys, bool is_set)
{
    const struct bench_run *run = c->w->run;
    const struct bench_options *o = run->opt;
    char key[VALUEGEN_KEY_MAX];
    size_t prefix_len = strlen(o->key_prefix);
    if (is_set) {
        uint64_t k = keydist_next(&c->keys);
        size_t len = pick_value_len(c);
        uint32_t version = (uint32_t)bench_rng_next(&c->rng);
        if (version == 0)
            version = 1;
        size_t key_len = valuegen_key(key, o->key_prefix, prefix_len, k);
        if (buf_reserve(&c->out, BIN_HEADER + 8 + key_len + len))
            return -1;
        bin_header(&c->out, BIN_OP_SET, key_len, 8, 8 + key_len + len);
        unsigned char ext[8] = {0};
        put32(ext, version);
        buf_append(&c->out, ext, sizeof ext);
        buf_append(&c->out, key, key_len);
        buf_append(&c->out, valuegen_value(run->pool, k, version, len), len);
        p->type = REQ_SET;
        p->nkeys = 1;
        keys[0] = k;
        return 0;
    }
    if (buf_reserve(&c->out, (size_t)(ph->multiget + 1) * (BIN_HEADER + VALUEGEN_KEY_MAX)))
        return -1;
    bool quiet = ph->multiget > 1;
    for (unsigned i = 0; i < ph->multiget; i++) {
        uint64_t k = keydist_next(&c->keys);
        keys[i] = k;
        size_t key_len = valuegen_key(key, o->key_prefix, prefix_len, k);
        bin_header(&c->out, quiet ? BIN_OP_GETKQ : BIN_OP_GETK, key_len, 0, key_len);
        buf_append(&c->out, key, key_len);
    }
    if (quiet)
        bin_header(&c->out, BIN_OP_NOOP, 0, 0, 0);
    p->type = REQ_GET;
    p->nkeys = ph->multiget;
    return 0;
}

static int enqueue_request(struct conn *c, const struct phase *ph, uint64_t start_ns)
{
    const struct bench_run *run = c->w->run;
    const struct bench_options *o = run->opt;
    unsigned slot = (c->head + c->count) % ph->depth;
    struct pending *p = &c->ring[slot];
    uint64_t *keys = &c->ring_keys[(size_t)slot * ph->multiget];
    uint64_t cycle = ph->ratio_set + ph->ratio_get;
    bool is_set = (c->op_counter + c->global) % cycle < ph->ratio_set;
    char key[VALUEGEN_KEY_MAX];
    size_t prefix_len = strlen(o->key_prefix);

    c->op_counter++;
    p->start_ns = start_ns;
    if (o->binary) {
        if (enqueue_binary(c, ph, p, keys, is_set))
            return -1;
    } else if (is_set) {
        uint64_t k = keydist_next(&c->keys);
        size_t len = pick_value_len(c);
        uint32_t version = (uint32_t)bench_rng_next(&c->rng);
        if (version == 0)
            version = 1;
        size_t key_len = valuegen_key(key, o->key_prefix, prefix_len, k);
        if (buf_reserve(&c->out, key_len + len + 64))
            return -1;
        /* set <key> <version as flags> 0 <len>\r\n<value>\r\n */
        buf_append(&c->out, "set ", 4);
        buf_append(&c->out, key, key_len);
        char head[64];
        size_t n = 0;
        head[n++] = ' ';
        n += valuegen_utoa(head + n, version);
        memcpy(head + n, " 0 ", 3);
        n += 3;
        n += valuegen_utoa(head + n, len);
        head[n++] = '\r';
        head[n++] = '\n';
        buf_append(&c->out, head, n);
        buf_append(&c->out, valuegen_value(run->pool, k, version, len), len);
        buf_append(&c->out, "\r\n", 2);
        p->type = REQ_SET;
        p->nkeys = 1;
        keys[0] = k;
    } else {
        if (buf_reserve(&c->out, (size_t)ph->multiget * (VALUEGEN_KEY_MAX + 1) + 8))
            return -1;
        buf_append(&c->out, "get", 3);
        for (unsigned i = 0; i < ph->multiget; i++) {
            uint64_t k = keydist_next(&c->keys);
            keys[i] = k;
            size_t key_len = valuegen_key(key, o->key_prefix, prefix_len, k);
            buf_append(&c->out, " ", 1);
            buf_append(&c->out, key, key_len);
        }
        buf_append(&c->out, "\r\n", 2);
        p->type = REQ_GET;
        p->nkeys = ph->multiget;
    }
    if (c->count == 0) {
        c->last_rx_ns = bench_now_ns(); /* the silence clock starts with the first request */
        c->get_pos = 0;
    }
    c->count++;
    if (!c->unlimited)
        c->quota--;
    return 0;
}

static void set_epoll_out(struct conn *c, bool on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

/* Sends what is buffered; returns -1 when the server is gone. */
static int flush_out(struct conn *c, struct phase_result *r)
{
    while (c->out.end > c->out.start) {
        ssize_t n = send(c->fd, c->out.data + c->out.start, c->out.end - c->out.start,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->out.start += (size_t)n;
            r->bytes_out += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_epoll_out(c, true);
            return 0;
        }
        server_gone(c, n < 0 ? "went away (send failed)" : "went away");
        return -1;
    }
    c->out.start = c->out.end = 0;
    set_epoll_out(c, false);
    return 0;
}

/* Tops up the connection's pipeline, then sends. */
static int pump(struct conn *c, const struct phase *ph, uint64_t now, bool stop_sending)
{
    while (!stop_sending && c->count < ph->depth && (c->unlimited || c->quota > 0)) {
        uint64_t start = now;
        if (ph->rate_limited) {
            if (now < c->next_send_ns)
                break;
            /* A request that was due while the pipeline was full waited for the server: its
             * latency counts from when it was due, so a slow server cannot hide its queueing
             * (coordinated omission). Otherwise it counts from now: our own timer slack is not
             * the server's fault. */
            if (c->held_back)
                start = c->next_send_ns;
            c->held_back = false;
            c->next_send_ns += c->interval_ns;
        }
        if (enqueue_request(c, ph, start)) {
            bench_abort(c->w->run, "out of memory");
            return -1;
        }
    }
    if (ph->rate_limited && !stop_sending && c->count >= ph->depth && now >= c->next_send_ns)
        c->held_back = true;
    return flush_out(c, ph->res);
}

/* ---- replies ---- */

/* `failed`: the request got an error line; only the keys answered before it count as asked,
 * so that hits + misses == get_keys always holds. */
static void complete_head(struct conn *c, const struct phase *ph, uint64_t now, bool failed)
{
    struct pending *p = &c->ring[c->head];
    struct phase_result *r = ph->res;
    uint64_t lat = now > p->start_ns ? now - p->start_ns : 0;
    hist_record(&r->lat_all, lat);
    if (p->type == REQ_SET) {
        r->sets++;
        hist_record(&r->lat_set, lat);
    } else {
        r->gets++;
        r->get_keys += failed ? c->get_pos : p->nkeys;
        hist_record(&r->lat_get, lat);
    }
    c->head = (c->head + 1) % ph->depth;
    c->count--;
    c->get_pos = 0;
}

static void protocol_error(struct conn *c, struct phase_result *r, const char *what,
                           const char *line, size_t len)
{
    r->protocol_errors++;
    note_error(r, "protocol error: %s: '%.*s'", what, (int)(len > 120 ? 120 : len), line);
    bench_abort(c->w->run, "protocol error from server: %s: '%.*s'", what,
                (int)(len > 120 ? 120 : len), line);
}

/* A value for key arrived for the head get: counts it (keys of the get before it missed) and
 * verifies it. `what` names the reply in messages. Returns -1 on a protocol error. */
static int accept_value(struct conn *c, const struct phase *ph, const char *key_got,
                        size_t key_got_len, uint32_t flags, const char *data, size_t bytes,
                        const char *what, size_t what_len)
{
    const struct bench_run *run = c->w->run;
    const struct bench_options *o = run->opt;
    struct phase_result *r = ph->res;
    const struct pending *p = &c->ring[c->head];
    const uint64_t *keys = &c->ring_keys[(size_t)c->head * ph->multiget];
    char key[VALUEGEN_KEY_MAX];
    size_t prefix_len = strlen(o->key_prefix);
    unsigned j = c->get_pos;
    for (; j < p->nkeys; j++) {
        size_t key_len = valuegen_key(key, o->key_prefix, prefix_len, keys[j]);
        if (key_len == key_got_len && memcmp(key, key_got, key_len) == 0)
            break;
    }
    if (j == p->nkeys) {
        protocol_error(c, r, "value for a key not asked for", what, what_len);
        return -1;
    }
    r->misses += j - c->get_pos; /* keys skipped over were not found */
    r->hits++;
    c->get_pos = j + 1;
    if (o->verify && !valuegen_check(run->pool, keys[j], flags, data, bytes)) {
        r->verify_errors++;
        note_error(r, "wrong value: '%.*s'", (int)(what_len > 120 ? 120 : what_len), what);
    }
    return 0;
}

/* Handles the VALUE item at the buffer's start; returns bytes consumed, 0 when incomplete,
 * -1 on a protocol error. */
static long take_value(struct conn *c, const struct phase *ph, const struct reply_line *rl,
                       long line_len)
{
    struct phase_result *r = ph->res;
    const char *base = c->in.data + c->in.start;
    size_t avail = c->in.end - c->in.start;
    if (rl->bytes > (uint64_t)1 << 40) {
        protocol_error(c, r, "absurd value length", rl->text, rl->text_len);
        return -1;
    }
    size_t need = (size_t)line_len + (size_t)rl->bytes + 2;
    if (avail < need) {
        if (buf_reserve(&c->in, need - avail)) {
            bench_abort(c->w->run, "out of memory");
            return -1;
        }
        return 0;
    }
    const char *data = base + line_len;
    if (data[rl->bytes] != '\r' || data[rl->bytes + 1] != '\n') {
        protocol_error(c, r, "value not followed by \\r\\n", rl->text, rl->text_len);
        return -1;
    }
    if (accept_value(c, ph, rl->key, rl->key_len, rl->flags, data, (size_t)rl->bytes, rl->text,
                     rl->text_len))
        return -1;
    return (long)need;
}

/* Parses every complete binary reply in the input buffer. Returns -1 on a protocol error. */
static int parse_binary_replies(struct conn *c, const struct phase *ph, uint64_t now)
{
    struct phase_result *r = ph->res;
    while (c->in.end - c->in.start >= BIN_HEADER) {
        const unsigned char *h = (const unsigned char *)c->in.data + c->in.start;
        size_t avail = c->in.end - c->in.start;
        uint8_t op = h[1];
        size_t key_len = (size_t)h[2] << 8 | h[3];
        uint8_t ext_len = h[4];
        uint16_t status = (uint16_t)(h[6] << 8 | h[7]);
        size_t body = get32(h + 8);
        if (h[0] != 0x81 || key_len + ext_len > body || body > (size_t)1 << 40) {
            protocol_error(c, r, "malformed binary header", (const char *)h, BIN_HEADER);
            return -1;
        }
        if (avail < BIN_HEADER + body) {
            if (buf_reserve(&c->in, BIN_HEADER + body - avail)) {
                bench_abort(c->w->run, "out of memory");
                return -1;
            }
            return 0;
        }
        if (c->count == 0) {
            protocol_error(c, r, "reply without a request", (const char *)h, BIN_HEADER);
            return -1;
        }
        const char *ext = (const char *)h + BIN_HEADER;
        const char *key = ext + ext_len;
        const char *value = key + key_len;
        size_t value_len = body - ext_len - key_len;
        const struct pending *p = &c->ring[c->head];
        if (p->type == REQ_SET) {
            if (op != BIN_OP_SET) {
                protocol_error(c, r, "unexpected reply to set", (const char *)h, BIN_HEADER);
                return -1;
            }
            if (status != 0) {
                r->server_errors++;
                note_error(r, "set answered status 0x%x: '%.*s'", status, (int)value_len, value);
            }
            complete_head(c, ph, now, false);
        } else if (op == BIN_OP_NOOP) {
            r->misses += p->nkeys - c->get_pos; /* the end of a multi-get */
            complete_head(c, ph, now, false);
        } else if ((op == BIN_OP_GETK || op == BIN_OP_GETKQ) && status == 0 && ext_len == 4) {
            if (accept_value(c, ph, key, key_len, get32((const unsigned char *)ext), value,
                             value_len, key, key_len))
                return -1;
            if (op == BIN_OP_GETK)
                complete_head(c, ph, now, false);
        } else if (op == BIN_OP_GETK && status == 1) {
            r->misses += p->nkeys - c->get_pos;
            complete_head(c, ph, now, false);
        } else if (op == BIN_OP_GETK || op == BIN_OP_GETKQ) {
            r->server_errors++;
            note_error(r, "get answered status 0x%x: '%.*s'", status, (int)value_len, value);
            if (op == BIN_OP_GETK)
                complete_head(c, ph, now, true);
        } else {
            protocol_error(c, r, "unexpected reply to get", (const char *)h, BIN_HEADER);
            return -1;
        }
        c->in.start += BIN_HEADER + body;
    }
    if (c->in.start == c->in.end)
        c->in.start = c->in.end = 0;
    return 0;
}

/* Parses every complete reply in the input buffer. Returns -1 on a protocol error. */
static int parse_replies(struct conn *c, const struct phase *ph, uint64_t now)
{
    if (c->w->run->opt->binary)
        return parse_binary_replies(c, ph, now);
    struct phase_result *r = ph->res;
    while (c->in.end > c->in.start) {
        const char *base = c->in.data + c->in.start;
        size_t avail = c->in.end - c->in.start;
        struct reply_line rl;
        long n = bench_reply_parse_line(base, avail, &rl);
        if (n == 0)
            return 0;
        if (n < 0) {
            protocol_error(c, r, "malformed line", base, avail > 80 ? 80 : avail);
            return -1;
        }
        if (c->count == 0) {
            protocol_error(c, r, "reply without a request", rl.text, rl.text_len);
            return -1;
        }
        const struct pending *p = &c->ring[c->head];
        long used = n;
        if (rl.kind == REPLY_ERROR) {
            /* memcached answers a request it refuses with one error line and nothing else */
            r->server_errors++;
            note_error(r, "server error: '%.*s'", (int)(rl.text_len > 120 ? 120 : rl.text_len),
                       rl.text);
            complete_head(c, ph, now, true);
        } else if (p->type == REQ_SET) {
            if (rl.kind == REPLY_STORED) {
                complete_head(c, ph, now, false);
            } else if (rl.kind == REPLY_NOT_STORED || rl.kind == REPLY_EXISTS ||
                       rl.kind == REPLY_NOT_FOUND) {
                r->server_errors++;
                note_error(r, "set answered '%.*s'", (int)rl.text_len, rl.text);
                complete_head(c, ph, now, false);
            } else {
                protocol_error(c, r, "unexpected reply to set", rl.text, rl.text_len);
                return -1;
            }
        } else if (rl.kind == REPLY_VALUE) {
            used = take_value(c, ph, &rl, n);
            if (used < 0)
                return -1;
            if (used == 0)
                return 0;
        } else if (rl.kind == REPLY_END) {
            r->misses += p->nkeys - c->get_pos;
            complete_head(c, ph, now, false);
        } else {
            protocol_error(c, r, "unexpected reply to get", rl.text, rl.text_len);
            return -1;
        }
        c->in.start += (size_t)used;
    }
    c->in.start = c->in.end = 0;
    return 0;
}

/* Reads what the socket has and parses it. Returns -1 when the run must stop. */
static int on_readable(struct conn *c, const struct phase *ph)
{
    for (int rounds = 0; rounds < 16; rounds++) {
        if (buf_reserve(&c->in, 16384)) {
            bench_abort(c->w->run, "out of memory");
            return -1;
        }
        ssize_t n = recv(c->fd, c->in.data + c->in.end, c->in.cap - c->in.end, 0);
        if (n > 0) {
            c->in.end += (size_t)n;
            ph->res->bytes_in += (uint64_t)n;
            if (c->idle) {
                c->in.start = c->in.end = 0; /* idle connections ignore whatever comes */
                continue;
            }
            uint64_t now = bench_now_ns();
            c->last_rx_ns = now;
            if (parse_replies(c, ph, now))
                return -1;
            if ((size_t)n < 16384)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        server_gone(c, n == 0 ? "closed the connection" : "reset the connection");
        return -1;
    }
    return 0;
}

/* ---- connections ---- */

static int connect_conn(struct conn *c)
{
    const struct bench_run *run = c->w->run;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    double t = run->opt->timeout;
    struct timeval tv = {.tv_sec = (time_t)t, .tv_usec = (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds the blocking connect() */
    if (connect(fd, (const struct sockaddr *)&run->addr, sizeof run->addr) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

static int connect_all(struct worker *w)
{
    const struct bench_options *o = w->run->opt;
    for (unsigned i = 0; i < w->n_active + w->n_idle; i++) {
        if (aborted(w))
            return -1;
        if (connect_conn(&w->conns[i])) {
            bench_abort(w->run, "cannot connect to %s:%d: %s", o->host, o->port, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* ---- phases ---- */

static uint64_t share_of(uint64_t total, unsigned parts, unsigned i)
{
    return total / parts + (i < total % parts ? 1 : 0);
}

static uint64_t start_of(uint64_t total, unsigned parts, unsigned i)
{
    uint64_t rem = total % parts;
    return (uint64_t)i * (total / parts) + (i < rem ? i : rem);
}

static void prepare_phase(struct worker *w, const struct phase *ph)
{
    const struct bench_run *run = w->run;
    const struct bench_options *o = run->opt;
    unsigned total = run->total_active;
    for (unsigned i = 0; i < w->n_active; i++) {
        struct conn *c = &w->conns[i];
        unsigned g = c->global;
        uint64_t seed = bench_mix64(o->seed * 0x100000001b3ULL + g * 2 + (ph->fill ? 1 : 0));
        uint64_t first = start_of(o->key_space, total, g);
        if (ph->fill) {
            keydist_init(&c->keys, KEYS_SEQUENTIAL, o->key_space, NULL, seed, first);
            c->unlimited = false;
            c->quota = share_of(o->key_space, total, g);
        } else {
            keydist_init(&c->keys, o->key_pattern, o->key_space, run->zipf, seed, first);
            c->unlimited = o->requests == 0;
            c->quota = o->requests ? share_of(o->requests, total, g) : 0;
        }
        bench_rng_seed(&c->rng, bench_mix64(seed));
        c->op_counter = 0;
        c->head = c->count = c->get_pos = 0;
        if (ph->rate_limited) {
            c->interval_ns = (uint64_t)((double)total * 1e9 / o->rate);
            c->next_send_ns = run->phase_start_ns + c->interval_ns * g / total;
        }
    }
}

static bool phase_done(const struct worker *w, bool stop_sending)
{
    for (unsigned i = 0; i < w->n_active; i++) {
        const struct conn *c = &w->conns[i];
        if (c->count > 0 || (!stop_sending && (c->unlimited || c->quota > 0)))
            return false;
    }
    return true;
}

static void run_phase(struct worker *w, const struct phase *ph)
{
    const struct bench_options *o = w->run->opt;
    struct epoll_event events[256];
    uint64_t timeout_ns = (uint64_t)(o->timeout * 1e9);
    uint64_t now = bench_now_ns();
    uint64_t next_sweep = now;
    bool stop_sending = false;

    prepare_phase(w, ph);
    for (unsigned i = 0; i < w->n_active; i++)
        if (pump(&w->conns[i], ph, now, false))
            goto out;
    while (!aborted(w)) {
        now = bench_now_ns();
        if (now >= ph->deadline_ns)
            stop_sending = true;
        if (now >= next_sweep || stop_sending) {
            /* Periodic work: rate-limited sends, silence detection, the end test. */
            next_sweep = now + 20000000ULL;
            for (unsigned i = 0; i < w->n_active; i++) {
                struct conn *c = &w->conns[i];
                if (c->count > 0 && now - c->last_rx_ns > timeout_ns && now > c->last_rx_ns) {
                    bench_abort(w->run, "server %s:%d did not answer for %.1f s", o->host,
                                o->port, o->timeout);
                    goto out;
                }
            }
            publish_progress(w, ph->res);
            if (phase_done(w, stop_sending))
                break;
        }
        int wait_ms = 20;
        if (ph->rate_limited) {
            /* Send whatever is due, and sleep only until the next request is. */
            uint64_t next_due = UINT64_MAX;
            for (unsigned i = 0; i < w->n_active; i++) {
                struct conn *c = &w->conns[i];
                if (pump(c, ph, now, stop_sending))
                    goto out;
                if (c->count < ph->depth && c->next_send_ns < next_due)
                    next_due = c->next_send_ns;
            }
            uint64_t t = bench_now_ns();
            if (next_due <= t)
                wait_ms = 0;
            else if (next_due - t < 20000000ULL)
                wait_ms = (int)((next_due - t + 999999) / 1000000);
        }
        int n = epoll_wait(w->epfd, events, 256, wait_ms);
        if (n < 0 && errno != EINTR) {
            bench_abort(w->run, "epoll_wait: %s", strerror(errno));
            break;
        }
        bool progressed = false;
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (on_readable(c, ph))
                    goto out;
                progressed = true;
            }
            if (c->idle)
                continue;
            if ((events[i].events & EPOLLOUT) && flush_out(c, ph->res))
                goto out;
            if (pump(c, ph, bench_now_ns(), stop_sending))
                goto out;
        }
        if (progressed && phase_done(w, stop_sending))
            break;
    }
out:
    for (unsigned i = 0; i < w->n_active; i++) {
        struct conn *c = &w->conns[i];
        ph->res->incomplete += c->count;
        c->count = 0;
        c->out.start = c->out.end = 0;
        c->in.start = c->in.end = 0;
        if (c->fd >= 0 && c->want_out)
            set_epoll_out(c, false);
    }
    publish_progress(w, ph->res);
    ph->res->end_ns = bench_now_ns();
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bench_run *run = w->run;
    const struct bench_options *o = run->opt;

    connect_all(w);
    pthread_barrier_wait(&run->barrier); /* 1: everyone connected (or the run aborted) */
    if (o->fill) {
        struct phase fill = {.res = &w->fill, .fill = true, .depth = o->pipeline < 16 ? 16 : o->pipeline,
                             .multiget = 1, .ratio_set = 1, .ratio_get = 0,
                             .deadline_ns = run->phase_start_ns + (uint64_t)(o->max_time * 1e9)};
        if (!aborted(w))
            run_phase(w, &fill);
    }
    pthread_barrier_wait(&run->barrier); /* 2: fill done; main sets the start time */
    pthread_barrier_wait(&run->barrier); /* 3: go */
    struct phase main_phase = {.res = &w->main, .depth = o->pipeline, .multiget = o->multiget,
                               .ratio_set = o->ratio_set, .ratio_get = o->ratio_get,
                               .deadline_ns = run->phase_start_ns + (uint64_t)(o->max_time * 1e9),
                               .rate_limited = o->rate > 0};
    if (!aborted(w))
        run_phase(w, &main_phase);
    for (unsigned i = 0; i < w->n_active + w->n_idle; i++) {
        if (w->conns[i].fd >= 0) {
            close(w->conns[i].fd);
            w->conns[i].fd = -1;
        }
    }
    return NULL;
}

struct worker *worker_create(struct bench_run *run, unsigned index, unsigned n_active,
                             unsigned first_global, unsigned n_idle)
{
    const struct bench_options *o = run->opt;
    struct worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->index = index;
    w->run = run;
    w->n_active = n_active;
    w->n_idle = n_idle;
    w->first_global = first_global;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->conns = calloc((size_t)n_active + n_idle, sizeof *w->conns);
    if (w->epfd < 0 || !w->conns) {
        worker_destroy(w);
        return NULL;
    }
    unsigned depth = o->pipeline < 16 ? 16 : o->pipeline; /* the fill runs at depth 16 */
    for (unsigned i = 0; i < n_active + n_idle; i++) {
        struct conn *c = &w->conns[i];
        c->fd = -1;
        c->w = w;
        c->idle = i >= n_active;
        c->global = first_global + i;
        if (c->idle)
            continue;
        c->ring = calloc(depth, sizeof *c->ring);
        c->ring_keys = calloc((size_t)depth * o->multiget, sizeof *c->ring_keys);
        if (!c->ring || !c->ring_keys) {
            worker_destroy(w);
            return NULL;
        }
    }
    return w;
}

void worker_destroy(struct worker *w)
{
    if (!w)
        return;
    if (w->conns) {
        for (unsigned i = 0; i < w->n_active + w->n_idle; i++) {
            struct conn *c = &w->conns[i];
            if (c->fd >= 0)
                close(c->fd);
            free(c->ring);
            free(c->ring_keys);
            free(c->out.data);
            free(c->in.data);
        }
        free(w->conns);
    }
    if (w->epfd >= 0)
        close(w->epfd);
    free(w);
}
