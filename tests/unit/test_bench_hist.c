/* Unit tests for tests/bench/hist.c, shoal-bench's log-linear latency histogram. */
#include <check.h>
#include <stdlib.h>

#include "tests/bench/hist.h"

static struct hist h, h2, h3; /* large: static */

/* A value's bucket must contain it, and the bucket must be narrow (1/128 of the value). */
START_TEST(buckets_contain_their_values)
{
    uint64_t samples[] = {0, 1, 127, 128, 129, 255, 256, 257, 1000, 4095, 4096, 1000000,
                          123456789, (1ULL << 41) + 12345, HIST_LIMIT - 1};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        uint64_t v = samples[i];
        unsigned b = hist_bucket_of(v);
        ck_assert_uint_lt(b, HIST_BUCKETS);
        ck_assert_uint_le(hist_bucket_low(b), v);
        ck_assert_uint_ge(hist_bucket_high(b), v);
        ck_assert_uint_le(hist_bucket_high(b) - hist_bucket_low(b), v / 128);
    }
    /* Buckets tile the range without gaps or overlap. */
    for (unsigned b = 0; b + 1 < HIST_BUCKETS; b++)
        ck_assert_uint_eq(hist_bucket_high(b) + 1, hist_bucket_low(b + 1));
    /* Small values are exact. */
    for (uint64_t v = 0; v < HIST_SUB_COUNT; v++)
        ck_assert_uint_eq(hist_bucket_low(hist_bucket_of(v)), v);
}
END_TEST

START_TEST(empty_histogram)
{
    hist_reset(&h);
    ck_assert_uint_eq(h.count, 0);
    ck_assert_uint_eq(hist_percentile(&h, 50), 0);
    ck_assert_uint_eq(hist_percentile(&h, 99.9), 0);
    ck_assert(hist_mean(&h) == 0.0);
}
END_TEST

/* 1..10000 once each: percentile p is p*100 to within the bucket width (< 1%). */
START_TEST(uniform_percentiles)
{
    hist_reset(&h);
    for (uint64_t v = 1; v <= 10000; v++)
        hist_record(&h, v);
    ck_assert_uint_eq(h.count, 10000);
    ck_assert_uint_eq(h.min, 1);
    ck_assert_uint_eq(h.max, 10000);
    double ps[] = {10, 50, 90, 99, 99.9};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double want = ps[i] * 100;
        double got = (double)hist_percentile(&h, ps[i]);
        ck_assert_msg(got >= want && got <= want * 1.01, "p%g: got %g want %g", ps[i], got, want);
    }
    ck_assert_uint_eq(hist_percentile(&h, 100), 10000);
    ck_assert_uint_eq(hist_percentile(&h, 0), 1);
    ck_assert(hist_mean(&h) > 5000.4 && hist_mean(&h) < 5000.6);
}
END_TEST

/* 99% fast, 1% slow: p50 and p90 fast, p99.9 slow, p99 at the boundary. */
START_TEST(bimodal_percentiles)
{
    hist_reset(&h);
    for (int i = 0; i < 9900; i++)
        hist_record(&h, 50000);      /* 50 us */
    for (int i = 0; i < 100; i++)
        hist_record(&h, 20000000);   /* 20 ms */
    uint64_t p50 = hist_percentile(&h, 50), p99 = hist_percentile(&h, 99);
    uint64_t p999 = hist_percentile(&h, 99.9);
    ck_assert_uint_ge(p50, 50000);
    ck_assert_uint_le(p50, 50000 + 50000 / 128);
    ck_assert_uint_le(p99, 50000 + 50000 / 128); /* rank 9900 is the last fast one */
    ck_assert_uint_eq(p999, 20000000);           /* clamped to the exact max */
    ck_assert_uint_eq(hist_percentile(&h, 99.01), 20000000);
}
END_TEST

/* Values past the tracked range are clamped into the last bucket; max stays exact. */
START_TEST(bounds)
{
    hist_reset(&h);
    hist_record(&h, 0);
    hist_record(&h, UINT64_MAX);
    hist_record(&h, HIST_LIMIT * 4);
    ck_assert_uint_eq(h.count, 3);
    ck_assert_uint_eq(h.min, 0);
    ck_assert_uint_eq(h.max, UINT64_MAX);
    ck_assert_uint_eq(h.buckets[HIST_BUCKETS - 1], 2);
    ck_assert_uint_eq(h.buckets[0], 1);
    ck_assert_uint_eq(hist_percentile(&h, 10), 0);
    ck_assert_uint_ge(hist_percentile(&h, 90), HIST_LIMIT - 1);
}
END_TEST

/* Merging two halves equals recording everything in one histogram. */
START_TEST(merge_equals_union)
{
    hist_reset(&h);
    hist_reset(&h2);
    hist_reset(&h3);
    for (uint64_t v = 1; v <= 200000; v += 7) {
        hist_record((v / 7) % 2 ? &h : &h2, v * 13);
        hist_record(&h3, v * 13);
    }
    hist_merge(&h, &h2);
    ck_assert_uint_eq(h.count, h3.count);
    ck_assert_uint_eq(h.min, h3.min);
    ck_assert_uint_eq(h.max, h3.max);
    for (unsigned b = 0; b < HIST_BUCKETS; b++)
        ck_assert_uint_eq(h.buckets[b], h3.buckets[b]);
    ck_assert_uint_eq(hist_percentile(&h, 99), hist_percentile(&h3, 99));
    /* Merging an empty histogram changes nothing, and into an empty one copies. */
    hist_reset(&h2);
    hist_merge(&h, &h2);
    ck_assert_uint_eq(h.min, h3.min);
    hist_merge(&h2, &h3);
    ck_assert_uint_eq(h2.min, h3.min);
    ck_assert_uint_eq(h2.count, h3.count);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bench_hist");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, buckets_contain_their_values);
    tcase_add_test(tc, empty_histogram);
    tcase_add_test(tc, uniform_percentiles);
    tcase_add_test(tc, bimodal_percentiles);
    tcase_add_test(tc, bounds);
    tcase_add_test(tc, merge_equals_union);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
