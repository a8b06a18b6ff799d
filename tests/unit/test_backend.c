/* Unit tests for cluster/backend against real peers on 127.0.0.1: Debian's /usr/bin/memcached
 * (started on a free port, polled until it accepts, killed at teardown; PR_SET_PDEATHSIG kills
 * it too if a failed check ends the test early), a listener that never answers, and a closed
 * port. A tiny epoll loop drives the backend as a worker's loop will. Every wait is bounded. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/route/backend.h"
#include "cluster/route/route.h"
#include "tests/unit/test_net_util.h"

/* The epoll loop: keeps the backend's fd registered for what it wants. */
struct loop {
    int ep;
    int fd;
    uint64_t serial;
    uint32_t events;
};

static void loop_sync(struct loop *l, struct backend *b)
{
    int fd = backend_fd(b);
    if (fd < 0) {
        l->fd = -1;
        return;
    }
    uint32_t ev = backend_events(b);
    uint32_t want = (ev & BACKEND_WANT_READ ? EPOLLIN : 0u) |
                    (ev & BACKEND_WANT_WRITE ? EPOLLOUT : 0u);
    struct epoll_event e = {.events = want, .data.fd = fd};
    if (fd != l->fd || backend_fd_serial(b) != l->serial) {
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &e) != 0)
            ck_assert_int_eq(epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &e), 0);
        l->fd = fd;
        l->serial = backend_fd_serial(b);
        l->events = want;
    } else if (want != l->events) {
        ck_assert_int_eq(epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &e), 0);
        l->events = want;
    }
}

/* One turn of the loop: at most 10 ms of waiting. */
static void loop_turn(struct loop *l, struct backend *b)
{
    loop_sync(l, b);
    struct epoll_event evs[4];
    int n = epoll_wait(l->ep, evs, 4, 10);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.fd != backend_fd(b))
            continue;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            backend_on_readable(b, now_ms());
        if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            backend_on_writable(b, now_ms());
    }
    backend_tick(b, now_ms());
}

struct outcome {
    int calls;
    enum backend_error err;
    char reply[8192];
    size_t len;
};

static void on_done(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct outcome *o = arg;
    o->calls++;
    o->err = err;
    o->len = len < sizeof o->reply ? len : sizeof o->reply;
    if (reply != NULL)
        memcpy(o->reply, reply, o->len);
}

/* Drives until every outcome has been called back (or the limit passes). */
static void drive_until_done(struct loop *l, struct backend *b, struct outcome *o, size_t n)
{
    uint64_t end = now_ms() + WAIT_LIMIT_MS;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += o[i].calls > 0;
        if (done == n)
            return;
        ck_assert_msg(now_ms() < end, "only %zu of %zu requests completed", done, n);
        loop_turn(l, b);
    }
}

static struct backend *make_backend(uint16_t port, uint64_t timeout_ms, const char *hello)
{
    struct backend_config cfg = {.host = "127.0.0.1", .port = port, .timeout_ms = timeout_ms,
                                 .backoff_min_ms = 5, .backoff_max_ms = 50, .hello = hello,
                                 .hello_kind = REPLY_META};
    struct backend *b = backend_new(&cfg);
    ck_assert_ptr_nonnull(b);
    return b;
}

static void assert_reply(const struct outcome *o, const char *expected)
{
    ck_assert_int_eq(o->calls, 1);
    ck_assert_msg(o->err == BACKEND_OK, "error %s", backend_error_text(o->err));
    ck_assert_msg(o->len == strlen(expected) && memcmp(o->reply, expected, o->len) == 0,
                  "reply \"%.*s\", expected \"%s\"", (int)o->len, o->reply, expected);
}

static enum backend_error send_str(struct backend *b, const char *req, enum reply_kind kind,
                                   struct outcome *o)
{
    return backend_send(b, req, strlen(req), kind, on_done, o, now_ms());
}

START_TEST(bad_config)
{
    struct backend_config cfg = {.host = "localhost", .port = 1, .timeout_ms = 10};
    ck_assert_ptr_null(backend_new(&cfg));
    cfg.host = "::1";
    cfg.timeout_ms = 0;
    ck_assert_ptr_null(backend_new(&cfg));
}
END_TEST

/* Many requests of every reply shape queued before the connection is even up, one round trip. */
START_TEST(pipelined_round_trip)
{
    uint16_t port = free_port();
    pid_t mc = start_memcached(port);
    struct loop l = {.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1};
    struct backend *b = make_backend(port, 5000, ROUTE_PEER_HELLO);
    enum { N = 40 };
    static struct outcome sets[N], gets[N];
    memset(sets, 0, sizeof sets);
    memset(gets, 0, sizeof gets);
    char req[128];
    for (int i = 0; i < N; i++) {
        snprintf(req, sizeof req, "set key%d %d 0 %d\r\n%0*d\r\n", i, i, i + 1, i + 1, i);
        ck_assert_int_eq(send_str(b, req, REPLY_LINE, &sets[i]), BACKEND_OK);
        snprintf(req, sizeof req, "gets key%d\r\n", i);
        ck_assert_int_eq(send_str(b, req, REPLY_RETRIEVAL, &gets[i]), BACKEND_OK);
    }
    struct outcome quiet = {0}, meta = {0}, multi = {0}, version = {0}, stats = {0};
    ck_assert_int_eq(send_str(b, "set q 0 0 1 noreply\r\nx\r\nmn\r\n", REPLY_UNTIL_MN, &quiet),
                     BACKEND_OK);
    ck_assert_int_eq(send_str(b, "mg q v k\r\n", REPLY_META, &meta), BACKEND_OK);
    ck_assert_int_eq(send_str(b, "get key1 nothing key2\r\n", REPLY_RETRIEVAL, &multi),
                     BACKEND_OK);
    ck_assert_int_eq(send_str(b, "version\r\n", REPLY_LINE, &version), BACKEND_OK);
    ck_assert_int_eq(send_str(b, "stats settings\r\n", REPLY_STATS, &stats), BACKEND_OK);
    ck_assert_uint_eq(backend_counters(b)->in_flight, 2 * N + 5);

    drive_until_done(&l, b, gets, N);
    drive_until_done(&l, b, &stats, 1);
    for (int i = 0; i < N; i++) {
        assert_reply(&sets[i], "STORED\r\n");
        ck_assert_int_eq(gets[i].err, BACKEND_OK);
        char head[64];
        int n = snprintf(head, sizeof head, "VALUE key%d %d %d ", i, i, i + 1);
        ck_assert(memcmp(gets[i].reply, head, (size_t)n) == 0);
        struct reply_value v;
        size_t off = 0;
        ck_assert(reply_next_value(gets[i].reply, gets[i].len, &off, &v));
        ck_assert(v.has_cas);
    }
    assert_reply(&quiet, "MN\r\n");
    assert_reply(&meta, "VA 1 kq\r\nx\r\n");
    assert_reply(&multi, "VALUE key1 1 2\r\n01\r\nVALUE key2 2 3\r\n002\r\nEND\r\n");
    ck_assert(memcmp(version.reply, "VERSION ", 8) == 0);
    ck_assert_int_eq(stats.err, BACKEND_OK);
    ck_assert(memcmp(stats.reply + stats.len - 5, "END\r\n", 5) == 0);
    const struct backend_counters *c = backend_counters(b);
    ck_assert_uint_eq(c->requests, 2 * N + 5);
    ck_assert_uint_eq(c->replies, 2 * N + 5);
    ck_assert_uint_eq(c->errors, 0);
    ck_assert_uint_eq(c->in_flight, 0);
    ck_assert(backend_connected(b));
    backend_free(b);
    close(l.ep);
    stop_memcached(mc);
}
END_TEST

static uint32_t key_owner(void *ctx, const char *key, size_t len)
{
    (void)ctx;
    return len > 0 && key[0] == 'b' ? 1 : 0;
}

/* A Shoal node as the backend (the binary `make test` built, in SHOAL_BIN): it must answer the
 * forwarding hello and the mn fence as memcached does. */
START_TEST(shoal_backend)
{
    const char *shoal = getenv("SHOAL_BIN");
    if (shoal == NULL || access(shoal, X_OK) != 0)
        return; /* run outside `make test`: nothing to start */
    uint16_t port = free_port();
    pid_t pid = start_server(shoal, port);
    struct loop l = {.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1};
    struct backend *b = make_backend(port, 5000, ROUTE_PEER_HELLO);
    struct outcome o[4] = {{0}};
    ck_assert_int_eq(send_str(b, "set a 0 0 1 noreply\r\nx\r\nmn\r\n", REPLY_UNTIL_MN, &o[0]),
                     BACKEND_OK);
    ck_assert_int_eq(send_str(b, "mg a v q k\r\nmn\r\n", REPLY_UNTIL_MN, &o[1]), BACKEND_OK);
    ck_assert_int_eq(send_str(b, "md nope q\r\nmn\r\n", REPLY_UNTIL_MN, &o[2]), BACKEND_OK);
    ck_assert_int_eq(send_str(b, "get a nope a\r\n", REPLY_RETRIEVAL, &o[3]), BACKEND_OK);
    drive_until_done(&l, b, o, 4);
    assert_reply(&o[0], "MN\r\n");
    assert_reply(&o[1], "VA 1 ka\r\nx\r\nMN\r\n");
    assert_reply(&o[2], "NF\r\nMN\r\n");
    assert_reply(&o[3], "VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nEND\r\n");
    backend_free(b);
    close(l.ep);
    stop_memcached(pid);
}
END_TEST

/* The building blocks together: a multi-get split over two memcacheds and merged. */
START_TEST(split_get_over_two_memcacheds)
{
    uint16_t ports[2] = {free_port(), 0};
    pid_t mc0 = start_memcached(ports[0]);
    ports[1] = free_port();
    pid_t mc1 = start_memcached(ports[1]);
    struct backend *bs[2] = {make_backend(ports[0], 5000, NULL),
                             make_backend(ports[1], 5000, NULL)};
    struct loop ls[2] = {{.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1},
                         {.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1}};
    /* keys starting with 'a' live on 0, 'b' on 1 */
    struct outcome st[2] = {{0}};
    ck_assert_int_eq(send_str(bs[0], "set a1 1 0 2\r\nA1\r\n", REPLY_LINE, &st[0]), BACKEND_OK);
    ck_assert_int_eq(send_str(bs[1], "set b1 2 0 2\r\nB1\r\n", REPLY_LINE, &st[1]), BACKEND_OK);
    drive_until_done(&ls[0], bs[0], &st[0], 1);
    drive_until_done(&ls[1], bs[1], &st[1], 1);

    char line[] = "get b1 a1 zz b1 a2";
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t nt = proto_tokenize(line, t, PROTO_MAX_TOKENS);
    struct route_plan plan;
    ck_assert_int_eq(route_plan_build(&plan, t, nt, NULL, 0, key_owner, NULL, 2), 0);
    ck_assert_uint_eq(plan.nparts, 2);
    struct outcome got[2] = {{0}};
    for (size_t i = 0; i < plan.nparts; i++) {
        struct route_part *part = &plan.parts[i];
        ck_assert_int_eq(backend_send(bs[part->backend], part->request.data, part->request.len,
                                      part->reply_kind, on_done, &got[i], now_ms()),
                         BACKEND_OK);
    }
    for (size_t i = 0; i < plan.nparts; i++)
        drive_until_done(&ls[plan.parts[i].backend], bs[plan.parts[i].backend], &got[i], 1);
    struct route_result results[2];
    for (size_t i = 0; i < 2; i++)
        results[i] = (struct route_result){.reply = got[i].reply, .len = got[i].len};
    struct route_buf out = {0};
    ck_assert_int_eq(route_merge(&plan, results, &out), 0);
    const char *expected =
        "VALUE b1 2 2\r\nB1\r\nVALUE a1 1 2\r\nA1\r\nVALUE b1 2 2\r\nB1\r\nEND\r\n";
    ck_assert_msg(out.len == strlen(expected) && memcmp(out.data, expected, out.len) == 0,
                  "merged \"%.*s\"", (int)out.len, out.data);
    route_buf_free(&out);
    route_plan_free(&plan);
    for (int i = 0; i < 2; i++) {
        backend_free(bs[i]);
        close(ls[i].ep);
    }
    stop_memcached(mc0);
    stop_memcached(mc1);
}
END_TEST

/* A server that accepts (the kernel does, from the backlog) and never answers. */
START_TEST(timeout_on_silent_server)
{
    uint16_t port;
    int silent = bound_socket(&port, true);
    struct loop l = {.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1};
    struct backend *b = make_backend(port, 100, NULL);
    struct outcome o[2] = {{0}};
    ck_assert_int_eq(send_str(b, "get a\r\n", REPLY_RETRIEVAL, &o[0]), BACKEND_OK);
    ck_assert_int_eq(send_str(b, "get b\r\n", REPLY_RETRIEVAL, &o[1]), BACKEND_OK);
    drive_until_done(&l, b, o, 2);
    ck_assert_int_eq(o[0].err, BACKEND_TIMEOUT);
    ck_assert_int_eq(o[1].err, BACKEND_LOST); /* behind the overdue reply: unmatched, lost */
    const struct backend_counters *c = backend_counters(b);
    ck_assert_uint_eq(c->timeouts, 1);
    ck_assert_uint_eq(c->errors, 2);
    ck_assert_uint_eq(c->in_flight, 0);
    ck_assert(!backend_connected(b));
    backend_free(b);
    close(l.ep);
    close(silent);
}
END_TEST

/* The fake backend's side: accepts the backend's connection and reads exactly `expected` from
 * it, turning the backend's loop meanwhile. Returns the accepted socket (non-blocking). */
static int accept_requests(int lfd, struct loop *l, struct backend *b, const char *expected)
{
    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(c, 0);
    char got[256];
    size_t have = 0;
    uint64_t end = now_ms() + WAIT_LIMIT_MS;
    while (have < strlen(expected)) {
        ck_assert_msg(now_ms() < end, "the backend did not write its requests");
        loop_turn(l, b);
        ssize_t n = recv(c, got + have, sizeof got - have, 0);
        if (n > 0)
            have += (size_t)n;
        else
            ck_assert(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }
    ck_assert(have == strlen(expected) && memcmp(got, expected, have) == 0);
    return c;
}

/* Writes all of buf to the fake backend's socket, turning the backend's loop while the socket
 * is full (the backend reads as it goes, so the reply never sits whole in either buffer). */
static void send_all(int c, struct loop *l, struct backend *b, const char *buf, size_t len)
{
    uint64_t end = now_ms() + WAIT_LIMIT_MS;
    while (len > 0) {
        ck_assert_msg(now_ms() < end, "the backend stopped reading");
        ssize_t n = send(c, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else {
            ck_assert(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
            loop_turn(l, b);
        }
    }
}

/* A fake backend: checks that the hello comes first, then answers one request right and the
 * next one with garbage, which must fail it (and the stream) as malformed. */
START_TEST(hello_first_and_malformed_reply)
{
    uint16_t port;
    int lfd = bound_socket(&port, true);
    struct loop l = {.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1};
    struct backend *b = make_backend(port, 5000, ROUTE_PEER_HELLO);
    struct outcome o[2] = {{0}};
    ck_assert_int_eq(send_str(b, "get a\r\n", REPLY_RETRIEVAL, &o[0]), BACKEND_OK);
    ck_assert_int_eq(send_str(b, "get b\r\n", REPLY_RETRIEVAL, &o[1]), BACKEND_OK);
    int c = accept_requests(lfd, &l, b, ROUTE_PEER_HELLO "get a\r\nget b\r\n");
    const char answer[] = "EN\r\nEND\r\nVALUE b 0 3\r\nxy\r\n\r\nEND\r\n";
    ck_assert_int_eq(send(c, answer, sizeof answer - 1, 0), (ssize_t)(sizeof answer - 1));
    drive_until_done(&l, b, o, 2);
    assert_reply(&o[0], "END\r\n");
    ck_assert_int_eq(o[1].err, BACKEND_MALFORMED);
    ck_assert(!backend_connected(b));
    ck_assert_uint_eq(backend_counters(b)->replies, 1); /* the hello is not counted */
    backend_free(b);
    close(c);
    close(lfd);
    close(l.ep);
}
END_TEST

/* A reply past max_reply_bytes is read and dropped as it arrives, not held: its request fails
 * with BACKEND_TOO_LARGE, the next request's reply on the same connection is intact, and the
 * connection stays up. One data block larger than the bound cannot be skipped: the connection
 * fails (unless it arrived whole in one read: then only its request fails). */
START_TEST(reply_too_large_is_dropped)
{
    uint16_t port;
    int lfd = bound_socket(&port, true);
    struct loop l = {.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1};
    struct backend_config cfg = {.host = "127.0.0.1", .port = port, .timeout_ms = 5000,
                                 .backoff_min_ms = 5, .backoff_max_ms = 50,
                                 .max_reply_bytes = 4096};
    struct backend *b = backend_new(&cfg);
    ck_assert_ptr_nonnull(b);
    struct outcome o[3] = {{0}};
    ck_assert_int_eq(send_str(b, "get a\r\n", REPLY_RETRIEVAL, &o[0]), BACKEND_OK);
    ck_assert_int_eq(send_str(b, "get b\r\n", REPLY_RETRIEVAL, &o[1]), BACKEND_OK);
    int c = accept_requests(lfd, &l, b, "get a\r\nget b\r\n");
    /* 200 values of 1000 bytes: 50 times the bound */
    static char big[200 * 1024];
    size_t len = 0;
    char value[1000];
    memset(value, 'v', sizeof value);
    for (int i = 0; i < 200; i++) {
        len += (size_t)snprintf(big + len, sizeof big - len, "VALUE a 0 %zu\r\n", sizeof value);
        memcpy(big + len, value, sizeof value);
        len += sizeof value;
        memcpy(big + len, "\r\n", 2);
        len += 2;
    }
    len += (size_t)snprintf(big + len, sizeof big - len, "END\r\nVALUE b 0 1\r\nz\r\nEND\r\n");
    send_all(c, &l, b, big, len);
    drive_until_done(&l, b, o, 2);
    ck_assert_int_eq(o[0].err, BACKEND_TOO_LARGE);
    assert_reply(&o[1], "VALUE b 0 1\r\nz\r\nEND\r\n");
    ck_assert(backend_connected(b));
    ck_assert_uint_eq(backend_counters(b)->reconnects, 0);

    /* one value of 8000 bytes, twice the bound: 5000 of them are enough to fail */
    ck_assert_int_eq(send_str(b, "get c\r\n", REPLY_RETRIEVAL, &o[2]), BACKEND_OK);
    len = (size_t)snprintf(big, sizeof big, "VALUE c 0 8000\r\n");
    memset(big + len, 'c', 5000);
    len += 5000;
    send_all(c, &l, b, big, len);
    drive_until_done(&l, b, &o[2], 1);
    ck_assert_int_eq(o[2].err, BACKEND_TOO_LARGE);
    ck_assert(!backend_connected(b));
    backend_free(b);
    close(c);
    close(lfd);
    close(l.ep);
}
END_TEST

/* A backend that does not read: once max_queued_bytes are waiting, sends are refused (and
 * nothing is called back for them); the requests already accepted still time out normally. */
START_TEST(busy_when_not_keeping_up)
{
    uint16_t port;
    int silent = bound_socket(&port, true);
    struct loop l = {.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1};
    struct backend_config cfg = {.host = "127.0.0.1", .port = port, .timeout_ms = 60000,
                                 .backoff_min_ms = 5, .backoff_max_ms = 50,
                                 .max_queued_bytes = 256 * 1024};
    struct backend *b = backend_new(&cfg);
    ck_assert_ptr_nonnull(b);
    uint64_t end = now_ms() + WAIT_LIMIT_MS;
    struct outcome first = {0};
    ck_assert_int_eq(send_str(b, "version\r\n", REPLY_LINE, &first), BACKEND_OK);
    while (!backend_connected(b)) {
        ck_assert_msg(now_ms() < end, "no connection");
        loop_turn(&l, b);
    }
    enum { CHUNK = 64 * 1024, MAX_SENDS = 2000 };
    char *req = malloc(CHUNK);
    ck_assert_ptr_nonnull(req);
    size_t data_len = CHUNK - 128;
    size_t len = (size_t)snprintf(req, CHUNK, "set k 0 0 %zu\r\n", data_len);
    memset(req + len, 'v', data_len);
    len += data_len;
    memcpy(req + len, "\r\n", 2);
    len += 2;
    static struct outcome outs[MAX_SENDS];
    memset(outs, 0, sizeof outs);
    enum backend_error e = BACKEND_OK;
    int sends = 0;
    while (sends < MAX_SENDS &&
           (e = backend_send(b, req, len, REPLY_LINE, on_done, &outs[sends], now_ms())) ==
               BACKEND_OK)
        sends++; /* the kernel's socket buffers fill first, then ours */
    ck_assert_int_eq(e, BACKEND_BUSY);
    ck_assert_int_eq(outs[sends].calls, 0);
    ck_assert_uint_eq(backend_counters(b)->in_flight, (uint64_t)sends + 1);
    ck_assert(backend_connected(b));
    free(req);
    backend_free(b); /* fails the accepted ones as lost */
    ck_assert_int_eq(first.err, BACKEND_LOST);
    close(l.ep);
    close(silent);
}
END_TEST

START_TEST(refused_then_down)
{
    uint16_t port = free_port(); /* nobody listens there any more */
    struct loop l = {.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1};
    struct backend_config cfg = {.host = "127.0.0.1", .port = port, .timeout_ms = 5000,
                                 .backoff_min_ms = 60000, .backoff_max_ms = 60000};
    struct backend *b = backend_new(&cfg);
    ck_assert_ptr_nonnull(b);
    struct outcome o = {0};
    uint64_t t0 = now_ms();
    enum backend_error e = backend_send(b, "get a\r\n", 7, REPLY_RETRIEVAL, on_done, &o, t0);
    if (e == BACKEND_OK) {
        drive_until_done(&l, b, &o, 1);
        e = o.err;
    }
    ck_assert_int_eq(e, BACKEND_REFUSED);
    /* within the backoff, a send is refused at once and nothing is called back */
    struct outcome later = {0};
    ck_assert_int_eq(backend_send(b, "get a\r\n", 7, REPLY_RETRIEVAL, on_done, &later, t0 + 1),
                     BACKEND_DOWN);
    ck_assert_int_eq(later.calls, 0);
    ck_assert_uint_eq(backend_counters(b)->errors, 2);
    ck_assert_uint_ge(backend_next_deadline(b), t0 + 60000);
    backend_free(b);
    close(l.ep);
}
END_TEST

START_TEST(reconnect_after_restart)
{
    uint16_t port = free_port();
    pid_t mc = start_memcached(port);
    struct loop l = {.ep = epoll_create1(EPOLL_CLOEXEC), .fd = -1};
    struct backend *b = make_backend(port, 2000, ROUTE_PEER_HELLO);
    struct outcome o = {0};
    ck_assert_int_eq(send_str(b, "set k 0 0 1\r\nv\r\n", REPLY_LINE, &o), BACKEND_OK);
    drive_until_done(&l, b, &o, 1);
    assert_reply(&o, "STORED\r\n");

    stop_memcached(mc);
    /* the loss is seen by the next request (or the EOF before it) */
    struct outcome lost = {0};
    enum backend_error e = send_str(b, "get k\r\n", REPLY_RETRIEVAL, &lost);
    if (e == BACKEND_OK) {
        drive_until_done(&l, b, &lost, 1);
        e = lost.err;
    }
    ck_assert_msg(e == BACKEND_LOST || e == BACKEND_REFUSED || e == BACKEND_DOWN, "got %s",
                  backend_error_text(e));

    mc = start_memcached(port);
    uint64_t end = now_ms() + WAIT_LIMIT_MS;
    struct outcome v = {0};
    for (;;) {
        ck_assert_msg(now_ms() < end, "no reconnect");
        if (v.calls == 0 && send_str(b, "version\r\n", REPLY_LINE, &v) != BACKEND_OK) {
            loop_turn(&l, b);
            continue;
        }
        if (v.calls == 0) {
            loop_turn(&l, b);
            continue;
        }
        if (v.err == BACKEND_OK)
            break;
        v.calls = 0; /* failed while memcached came up: try again */
    }
    ck_assert(memcmp(v.reply, "VERSION ", 8) == 0);
    ck_assert_uint_ge(backend_counters(b)->reconnects, 1);
    ck_assert(backend_connected(b));
    backend_free(b);
    close(l.ep);
    stop_memcached(mc);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("backend");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_config);
    tcase_add_test(tc, pipelined_round_trip);
    tcase_add_test(tc, shoal_backend);
    tcase_add_test(tc, split_get_over_two_memcacheds);
    tcase_add_test(tc, timeout_on_silent_server);
    tcase_add_test(tc, hello_first_and_malformed_reply);
    tcase_add_test(tc, reply_too_large_is_dropped);
    tcase_add_test(tc, busy_when_not_keeping_up);
    tcase_add_test(tc, refused_then_down);
    tcase_add_test(tc, reconnect_after_restart);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
