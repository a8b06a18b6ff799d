/* Unit tests for cluster/route: splitting client commands per owner and merging the replies into
 * what one memcached 1.6.18 sends (the expected replies were checked against /usr/bin/memcached
 * holding all the keys). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/route/route.h"

/* Owner: the key's first byte selects the backend ('a'->0, 'b'->1, ...), modulo n. */
struct owner_ctx {
    uint32_t n;
    char last_key[300];
};

static uint32_t first_byte_owner(void *ctx, const char *key, size_t len)
{
    struct owner_ctx *o = ctx;
    size_t n = len < sizeof o->last_key - 1 ? len : sizeof o->last_key - 1;
    memcpy(o->last_key, key, n);
    o->last_key[n] = '\0';
    return len ? (uint32_t)((unsigned char)key[0] - 'a') % o->n : 0;
}

/* Tokenizes a copy of `line` (kept alive in *storage) and builds the plan. */
static void plan(struct route_plan *p, char **storage, const char *line, const char *data,
                 struct owner_ctx *o)
{
    *storage = strdup(line);
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t nt = proto_tokenize(*storage, t, PROTO_MAX_TOKENS);
    ck_assert_int_eq(route_plan_build(p, t, nt, data, data ? strlen(data) : 0, first_byte_owner,
                                      o, o->n),
                     0);
}

static void assert_request(const struct route_part *part, uint32_t backend, const char *bytes)
{
    ck_assert_uint_eq(part->backend, backend);
    ck_assert_uint_eq(part->request.len, strlen(bytes));
    ck_assert(memcmp(part->request.data, bytes, part->request.len) == 0);
}

static void assert_merge(const struct route_plan *p, const struct route_result *r,
                         const char *expected)
{
    struct route_buf out = {0};
    ck_assert_int_eq(route_merge(p, r, &out), 0);
    bool same = out.len == strlen(expected) &&
                (out.len == 0 || memcmp(out.data, expected, out.len) == 0);
    ck_assert_msg(same,
                  "merged \"%.*s\", expected \"%s\"", (int)out.len, out.data, expected);
    route_buf_free(&out);
}

#define OK(s) {.reply = s, .len = sizeof(s) - 1}
#define FAILED(why) {.failure = why}
/* a failure the client must see even on a read (a reply too large to hold) */
#define REPORTED(why) {.failure = why, .reported = true}

START_TEST(multiget_split_and_merge)
{
    struct owner_ctx o = {.n = 4};
    struct route_plan p;
    char *line;
    plan(&p, &line, "get a1 b1  c1 a2 d1 a1", NULL, &o);
    ck_assert_int_eq(p.action, ROUTE_FORWARD);
    ck_assert_int_eq(p.merge, ROUTE_MERGE_VALUES);
    ck_assert_uint_eq(p.nparts, 4);
    assert_request(&p.parts[0], 0, "get a1 a2 a1\r\n");
    assert_request(&p.parts[1], 1, "get b1\r\n");
    assert_request(&p.parts[2], 2, "get c1\r\n");
    assert_request(&p.parts[3], 3, "get d1\r\n");
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(p.parts[i].reply_kind, REPLY_RETRIEVAL);
    ck_assert_uint_eq(p.nkeys, 6);
    /* a2 missed on backend 0, c1 missed, backend 3 failed (its key counts as a miss) */
    struct route_result r[4] = {
        OK("VALUE a1 0 1\r\nx\r\nVALUE a1 0 1\r\nx\r\nEND\r\n"),
        OK("VALUE b1 5 2\r\nyy\r\nEND\r\n"),
        OK("END\r\n"),
        FAILED("backend timeout"),
    };
    assert_merge(&p, r, "VALUE a1 0 1\r\nx\r\nVALUE b1 5 2\r\nyy\r\nVALUE a1 0 1\r\nx\r\nEND\r\n");
    /* --backend-read-failure=error: the failed owner decides the whole reply */
    p.fail_reads = true;
    assert_merge(&p, r, "SERVER_ERROR backend timeout\r\n");
    /* a reply too large to hold is reported whatever the read-failure policy */
    p.fail_reads = false;
    struct route_result too_large[4] = {
        OK("VALUE a1 0 1\r\nx\r\nVALUE a1 0 1\r\nx\r\nEND\r\n"),
        REPORTED("backend reply too large"),
        OK("END\r\n"),
        FAILED("backend timeout"),
    };
    assert_merge(&p, too_large, "SERVER_ERROR backend reply too large\r\n");
    route_plan_free(&p);
    free(line);
}
END_TEST

START_TEST(gets_and_gat_keep_their_arguments)
{
    struct owner_ctx o = {.n = 2};
    struct route_plan p;
    char *line;
    plan(&p, &line, "gats 100 b a b", NULL, &o);
    ck_assert_uint_eq(p.nparts, 2);
    assert_request(&p.parts[0], 1, "gats 100 b b\r\n");
    assert_request(&p.parts[1], 0, "gats 100 a\r\n");
    struct route_result r[2] = {OK("VALUE b 0 1 7\r\nB\r\nVALUE b 0 1 7\r\nB\r\nEND\r\n"),
                                OK("VALUE a 3 1 9\r\nA\r\nEND\r\n")};
    assert_merge(&p, r,
                 "VALUE b 0 1 7\r\nB\r\nVALUE a 3 1 9\r\nA\r\nVALUE b 0 1 7\r\nB\r\nEND\r\n");
    route_plan_free(&p);
    free(line);

    plan(&p, &line, "gat xx a", NULL, &o);
    ck_assert_int_eq(p.action, ROUTE_ANSWER);
    ck_assert_str_eq(p.answer, "CLIENT_ERROR invalid exptime argument\r\n");
    route_plan_free(&p);
    free(line);
}
END_TEST

START_TEST(get_refusals_and_errors)
{
    struct owner_ctx o = {.n = 2};
    struct route_plan p;
    char line[600];
    char *copy;
    memset(line, 0, sizeof line);
    strcpy(line, "get a ");
    memset(line + 6, 'k', 251);
    plan(&p, &copy, line, NULL, &o);
    ck_assert_int_eq(p.action, ROUTE_ANSWER);
    ck_assert_str_eq(p.answer, "CLIENT_ERROR bad command line format\r\n");
    route_plan_free(&p);
    free(copy);

    /* a backend's error replaces the whole reply, as memcached's does */
    plan(&p, &copy, "get a b", NULL, &o);
    struct route_result r[2] = {OK("VALUE a 0 1\r\nx\r\nEND\r\n"),
                                OK("SERVER_ERROR out of memory writing get response\r\n")};
    assert_merge(&p, r, "SERVER_ERROR out of memory writing get response\r\n");
    route_plan_free(&p);
    free(copy);
}
END_TEST

/* More keys than one tokenization holds (memcached tokenizes 23 at a time). */
START_TEST(long_multiget)
{
    struct owner_ctx o = {.n = 3};
    char line[4096] = "get";
    for (int i = 0; i < 60; i++) {
        char k[16];
        snprintf(k, sizeof k, " %c%d", 'a' + i % 3, i);
        strcat(line, k);
    }
    struct route_plan p;
    char *copy;
    plan(&p, &copy, line, NULL, &o);
    ck_assert_uint_eq(p.nkeys, 60);
    ck_assert_uint_eq(p.nparts, 3);
    for (size_t i = 0; i < 60; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "%c%zu", (int)('a' + i % 3), i);
        ck_assert_uint_eq(p.keys[i].len, (size_t)n);
        ck_assert(memcmp(p.key_bytes.data + p.keys[i].offset, k, (size_t)n) == 0);
        ck_assert_uint_eq(p.keys[i].part, i % 3);
    }
    ck_assert(strncmp(p.parts[1].request.data, "get b1 b4 b7 ", 13) == 0);
    route_plan_free(&p);
    free(copy);
}
END_TEST

START_TEST(storage_and_noreply)
{
    struct owner_ctx o = {.n = 3};
    struct route_plan p;
    char *line;
    plan(&p, &line, "set b 1 0 5", "hello", &o);
    ck_assert_uint_eq(p.nparts, 1);
    ck_assert(p.write && !p.quiet);
    assert_request(&p.parts[0], 1, "set b 1 0 5\r\nhello\r\n");
    ck_assert_int_eq(p.parts[0].reply_kind, REPLY_LINE);
    struct route_result ok = OK("STORED\r\n");
    assert_merge(&p, &ok, "STORED\r\n");
    struct route_result dead = FAILED("backend connection refused");
    assert_merge(&p, &dead, "SERVER_ERROR backend connection refused\r\n");
    route_plan_free(&p);
    free(line);

    plan(&p, &line, "set c 1 0 5 noreply", "hello", &o);
    ck_assert(p.quiet);
    assert_request(&p.parts[0], 2, "set c 1 0 5 noreply\r\nhello\r\nmn\r\n");
    ck_assert_int_eq(p.parts[0].reply_kind, REPLY_UNTIL_MN);
    struct route_result mn = OK("MN\r\n");
    assert_merge(&p, &mn, "");
    struct route_result err = OK("SERVER_ERROR out of memory storing object\r\nMN\r\n");
    assert_merge(&p, &err, "SERVER_ERROR out of memory storing object\r\n");
    route_plan_free(&p);
    free(line);

    const char *single[] = {"incr a 1", "decr b 1 noreply", "delete c", "touch a 10",
                            "cas b 0 0 1 5", "append c 0 0 1", "prepend a 0 0 1 noreply"};
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) {
        plan(&p, &line, single[i], strstr(single[i], " 0 0 1") ? "x" : NULL, &o);
        ck_assert_int_eq(p.action, ROUTE_FORWARD);
        ck_assert_uint_eq(p.nparts, 1);
        uint32_t owner = (uint32_t)(single[i][strcspn(single[i], " ") + 1] - 'a');
        ck_assert_uint_eq(p.parts[0].backend, owner);
        ck_assert(p.write);
        ck_assert_int_eq(p.quiet, strstr(single[i], "noreply") != NULL);
        route_plan_free(&p);
        free(line);
    }
}
END_TEST

/* Which lines are followed by a data block: what memcached 1.6.18 did with each of these lines
 * followed by "hi\r\n" and "mn\r\n" (a refused line made it answer ERROR to "hi"). */
START_TEST(data_blocks)
{
    static const struct {
        const char *line;
        int block; /* 1: a block of 2 bytes follows; 0: refused with `answer`; -1: no block */
        const char *answer;
    } cases[] = {
        {"set k 0 0 2", 1, NULL},
        {"cas k 0 0 2 99 noreply", 1, NULL},
        {"ms k 2 T0", 1, NULL},
        {"ms k 2 zz", 1, NULL}, /* an invalid flag: memcached still swallows the block */
        {"ms k 2 T0 T1", 1, NULL},
        {"set k x 0 2", 0, "CLIENT_ERROR bad command line format\r\n"},
        {"set k 0 0 -1", 0, "CLIENT_ERROR bad command line format\r\n"},
        {"set k 0 0 -1 noreply", 0, ""},
        {"cas k 0 0 2 x", 0, "CLIENT_ERROR bad command line format\r\n"},
        {"ms k xx", 0, "CLIENT_ERROR bad command line format\r\n"},
        {"ms k -1", 0, "CLIENT_ERROR bad command line format\r\n"},
        {"mg k v", -1, NULL},
        {"get k", -1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *copy = strdup(cases[i].line);
        struct proto_token t[PROTO_MAX_TOKENS];
        size_t nt = proto_tokenize(copy, t, PROTO_MAX_TOKENS);
        size_t len = 0;
        const char *answer = NULL;
        int r = route_data_block(t, nt, &len, &answer);
        ck_assert_msg(r == cases[i].block, "%s: %d", cases[i].line, r);
        if (r == 1)
            ck_assert_uint_eq(len, 2);
        if (r == 0)
            ck_assert_str_eq(answer, cases[i].answer);
        free(copy);
    }
    char key[300] = "set ";
    memset(key + 4, 'k', 251);
    strcat(key, " 0 0 2");
    struct owner_ctx o = {.n = 2};
    struct route_plan p;
    char *line;
    plan(&p, &line, key, NULL, &o);
    ck_assert_int_eq(p.action, ROUTE_ANSWER); /* memcached: no block, the data is a command */
    ck_assert_str_eq(p.answer, "CLIENT_ERROR bad command line format\r\n");
    route_plan_free(&p);
    free(line);
    /* a valid storage line without its block is the caller's bug */
    line = strdup("set k 0 0 2");
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t nt = proto_tokenize(line, t, PROTO_MAX_TOKENS);
    ck_assert_int_eq(route_plan_build(&p, t, nt, "x", 1, first_byte_owner, &o, 2), -1);
    free(line);
}
END_TEST

START_TEST(meta_commands)
{
    struct owner_ctx o = {.n = 3};
    struct route_plan p;
    char *line;
    plan(&p, &line, "mg b v k Oab", NULL, &o);
    ck_assert(!p.quiet && !p.write);
    assert_request(&p.parts[0], 1, "mg b v k Oab\r\n");
    ck_assert_int_eq(p.parts[0].reply_kind, REPLY_META);
    struct route_result hit = OK("VA 1 kb Oab\r\nx\r\n");
    assert_merge(&p, &hit, "VA 1 kb Oab\r\nx\r\n");
    struct route_result dead = FAILED("backend timeout");
    assert_merge(&p, &dead, "EN kb Oab\r\n"); /* a failed read is a miss */
    route_plan_free(&p);
    free(line);

    /* a base64 key is owned by its decoded bytes: "Y2N" is "cc" (backend 2) */
    plan(&p, &line, "mg Y2M= b q k Oxy", NULL, &o);
    ck_assert_str_eq(o.last_key, "cc");
    ck_assert(p.quiet);
    assert_request(&p.parts[0], 2, "mg Y2M= b q k Oxy\r\nmn\r\n");
    ck_assert_int_eq(p.parts[0].reply_kind, REPLY_UNTIL_MN);
    assert_merge(&p, &dead, ""); /* a quiet miss says nothing */
    p.fail_reads = true; /* --backend-read-failure=error: an error is said even under q */
    assert_merge(&p, &dead, "SERVER_ERROR backend timeout\r\n");
    p.fail_reads = false;
    struct route_result qhit = OK("VA 1 kY2M= b Oxy\r\nx\r\nMN\r\n");
    assert_merge(&p, &qhit, "VA 1 kY2M= b Oxy\r\nx\r\n");
    route_plan_free(&p);
    free(line);

    plan(&p, &line, "mg Y2M= b k Oxy", NULL, &o);
    assert_merge(&p, &dead, "EN kY2M= b Oxy\r\n"); /* memcached 1.6.18's miss */
    route_plan_free(&p);
    free(line);

    plan(&p, &line, "ms a 2 T0 q", "hi", &o);
    ck_assert(p.write && p.quiet);
    assert_request(&p.parts[0], 0, "ms a 2 T0 q\r\nhi\r\nmn\r\n");
    assert_merge(&p, &dead, "SERVER_ERROR backend timeout\r\n");
    route_plan_free(&p);
    free(line);

    plan(&p, &line, "md b q", NULL, &o);
    struct route_result nf = OK("NF\r\nMN\r\n");
    assert_merge(&p, &nf, "NF\r\n");
    route_plan_free(&p);
    free(line);

    plan(&p, &line, "ma c N0 J5 v", NULL, &o);
    ck_assert(p.write && !p.quiet);
    assert_request(&p.parts[0], 2, "ma c N0 J5 v\r\n");
    route_plan_free(&p);
    free(line);

    plan(&p, &line, "me a", NULL, &o);
    ck_assert(!p.write);
    assert_merge(&p, &dead, "EN\r\n");
    route_plan_free(&p);
    free(line);
}
END_TEST

START_TEST(flush_all_everywhere)
{
    struct owner_ctx o = {.n = 3};
    struct route_plan p;
    char *line;
    plan(&p, &line, "flush_all 10", NULL, &o);
    ck_assert_int_eq(p.merge, ROUTE_MERGE_ALL);
    ck_assert_uint_eq(p.nparts, 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_request(&p.parts[i], i, "flush_all 10\r\n");
    struct route_result ok[3] = {OK("OK\r\n"), OK("OK\r\n"), OK("OK\r\n")};
    assert_merge(&p, ok, "OK\r\n");
    /* the client must not believe the whole cache was flushed */
    struct route_result one_dead[3] = {OK("OK\r\n"), FAILED("backend timeout"), OK("OK\r\n")};
    assert_merge(&p, one_dead, "SERVER_ERROR reached 2 of 3 servers: backend timeout\r\n");
    struct route_result all_dead[3] = {FAILED("backend timeout"), FAILED("backend unavailable"),
                                       FAILED("backend timeout")};
    assert_merge(&p, all_dead, "SERVER_ERROR backend timeout\r\n");
    route_plan_free(&p);
    free(line);

    plan(&p, &line, "flush_all noreply", NULL, &o);
    assert_request(&p.parts[1], 1, "flush_all noreply\r\nmn\r\n");
    struct route_result quiet[3] = {OK("MN\r\n"), OK("MN\r\n"), OK("MN\r\n")};
    assert_merge(&p, quiet, "");
    route_plan_free(&p);
    free(line);
}
END_TEST

START_TEST(local_commands)
{
    struct owner_ctx o = {.n = 3};
    const char *local[] = {"stats", "stats slabs", "version", "verbosity 1", "mn", "quit",
                           "bogus", "get", "set a 0 0", "mg", "ms", "me"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        struct route_plan p;
        char *line;
        plan(&p, &line, local[i], NULL, &o);
        ck_assert_msg(p.action == ROUTE_LOCAL, "%s", local[i]);
        ck_assert_uint_eq(p.nparts, 0);
        route_plan_free(&p);
        free(line);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, multiget_split_and_merge);
    tcase_add_test(tc, gets_and_gat_keep_their_arguments);
    tcase_add_test(tc, get_refusals_and_errors);
    tcase_add_test(tc, long_multiget);
    tcase_add_test(tc, storage_and_noreply);
    tcase_add_test(tc, data_blocks);
    tcase_add_test(tc, meta_commands);
    tcase_add_test(tc, flush_all_everywhere);
    tcase_add_test(tc, local_commands);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
