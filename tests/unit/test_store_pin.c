/* Unit tests for zero-copy reads of large values: pinned items (server/store.c); the outbuf's
 * borrowed chunks that carry them are tested in test_outbuf.c. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store.h"
#include "tests/unit/store_test_util.h"

#define MB ((size_t)1 << 20)
#define BIG 20000 /* above STORE_PIN_MIN */

static struct store *make_store(size_t mem)
{
    struct store_config cfg = {
        .mem_limit = mem, .item_size_max = MB, .growth_factor = 1.25, .chunk_min = 48,
        .hashpower = 0, .evict = true, .use_cas = true,
    };
    char err[200];
    struct store *st = store_create(&cfg, err, sizeof err);
    ck_assert_msg(st != NULL, "store_create: %s", err);
    return st;
}

/* set key to n bytes of `fill` */
static bool put(struct store *st, const char *key, char fill, size_t n)
{
    size_t nkey = strlen(key);
    enum store_alloc_err err;
    struct item *it = store_alloc(st, key, nkey, n, &err);
    if (!it)
        return false;
    memset(item_data(it), fill, n);
    link_replacing(st, it);
    return true;
}

/* Finds and pins key; NULL when absent. */
static struct item *pin(struct store *st, const char *key)
{
    struct store_lock lk;
    enum store_miss why;
    struct item *it = find_locked(st, key, &lk, &why);
    if (it) {
        ck_assert(item_pinnable(it));
        store_pin(st, it);
        ck_assert(item_pinned(it));
    }
    store_unlock(st, &lk);
    return it;
}

static bool all_bytes(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return false;
    return true;
}

static void add_used(void *ctx, const struct store_class_stats *cs)
{
    *(uint64_t *)ctx += cs->used_chunks;
}

static uint64_t used_chunks(struct store *st)
{
    uint64_t n = 0;
    store_foreach_class(st, add_used, &n);
    return n;
}

START_TEST(small_values_are_not_pinnable)
{
    struct store *st = make_store(8 * MB);
    ck_assert(put(st, "k", 'x', STORE_PIN_MIN - 1));
    size_t nkey = 1;
    uint32_t hv = store_hash("k", nkey);
    struct store_lock lk;
    store_lock_key(st, hv, &lk);
    enum store_miss why;
    struct item *it = store_find(st, hv, "k", nkey, &why);
    ck_assert_ptr_nonnull(it);
    ck_assert(!item_pinnable(it));
    ck_assert(!item_pinned(it));
    store_unlock(st, &lk);
    store_destroy(st);
}
END_TEST

START_TEST(pinned_value_outlives_replace_and_delete)
{
    struct store *st = make_store(8 * MB);
    ck_assert(put(st, "big", 'a', BIG));
    uint64_t before = used_chunks(st);
    struct item *it = pin(st, "big");
    ck_assert_ptr_nonnull(it);
    ck_assert(put(st, "big", 'b', BIG));
    /* the old item is out of the table but not freed: its bytes are intact */
    ck_assert_uint_eq(used_chunks(st), before + 1);
    ck_assert(all_bytes(item_data(it), BIG, 'a'));
    struct store_stats ss;
    store_get_stats(st, &ss);
    ck_assert_uint_eq(ss.curr_items, 1);
    store_unpin(st, it);
    ck_assert_uint_eq(used_chunks(st), before);

    /* pinned twice, deleted: freed by the second unpin */
    it = pin(st, "big");
    ck_assert_ptr_eq(pin(st, "big"), it);
    uint32_t hv = store_hash("big", 3);
    struct store_lock lk;
    store_lock_key(st, hv, &lk);
    store_unlink(st, hv, it);
    store_unlock(st, &lk);
    ck_assert_uint_eq(used_chunks(st), before);
    ck_assert(all_bytes(item_data(it), BIG, 'b'));
    store_unpin(st, it);
    ck_assert_uint_eq(used_chunks(st), before);
    store_unpin(st, it);
    ck_assert_uint_eq(used_chunks(st), before - 1);
    store_destroy(st);
}
END_TEST

START_TEST(pinned_item_is_neither_evicted_nor_moved)
{
    struct store *st = make_store(2 * MB);
    ck_assert(put(st, "keep", 'k', BIG));
    struct item *it = pin(st, "keep");
    char key[32];
    /* many times what fits, in two sizes so that pages also move between classes */
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "other%d", i);
        ck_assert(put(st, key, 'o', i % 2 ? BIG : 3 * BIG));
    }
    ck_assert(all_bytes(item_data(it), BIG, 'k'));
    struct item *again = pin(st, "keep");
    ck_assert_ptr_eq(again, it);
    store_unpin(st, it);
    store_unpin(st, it);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "more%d", i);
        ck_assert(put(st, key, 'o', BIG));
    }
    ck_assert_ptr_null(pin(st, "keep")); /* unpinned, it is evicted like any other */
    store_destroy(st);
}
END_TEST

/* Readers pin and check a value that writers keep replacing: a pinned value never changes
 * under a reader, and every item is freed exactly once (checked by the chunk count). */
struct race {
    struct store *st;
    atomic_int bad;
};

static void *race_writer(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 300; i++)
        put(r->st, i % 2 ? "hot1" : "hot2", (char)('a' + i % 26), BIG + (size_t)(i % 7) * 1000);
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 300; i++) {
        struct item *it = pin(r->st, i % 2 ? "hot1" : "hot2");
        if (!it)
            continue;
        const char *v = item_data(it);
        if (!all_bytes(v, item_nbytes(it), v[0]))
            atomic_fetch_add(&r->bad, 1);
        store_unpin(r->st, it);
    }
    return NULL;
}

START_TEST(pins_race_with_replacements)
{
    struct race r = {.st = make_store(4 * MB)};
    put(r.st, "hot1", 'z', BIG);
    put(r.st, "hot2", 'z', BIG);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, i < 2 ? race_writer : race_reader, &r);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&r.bad), 0);
    ck_assert_uint_eq(used_chunks(r.st), 2);
    store_destroy(r.st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_pin");
    TCase *tc = tcase_create("pin");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, small_values_are_not_pinnable);
    tcase_add_test(tc, pinned_value_outlives_replace_and_delete);
    tcase_add_test(tc, pinned_item_is_neither_evicted_nor_moved);
    tcase_add_test(tc, pins_race_with_replacements);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
