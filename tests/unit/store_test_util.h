/* A helper shared by the store's unit tests (not a test itself: the Makefile builds test_*.c). */
#ifndef SHOAL_STORE_TEST_UTIL_H
#define SHOAL_STORE_TEST_UTIL_H
#include "server/store.h"

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
