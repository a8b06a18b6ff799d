/* Unit tests for the storage engine (server/store.c, server/slab.c). All deterministic: time is
 * set by hand with clock_set_for_test. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store.h"
#include "tests/unit/store_test_util.h"

#define MB ((size_t)1 << 20)

static struct store *make_store(size_t mem, size_t item_max, bool evict, bool use_cas)
{
    struct store_config cfg = {
        .mem_limit = mem,
        .item_size_max = item_max,
        .growth_factor = 1.25,
        .chunk_min = 48,
        .hashpower = 0,
        .evict = evict,
        .use_cas = use_cas,
    };
    char err[200];
    struct store *st = store_create(&cfg, err, sizeof err);
    ck_assert_msg(st != NULL, "store_create: %s", err);
    return st;
}

/* set: replaces whatever is there. Returns the allocation result. */
static enum store_alloc_err put_flags(struct store *st, const char *key, const void *val,
                                      size_t nval, rel_time_t exptime, uint32_t flags)
{
    size_t nkey = strlen(key);
    enum store_alloc_err err;
    struct item *it = store_alloc_flags(st, key, nkey, flags, nval, &err);
    if (!it)
        return err;
    memcpy(item_data(it), val, nval);
    item_set_exptime(it, exptime);
    link_replacing(st, it);
    return STORE_ALLOC_OK;
}

static enum store_alloc_err put(struct store *st, const char *key, const char *val,
                                rel_time_t exptime)
{
    return put_flags(st, key, val, strlen(val), exptime, 0);
}

/* get: copies the value into buf (NUL-terminated), returns why it missed (STORE_HIT on a hit). */
static enum store_miss get(struct store *st, const char *key, char *buf, size_t buflen)
{
    struct store_lock lk;
    enum store_miss why;
    struct item *it = find_locked(st, key, &lk, &why);
    if (it) {
        store_touch_access(st, it);
        size_t n = item_nbytes(it) < buflen - 1 ? item_nbytes(it) : buflen - 1;
        memcpy(buf, item_data(it), n);
        buf[n] = '\0';
    }
    store_unlock(st, &lk);
    return why;
}

static bool del(struct store *st, const char *key)
{
    size_t nkey = strlen(key);
    uint32_t hv = store_hash(key, nkey);
    struct store_lock lk;
    store_lock_key(st, hv, &lk);
    enum store_miss why;
    struct item *it = store_find(st, hv, key, nkey, &why);
    if (it)
        store_unlink(st, hv, it);
    store_unlock(st, &lk);
    return it != NULL;
}

static struct store_stats stats_of(struct store *st)
{
    struct store_stats s;
    store_get_stats(st, &s);
    return s;
}

START_TEST(set_get_replace_delete)
{
    clock_set_for_test(100);
    struct store *st = make_store(64 * MB, MB, true, true);
    char buf[64];
    ck_assert_int_eq(get(st, "a", buf, sizeof buf), STORE_MISS_ABSENT);
    ck_assert_int_eq(put(st, "a", "one", 0), STORE_ALLOC_OK);
    ck_assert_int_eq(get(st, "a", buf, sizeof buf), STORE_HIT);
    ck_assert_str_eq(buf, "one");
    ck_assert_int_eq(put(st, "a", "two!", 0), STORE_ALLOC_OK);
    ck_assert_int_eq(get(st, "a", buf, sizeof buf), STORE_HIT);
    ck_assert_str_eq(buf, "two!");
    ck_assert_int_eq(put_flags(st, "b", "x", 1, 0, 0xdeadbeef), STORE_ALLOC_OK);
    struct store_stats s = stats_of(st);
    ck_assert_uint_eq(s.curr_items, 2);
    ck_assert_uint_eq(s.total_items, 3);
    ck_assert(del(st, "a"));
    ck_assert(!del(st, "a"));
    ck_assert_int_eq(get(st, "a", buf, sizeof buf), STORE_MISS_ABSENT);

    uint32_t hv = store_hash("b", 1);
    struct store_lock lk;
    store_lock_key(st, hv, &lk);
    enum store_miss why;
    struct item *it = store_find(st, hv, "b", 1, &why);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_eq(item_flags(it), 0xdeadbeef);
    ck_assert_uint_eq(item_nkey(it), 1);
    ck_assert_int_eq(item_key(it)[0], 'b');
    ck_assert_uint_eq(item_bits(it), 0);
    store_touch_access(st, it);
    ck_assert_uint_eq(item_bits(it), ITEM_FETCHED);
    item_set_bits(it, ITEM_FETCHED | ITEM_STALE);
    ck_assert_uint_eq(item_bits(it), ITEM_FETCHED | ITEM_STALE);
    ck_assert_uint_ne(item_cas(it), 0);
    item_set_cas(it, 12345);
    ck_assert_uint_eq(item_cas(it), 12345);
    store_unlock(st, &lk);
    s = stats_of(st);
    ck_assert_uint_eq(s.curr_items, 1);
    /* header, narrow CAS, flags (non-zero), key, value */
    ck_assert_uint_eq(s.bytes, 16 + 6 + 4 + 1 + 1);
    store_destroy(st);
}
END_TEST

START_TEST(atime_follows_memcached)
{
    clock_set_for_test(100);
    struct store *st = make_store(8 * MB, MB, true, true);
    put(st, "k", "v", 0);
    clock_set_for_test(110);
    char buf[8];
    get(st, "k", buf, sizeof buf); /* first fetch: only marks fetched */
    uint32_t hv = store_hash("k", 1);
    struct store_lock lk;
    enum store_miss why;
    store_lock_key(st, hv, &lk);
    ck_assert_uint_eq(item_atime(store_find(st, hv, "k", 1, &why)), 100);
    store_unlock(st, &lk);
    clock_set_for_test(120);
    get(st, "k", buf, sizeof buf);
    store_lock_key(st, hv, &lk);
    ck_assert_uint_eq(item_atime(store_find(st, hv, "k", 1, &why)), 120);
    store_unlock(st, &lk);
    store_destroy(st);
}
END_TEST

START_TEST(expiry)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, MB, true, true);
    char buf[16];
    put(st, "e", "v", 1005);
    put(st, "never", "v", 0);
    clock_set_for_test(1004);
    ck_assert_int_eq(get(st, "e", buf, sizeof buf), STORE_HIT);
    clock_set_for_test(1005);
    ck_assert_int_eq(get(st, "e", buf, sizeof buf), STORE_MISS_EXPIRED);
    ck_assert_int_eq(get(st, "e", buf, sizeof buf), STORE_MISS_ABSENT);
    clock_set_for_test(1000000);
    ck_assert_int_eq(get(st, "never", buf, sizeof buf), STORE_HIT);
    ck_assert_uint_eq(stats_of(st).curr_items, 1);
    store_destroy(st);
}
END_TEST

START_TEST(flush_now_with_cas)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, MB, true, true);
    char buf[16];
    put(st, "old", "v", 0);
    store_flush(st, clock_now());
    ck_assert_int_eq(get(st, "old", buf, sizeof buf), STORE_MISS_FLUSHED);
    put(st, "new", "v", 0); /* same second, after the flush: kept (by CAS) */
    ck_assert_int_eq(get(st, "new", buf, sizeof buf), STORE_HIT);
    clock_set_for_test(1001);
    ck_assert_int_eq(get(st, "new", buf, sizeof buf), STORE_HIT);
    store_destroy(st);
}
END_TEST

/* An item given its CAS (meta E: a replica's copy) after an immediate flush is kept, though its
 * CAS is older than the flush's: its CAS says nothing about when it was stored. */
START_TEST(flush_keeps_a_given_cas_stored_after_it)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, MB, true, true);
    char buf[16];
    put(st, "a", "v", 0);
    put(st, "b", "v", 0);
    store_flush(st, clock_now());
    ck_assert_int_eq(get(st, "a", buf, sizeof buf), STORE_MISS_FLUSHED);
    for (rel_time_t t = 1000; t <= 1001; t++) {
        clock_set_for_test(t);
        const char *key = t == 1000 ? "copy0" : "copy1";
        put(st, key, "c", 0);
        struct store_lock lk;
        enum store_miss why;
        struct item *it = find_locked(st, key, &lk, &why);
        ck_assert_ptr_nonnull(it);
        item_give_cas(it, 1); /* older than every CAS here */
        store_unlock(st, &lk);
        ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
    }
    store_destroy(st);
}
END_TEST

START_TEST(flush_now_without_cas)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, MB, true, false);
    char buf[16];
    put(st, "old", "v", 0);
    store_flush(st, clock_now());
    ck_assert_int_eq(get(st, "old", buf, sizeof buf), STORE_MISS_FLUSHED);
    /* memcached -C: oldest_live = now, so what is stored in the same second is flushed too. */
    put(st, "same_second", "v", 0);
    ck_assert_int_eq(get(st, "same_second", buf, sizeof buf), STORE_MISS_FLUSHED);
    clock_set_for_test(1001);
    put(st, "later", "v", 0);
    ck_assert_int_eq(get(st, "later", buf, sizeof buf), STORE_HIT);
    store_destroy(st);
}
END_TEST

START_TEST(flush_delayed)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, MB, true, true);
    char buf[16];
    put(st, "a", "v", 0);
    store_flush(st, 1010); /* flush_all 10 */
    clock_set_for_test(1005);
    ck_assert_int_eq(get(st, "a", buf, sizeof buf), STORE_HIT);
    put(st, "b", "v", 0);
    clock_set_for_test(1008);
    ck_assert_int_eq(get(st, "b", buf, sizeof buf), STORE_HIT);
    clock_set_for_test(1009); /* oldest_live = when - 1 with CAS on */
    ck_assert_int_eq(get(st, "a", buf, sizeof buf), STORE_MISS_FLUSHED);
    ck_assert_int_eq(get(st, "b", buf, sizeof buf), STORE_MISS_FLUSHED);
    clock_set_for_test(1010);
    put(st, "c", "v", 0);
    ck_assert_int_eq(get(st, "c", buf, sizeof buf), STORE_HIT);
    store_destroy(st);
}
END_TEST

START_TEST(background_reclaim)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, MB, true, true);
    char key[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "key%d", i);
        put(st, key, "value", i < 200 ? 1010 : 0);
    }
    clock_set_for_test(1011);
    for (int i = 0; i < 4; i++) /* 4 slices of 16384 buckets cover the 2^16 table */
        store_maintain(st);
    struct store_stats s = stats_of(st);
    ck_assert_uint_eq(s.crawler_reclaimed, 200);
    ck_assert_uint_eq(s.expired_unfetched, 200);
    ck_assert_uint_eq(s.curr_items, 100);
    store_flush(st, clock_now());
    clock_set_for_test(1012);
    for (int i = 0; i < 5; i++)
        store_maintain(st);
    ck_assert_uint_eq(stats_of(st).curr_items, 0);
    store_destroy(st);
}
END_TEST

START_TEST(eviction_keeps_recently_read)
{
    clock_set_for_test(1000);
    struct store *st = make_store(2 * MB, MB, true, true);
    char key[32], val[1000], buf[1100];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    const int total = 6000, hot = 20;
    for (int i = 0; i < total; i++) {
        snprintf(key, sizeof key, "key%d", i);
        ck_assert_int_eq(put(st, key, val, 0), STORE_ALLOC_OK);
        for (int h = 0; h < hot && h <= i; h++) {
            snprintf(key, sizeof key, "key%d", h);
            ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
        }
    }
    struct store_stats s = stats_of(st);
    ck_assert_uint_gt(s.evictions, 0);
    ck_assert_uint_le(s.total_malloced, 2 * MB);
    /* The oldest never-read items went first; the newest are still there. */
    for (int i = hot; i < hot + 100; i++) {
        snprintf(key, sizeof key, "key%d", i);
        ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_MISS_ABSENT);
    }
    for (int i = total - 100; i < total; i++) {
        snprintf(key, sizeof key, "key%d", i);
        ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
    }
    ck_assert_uint_eq(s.evicted_unfetched, s.evictions);
    store_destroy(st);
}
END_TEST

START_TEST(no_evict_refuses)
{
    clock_set_for_test(1000);
    struct store *st = make_store(2 * MB, MB, false, true);
    char key[32], val[1000];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    int stored = 0;
    enum store_alloc_err err = STORE_ALLOC_OK;
    for (int i = 0; i < 10000 && err == STORE_ALLOC_OK; i++) {
        snprintf(key, sizeof key, "key%d", i);
        err = put(st, key, val, i < 100 ? 1010 : 0);
        if (err == STORE_ALLOC_OK)
            stored++;
    }
    ck_assert_int_eq(err, STORE_ALLOC_NO_MEMORY);
    ck_assert_int_gt(stored, 1000);
    struct store_stats s = stats_of(st);
    ck_assert_uint_eq(s.evictions, 0);
    ck_assert_uint_eq(s.curr_items, (uint64_t)stored);
    /* Another class cannot take a page either (none is free of live items). */
    ck_assert_int_eq(put(st, "small", "x", 0), STORE_ALLOC_NO_MEMORY);
    /* Expired items are still reclaimed. */
    clock_set_for_test(1011);
    ck_assert_int_eq(put(st, "again", val, 0), STORE_ALLOC_OK);
    ck_assert_uint_eq(stats_of(st).reclaimed, 1);
    ck_assert_uint_eq(stats_of(st).evictions, 0);
    /* Once a page's worth of chunks is free, its items move and the page goes to the new
     * class, still without evicting. */
    for (int i = 100; i < 1300; i++) {
        snprintf(key, sizeof key, "key%d", i);
        del(st, key);
    }
    ck_assert_int_eq(put(st, "small", "x", 0), STORE_ALLOC_OK);
    ck_assert_uint_eq(stats_of(st).evictions, 0);
    ck_assert_uint_eq(stats_of(st).slabs_moved, 1);
    for (int i = 1300; i < stored; i++) {
        snprintf(key, sizeof key, "key%d", i);
        char buf[1100];
        ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
    }
    store_destroy(st);
}
END_TEST

START_TEST(memory_never_above_limit)
{
    clock_set_for_test(1000);
    const size_t limit = 8 * MB;
    struct store *st = make_store(limit, 2 * MB, true, true);
    static char val[1500000];
    memset(val, 'x', sizeof val);
    char key[32];
    unsigned seed = 12345;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 8) % 5000;
        if (i % 500 == 0)
            n = 200000 + (seed >> 4) % 1300000; /* some spans and page-sized items */
        snprintf(key, sizeof key, "k%d", (int)((seed >> 3) % 3000));
        ck_assert_int_eq(put_flags(st, key, val, n, 0, 0), STORE_ALLOC_OK);
        if (i % 1000 == 0) {
            struct store_stats s = stats_of(st);
            ck_assert_uint_le(s.total_malloced, limit);
            ck_assert_uint_le(s.bytes, limit);
        }
    }
    struct store_stats s = stats_of(st);
    ck_assert_uint_le(s.total_malloced, limit);
    ck_assert_uint_gt(s.evictions, 0);
    store_destroy(st);
}
END_TEST

START_TEST(cas_unique)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, MB, true, true);
    uint64_t last = 0;
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i % 10);
        put(st, key, "v", 0);
        uint32_t hv = store_hash(key, strlen(key));
        struct store_lock lk;
        enum store_miss why;
        store_lock_key(st, hv, &lk);
        struct item *it = store_find(st, hv, key, strlen(key), &why);
        uint64_t cas = item_cas(it);
        ck_assert_uint_gt(cas, last);
        last = cas;
        store_new_cas(st, it);
        ck_assert_uint_gt(item_cas(it), last);
        last = item_cas(it);
        store_unlock(st, &lk);
    }
    store_destroy(st);

    st = make_store(8 * MB, MB, true, false);
    put(st, "k", "v", 0);
    uint32_t hv = store_hash("k", 1);
    struct store_lock lk;
    enum store_miss why;
    store_lock_key(st, hv, &lk);
    struct item *it = store_find(st, hv, "k", 1, &why);
    ck_assert_uint_eq(item_cas(it), 0);
    item_set_cas(it, 99);
    ck_assert_uint_eq(item_cas(it), 0);
    store_unlock(st, &lk);
    ck_assert_uint_eq(stats_of(st).bytes, 16 + 1 + 1); /* no CAS field with -C */
    store_destroy(st);
}
END_TEST

static void sum_classes(void *ctx, const struct store_class_stats *cs)
{
    uint64_t *acc = ctx;
    acc[0] += cs->used_chunks;
    acc[1] += cs->total_pages;
    acc[2] += cs->number;
    acc[3]++;
    ck_assert_uint_eq(cs->total_chunks, cs->used_chunks + cs->free_chunks);
}

START_TEST(pages_move_between_classes)
{
    clock_set_for_test(1000);
    struct store *st = make_store(3 * MB, MB, true, true); /* 48 pages of 64 KB */
    char key[32], buf[200];
    static char big[30000];
    memset(big, 'b', sizeof big);
    for (int i = 0; i < 60000; i++) {
        snprintf(key, sizeof key, "small%d", i);
        ck_assert_int_eq(put(st, key, "tiny value", 0), STORE_ALLOC_OK);
    }
    struct store_stats s = stats_of(st);
    ck_assert_uint_gt(s.evictions, 0);
    ck_assert_uint_eq(s.total_malloced, 3 * MB);
    /* All memory belongs to the small class now; a new class must still be able to store. */
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "big%d", i);
        ck_assert_int_eq(put_flags(st, key, big, sizeof big, 0, 0), STORE_ALLOC_OK);
        ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
        ck_assert_int_eq(buf[0], 'b');
    }
    s = stats_of(st);
    ck_assert_uint_gt(s.slabs_moved, 0);
    ck_assert_uint_gt(s.hash_power_level, 10); /* the table grew under the readers */
    ck_assert_uint_le(s.total_malloced, 3 * MB);
    /* And back: small items after the big ones took pages. */
    ck_assert_int_eq(put(st, "small-again", "v", 0), STORE_ALLOC_OK);
    uint64_t acc[4] = {0};
    store_foreach_class(st, sum_classes, acc);
    s = stats_of(st);
    ck_assert_uint_eq(acc[0], s.curr_items);
    ck_assert_uint_eq(acc[2], s.curr_items);
    ck_assert_uint_le(acc[1], 48);
    ck_assert_uint_ge(acc[3], 2);
    store_destroy(st);
}
END_TEST

/* A small -m still has a page for each class in use (pages shrink to 64 KB): each class keeps
 * its most recent items, as memcached does. */
START_TEST(small_memory_keeps_each_class)
{
    clock_set_for_test(1000);
    struct store *st = make_store(2 * MB, MB, true, true);
    static char val[10000];
    memset(val, 'v', sizeof val);
    static const struct {
        int count;
        size_t size;
    } sets[] = {{3000, 1000}, {300, 10000}, {3000, 100}};
    char key[32], buf[16];
    for (int n = 0; n < 3; n++)
        for (int i = 0; i < sets[n].count; i++) {
            snprintf(key, sizeof key, "k%d_%d", n, i);
            ck_assert_int_eq(put_flags(st, key, val, sets[n].size, 0, 0), STORE_ALLOC_OK);
        }
    for (int n = 0; n < 3; n++) {
        snprintf(key, sizeof key, "k%d_%d", n, sets[n].count - 1);
        ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
    }
    ck_assert_uint_gt(stats_of(st).evictions, 0);
    ck_assert_uint_le(stats_of(st).total_malloced, 2 * MB);
    store_destroy(st);
}
END_TEST

struct class_pages {
    uint64_t chunk_min, chunk_max, pages;
};

static void pages_in_range(void *ctx, const struct store_class_stats *cs)
{
    struct class_pages *cp = ctx;
    if (cs->chunk_size >= cp->chunk_min && cs->chunk_size <= cp->chunk_max)
        cp->pages += cs->total_pages;
}

START_TEST(pages_follow_value_sizes)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, MB, true, true);
    char key[32];
    static char val[2000];
    memset(val, 'w', sizeof val);
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof key, "small%d", i);
        ck_assert_int_eq(put(st, key, "0123456789", 0), STORE_ALLOC_OK);
    }
    ck_assert_uint_gt(stats_of(st).evictions, 0);
    /* The workload moves to 2000-byte values: the idle small class gives its pages up. */
    for (int round = 0; round < 12; round++) {
        for (int i = 0; i < 2000; i++) {
            snprintf(key, sizeof key, "large%d", round * 2000 + i);
            ck_assert_int_eq(put_flags(st, key, val, sizeof val, 0, 0), STORE_ALLOC_OK);
        }
        clock_set_for_test(1001 + (rel_time_t)round);
        store_maintain(st);
    }
    struct class_pages large = {.chunk_min = 2000, .chunk_max = 4000};
    store_foreach_class(st, pages_in_range, &large);
    ck_assert_uint_ge(large.pages, 5);
    ck_assert_uint_le(stats_of(st).total_malloced, 8 * MB);
    store_destroy(st);
}
END_TEST

/* store_alloc with a stripe held, when every victim is under that very stripe: it must give up
 * (the victims are skipped), not deadlock. */
START_TEST(alloc_with_own_stripe_held)
{
    clock_set_for_test(1000);
    struct store *st = make_store(1 * MB, MB, true, true);
    char key[32];
    static char val[900];
    memset(val, 'v', sizeof val);
    const uint32_t stripe = store_hash("anchor", 6) & 1023; /* 1024 stripes: STORAGE.md */
    int stored = 0;
    for (int i = 0; stored < 2000 && i < 10000000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        if ((store_hash(key, strlen(key)) & 1023) != stripe)
            continue;
        ck_assert_int_eq(put_flags(st, key, val, sizeof val, 0, 0), STORE_ALLOC_OK);
        stored++;
    }
    ck_assert_uint_gt(stats_of(st).evictions, 0); /* the page is full of this stripe's items */
    uint32_t hv = store_hash("anchor", 6);
    struct store_lock lk;
    store_lock_key(st, hv, &lk);
    enum store_alloc_err err;
    struct item *it = store_alloc(st, "anchor", 6, sizeof val, &err);
    ck_assert_ptr_null(it);
    ck_assert_int_eq(err, STORE_ALLOC_NO_MEMORY);
    store_unlock(st, &lk);
    /* Without the lock held the same allocation evicts and succeeds. */
    ck_assert_int_eq(put_flags(st, "anchor", val, sizeof val, 0, 0), STORE_ALLOC_OK);
    store_destroy(st);
}
END_TEST

START_TEST(pages_stay_with_a_class_in_use)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, MB, true, true);
    char key[32], buf[16];
    static char val[2000];
    memset(val, 'w', sizeof val);
    enum { SMALL = 40000 };
    for (int i = 0; i < SMALL; i++) {
        snprintf(key, sizeof key, "small%d", i);
        ck_assert_int_eq(put(st, key, "0123456789", 0), STORE_ALLOC_OK);
    }
    for (int pass = 0; pass < 2; pass++) /* the second read is the one that counts as access */
        for (int i = 0; i < SMALL; i++) {
            snprintf(key, sizeof key, "small%d", i);
            ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
        }
    struct class_pages small = {.chunk_min = 1, .chunk_max = 100};
    store_foreach_class(st, pages_in_range, &small);
    /* Large values now evict in their own class, while the small items keep being read: they
     * are younger than what is evicted, so their pages stay. */
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < 3000; i++) {
            snprintf(key, sizeof key, "large%d", round * 3000 + i);
            ck_assert_int_eq(put_flags(st, key, val, sizeof val, 0, 0), STORE_ALLOC_OK);
        }
        for (int i = 0; i < SMALL; i++) {
            snprintf(key, sizeof key, "small%d", i);
            ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
        }
        clock_set_for_test(1001 + (rel_time_t)round);
        store_maintain(st);
    }
    ck_assert_uint_gt(stats_of(st).evictions, 0);
    struct class_pages after = {.chunk_min = 1, .chunk_max = 100};
    store_foreach_class(st, pages_in_range, &after);
    ck_assert_uint_eq(after.pages, small.pages);
    store_destroy(st);
}
END_TEST

START_TEST(max_value_matches_memcached)
{
    /* Measured against memcached 1.6.18: largest value `set` accepts. */
    static const struct {
        size_t item_max;
        bool cas;
        size_t nkey;
        uint32_t flags;
        size_t largest;
    } cases[] = {
        {MB, true, 1, 0, 1048516},         {MB, true, 14, 0, 1048503},
        {MB, true, 250, 0, 1048267},       {MB, false, 1, 0, 1048524},
        {MB, true, 1, 5, 1048512},         {MB, false, 14, 5, 1048507},
        {2 * MB, true, 1, 0, 2097092},     {2 * MB, true, 100, 0, 2096993},
        {512 * 1024, true, 1, 0, 524228},  {512 * 1024, true, 250, 0, 523979},
        {3 * MB, true, 10, 0, 3145659},
    };
    clock_set_for_test(1000);
    static char val[3 * MB];
    memset(val, 'z', sizeof val);
    char key[256];
    memset(key, 'k', sizeof key);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct store *st = make_store(16 * MB, cases[i].item_max, true, cases[i].cas);
        ck_assert_uint_eq(store_max_value(st, cases[i].nkey, cases[i].flags), cases[i].largest);
        enum store_alloc_err err;
        struct item *it =
            store_alloc_flags(st, key, cases[i].nkey, cases[i].flags, cases[i].largest + 1, &err);
        ck_assert_ptr_null(it);
        ck_assert_int_eq(err, STORE_ALLOC_TOO_LARGE);
        it = store_alloc_flags(st, key, cases[i].nkey, cases[i].flags, cases[i].largest, &err);
        ck_assert_ptr_nonnull(it);
        memcpy(item_data(it), val, cases[i].largest);
        uint32_t hv = store_hash(key, cases[i].nkey);
        struct store_lock lk;
        enum store_miss why;
        store_lock_key(st, hv, &lk);
        store_link(st, hv, it, NULL);
        it = store_find(st, hv, key, cases[i].nkey, &why);
        ck_assert_ptr_nonnull(it);
        ck_assert_uint_eq(item_nbytes(it), cases[i].largest);
        ck_assert_uint_eq(item_flags(it), cases[i].flags);
        ck_assert_int_eq(memcmp(item_data(it), val, cases[i].largest), 0);
        store_unlink(st, hv, it);
        store_unlock(st, &lk);
        store_destroy(st);
    }
}
END_TEST

START_TEST(large_items_evict_each_other)
{
    clock_set_for_test(1000);
    struct store *st = make_store(8 * MB, 4 * MB, true, true);
    static char val[3 * MB];
    char key[32], buf[8];
    for (int i = 0; i < 20; i++) {
        memset(val, 'a' + i, sizeof val);
        snprintf(key, sizeof key, "big%d", i);
        ck_assert_int_eq(put_flags(st, key, val, sizeof val, 0, 0), STORE_ALLOC_OK);
        ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
        ck_assert_int_eq(buf[0], 'a' + i);
        ck_assert_uint_le(stats_of(st).total_malloced, 8 * MB);
    }
    ck_assert_uint_gt(stats_of(st).evictions, 0);
    store_destroy(st);
}
END_TEST

/* A 16 MB store whose hash table starts at 2^10 buckets, so that filling it makes it grow. */
static struct store *small_table_store(void)
{
    struct store_config cfg = {
        .mem_limit = 16 * MB, .item_size_max = MB, .growth_factor = 1.25, .chunk_min = 48,
        .hashpower = 10, .evict = true, .use_cas = true,
    };
    char err[100];
    struct store *st = store_create(&cfg, err, sizeof err);
    ck_assert_ptr_nonnull(st);
    return st;
}

START_TEST(table_grows)
{
    clock_set_for_test(1000);
    char key[32], buf[32];
    struct store *st = small_table_store();
    ck_assert_uint_eq(stats_of(st).hash_power_level, 10);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        put(st, key, key, 0);
        if (i % 1000 == 0)
            store_maintain(st);
    }
    store_maintain(st);
    ck_assert_uint_ge(stats_of(st).hash_power_level, 14);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        ck_assert_int_eq(get(st, key, buf, sizeof buf), STORE_HIT);
        ck_assert_str_eq(buf, key);
    }
    store_destroy(st);
}
END_TEST

/* store_sweep's keep(): keeps keys whose number is even. */
static bool keep_even(void *ctx, const char *key, size_t nkey)
{
    (*(int *)ctx)++;
    return (key[nkey - 1] - '0') % 2 == 0;
}

/* A sweep drops exactly what keep() turns down, over passes interleaved with table growth, and
 * keeps the store's counts right. */
START_TEST(sweep_drops_what_is_not_kept)
{
    clock_set_for_test(1000);
    char key[32], buf[32];
    struct store *st = small_table_store();
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        put(st, key, key, 0);
    }
    uint32_t cursor = 0;
    uint64_t dropped = 0;
    int offered = 0, calls = 0;
    bool done = false;
    while (!done) {
        done = store_sweep(st, &cursor, 100, keep_even, &offered, &dropped);
        if (++calls == 3)
            store_maintain(st); /* grows the table in the middle of the pass */
        ck_assert_int_lt(calls, 100000);
    }
    ck_assert_uint_eq(dropped, 5000);
    ck_assert_int_ge(offered, 10000);
    ck_assert_uint_eq(stats_of(st).curr_items, 5000);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        ck_assert_int_eq(get(st, key, buf, sizeof buf), i % 2 == 0 ? STORE_HIT : STORE_MISS_ABSENT);
    }
    /* a second pass finds nothing more to drop */
    cursor = 0;
    dropped = 0;
    while (!store_sweep(st, &cursor, 1u << 20, keep_even, &offered, &dropped))
        ;
    ck_assert_uint_eq(dropped, 0);
    store_destroy(st);
}
END_TEST

/* ---- threads ---- */

struct stress_ctx {
    struct store *st;
    unsigned seed;
    int ops;
    size_t huge; /* when non-zero, 1 set in 64 stores a value of huge..2*huge-1 bytes */
    int bad;
};

#define STRESS_VALUE_MAX (3 * MB)

#define STRESS_KEYS 4000

static void *stress_worker(void *arg)
{
    struct stress_ctx *c = arg;
    static char filler[STRESS_VALUE_MAX];
    char key[32];
    char *val = malloc(STRESS_VALUE_MAX);
    ck_assert_ptr_nonnull(val);
    for (int op = 0; op < c->ops; op++) {
        c->seed = c->seed * 1103515245u + 12345u;
        unsigned r = c->seed >> 8;
        int k = (int)(r % STRESS_KEYS);
        snprintf(key, sizeof key, "key:%d", k);
        size_t nkey = strlen(key);
        uint32_t hv = store_hash(key, nkey);
        struct store_lock lk;
        enum store_miss why;
        unsigned kind = (r >> 12) % 10;
        if (kind < 4) {
            size_t n = (r >> 16) % 8 == 0 ? 1000 + (r % 8000) : 40 + (r >> 4) % 300;
            if (c->huge && (r >> 19) % 64 == 0)
                n = c->huge + (r % c->huge);
            enum store_alloc_err err;
            /* Sometimes allocate while holding the key's stripe, as an append does. */
            bool hold = kind == 0;
            if (hold)
                store_lock_key(c->st, hv, &lk);
            struct item *it = store_alloc_flags(c->st, key, nkey, (uint32_t)k, n, &err);
            if (!it) {
                if (hold)
                    store_unlock(c->st, &lk);
                continue;
            }
            char *d = item_data(it);
            memcpy(d, filler, n);
            int head = snprintf(val, STRESS_VALUE_MAX, "%s|%zu|", key, n);
            memcpy(d, val, (size_t)head < n ? (size_t)head : n);
            d[n - 1] = '#';
            if (!hold)
                store_lock_key(c->st, hv, &lk);
            struct item *old = store_find(c->st, hv, key, nkey, &why);
            store_link(c->st, hv, it, old);
            store_unlock(c->st, &lk);
        } else if (kind < 9) {
            if (r & 1) { /* as a multi-get does: unlocked hints, racing with growth and unlinks */
                store_prefetch_keys(c->st, &hv, 1);
            }
            store_lock_key(c->st, hv, &lk);
            struct item *it = store_find(c->st, hv, key, nkey, &why);
            if (it) {
                store_touch_access(c->st, it);
                size_t n = item_nbytes(it);
                memcpy(val, item_data(it), n);
                if (item_flags(it) != (uint32_t)k || item_nkey(it) != nkey ||
                    memcmp(item_key(it), key, nkey) != 0)
                    c->bad++;
                store_unlock(c->st, &lk);
                char expect[64];
                int head = snprintf(expect, sizeof expect, "%s|%zu|", key, n);
                if ((size_t)head <= n && memcmp(val, expect, (size_t)head) != 0)
                    c->bad++;
                if (val[n - 1] != '#')
                    c->bad++;
            } else {
                store_unlock(c->st, &lk);
            }
        } else {
            store_lock_key(c->st, hv, &lk);
            struct item *it = store_find(c->st, hv, key, nkey, &why);
            if (it)
                store_unlink(c->st, hv, it);
            store_unlock(c->st, &lk);
        }
    }
    free(val);
    return NULL;
}

struct maintainer {
    struct store *st;
    _Atomic bool stop;
};

static void *maintain_loop(void *arg)
{
    struct maintainer *m = arg;
    for (int i = 0; i < 200 && !atomic_load(&m->stop); i++)
        store_maintain(m->st);
    return NULL;
}

/* 4 threads x 200k random set/get/delete (values carry their key and length) with a fifth
 * thread running store_maintain; memory is tight so eviction and page moves race with it all. */
START_TEST(threads_stress)
{
    clock_set_for_test(1000);
    struct store_config cfg = {
        .mem_limit = 3 * MB, .item_size_max = MB, .growth_factor = 1.25, .chunk_min = 48,
        .hashpower = 10, .evict = true, .use_cas = true,
    };
    char err[100];
    struct store *st = store_create(&cfg, err, sizeof err);
    ck_assert_ptr_nonnull(st);
    enum { NTHREADS = 4 };
    pthread_t tids[NTHREADS], mt;
    struct stress_ctx ctx[NTHREADS];
    struct maintainer m = {.st = st};
    pthread_create(&mt, NULL, maintain_loop, &m);
    for (int i = 0; i < NTHREADS; i++) {
        ctx[i] = (struct stress_ctx){.st = st, .seed = 7u + (unsigned)i * 7919u, .ops = 200000};
        pthread_create(&tids[i], NULL, stress_worker, &ctx[i]);
    }
    int bad = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(tids[i], NULL);
        bad += ctx[i].bad;
    }
    atomic_store(&m.stop, true);
    pthread_join(mt, NULL);
    ck_assert_int_eq(bad, 0);
    struct store_stats s = stats_of(st);
    ck_assert_uint_gt(s.evictions, 0); /* 3 MB for a ~4 MB working set */
    ck_assert_uint_gt(s.slabs_moved, 0);
    ck_assert_uint_le(s.total_malloced, 3 * MB);
    uint64_t acc[4] = {0};
    store_foreach_class(st, sum_classes, acc);
    ck_assert_uint_eq(acc[2], s.curr_items);
    store_destroy(st);
}
END_TEST

/* As threads_stress, with values up to 3 MB (spans of 2-3 pages) among the small ones. */
START_TEST(threads_stress_large)
{
    clock_set_for_test(1000);
    struct store_config cfg = {
        .mem_limit = 24 * MB, .item_size_max = 4 * MB, .growth_factor = 1.25, .chunk_min = 48,
        .hashpower = 10, .evict = true, .use_cas = true,
    };
    char err[100];
    struct store *st = store_create(&cfg, err, sizeof err);
    ck_assert_ptr_nonnull(st);
    enum { NTHREADS = 4 };
    pthread_t tids[NTHREADS];
    struct stress_ctx ctx[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        ctx[i] = (struct stress_ctx){
            .st = st, .seed = 11u + (unsigned)i * 104729u, .ops = 15000, .huge = 1536 * 1024};
        pthread_create(&tids[i], NULL, stress_worker, &ctx[i]);
    }
    int bad = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(tids[i], NULL);
        bad += ctx[i].bad;
    }
    ck_assert_int_eq(bad, 0);
    struct store_stats s = stats_of(st);
    ck_assert_uint_le(s.total_malloced, 24 * MB);
    uint64_t acc[4] = {0};
    store_foreach_class(st, sum_classes, acc);
    ck_assert_uint_eq(acc[2], s.curr_items);
    store_destroy(st);
}
END_TEST

START_TEST(bad_config)
{
    char err[200];
    struct store_config cfg = {
        .mem_limit = 64 * MB, .item_size_max = 512, .growth_factor = 1.25, .chunk_min = 48,
        .evict = true, .use_cas = true,
    };
    ck_assert_ptr_null(store_create(&cfg, err, sizeof err));
    cfg.item_size_max = MB;
    cfg.growth_factor = 1.0;
    ck_assert_ptr_null(store_create(&cfg, err, sizeof err));
    cfg.growth_factor = 1.25;
    cfg.mem_limit = 1000;
    ck_assert_ptr_null(store_create(&cfg, err, sizeof err));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, set_get_replace_delete);
    tcase_add_test(tc, atime_follows_memcached);
    tcase_add_test(tc, expiry);
    tcase_add_test(tc, flush_now_with_cas);
    tcase_add_test(tc, flush_now_without_cas);
    tcase_add_test(tc, flush_keeps_a_given_cas_stored_after_it);
    tcase_add_test(tc, flush_delayed);
    tcase_add_test(tc, background_reclaim);
    tcase_add_test(tc, eviction_keeps_recently_read);
    tcase_add_test(tc, no_evict_refuses);
    tcase_add_test(tc, memory_never_above_limit);
    tcase_add_test(tc, cas_unique);
    tcase_add_test(tc, pages_move_between_classes);
    tcase_add_test(tc, pages_follow_value_sizes);
    tcase_add_test(tc, small_memory_keeps_each_class);
    tcase_add_test(tc, pages_stay_with_a_class_in_use);
    tcase_add_test(tc, alloc_with_own_stripe_held);
    tcase_add_test(tc, max_value_matches_memcached);
    tcase_add_test(tc, large_items_evict_each_other);
    tcase_add_test(tc, table_grows);
    tcase_add_test(tc, sweep_drops_what_is_not_kept);
    tcase_add_test(tc, threads_stress);
    tcase_add_test(tc, threads_stress_large);
    tcase_add_test(tc, bad_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
