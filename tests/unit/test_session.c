/* Unit tests for server/session.c over the real store: byte streams in, exact reply bytes out.
 * The table in test_session_cases.h holds memcached 1.6.18's own replies; every stream is also
 * replayed split at every byte boundary and one byte at a time, as a client's reads may split it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/clock.h"
#include "server/log.h"
#include "server/outbuf.h"
#include "server/session.h"
#include "server/settings.h"
#include "server/stats.h"
#include "server/store.h"
#include "server/version.h"

#include "test_session_cases.h"

struct rig {
    struct store *store;
    struct thread_stats stats;
    struct session_env env;
    struct session *s;
    struct outbuf out;
    char *pending; /* bytes the "connection" keeps for the next call */
    size_t npending, cap;
};

static void rig_open(struct rig *r)
{
    memset(r, 0, sizeof *r);
    struct store_config cfg = {
        .mem_limit = 64u << 20,
        .item_size_max = settings.item_size_max,
        .growth_factor = settings.factor,
        .chunk_min = (size_t)settings.chunk_size,
        .hashpower = 16,
        .evict = true,
        .use_cas = settings.use_cas,
    };
    char err[128];
    r->store = store_create(&cfg, err, sizeof err);
    ck_assert_msg(r->store != NULL, "store_create: %s", err);
    r->env.store = r->store;
    r->env.stats = &r->stats;
    r->s = session_create(&r->env);
    ck_assert_ptr_nonnull(r->s);
    outbuf_init(&r->out);
}

static void rig_close(struct rig *r)
{
    session_destroy(r->s);
    outbuf_free(&r->out);
    store_destroy(r->store);
    free(r->pending);
}

/* Hands n more bytes to the session the way a connection does: appended to what it kept. */
static void rig_feed(struct rig *r, const char *data, size_t n)
{
    if (r->npending + n > r->cap || r->pending == NULL) {
        r->cap = (r->npending + n) * 2 + 16;
        r->pending = realloc(r->pending, r->cap);
    }
    memcpy(r->pending + r->npending, data, n);
    r->npending += n;
    size_t used = session_process(r->s, r->pending, r->npending, &r->out, SIZE_MAX / 2);
    ck_assert_uint_le(used, r->npending);
    memmove(r->pending, r->pending + used, r->npending - used);
    r->npending -= used;
}

/* All queued output as a NUL-terminated string (caller frees), with "[CLOSED]" appended when the
 * session asked to close. */
static char *rig_output(struct rig *r, size_t *len)
{
    struct iovec iov[4096];
    int n = outbuf_iov(&r->out, iov, 4096);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    char *all = malloc(total + 16);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        memcpy(all + o, iov[i].iov_base, iov[i].iov_len);
        o += iov[i].iov_len;
    }
    if (session_state(r->s) != SESSION_OPEN) {
        memcpy(all + o, "[CLOSED]", 8);
        o += 8;
    }
    all[o] = '\0';
    *len = o;
    return all;
}

/* memcached answers "VERSION 1.6.18"; Shoal adds its own version after it. */
static char *expected(const char *want, size_t *len)
{
    static const char mc[] = "VERSION 1.6.18\r\n";
    static const char us[] = "VERSION " SHOAL_VERSION_STRING "\r\n";
    char *e = malloc(strlen(want) * 2 + 64);
    size_t o = 0;
    for (const char *p = want; *p;) {
        if (strncmp(p, mc, sizeof mc - 1) == 0) {
            memcpy(e + o, us, sizeof us - 1);
            o += sizeof us - 1;
            p += sizeof mc - 1;
        } else {
            e[o++] = *p++;
        }
    }
    e[o] = '\0';
    *len = o;
    return e;
}

static void check_case(const struct session_case *c, size_t split, size_t step)
{
    struct rig r;
    rig_open(&r);
    if (step > 0) {
        for (size_t i = 0; i < c->in_len && session_state(r.s) == SESSION_OPEN; i += step) {
            rig_feed(&r, c->in + i, c->in_len - i < step ? c->in_len - i : step);
            atomic_store(&log_verbosity, 0);
        }
    } else {
        rig_feed(&r, c->in, split);
        atomic_store(&log_verbosity, 0);
        if (session_state(r.s) == SESSION_OPEN)
            rig_feed(&r, c->in + split, c->in_len - split);
    }
    atomic_store(&log_verbosity, 0); /* a recorded "verbosity 2" would flood the test log */
    size_t glen, wlen;
    char *got = rig_output(&r, &glen);
    char *want = expected(c->want, &wlen);
    ck_assert_msg(glen == wlen && memcmp(got, want, glen) == 0,
                  "stream \"%.80s\" (split %zu step %zu):\n got \"%s\"\nwant \"%s\"", c->in, split,
                  step, got, want);
    free(got);
    free(want);
    rig_close(&r);
}

static void setup(void)
{
    settings_init(&settings);
    clock_set_for_test(1000);
}

/* Recorded streams include "verbosity 5", after which every command line is logged. */
static void setup_quiet(void)
{
    setup();
    if (freopen("/dev/null", "w", stderr) == NULL)
        abort();
}

START_TEST(memcached_streams_whole)
{
    const struct session_case *c = &session_cases[_i];
    check_case(c, c->in_len, 0);
}
END_TEST

START_TEST(memcached_streams_every_split)
{
    const struct session_case *c = &session_cases[_i];
    /* A line over 2048 bytes cut before its newline legitimately closes: split long streams
     * only within their first 2048 bytes. Long streams are sampled every 13 bytes. */
    size_t last = c->in_len <= 2048 ? c->in_len : 2048;
    size_t stride = c->in_len <= 400 ? 1 : 13;
    for (size_t split = 0; split <= last; split += stride)
        check_case(c, split, 0);
}
END_TEST

START_TEST(memcached_streams_byte_by_byte)
{
    const struct session_case *c = &session_cases[_i];
    if (c->in_len <= 2048)
        check_case(c, 0, 1);
}
END_TEST

static void rig_feed_str(struct rig *r, const char *s)
{
    rig_feed(r, s, strlen(s));
}

static void expect_output(struct rig *r, const char *want)
{
    size_t glen;
    char *got = rig_output(r, &glen);
    ck_assert_str_eq(got, want);
    free(got);
    outbuf_consume(&r->out, r->out.pending);
}

START_TEST(large_value_streams_through_small_reads)
{
    struct rig r;
    rig_open(&r);
    size_t vlen = 900 * 1000;
    const char *line = "set big 7 0 900000\r\n";
    rig_feed(&r, line, strlen(line));
    ck_assert(session_mid_command(r.s));
    char chunk[4096];
    for (size_t done = 0; done < vlen;) {
        size_t n = vlen - done < sizeof chunk ? vlen - done : sizeof chunk;
        for (size_t i = 0; i < n; i++)
            chunk[i] = (char)('a' + (done + i) % 26);
        rig_feed(&r, chunk, n);
        /* the session takes every data byte: the caller never holds more than one read */
        ck_assert_uint_eq(r.npending, 0);
        done += n;
    }
    rig_feed_str(&r, "\r\nget big\r\n");
    ck_assert(!session_mid_command(r.s));
    size_t glen;
    char *got = rig_output(&r, &glen);
    const char *head = "STORED\r\nVALUE big 7 900000\r\n";
    ck_assert_uint_eq(glen, strlen(head) + vlen + 7);
    ck_assert(memcmp(got, head, strlen(head)) == 0);
    for (size_t i = 0; i < vlen; i++)
        ck_assert_int_eq(got[strlen(head) + i], 'a' + i % 26);
    ck_assert(memcmp(got + glen - 7, "\r\nEND\r\n", 7) == 0);
    free(got);
    rig_close(&r);
}
END_TEST

START_TEST(oversize_value_swallowed_and_old_value_dropped)
{
    /* memcached's largest value for key "k", flags 0, with CAS: -I minus its item overhead */
    size_t max = settings.item_size_max - (48 + 8 + 1 + 1 + 2);
    static const char *const lines[] = {"set k 0 0 %zu\r\n", "ms k %zu\r\n", "ms k %zu q MA\r\n"};
    for (size_t c = 0; c < sizeof lines / sizeof lines[0]; c++) {
        struct rig r;
        rig_open(&r);
        rig_feed_str(&r, "set k 0 0 1\r\nx\r\n");
        expect_output(&r, "STORED\r\n");
        for (size_t vlen = max; vlen <= max + 1; vlen++) {
            char head[64];
            int n = snprintf(head, sizeof head, lines[c], vlen);
            rig_feed(&r, head, (size_t)n);
            char *data = malloc(vlen + 2);
            memset(data, 'z', vlen);
            memcpy(data + vlen, "\r\n", 2);
            for (size_t i = 0; i < vlen + 2; i += 65536)
                rig_feed(&r, data + i, vlen + 2 - i < 65536 ? vlen + 2 - i : 65536);
            free(data);
        }
        rig_feed_str(&r, "mg k s\r\n");
        /* the largest value fits; one byte more is refused and takes the old value with it */
        if (c == 0)
            expect_output(&r, "STORED\r\nSERVER_ERROR object too large for cache\r\nEN\r\n");
        else if (c == 1)
            expect_output(&r, "HD\r\nSERVER_ERROR object too large for cache\r\nEN\r\n");
        else
            expect_output(&r, "NS\r\nSERVER_ERROR object too large for cache\r\nEN\r\n");
        ck_assert_uint_eq(r.stats.store_too_large, 1);
        rig_close(&r);
    }
}
END_TEST

START_TEST(long_line_without_newline)
{
    struct rig r;
    rig_open(&r);
    char buf[3000];
    memset(buf, 'k', sizeof buf);
    memcpy(buf, "set ", 4);
    rig_feed(&r, buf, 2048);
    ck_assert_int_eq(session_state(r.s), SESSION_OPEN);
    rig_feed(&r, buf + 2048, 1);
    ck_assert_int_eq(session_state(r.s), SESSION_CLOSE);
    rig_close(&r);

    /* a long multi-get goes on until its newline */
    rig_open(&r);
    size_t nkeys = 20000;
    char *line = malloc(4 + nkeys * 2 + 2);
    memcpy(line, "get ", 4);
    for (size_t i = 0; i < nkeys; i++)
        memcpy(line + 4 + 2 * i, "a ", 2);
    memcpy(line + 4 + 2 * nkeys, "\r\n", 2);
    rig_feed_str(&r, "set a 0 0 1\r\nx\r\n");
    for (size_t i = 0; i < 4 + nkeys * 2 + 2; i += 1000)
        rig_feed(&r, line + i, 4 + nkeys * 2 + 2 - i < 1000 ? 4 + nkeys * 2 + 2 - i : 1000);
    free(line);
    ck_assert_int_eq(session_state(r.s), SESSION_OPEN);
    ck_assert_uint_eq(r.stats.get_hits, nkeys);
    ck_assert_uint_eq(r.out.pending, 8 + nkeys * strlen("VALUE a 0 1\r\nx\r\n") + 5);
    rig_close(&r);
}
END_TEST

START_TEST(output_limit_pauses_pipelining)
{
    struct rig r;
    rig_open(&r);
    rig_feed_str(&r, "set a 0 0 1\r\nx\r\n");
    const char *gets = "get a\r\nget a\r\nget a\r\n";
    size_t used = session_process(r.s, gets, strlen(gets), &r.out, 10);
    ck_assert_uint_eq(used, 7); /* STORED + one reply already exceed 10 bytes */
    rig_close(&r);
}
END_TEST

START_TEST(expiry_and_flush_follow_the_clock)
{
    struct rig r;
    rig_open(&r);
    rig_feed_str(&r, "set a 0 10 1\r\nx\r\nset b 0 0 1\r\ny\r\n");
    expect_output(&r, "STORED\r\nSTORED\r\n");
    clock_set_for_test(1010);
    rig_feed_str(&r, "get a b\r\nmg b t\r\n");
    expect_output(&r, "VALUE b 0 1\r\ny\r\nEND\r\nHD t-1\r\n");
    ck_assert_uint_eq(r.stats.get_expired, 1);
    rig_feed_str(&r, "flush_all 5\r\nget b\r\n");
    expect_output(&r, "OK\r\nVALUE b 0 1\r\ny\r\nEND\r\n");
    clock_set_for_test(1016);
    rig_feed_str(&r, "get b\r\n");
    expect_output(&r, "END\r\n");
    ck_assert_uint_eq(r.stats.cmd_flush, 1);
    rig_close(&r);
}
END_TEST

START_TEST(settings_change_answers)
{
    struct rig r;
    settings.flush_enabled = false;
    settings.shutdown_command = true;
    rig_open(&r);
    rig_feed_str(&r, "flush_all\r\nverbosity 1\r\n");
    expect_output(&r, "CLIENT_ERROR flush_all not allowed\r\nOK\r\n");
    ck_assert_int_eq(atomic_load(&log_verbosity), 1);
    rig_feed_str(&r, "verbosity 0 noreply\r\n");
    ck_assert_int_eq(atomic_load(&log_verbosity), 0);
    rig_feed_str(&r, "shutdown\r\nversion\r\n");
    ck_assert_int_eq(session_state(r.s), SESSION_SHUTDOWN);
    rig_close(&r);

    settings_init(&settings);
    settings.use_cas = false;
    rig_open(&r);
    rig_feed_str(&r, "set a 0 0 1\r\nx\r\ngets a\r\nmg a c\r\n");
    expect_output(&r, "STORED\r\nVALUE a 0 1 0\r\nx\r\nEND\r\nHD c0\r\n");
    rig_close(&r);
}
END_TEST

START_TEST(quit_closes_after_replies)
{
    struct rig r;
    rig_open(&r);
    rig_feed_str(&r, "version\r\nquit\r\nversion\r\n");
    expect_output(&r, "VERSION " SHOAL_VERSION_STRING "\r\n[CLOSED]");
    rig_close(&r);
}
END_TEST

START_TEST(counters_follow_memcached)
{
    struct rig r;
    rig_open(&r);
    const char *in = "set a 0 0 1\r\nx\r\nget a b\r\ngat 10 a b\r\ntouch a 1\r\ntouch b 1\r\n"
                     "delete a\r\ndelete a\r\nincr b 1\r\ndecr b 1\r\nset n 0 0 1\r\n1\r\nincr n 1\r\n"
                     "decr n 1\r\ncas n 0 0 1 999\r\n2\r\ncas z 0 0 1 1\r\n2\r\nmg n\r\nmg z\r\n"
                     "me n\r\n";
    rig_feed(&r, in, strlen(in));
    struct thread_stats *t = &r.stats;
    ck_assert_uint_eq(t->cmd_set, 4);
    ck_assert_uint_eq(t->cmd_get, 4);
    ck_assert_uint_eq(t->get_hits, 2);
    ck_assert_uint_eq(t->get_misses, 2);
    ck_assert_uint_eq(t->cmd_touch, 4);
    ck_assert_uint_eq(t->touch_hits, 2);
    ck_assert_uint_eq(t->touch_misses, 2);
    ck_assert_uint_eq(t->delete_hits, 1);
    ck_assert_uint_eq(t->delete_misses, 1);
    ck_assert_uint_eq(t->incr_hits, 1);
    ck_assert_uint_eq(t->incr_misses, 1);
    ck_assert_uint_eq(t->decr_hits, 1);
    ck_assert_uint_eq(t->decr_misses, 1);
    ck_assert_uint_eq(t->cas_badval, 1);
    ck_assert_uint_eq(t->cas_misses, 1);
    ck_assert_uint_eq(t->cmd_meta, 1);
    rig_close(&r);
}
END_TEST

/* Random mixes of command words, numbers, flags and line ends: the session must neither crash
 * nor consume more than it was given, whatever the split (run under `make asan` too). */
START_TEST(random_streams_are_survived)
{
    static const char *const words[] = {
        "set", "get", "gets", "gat", "cas", "incr", "decr", "delete", "touch", "mg", "ms", "md",
        "ma", "me", "mn", "flush_all", "append", "prepend", "add", "replace", "stats",
        "a", "b", "YQ==", "0", "1", "5", "-1", "4294967296", "18446744073709551616", "noreply",
        "v", "k", "c", "t", "f", "s", "q", "b", "N5", "T1", "R9", "I", "C1", "MA", "MX", "D3",
        "J9", "O12", "x", "\r\n", "\n", "\r", "  ", "\0",
    };
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 300; round++) {
        char stream[2048];
        size_t n = 0;
        while (n < sizeof stream - 64) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            const char *w = words[(seed >> 33) % (sizeof words / sizeof words[0])];
            /* the empty word stands for a NUL byte */
            size_t wl = *w ? strlen(w) : 1;
            memcpy(stream + n, w, wl);
            n += wl;
            stream[n++] = (seed >> 20) % 3 ? ' ' : '\n';
        }
        struct rig r;
        rig_open(&r);
        size_t step = 1 + (size_t)(seed >> 40) % 97;
        for (size_t i = 0; i < n && session_state(r.s) == SESSION_OPEN; i += step)
            rig_feed(&r, stream + i, n - i < step ? n - i : step);
        rig_close(&r);
    }
}
END_TEST

int main(void)
{
    int ncases = (int)(sizeof session_cases / sizeof session_cases[0]);
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("memcached");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup_quiet, NULL);
    tcase_add_loop_test(tc, memcached_streams_whole, 0, ncases);
    tcase_add_loop_test(tc, memcached_streams_every_split, 0, ncases);
    tcase_add_loop_test(tc, memcached_streams_byte_by_byte, 0, ncases);
    suite_add_tcase(s, tc);
    TCase *tx = tcase_create("behaviour");
    tcase_set_timeout(tx, 60);
    tcase_add_checked_fixture(tx, setup, NULL);
    tcase_add_test(tx, large_value_streams_through_small_reads);
    tcase_add_test(tx, oversize_value_swallowed_and_old_value_dropped);
    tcase_add_test(tx, long_line_without_newline);
    tcase_add_test(tx, output_limit_pauses_pipelining);
    tcase_add_test(tx, expiry_and_flush_follow_the_clock);
    tcase_add_test(tx, settings_change_answers);
    tcase_add_test(tx, quit_closes_after_replies);
    tcase_add_test(tx, counters_follow_memcached);
    tcase_add_test(tx, random_streams_are_survived);
    suite_add_tcase(s, tx);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
