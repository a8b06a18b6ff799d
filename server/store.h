#ifndef SHOAL_STORE_H
#define SHOAL_STORE_H
/* The storage engine: items (key, value, client flags, expiry, CAS) in a hash table, in memory
 * bounded by -m, evicting (by CLOCK, an LRU approximation) when full. Design, item layout and
 * costs: server/STORAGE.md.
 *
 * Concurrency: keys are hashed to lock stripes. Every lookup and change of an item happens
 * between store_lock_key() and store_unlock() for that key's hash; an item pointer is valid only
 * while its stripe is locked (or, for an unlinked item from store_alloc, until it is linked or
 * freed). Small values are copied out under the lock; a large one (STORE_PIN_MIN bytes or more)
 * can instead be pinned (store_pin) and read after the lock is released.
 * store_alloc() may be called with or without one stripe lock held.
 *
 * Ownership: the store owns all item memory. store_destroy() frees everything. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/clock.h"

#define KEY_MAX_LENGTH 250

struct store;
struct item;

struct store_config {
    size_t mem_limit;      /* -m, bytes of item memory */
    size_t item_size_max;  /* -I, bytes */
    double growth_factor;  /* -f, slab chunk size growth factor */
    size_t chunk_min;      /* -n, minimum space for key + value + flags */
    unsigned hashpower;    /* initial table: 2^hashpower buckets (0 = 16; clamped to 10..30) */
    bool evict;            /* false with -M: refuse stores when full instead of evicting */
    bool use_cas;          /* false with -C */
};

/* Item bits (item_bits / item_set_bits). */
enum {
    ITEM_FETCHED = 1 << 0,  /* read at least once since stored (memcached's ITEM_FETCHED) */
    ITEM_STALE = 1 << 1,    /* marked stale by meta invalidation (md/ms with I) */
    ITEM_WIN_SENT = 1 << 2, /* a meta client was handed the recache/win token (W) */
    ITEM_KEY_BINARY = 1 << 3, /* stored with a base64 key (meta b): replies print it encoded */
};

/* Why store_find returned NULL. */
enum store_miss {
    STORE_HIT = 0,
    STORE_MISS_ABSENT,
    STORE_MISS_EXPIRED,
    STORE_MISS_FLUSHED,
};

/* Why store_alloc returned NULL. */
enum store_alloc_err {
    STORE_ALLOC_OK = 0,
    STORE_ALLOC_TOO_LARGE, /* larger than -I allows: "SERVER_ERROR object too large for cache" */
    STORE_ALLOC_NO_MEMORY, /* nothing could be evicted, or -M: "SERVER_ERROR out of memory storing object" */
};

struct store_lock {
    uint32_t hv;
    void *mutex; /* private to the store */
};

/* Creates a store. On error returns NULL and writes a message into err. */
struct store *store_create(const struct store_config *cfg, char *err, size_t errlen);
void store_destroy(struct store *st);

uint32_t store_hash(const char *key, size_t nkey);

void store_lock_key(struct store *st, uint32_t hv, struct store_lock *lk);
void store_unlock(struct store *st, struct store_lock *lk);

/* Under the key's lock: the live item with this key, or NULL with *why saying why (an expired or
 * flushed item found on the way is unlinked and freed; as in memcached this is counted by the
 * caller as get_expired / get_flushed, not as reclaimed). Does not mark the item as accessed;
 * call store_touch_access for that. */
struct item *store_find(struct store *st, uint32_t hv, const char *key, size_t nkey,
                        enum store_miss *why);
/* Without any lock, before looking up many keys (a multi-get): starts loading the buckets of
 * hv[0..n), the lock lines of their stripes and the first two items of each chain, so that the
 * cache misses of all the keys overlap instead of following one another. Hints only: nothing is
 * read that a lookup relies on. Keys past STORE_PREFETCH_MAX get their bucket and lock line
 * only. */
#define STORE_PREFETCH_MAX 32
void store_prefetch_keys(struct store *st, const uint32_t *hv, size_t n);
/* Under the key's lock: records an access now (for LRU, last-access time and ITEM_FETCHED). As
 * memcached does, the first access only sets ITEM_FETCHED; later ones also move item_atime to
 * now. */
void store_touch_access(struct store *st, struct item *it);

/* Allocates an unlinked item with room for nkey key bytes and nbytes value bytes, with the key
 * copied in, the given client flags, exptime 0. Returns NULL with *err set when it cannot.
 * The largest nbytes accepted is memcached 1.6.18's for the same -I, -C, key length and flags:
 *   item_size_max - (48 + (use_cas ? 8 : 0) + (flags ? 4 : 0) + nkey + 1 + 2)
 * (see server/STORAGE.md); anything larger is STORE_ALLOC_TOO_LARGE. */
struct item *store_alloc_flags(struct store *st, const char *key, size_t nkey, uint32_t flags,
                               size_t nbytes, enum store_alloc_err *err);
/* store_alloc_flags with flags 0. Client flags are fixed at allocation (an item with flags 0 has
 * no room for them). */
struct item *store_alloc(struct store *st, const char *key, size_t nkey, size_t nbytes,
                         enum store_alloc_err *err);
/* The largest value store_alloc_flags accepts for this key length and flags. */
size_t store_max_value(const struct store *st, size_t nkey, uint32_t flags);
/* Frees an item that was never linked. */
void store_free(struct store *st, struct item *it);
/* Under the key's lock: links `it` into the table, replacing `old` (unlinked and freed) when old
 * is not NULL, and gives it a fresh CAS unique. */
void store_link(struct store *st, uint32_t hv, struct item *it, struct item *old);
/* Under the key's lock: unlinks and frees a linked item. */
void store_unlink(struct store *st, uint32_t hv, struct item *it);
/* Under the key's lock: gives a linked item a fresh CAS unique (after an in-place change). */
void store_new_cas(struct store *st, struct item *it);
/* A CAS value given from outside (meta E: a replica's copy keeps its primary's CAS): the
 * store's own CAS values continue above it, so that a later change here is newer than the copy
 * (a Lamport clock across the nodes that copy items to each other), and items allocated from
 * now on have room for it. */
void store_observe_cas(struct store *st, uint64_t cas);

/* Zero-copy reads of large values. An item whose value has at least STORE_PIN_MIN bytes carries
 * a pin count. Pinned under its key's lock (store_pin), its memory stays valid and its value
 * unchanged after the lock is released, even if it is replaced, deleted, flushed or expires
 * meanwhile, until store_unpin (from any thread, without a lock). A pinned item is never
 * evicted or moved; once unlinked, its last unpin frees it. */
#define STORE_PIN_MIN 8192
bool item_pinnable(const struct item *it);
/* Under the key's lock: pinned by someone, so its value must not be changed in place. */
bool item_pinned(const struct item *it);
/* Under the key's lock, on a linked pinnable item. */
void store_pin(struct store *st, struct item *it);
void store_unpin(struct store *st, struct item *it);

/* flush_all: `when` is memcached's new_oldest: clock_from_exptime(delay) for a positive delay,
 * else clock_now(). As memcached 1.6.18 does, with CAS on, items last stored or accessed before
 * `when` (time <= when - 1), and for an immediate flush also every item stored before the call
 * (by CAS unique), become invalid once clock_now() >= when - 1; with -C, items with
 * time <= when become invalid once clock_now() >= when. */
void store_flush(struct store *st, rel_time_t when);

/* Background upkeep, called about once a second from a maintenance thread: reclaims expired and
 * flushed items (a bounded slice of the table per call) and grows the hash table when needed. */
void store_maintain(struct store *st);

/* Says whether the store keeps the live item with this key (store_sweep). Called under the
 * key's stripe lock: it must not call into the store. */
typedef bool (*store_keep_fn)(void *ctx, const char *key, size_t nkey);

/* Visits up to n buckets of the hash table from *cursor (0 to start a pass), unlinking every
 * live item that keep() turns down and adding their number to *dropped; advances *cursor.
 * Returns true when the visit reached the end of the table: a whole pass is done (an item that
 * was linked throughout it was offered to keep() at least once). */
bool store_sweep(struct store *st, uint32_t *cursor, uint32_t n, store_keep_fn keep, void *ctx,
                 uint64_t *dropped);

/* Item fields. Reads under the key's lock (or on an unlinked item the caller owns). */
const char *item_key(const struct item *it);
size_t item_nkey(const struct item *it);
char *item_data(struct item *it);
size_t item_nbytes(const struct item *it);
uint32_t item_flags(const struct item *it);
rel_time_t item_exptime(const struct item *it);
void item_set_exptime(struct item *it, rel_time_t exptime);
rel_time_t item_atime(const struct item *it); /* last access */
uint64_t item_cas(const struct item *it);     /* 0 with -C */
void item_set_cas(struct item *it, uint64_t cas);
/* meta E: the item's CAS is `cas`, given from outside, which no longer orders it against an
 * immediate flush_all (an item given a CAS is flushed by its time alone). */
void item_give_cas(struct item *it, uint64_t cas);
/* Everything a reply shows, found in one pass over the header (cheaper than one call each). */
struct item_view {
    const char *key;
    size_t nkey;
    char *data;
    size_t nbytes;
    uint32_t flags;
    uint64_t cas; /* 0 with -C */
};
void item_get_view(struct item *it, struct item_view *v);
unsigned item_bits(const struct item *it);
void item_set_bits(struct item *it, unsigned bits); /* replaces the ITEM_* bits */

/* Engine-wide counters, memcached's names. */
struct store_stats {
    uint64_t curr_items, total_items, bytes;
    uint64_t evictions, reclaimed, expired_unfetched, evicted_unfetched, evicted_active;
    uint64_t crawler_reclaimed, total_malloced, limit_maxbytes;
    uint64_t hash_power_level, hash_bytes, hash_is_expanding;
    uint64_t slabs_moved, slab_global_page_pool, curr_slab_classes;
};
void store_get_stats(struct store *st, struct store_stats *out);
/* Counts stats reset clears (evictions, reclaimed, total_items, ...). */
void store_reset_stats(struct store *st);

/* Per-class command counters for `stats slabs` (memcached counts these per slab class). The
 * session calls store_count under the key's lock with the item the command hit. */
enum store_counter {
    STORE_COUNT_GET_HIT,
    STORE_COUNT_SET,
    STORE_COUNT_DELETE_HIT,
    STORE_COUNT_INCR_HIT,
    STORE_COUNT_DECR_HIT,
    STORE_COUNT_CAS_HIT,
    STORE_COUNT_CAS_BADVAL,
    STORE_COUNT_TOUCH_HIT,
};
void store_count(struct store *st, const struct item *it, enum store_counter which);

/* One slab class, for `stats slabs` and `stats items`. Items larger than a slab page live in
 * spans of whole pages; they are reported as one extra class after the largest. */
struct store_class_stats {
    unsigned id;
    uint64_t chunk_size, chunks_per_page, total_pages, total_chunks, used_chunks, free_chunks;
    uint64_t mem_requested, number, age, evicted, evicted_nonzero, evicted_time, outofmemory;
    uint64_t reclaimed, expired_unfetched, evicted_unfetched, evicted_active;
    uint64_t get_hits, cmd_set, delete_hits, incr_hits, decr_hits, cas_hits, cas_badval, touch_hits;
};
/* Calls fn once for each class that has ever held a page, in class order. */
void store_foreach_class(struct store *st, void (*fn)(void *ctx, const struct store_class_stats *),
                         void *ctx);

#endif
