/* Unit tests for tests/bench/reply.c: shoal-bench's reading of memcached reply lines. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/reply.h"

static long parse(const char *s, struct reply_line *rl)
{
    return bench_reply_parse_line(s, strlen(s), rl);
}

START_TEST(value_lines)
{
    struct reply_line rl;
    ck_assert_int_eq(parse("VALUE key:12 4294967295 100\r\nxxx", &rl), 29);
    ck_assert_int_eq(rl.kind, REPLY_VALUE);
    ck_assert_uint_eq(rl.key_len, 6);
    ck_assert(memcmp(rl.key, "key:12", 6) == 0);
    ck_assert_uint_eq(rl.flags, 4294967295u);
    ck_assert_uint_eq(rl.bytes, 100);
    ck_assert_int_eq(parse("VALUE k 0 5 12345\r\n", &rl), 19); /* gets: with a cas */
    ck_assert_uint_eq(rl.bytes, 5);
    ck_assert_int_eq(parse("VALUE k 4294967296 5\r\n", &rl), -1); /* flags beyond 32 bits */
    ck_assert_int_eq(parse("VALUE k 0\r\n", &rl), -1);
    ck_assert_int_eq(parse("VALUE k x 5\r\n", &rl), -1);
    ck_assert_int_eq(parse("VALUE k 0 5x\r\n", &rl), -1);
}
END_TEST

START_TEST(status_lines)
{
    struct reply_line rl;
    ck_assert_int_eq(parse("END\r\n", &rl), 5);
    ck_assert_int_eq(rl.kind, REPLY_END);
    ck_assert_int_eq(parse("STORED\r\nEND\r\n", &rl), 8);
    ck_assert_int_eq(rl.kind, REPLY_STORED);
    parse("NOT_STORED\r\n", &rl);
    ck_assert_int_eq(rl.kind, REPLY_NOT_STORED);
    parse("SERVER_ERROR out of memory storing object\r\n", &rl);
    ck_assert_int_eq(rl.kind, REPLY_ERROR);
    parse("CLIENT_ERROR bad data chunk\r\n", &rl);
    ck_assert_int_eq(rl.kind, REPLY_ERROR);
    parse("ERROR\r\n", &rl);
    ck_assert_int_eq(rl.kind, REPLY_ERROR);
    parse("ENDX\r\n", &rl);
    ck_assert_int_eq(rl.kind, REPLY_OTHER);
}
END_TEST

START_TEST(incomplete_and_broken)
{
    struct reply_line rl;
    ck_assert_int_eq(parse("", &rl), 0);
    ck_assert_int_eq(parse("STOR", &rl), 0);
    ck_assert_int_eq(parse("END\r", &rl), 0);
    ck_assert_int_eq(parse("END\n", &rl), -1); /* a bare \n is not memcached's line end */
    ck_assert_int_eq(parse("\r\n", &rl), 2);
    ck_assert_int_eq(rl.kind, REPLY_OTHER);
    static char junk[REPLY_LINE_MAX + 10];
    memset(junk, 'a', sizeof junk - 1);
    ck_assert_int_eq(parse(junk, &rl), -1); /* no line end within the limit */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bench_reply");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, value_lines);
    tcase_add_test(tc, status_lines);
    tcase_add_test(tc, incomplete_and_broken);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
