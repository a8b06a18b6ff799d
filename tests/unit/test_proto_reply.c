/* Unit tests for proto/reply: framing memcached replies and walking VALUE blocks. The reply
 * texts are what memcached 1.6.18 sends (checked against /usr/bin/memcached). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/reply.h"

/* Frames s whole; returns the status and the length through *length. */
static enum reply_status frame(enum reply_kind kind, const char *s, size_t len, size_t *length)
{
    struct reply_parser p;
    reply_parser_init(&p, kind);
    enum reply_status st = reply_parser_feed(&p, s, len);
    *length = p.length;
    return st;
}

/* Feeds s one byte more at a time and checks the answer equals the one-shot answer. */
static void check_incremental(enum reply_kind kind, const char *s, size_t len)
{
    size_t whole_len;
    enum reply_status whole = frame(kind, s, len, &whole_len);
    struct reply_parser p;
    reply_parser_init(&p, kind);
    enum reply_status st = REPLY_INCOMPLETE;
    for (size_t n = 0; n <= len; n++) {
        st = reply_parser_feed(&p, s, n);
        if (st != REPLY_INCOMPLETE)
            break;
    }
    ck_assert_int_eq(st, whole);
    if (st == REPLY_COMPLETE)
        ck_assert_uint_eq(p.length, whole_len);
}

#define S(lit) lit, sizeof(lit) - 1

START_TEST(retrieval_frames)
{
    size_t n;
    const char r1[] = "VALUE a 0 1\r\nx\r\nVALUE bb 7 3 99\r\nabc\r\nEND\r\nSTORED\r\n";
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S(r1), &n), REPLY_COMPLETE);
    ck_assert_uint_eq(n, sizeof(r1) - 1 - 8);
    check_incremental(REPLY_RETRIEVAL, S(r1));
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("END\r\n"), &n), REPLY_COMPLETE);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 0 1\r\nx\r"), &n), REPLY_INCOMPLETE);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 0 1\r\nx\r\nEN"), &n), REPLY_INCOMPLETE);
    /* data containing "END\r\n" is data */
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 0 5\r\nEND\r\n\r\nEND\r\n"), &n),
                     REPLY_COMPLETE);
    ck_assert_uint_eq(n, 25);
    /* an error ends a retrieval reply, even after values */
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("CLIENT_ERROR bad command line format\r\n"), &n),
                     REPLY_COMPLETE);
    struct reply_parser p;
    reply_parser_init(&p, REPLY_RETRIEVAL);
    ck_assert_int_eq(reply_parser_feed(&p, S("VALUE a 0 1\r\nx\r\nSERVER_ERROR out of memory\r\n")),
                     REPLY_COMPLETE);
    ck_assert(p.error);
    ck_assert_uint_eq(p.nvalues, 1);
}
END_TEST

START_TEST(retrieval_malformed)
{
    size_t n;
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("STORED\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 0 1\r\nxy\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 0\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 0 -1\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 4294967296 1\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 0 1 2 3\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 0 1 \r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE a 0 99999999999\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("VALUE  a 0 1\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("END\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, S("\r\n"), &n), REPLY_MALFORMED);
    char key[300];
    memset(key, 'k', sizeof key);
    char line[400];
    int len = snprintf(line, sizeof line, "VALUE %.251s 0 1\r\n", key);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, line, (size_t)len, &n), REPLY_MALFORMED);
    len = snprintf(line, sizeof line, "VALUE %.250s 0 1\r\nx\r\nEND\r\n", key);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, line, (size_t)len, &n), REPLY_COMPLETE);
    /* a line that never ends */
    static char endless[REPLY_LINE_MAX + 10];
    memset(endless, 'x', sizeof endless);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, endless, sizeof endless, &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_RETRIEVAL, endless, REPLY_LINE_MAX, &n), REPLY_INCOMPLETE);
    /* malformed is sticky */
    struct reply_parser p;
    reply_parser_init(&p, REPLY_RETRIEVAL);
    ck_assert_int_eq(reply_parser_feed(&p, S("BOGUS\r\n")), REPLY_MALFORMED);
    ck_assert_int_eq(reply_parser_feed(&p, S("END\r\n")), REPLY_MALFORMED);
}
END_TEST

START_TEST(line_frames)
{
    size_t n;
    const char *lines[] = {"STORED\r\n", "NOT_STORED\r\n", "EXISTS\r\n", "NOT_FOUND\r\n",
                           "DELETED\r\n", "TOUCHED\r\n", "OK\r\n", "42\r\n",
                           "VERSION 1.6.18\r\n", "ERROR\r\n",
                           "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        ck_assert_int_eq(frame(REPLY_LINE, lines[i], strlen(lines[i]), &n), REPLY_COMPLETE);
        ck_assert_uint_eq(n, strlen(lines[i]));
    }
    ck_assert_int_eq(frame(REPLY_LINE, S("STORED\r\nSTORED\r\n"), &n), REPLY_COMPLETE);
    ck_assert_uint_eq(n, 8);
    ck_assert_int_eq(frame(REPLY_LINE, S("STORED\r"), &n), REPLY_INCOMPLETE);
    ck_assert_int_eq(frame(REPLY_LINE, S("STORED\n"), &n), REPLY_MALFORMED);
}
END_TEST

START_TEST(stats_frames)
{
    size_t n;
    const char r[] = "STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n";
    ck_assert_int_eq(frame(REPLY_STATS, S(r), &n), REPLY_COMPLETE);
    ck_assert_uint_eq(n, sizeof r - 1);
    check_incremental(REPLY_STATS, S(r));
    ck_assert_int_eq(frame(REPLY_STATS, S("VALUE a 0 1\r\n"), &n), REPLY_MALFORMED);
}
END_TEST

START_TEST(meta_frames)
{
    size_t n;
    ck_assert_int_eq(frame(REPLY_META, S("HD\r\nEN\r\n"), &n), REPLY_COMPLETE);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(frame(REPLY_META, S("EN kmiss Oab\r\n"), &n), REPLY_COMPLETE);
    ck_assert_int_eq(frame(REPLY_META, S("VA 2 ka c5\r\nxy\r\nHD\r\n"), &n), REPLY_COMPLETE);
    ck_assert_uint_eq(n, 16);
    ck_assert_int_eq(frame(REPLY_META, S("VA 2 ka\r\nxy"), &n), REPLY_INCOMPLETE);
    ck_assert_int_eq(frame(REPLY_META, S("VA 2\r\nxyz\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_META, S("VA x\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_META, S("VAX 1\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_META, S("STORED\r\n"), &n), REPLY_MALFORMED);
    ck_assert_int_eq(frame(REPLY_META, S("MN\r\n"), &n), REPLY_COMPLETE);
    ck_assert_int_eq(frame(REPLY_META, S("ME k exp=-1 la=1 cas=2 fetch=no cls=1 size=63\r\n"), &n),
                     REPLY_COMPLETE);
    ck_assert_int_eq(frame(REPLY_META, S("CLIENT_ERROR bad command line format\r\n"), &n),
                     REPLY_COMPLETE);
    check_incremental(REPLY_META, S("VA 5 t-1\r\nhello\r\n"));
}
END_TEST

START_TEST(until_mn_frames)
{
    size_t n;
    /* what memcached sent for "mg miss q k\r\nmn\r\n", "ma miss q\r\nmn\r\n",
     * "set a 0 0 1 noreply\r\nx\r\nmn\r\n" and "mg a k q v\r\nmn\r\n" */
    ck_assert_int_eq(frame(REPLY_UNTIL_MN, S("MN\r\n"), &n), REPLY_COMPLETE);
    ck_assert_int_eq(frame(REPLY_UNTIL_MN, S("NF\r\nMN\r\n"), &n), REPLY_COMPLETE);
    ck_assert_uint_eq(n, 8);
    const char r[] = "VA 1 ka\r\nx\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\nHD\r\n";
    struct reply_parser p;
    reply_parser_init(&p, REPLY_UNTIL_MN);
    ck_assert_int_eq(reply_parser_feed(&p, S(r)), REPLY_COMPLETE);
    ck_assert_uint_eq(p.length, sizeof r - 1 - 4);
    ck_assert(p.error);
    check_incremental(REPLY_UNTIL_MN, S(r));
    /* MN inside a data block is data */
    ck_assert_int_eq(frame(REPLY_UNTIL_MN, S("VA 4\r\nMN\r\n\r\n"), &n), REPLY_INCOMPLETE);
    ck_assert_int_eq(frame(REPLY_UNTIL_MN, S("VA 4\r\nMN\r\n\r\nMN\r\n"), &n), REPLY_COMPLETE);
    ck_assert_uint_eq(n, 16);
    ck_assert_int_eq(frame(REPLY_UNTIL_MN, S("MN extra\r\n"), &n), REPLY_INCOMPLETE);
}
END_TEST

START_TEST(walk_values)
{
    const char r[] = "VALUE a 0 1\r\nx\r\nVALUE bb 7 3 99\r\nabc\r\nEND\r\n";
    size_t off = 0;
    struct reply_value v;
    ck_assert(reply_next_value(S(r), &off, &v));
    ck_assert_uint_eq(v.key_len, 1);
    ck_assert(memcmp(v.key, "a", 1) == 0);
    ck_assert_uint_eq(v.bytes, 1);
    ck_assert(!v.has_cas);
    ck_assert(v.block == r && v.block_len == 16);
    ck_assert(reply_next_value(S(r), &off, &v));
    ck_assert(memcmp(v.key, "bb", 2) == 0);
    ck_assert_uint_eq(v.flags, 7);
    ck_assert(v.has_cas && v.cas == 99);
    ck_assert(memcmp(v.data, "abc", 3) == 0);
    ck_assert(!reply_next_value(S(r), &off, &v));
    ck_assert_uint_eq(off, sizeof r - 1 - 5);
    off = 0;
    ck_assert(!reply_next_value(S("SERVER_ERROR x\r\n"), &off, &v));
    off = 1000;
    ck_assert(!reply_next_value(S(r), &off, &v));
}
END_TEST

/* Random and mutated input: never reads out of bounds (asan), incremental == whole, and a
 * complete reply never claims more bytes than were given. */
START_TEST(hostile_input)
{
    static const char *seeds[] = {"VALUE a 0 1\r\nx\r\nEND\r\n", "VA 3 k\r\nabc\r\nMN\r\n",
                                  "STAT a b\r\nEND\r\n", "HD\r\n", "SERVER_ERROR x\r\n"};
    static const char alphabet[] = "VALUE END\r\n0123 MNVAHD";
    unsigned seed = 12345;
    char buf[64];
    for (int iter = 0; iter < 20000; iter++) {
        const char *s = seeds[iter % 5];
        size_t len = strlen(s);
        memcpy(buf, s, len);
        for (int m = 0; m < 3; m++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            buf[at] = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
        }
        for (int kind = REPLY_RETRIEVAL; kind <= REPLY_UNTIL_MN; kind++) {
            size_t n = 0;
            char *copy = malloc(len); /* exact size so that asan sees any overread */
            memcpy(copy, buf, len);
            if (frame((enum reply_kind)kind, copy, len, &n) == REPLY_COMPLETE) {
                ck_assert_uint_le(n, len);
                if (kind == REPLY_RETRIEVAL) {
                    size_t off = 0;
                    struct reply_value v;
                    int guard = 0;
                    while (reply_next_value(copy, n, &off, &v) && guard++ < 100)
                        ck_assert_uint_le(off, n);
                }
            }
            check_incremental((enum reply_kind)kind, copy, len);
            free(copy);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto_reply");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, retrieval_frames);
    tcase_add_test(tc, retrieval_malformed);
    tcase_add_test(tc, line_frames);
    tcase_add_test(tc, stats_frames);
    tcase_add_test(tc, meta_frames);
    tcase_add_test(tc, until_mn_frames);
    tcase_add_test(tc, walk_values);
    tcase_add_test(tc, hostile_input);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
