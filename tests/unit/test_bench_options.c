/* Unit tests for tests/bench/options.c: shoal-bench's command line. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/bench/options.h"

static int parse(struct bench_options *o, const char *a1, const char *a2, const char *a3)
{
    char *argv[5] = {"shoal-bench", (char *)a1, (char *)a2, (char *)a3, NULL};
    int argc = 1 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);
    fflush(stderr);
    return bench_options_parse(o, argc, argv);
}

START_TEST(defaults)
{
    struct bench_options o;
    ck_assert_int_eq(parse(&o, NULL, NULL, NULL), 0);
    ck_assert_str_eq(o.host, "127.0.0.1");
    ck_assert_int_eq(o.port, 11211);
    ck_assert_uint_eq(o.threads, 2);
    ck_assert_uint_eq(o.conns_per_thread, 25);
    ck_assert_uint_eq(o.pipeline, 1);
    ck_assert_uint_eq(o.ratio_set, 1);
    ck_assert_uint_eq(o.ratio_get, 10);
    ck_assert_uint_eq(o.key_space, 100000);
    ck_assert_uint_eq(o.value_min, 100);
    ck_assert_uint_eq(o.value_max, 100);
    ck_assert(o.duration == 10);  /* neither -D nor -n: 10 s */
    ck_assert(o.max_time == 10);  /* bounded by the duration */
    ck_assert(o.verify);
    ck_assert(!o.fill);
}
END_TEST

START_TEST(values_and_ranges)
{
    struct bench_options o;
    ck_assert_int_eq(parse(&o, "--ratio=0:1", "-d", "10-3000"), 0);
    ck_assert_uint_eq(o.ratio_set, 0);
    ck_assert_uint_eq(o.ratio_get, 1);
    ck_assert_uint_eq(o.value_min, 10);
    ck_assert_uint_eq(o.value_max, 3000);
    ck_assert_int_eq(parse(&o, "-n", "500", "--key-pattern=zipf"), 0);
    ck_assert_uint_eq(o.requests, 500);
    ck_assert(o.duration == 0);  /* a request count alone: no duration */
    ck_assert(o.max_time == 600);
    ck_assert_int_eq(o.key_pattern, KEYS_ZIPF);
    ck_assert_int_eq(parse(&o, "--no-verify", "--fill", "--json"), 0);
    ck_assert(!o.verify && o.fill && o.json);
}
END_TEST

START_TEST(rejects_nonsense)
{
    struct bench_options o;
    ck_assert_int_eq(parse(&o, "--ratio=0:0", NULL, NULL), -1);
    ck_assert_int_eq(parse(&o, "--ratio=1-10", NULL, NULL), -1);
    ck_assert_int_eq(parse(&o, "-d", "300-10", NULL), -1);
    ck_assert_int_eq(parse(&o, "-d", "0", NULL), -1);
    ck_assert_int_eq(parse(&o, "-p", "70000", NULL), -1);
    ck_assert_int_eq(parse(&o, "-t", "-1", NULL), -1);
    ck_assert_int_eq(parse(&o, "-c", "2x", NULL), -1);
    ck_assert_int_eq(parse(&o, "--key-pattern=gauss", NULL, NULL), -1);
    ck_assert_int_eq(parse(&o, "--key-prefix=a b", NULL, NULL), -1);
    ck_assert_int_eq(parse(&o, "--key-pattern=zipf", "-k", "100000000"), -1);
    ck_assert_int_eq(parse(&o, "stray", NULL, NULL), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bench_options");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, values_and_ranges);
    tcase_add_test(tc, rejects_nonsense);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
