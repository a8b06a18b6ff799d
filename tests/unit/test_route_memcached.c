/* The routing building blocks end to end, differentially: a seeded random mix of key-addressed
 * commands (classic and meta, noreply and quiet, multi-key gets with duplicates) goes once
 * through route_plan_build -> backends (three memcacheds placed by a twemproxy ketama ring) ->
 * route_merge, and once, as sent, to a fourth memcached holding everything. The client must see
 * the same bytes. Then the failure policy with one backend killed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "cluster/route/backend.h"
#include "cluster/route/ketama.h"
#include "cluster/route/route.h"
#include "tests/unit/test_net_util.h"

#define NB 3

struct cluster {
    pid_t pids[NB + 1]; /* [NB]: the reference */
    uint16_t ports[NB + 1];
    struct backend *b[NB];
    int fd[NB];
    uint64_t serial[NB];
    uint32_t events[NB];
    int ep;
    int ref; /* blocking socket to the reference */
    struct ketama_ring *ring;
};

static uint32_t ring_owner(void *ctx, const char *key, size_t len)
{
    return ketama_ring_server_for_key(ctx, key, len);
}

static void cluster_start(struct cluster *c)
{
    memset(c, 0, sizeof *c);
    struct ketama_server servers[NB];
    /* Named servers: placement then depends on the names, not on the ports the test happened to
     * get, so which backend owns which of the few keys is the same in every run. */
    static const char *const names[] = {"backend-0", "backend-1", "backend-2", "backend-3",
                                        "backend-4", "backend-5", "backend-6", "backend-7"};
    _Static_assert(NB <= sizeof names / sizeof names[0], "a name for every backend");
    for (int i = 0; i <= NB; i++) {
        c->ports[i] = free_port();
        c->pids[i] = start_memcached(c->ports[i]);
    }
    for (int i = 0; i < NB; i++) {
        servers[i] = (struct ketama_server){.name = names[i], .host = "127.0.0.1",
                                            .port = c->ports[i], .weight = 1};
        struct backend_config cfg = {.host = "127.0.0.1", .port = c->ports[i],
                                     .timeout_ms = 5000, .backoff_min_ms = 5,
                                     .backoff_max_ms = 50, .hello = ROUTE_PEER_HELLO,
                                     .hello_kind = REPLY_META};
        c->b[i] = backend_new(&cfg);
        ck_assert_ptr_nonnull(c->b[i]);
        c->fd[i] = -1;
    }
    ck_assert_int_eq(ketama_ring_build(servers, NB, KETAMA_COMPAT_TWEMPROXY, NULL, &c->ring), 0);
    c->ep = epoll_create1(EPOLL_CLOEXEC);
    c->ref = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->ports[NB]),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(c->ref, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->ref, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void cluster_stop(struct cluster *c)
{
    for (int i = 0; i < NB; i++)
        backend_free(c->b[i]);
    ketama_ring_free(c->ring);
    close(c->ep);
    close(c->ref);
    for (int i = 0; i <= NB; i++)
        if (c->pids[i] > 0)
            stop_memcached(c->pids[i]);
}

static void cluster_turn(struct cluster *c)
{
    for (uint32_t i = 0; i < NB; i++) {
        int fd = backend_fd(c->b[i]);
        if (fd < 0) {
            c->fd[i] = -1;
            continue;
        }
        uint32_t ev = backend_events(c->b[i]);
        uint32_t want = (ev & BACKEND_WANT_READ ? EPOLLIN : 0u) |
                        (ev & BACKEND_WANT_WRITE ? EPOLLOUT : 0u);
        struct epoll_event e = {.events = want, .data.u32 = i};
        if (fd != c->fd[i] || backend_fd_serial(c->b[i]) != c->serial[i]) {
            if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &e) != 0)
                ck_assert_int_eq(epoll_ctl(c->ep, EPOLL_CTL_MOD, fd, &e), 0);
            c->fd[i] = fd;
            c->serial[i] = backend_fd_serial(c->b[i]);
            c->events[i] = want;
        } else if (want != c->events[i]) {
            ck_assert_int_eq(epoll_ctl(c->ep, EPOLL_CTL_MOD, fd, &e), 0);
            c->events[i] = want;
        }
    }
    struct epoll_event evs[NB];
    int n = epoll_wait(c->ep, evs, NB, 10);
    for (int i = 0; i < n; i++) {
        struct backend *b = c->b[evs[i].data.u32];
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            backend_on_readable(b, now_ms());
        if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            backend_on_writable(b, now_ms());
    }
    for (int i = 0; i < NB; i++)
        backend_tick(c->b[i], now_ms());
}

struct part_outcome {
    bool done;
    enum backend_error err;
    struct route_buf reply;
};

static void part_done(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct part_outcome *o = arg;
    o->done = true;
    o->err = err;
    if (reply != NULL) {
        o->reply.data = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(o->reply.data);
        memcpy(o->reply.data, reply, len);
        o->reply.len = len;
    }
}

/* The client's reply through the proxy path. Also returns the plan's framing for the reference:
 * *quiet and *kind. */
static void via_proxy(struct cluster *c, const char *line, const char *data, struct route_buf *out,
                      bool *quiet, enum reply_kind *kind)
{
    char *copy = strdup(line);
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t nt = proto_tokenize(copy, t, PROTO_MAX_TOKENS);
    struct route_plan plan;
    ck_assert_int_eq(route_plan_build(&plan, t, nt, data, data ? strlen(data) : 0, ring_owner,
                                      c->ring, NB),
                     0);
    ck_assert_msg(plan.action != ROUTE_LOCAL, "not routed: %s", line);
    *quiet = plan.quiet;
    *kind = plan.merge == ROUTE_MERGE_VALUES || plan.action == ROUTE_ANSWER
                ? REPLY_RETRIEVAL
                : plan.parts[0].reply_kind;
    if (plan.action == ROUTE_ANSWER) {
        *quiet = plan.answer[0] == '\0'; /* the reference then answers only the mn */
        out->data = strdup(plan.answer);
        out->len = strlen(plan.answer);
        route_plan_free(&plan);
        free(copy);
        return;
    }
    struct part_outcome *o = calloc(plan.nparts, sizeof *o);
    struct route_result *r = calloc(plan.nparts, sizeof *r);
    ck_assert(o != NULL && r != NULL);
    for (size_t i = 0; i < plan.nparts; i++) {
        struct route_part *p = &plan.parts[i];
        enum backend_error e = backend_send(c->b[p->backend], p->request.data, p->request.len,
                                            p->reply_kind, part_done, &o[i], now_ms());
        if (e != BACKEND_OK) {
            o[i].done = true;
            o[i].err = e;
        }
    }
    uint64_t end = now_ms() + WAIT_LIMIT_MS;
    for (size_t i = 0; i < plan.nparts; i++)
        while (!o[i].done) {
            ck_assert_msg(now_ms() < end, "no reply for %s", line);
            cluster_turn(c);
        }
    for (size_t i = 0; i < plan.nparts; i++)
        r[i] = o[i].err == BACKEND_OK
                   ? (struct route_result){.reply = o[i].reply.data, .len = o[i].reply.len}
                   : (struct route_result){.failure = backend_error_text(o[i].err)};
    memset(out, 0, sizeof *out);
    ck_assert_int_eq(route_merge(&plan, r, out), 0);
    for (size_t i = 0; i < plan.nparts; i++)
        route_buf_free(&o[i].reply);
    free(o);
    free(r);
    route_plan_free(&plan);
    free(copy);
}

/* The same command, as the client sent it, to the reference memcached. */
static void via_reference(struct cluster *c, const char *line, const char *data, bool quiet,
                          enum reply_kind kind, struct route_buf *out)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "%s\r\n%s%s%s", line, data ? data : "", data ? "\r\n" : "",
                     quiet ? "mn\r\n" : "");
    ck_assert(n > 0 && (size_t)n < sizeof req);
    ck_assert_int_eq(send(c->ref, req, (size_t)n, MSG_NOSIGNAL), n);
    static char buf[65536];
    size_t have = 0;
    struct reply_parser p;
    reply_parser_init(&p, quiet ? REPLY_UNTIL_MN : kind);
    enum reply_status st;
    while ((st = reply_parser_feed(&p, buf, have)) == REPLY_INCOMPLETE) {
        ssize_t got = recv(c->ref, buf + have, sizeof buf - have, 0);
        ck_assert_msg(got > 0, "reference: no reply to %s", line);
        have += (size_t)got;
    }
    ck_assert_int_eq(st, REPLY_COMPLETE);
    ck_assert_uint_eq(p.length, have); /* one request at a time: nothing may follow */
    size_t len = quiet ? p.length - 4 : p.length;
    out->data = malloc(len + 1);
    memcpy(out->data, buf, len);
    out->len = len;
}

static void check_same(struct cluster *c, const char *line, const char *data)
{
    struct route_buf proxied = {0}, direct = {0};
    bool quiet;
    enum reply_kind kind;
    via_proxy(c, line, data, &proxied, &quiet, &kind);
    via_reference(c, line, data, quiet, kind, &direct);
    if (getenv("ROUTE_TRACE") != NULL) /* to see what the test exercises */
        fprintf(stderr, "%s -> \"%.*s\"\n", line, (int)direct.len, direct.data);
    ck_assert_msg(proxied.len == direct.len &&
                      (direct.len == 0 || memcmp(proxied.data, direct.data, direct.len) == 0),
                  "%s\nproxy:     \"%.*s\"\nmemcached: \"%.*s\"", line, (int)proxied.len,
                  proxied.data, (int)direct.len, direct.data);
    route_buf_free(&proxied);
    route_buf_free(&direct);
}

static unsigned rng_state = 20261126;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

START_TEST(same_bytes_as_one_memcached)
{
    struct cluster c;
    cluster_start(&c);
    static const char *const b64[] = {"azA=", "azE=", "azI=", "azM=", "azQ=", "azU="};
    char line[512], data[64], key[16];
    int routed_over[NB] = {0};
    for (int i = 0; i < 600; i++) {
        unsigned k = rnd(12);
        snprintf(key, sizeof key, "k%u", k);
        routed_over[ketama_ring_server_for_key(c.ring, key, strlen(key))]++;
        const char *nr = rnd(4) == 0 ? " noreply" : "";
        const char *q = rnd(4) == 0 ? " q" : "";
        size_t dlen = rnd(12);
        bool numeric = rnd(3) == 0;
        for (size_t j = 0; j < dlen; j++)
            data[j] = numeric ? (char)((j == 0 ? '1' : '0') + rnd(j == 0 ? 9 : 10))
                              : (char)('a' + rnd(26));
        if (numeric && dlen == 0)
            data[dlen++] = '7';
        data[dlen] = '\0';
        const char *d = NULL;
        static const char *const storage[] = {"set", "add", "replace", "append", "prepend"};
        switch (rnd(12)) {
        case 0:
        case 1:
            snprintf(line, sizeof line, "%s %s %u 0 %zu%s", storage[rnd(5)], key, rnd(100), dlen,
                     nr);
            d = data;
            break;
        case 2:
            snprintf(line, sizeof line, "delete %s%s", key, nr);
            break;
        case 3:
            /* an incr/decr that shortens the number ("0009" + 1, 10 - 1) is padded with spaces
             * only when memcached updates the item in place, which depends on whether its
             * background threads hold a reference: never shorten (no leading zeros, decr 0),
             * so that both sides stay equal */
            if (rnd(2))
                snprintf(line, sizeof line, "incr %s %u%s", key, rnd(50), nr);
            else
                snprintf(line, sizeof line, "decr %s 0%s", key, nr);
            break;
        case 4:
            snprintf(line, sizeof line, "touch %s 0%s", key, nr);
            break;
        case 5:
        case 6: {
            unsigned nkeys = 1 + rnd(8);
            int at = snprintf(line, sizeof line, rnd(3) == 0 ? "gat 0" : "get");
            for (unsigned j = 0; j < nkeys; j++)
                at += snprintf(line + at, sizeof line - (size_t)at, " k%u", rnd(14));
            break;
        }
        case 7:
            if (k < 6 && rnd(2))
                snprintf(line, sizeof line, "mg %s b v f k Oop%s", b64[k], q);
            else
                snprintf(line, sizeof line, "mg %s v f k s Oop%s", key, q);
            break;
        case 8:
            snprintf(line, sizeof line, "ms %s %zu F%u T0%s", key, dlen, rnd(9), q);
            d = data;
            break;
        case 9:
            snprintf(line, sizeof line, "md %s%s", key, q);
            break;
        case 10:
            snprintf(line, sizeof line, "ma %s D%u%s%s", key, rnd(9), rnd(2) ? " v" : "", q);
            break;
        default:
            snprintf(line, sizeof line, "mg %s k%s", key, q);
            break;
        }
        check_same(&c, line, d);
    }
    for (int i = 0; i < NB; i++)
        ck_assert_int_gt(routed_over[i], 0); /* every backend took part */
    char longkey[300] = "get k1 ";
    memset(longkey + 7, 'x', 251);
    check_same(&c, longkey, NULL);
    check_same(&c, "gat nope k1", NULL);
    /* lines memcached refuses without reading a data block */
    check_same(&c, "set k1 x 0 2", NULL);
    check_same(&c, "set k1 0 0 -1 noreply", NULL);
    check_same(&c, "cas k1 0 0 2 x", NULL);
    check_same(&c, "ms k1 xx", NULL);
    check_same(&c, "ms k1 2 zz", "hi"); /* refused after the block: the backend swallows it */
    check_same(&c, "mg k1 v zz", NULL);
    check_same(&c, "flush_all", NULL);
    check_same(&c, "get k0 k1 k2 k3 k4 k5 k6 k7 k8 k9 k10 k11", NULL);
    cluster_stop(&c);
}
END_TEST

/* The key on the killed backend: a read misses, a write answers SERVER_ERROR. */
START_TEST(failed_backend_policy)
{
    struct cluster c;
    cluster_start(&c);
    char line[256];
    const char *dead_key = NULL, *live_key = NULL;
    static char keys[32][16];
    for (int i = 0; i < 32 && (dead_key == NULL || live_key == NULL); i++) {
        snprintf(keys[i], sizeof keys[i], "key%d", i);
        uint32_t owner = ketama_ring_server_for_key(c.ring, keys[i], strlen(keys[i]));
        if (owner == 0 && dead_key == NULL)
            dead_key = keys[i];
        if (owner != 0 && live_key == NULL)
            live_key = keys[i];
    }
    ck_assert(dead_key != NULL && live_key != NULL);
    snprintf(line, sizeof line, "set %.15s 0 0 1", live_key);
    check_same(&c, line, "L");
    stop_memcached(c.pids[0]);
    c.pids[0] = 0;

    struct route_buf out = {0};
    bool quiet;
    enum reply_kind kind;
    snprintf(line, sizeof line, "get %.15s %.15s", dead_key, live_key);
    via_proxy(&c, line, NULL, &out, &quiet, &kind);
    char expected[128];
    snprintf(expected, sizeof expected, "VALUE %.15s 0 1\r\nL\r\nEND\r\n", live_key);
    ck_assert_msg(out.len == strlen(expected) && memcmp(out.data, expected, out.len) == 0,
                  "%.*s", (int)out.len, out.data);
    route_buf_free(&out);

    snprintf(line, sizeof line, "set %.15s 0 0 1 noreply", dead_key);
    via_proxy(&c, line, "D", &out, &quiet, &kind);
    ck_assert_msg(out.len > 20 && memcmp(out.data, "SERVER_ERROR backend ", 21) == 0, "%.*s",
                  (int)out.len, out.data);
    route_buf_free(&out);

    snprintf(line, sizeof line, "mg %.15s v k Ox", dead_key);
    via_proxy(&c, line, NULL, &out, &quiet, &kind);
    snprintf(expected, sizeof expected, "EN k%.15s Ox\r\n", dead_key);
    ck_assert_msg(out.len == strlen(expected) && memcmp(out.data, expected, out.len) == 0,
                  "%.*s", (int)out.len, out.data);
    route_buf_free(&out);
    ck_assert_uint_ge(backend_counters(c.b[0])->errors, 1);
    cluster_stop(&c);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("route_memcached");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, same_bytes_as_one_memcached);
    tcase_add_test(tc, failed_backend_policy);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
