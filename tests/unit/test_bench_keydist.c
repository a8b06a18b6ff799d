/* Unit tests for tests/bench/keydist.c (key patterns) and tests/bench/valuegen.c (verifiable
 * values), the pure parts of shoal-bench. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/keydist.h"
#include "tests/bench/valuegen.h"

START_TEST(sequential_covers_every_key_once)
{
    enum { N = 1000 };
    static unsigned seen[N];
    memset(seen, 0, sizeof seen);
    struct key_picker p;
    keydist_init(&p, KEYS_SEQUENTIAL, N, NULL, 7, 250);
    ck_assert_uint_eq(keydist_next(&p), 250);
    seen[250]++;
    for (int i = 1; i < N; i++)
        seen[keydist_next(&p)]++;
    for (int k = 0; k < N; k++)
        ck_assert_uint_eq(seen[k], 1);
    ck_assert_uint_eq(keydist_next(&p), 250); /* wrapped around */
}
END_TEST

START_TEST(uniform_covers_and_stays_in_range)
{
    enum { N = 500, DRAWS = 100000 };
    static unsigned seen[N];
    memset(seen, 0, sizeof seen);
    struct key_picker p;
    keydist_init(&p, KEYS_UNIFORM, N, NULL, 42, 0);
    for (int i = 0; i < DRAWS; i++) {
        uint64_t k = keydist_next(&p);
        ck_assert_uint_lt(k, N);
        seen[k]++;
    }
    /* Expected 200 per key; for a fixed seed every key appears and none is wildly off. */
    for (int k = 0; k < N; k++) {
        ck_assert_uint_gt(seen[k], 100);
        ck_assert_uint_lt(seen[k], 300);
    }
}
END_TEST

START_TEST(same_seed_same_sequence)
{
    struct key_picker a, b;
    keydist_init(&a, KEYS_UNIFORM, 1000000, NULL, 99, 0);
    keydist_init(&b, KEYS_UNIFORM, 1000000, NULL, 99, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(keydist_next(&a), keydist_next(&b));
}
END_TEST

/* Zipf with s = 1 over 1000 keys: P(key k) = 1/((k+1) * H_1000), H_1000 = 7.4855. */
START_TEST(zipf_frequencies)
{
    enum { N = 1000, DRAWS = 1000000 };
    static unsigned seen[N];
    memset(seen, 0, sizeof seen);
    struct zipf_table z;
    ck_assert_int_eq(keydist_zipf_build(&z, N, 1.0), 0);
    ck_assert(z.cdf[N - 1] == 1.0);
    struct key_picker p;
    keydist_init(&p, KEYS_ZIPF, N, &z, 1234, 0);
    for (int i = 0; i < DRAWS; i++) {
        uint64_t k = keydist_next(&p);
        ck_assert_uint_lt(k, N);
        seen[k]++;
    }
    double harmonic = 0;
    for (int k = 1; k <= N; k++)
        harmonic += 1.0 / k;
    int ranks[] = {0, 1, 2, 9, 99};
    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++) {
        int k = ranks[i];
        double want = DRAWS / ((k + 1) * harmonic);
        double got = seen[k];
        ck_assert_msg(fabs(got - want) < want * 0.05 + 30, "key %d: %g draws, expected %g", k,
                      got, want);
    }
    /* Key 0 is about twice as frequent as key 1, and the top 10% of keys take most draws. */
    ck_assert(seen[0] > 1.8 * seen[1] && seen[0] < 2.2 * seen[1]);
    unsigned top = 0;
    for (int k = 0; k < N / 10; k++)
        top += seen[k];
    ck_assert_uint_gt(top, DRAWS * 0.65);
    keydist_zipf_free(&z);
    ck_assert_ptr_null(z.cdf);
}
END_TEST

START_TEST(zipf_exponent_zero_is_uniform)
{
    struct zipf_table z;
    ck_assert_int_eq(keydist_zipf_build(&z, 4, 0.0), 0);
    for (int k = 0; k < 4; k++)
        ck_assert(fabs(z.cdf[k] - (k + 1) / 4.0) < 1e-12);
    keydist_zipf_free(&z);
    ck_assert_int_eq(keydist_zipf_build(&z, 0, 1.0), -1);
}
END_TEST

START_TEST(pattern_names)
{
    enum key_pattern p;
    ck_assert_int_eq(keydist_parse("zipf", &p), 0);
    ck_assert_int_eq(p, KEYS_ZIPF);
    ck_assert_int_eq(keydist_parse("sequential", &p), 0);
    ck_assert_str_eq(keydist_name(p), "sequential");
    ck_assert_int_eq(keydist_parse("gaussian", &p), -1);
}
END_TEST

START_TEST(values_verify_only_when_right)
{
    struct value_pool pool;
    ck_assert_int_eq(valuegen_pool_init(&pool, 1000), 0);
    const unsigned char *v = valuegen_value(&pool, 17, 5, 100);
    unsigned char copy[1000];
    memcpy(copy, v, 100);
    ck_assert(valuegen_check(&pool, 17, 5, copy, 100));
    ck_assert(!valuegen_check(&pool, 18, 5, copy, 100));  /* another key's value */
    ck_assert(!valuegen_check(&pool, 17, 6, copy, 100));  /* another version */
    ck_assert(!valuegen_check(&pool, 17, 5, copy, 99));   /* truncated */
    ck_assert(!valuegen_check(&pool, 17, 0, copy, 100));  /* version 0: never written */
    copy[50] ^= 1;
    ck_assert(!valuegen_check(&pool, 17, 5, copy, 100));  /* one flipped bit */
    ck_assert(!valuegen_check(&pool, 17, 5, copy, 1001)); /* longer than anything written */
    /* Same inputs, same bytes, in another pool too: runs can verify each other's values. */
    struct value_pool other;
    ck_assert_int_eq(valuegen_pool_init(&other, 200), 0);
    ck_assert(memcmp(valuegen_value(&other, 17, 5, 100), v, 100) == 0);
    valuegen_pool_free(&other);
    valuegen_pool_free(&pool);
}
END_TEST

START_TEST(keys_are_prefix_and_number)
{
    char key[VALUEGEN_KEY_MAX];
    size_t n = valuegen_key(key, "key:", 4, 1234567);
    ck_assert_uint_eq(n, 11);
    ck_assert(memcmp(key, "key:1234567", 11) == 0);
    n = valuegen_key(key, "", 0, 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(key[0], '0');
    char digits[20];
    ck_assert_uint_eq(valuegen_utoa(digits, UINT64_MAX), 20);
    ck_assert(memcmp(digits, "18446744073709551615", 20) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bench_keydist");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sequential_covers_every_key_once);
    tcase_add_test(tc, uniform_covers_and_stays_in_range);
    tcase_add_test(tc, same_seed_same_sequence);
    tcase_add_test(tc, zipf_frequencies);
    tcase_add_test(tc, zipf_exponent_zero_is_uniform);
    tcase_add_test(tc, pattern_names);
    tcase_add_test(tc, values_verify_only_when_right);
    tcase_add_test(tc, keys_are_prefix_and_number);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
