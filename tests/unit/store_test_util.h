/* A helper shared by the store's unit tests (not a test itself: the Makefile builds test_*.c). */
#ifndef SHOAL_STORE_TEST_UTIL_H
#define SHOAL_STORE_TEST_UTIL_H
#include <string.h>

#include "server/store.h"

/* Locks key's stripe (into *lk) and finds the key: the item, or NULL with *why saying why.
 * The caller unlocks with store_unlock(st, lk). */
static struct item *find_locked(struct store *st, const char *key, struct store_lock *lk,
                                enum store_miss *why)
{
    size_t nkey = strlen(key);
    uint32_t hv = store_hash(key, nkey);
    store_lock_key(st, hv, lk);
    return store_find(st, hv, key, nkey, why);
}

/* What a set does once the value is written: links it under its key's lock, replacing any
 * item with the same key. */
static void link_replacing(struct store *st, struct item *it)
{
    const char *key = item_key(it);
    size_t nkey = item_nkey(it);
    uint32_t hv = store_hash(key, nkey);
    struct store_lock lk;
    store_lock_key(st, hv, &lk);
    enum store_miss why;
    struct item *old = store_find(st, hv, key, nkey, &why);
    store_link(st, hv, it, old);
    store_unlock(st, &lk);
}

#endif
