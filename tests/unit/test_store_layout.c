/* Unit tests for the compact item layout (server/store.c, server/STORAGE.md): optional fields
 * (wide length, pin word, CAS, flags) at every boundary, the narrow CAS, and the slab classes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store.h"
#include "tests/unit/store_test_util.h"

#define MB ((size_t)1 << 20)

static struct store *make_store(bool use_cas)
{
    struct store_config cfg = {
        .mem_limit = 64 * MB, .item_size_max = 2 * MB, .growth_factor = 1.25, .chunk_min = 48,
        .hashpower = 0, .evict = true, .use_cas = use_cas,
    };
    char err[200];
    struct store *st = store_create(&cfg, err, sizeof err);
    ck_assert_msg(st != NULL, "store_create: %s", err);
    return st;
}

/* Stores key -> n bytes (a pattern), flags, exptime; reads everything back through the
 * accessors, under the lock. */
static void round_trip(struct store *st, bool use_cas, const char *key, size_t n, uint32_t flags)
{
    size_t nkey = strlen(key);
    enum store_alloc_err err;
    struct item *it = store_alloc_flags(st, key, nkey, flags, n, &err);
    ck_assert_msg(it != NULL, "alloc %zu bytes", n);
    char *v = item_data(it);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)('a' + (i * 7 + n) % 26);
    item_set_exptime(it, 12345);
    link_replacing(st, it);
    struct store_lock lk;
    enum store_miss why;
    it = find_locked(st, key, &lk, &why);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_eq(item_nbytes(it), n);
    ck_assert_uint_eq(item_nkey(it), nkey);
    ck_assert(memcmp(item_key(it), key, nkey) == 0);
    ck_assert_uint_eq(item_flags(it), flags);
    ck_assert_uint_eq(item_exptime(it), 12345);
    ck_assert_int_eq(item_pinnable(it), n >= STORE_PIN_MIN);
    if (use_cas)
        ck_assert_uint_ne(item_cas(it), 0);
    else
        ck_assert_uint_eq(item_cas(it), 0);
    item_set_bits(it, ITEM_STALE | ITEM_KEY_BINARY);
    ck_assert_uint_eq(item_bits(it), ITEM_STALE | ITEM_KEY_BINARY);
    store_touch_access(st, it);
    ck_assert_uint_eq(item_bits(it), ITEM_STALE | ITEM_KEY_BINARY | ITEM_FETCHED);
    /* setting bits and CAS leaves the rest alone */
    ck_assert_uint_eq(item_flags(it), flags);
    ck_assert_uint_eq(item_nbytes(it), n);
    v = item_data(it);
    size_t bad = 0; /* counted, then asserted once: Check logs every assertion */
    for (size_t i = 0; i < n; i++)
        bad += v[i] != (char)('a' + (i * 7 + n) % 26);
    ck_assert_uint_eq(bad, 0);
    store_unlock(st, &lk);
}

START_TEST(fields_at_every_boundary)
{
    static const size_t sizes[] = {0, 1, 100, 254, 255, 256, 1000, STORE_PIN_MIN - 1,
                                   STORE_PIN_MIN, STORE_PIN_MIN + 1, 100000, 1500000};
    static const uint32_t flags[] = {0, 1, 0xffffffffu};
    for (int cas = 0; cas < 2; cas++) {
        struct store *st = make_store(cas);
        char key[64];
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (size_t f = 0; f < 3; f++) {
                snprintf(key, sizeof key, "k%zu-%zu", i, f);
                round_trip(st, cas, key, sizes[i], flags[f]);
                /* again, replacing: the old item is freed by its own layout */
                round_trip(st, cas, key, sizes[i], flags[f]);
            }
        store_destroy(st);
    }
}
END_TEST

START_TEST(narrow_cas_keeps_48_bits_and_saturates)
{
    struct store *st = make_store(true);
    enum store_alloc_err err;
    struct item *it = store_alloc(st, "k", 1, 3, &err);
    ck_assert_ptr_nonnull(it);
    item_set_cas(it, 0x0000123456789abcULL);
    ck_assert_uint_eq(item_cas(it), 0x0000123456789abcULL);
    item_set_cas(it, ((uint64_t)1 << 48) - 2);
    ck_assert_uint_eq(item_cas(it), ((uint64_t)1 << 48) - 2);
    /* a client's larger CAS still compares unequal to, and greater than, any stored one */
    item_set_cas(it, 0xffffffffffffffffULL);
    ck_assert_uint_eq(item_cas(it), ((uint64_t)1 << 48) - 1);
    item_set_cas(it, (uint64_t)1 << 48);
    ck_assert_uint_eq(item_cas(it), ((uint64_t)1 << 48) - 1);
    store_free(st, it);
    store_destroy(st);
}
END_TEST

static void check_steps(void *ctx, const struct store_class_stats *cs)
{
    uint64_t *prev = ctx;
    ck_assert_uint_eq(cs->chunk_size % 4, 0);
    if (*prev != 0 && cs->chunks_per_page > 1) {
        /* neighbours differ by at most 1/16 of the power of two below (or 4 bytes) */
        uint64_t pow2 = 1;
        while (pow2 <= *prev / 2)
            pow2 *= 2;
        uint64_t step = pow2 / 16 > 4 ? pow2 / 16 : 4;
        ck_assert_msg(cs->chunk_size - *prev <= step, "%llu after %llu",
                      (unsigned long long)cs->chunk_size, (unsigned long long)*prev);
    }
    *prev = cs->chunk_size;
}

START_TEST(classes_are_fine_grained)
{
    struct store *st = make_store(true);
    char key[32];
    /* one item in every class up to a page, so that each class shows in the stats */
    for (size_t n = 0, i = 0; n < 900000; n += n / 40 + 1, i++) {
        snprintf(key, sizeof key, "c%zu", i);
        round_trip(st, true, key, n, 0);
    }
    uint64_t prev = 0;
    store_foreach_class(st, check_steps, &prev);
    /* the issue's item: 14-byte key, 100-byte value, CAS on, flags 0 -> a 136-byte chunk */
    store_destroy(st);
}
END_TEST

static void find_chunk(void *ctx, const struct store_class_stats *cs)
{
    uint64_t *chunk = ctx;
    if (cs->number > 0)
        *chunk = cs->chunk_size;
}

START_TEST(issue_item_takes_136_bytes)
{
    struct store *st = make_store(true);
    round_trip(st, true, "key:0000000001", 100, 0);
    uint64_t chunk = 0;
    store_foreach_class(st, find_chunk, &chunk);
    ck_assert_uint_eq(chunk, 136); /* 16 header + 6 CAS + 14 key + 100 value */
    store_destroy(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_layout");
    TCase *tc = tcase_create("layout");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fields_at_every_boundary);
    tcase_add_test(tc, narrow_cas_keeps_48_bits_and_saturates);
    tcase_add_test(tc, classes_are_fine_grained);
    tcase_add_test(tc, issue_item_takes_136_bytes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
