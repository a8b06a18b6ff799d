/* The storage engine: items in slab memory (server/slab.c), a chained hash table of 32-bit item
 * references guarded by lock stripes, CLOCK eviction per class, page moving between classes,
 * expiry, flush_all and the background crawl. Layout and costs: server/STORAGE.md. */
#include "server/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "server/slab.h"

#define STORE_STRIPES 1024u /* power of two; no more than 2^STORE_MIN_HASHPOWER */
#define STORE_MIN_HASHPOWER 10
#define STORE_DEFAULT_HASHPOWER 16
#define STORE_MAX_HASHPOWER 30
#define STORE_ITEM_SIZE_MAX_LIMIT ((size_t)1 << 30)
/* How often store_alloc retries after freeing a page that another thread may take first. */
#define STORE_ALLOC_ATTEMPTS 16
/* Pages looked at, per attempt, for one that can be emptied. */
#define STORE_EVACUATE_TRIES 64
/* Pages looked at for a class's age: by the automover, and by `stats items`. */
#define STORE_AGE_SAMPLE_PAGES 8
#define STORE_AGE_STATS_PAGES 256
/* store_maintain calls without an eviction before a class gives pages to one that evicts. */
#define STORE_QUIET_CALLS 3
/* Buckets the background crawl visits per store_maintain call, at least. */
#define STORE_CRAWL_MIN_BUCKETS 16384

/* memcached 1.6.18's item header (48 bytes with the 8-byte CAS counted separately), which sets
 * the largest value it accepts for a given -I. */
#define MEMCACHED_ITEM_HEADER 48

/* Chunk state, read without the stripe lock by sweeps and evacuations (hence atomic). */
enum {
    STATE_ALLOCATED = 1, /* handed out by store_alloc */
    STATE_LINKED = 2,    /* in the hash table: the key is final and safe to read */
    /* Bits 2-3: CLOCK level 0..3. Linking sets 1, an access sets 3, each pass of the hand takes
     * one off, and the hand evicts at 0: a new item survives one revolution, a read one
     * three, so a hand that must clear a whole class in one sweep still spares what was read. */
    STATE_REF_ONE = 4,
    STATE_REF_MASK = 12,
};

/* Layout bits, in the high half of item.bits (the ITEM_* bits are the low half). Fixed when the
 * item is allocated: sweeps read them without the stripe lock to find the key. */
#define LAYOUT_CAS 0x10u      /* a CAS field: 6 bytes, or 8 with LAYOUT_CAS_WIDE */
#define LAYOUT_CAS_WIDE 0x20u
#define LAYOUT_FLAGS 0x40u    /* a client-flags field (absent when the flags are 0) */
/* Not layout: the item's CAS was given from outside (meta E), so it says nothing about when the
 * item was stored (item_is_flushed). */
#define CAS_GIVEN 0x80u
#define ITEM_PUBLIC_BITS (ITEM_FETCHED | ITEM_STALE | ITEM_WIN_SENT | ITEM_KEY_BINARY)
_Static_assert((ITEM_PUBLIC_BITS & 0xf0u) == 0, "ITEM_* bits fit in the low half of item.bits");

/* item.len: the value length, or LEN_WIDE when a 4-byte length follows the header. */
#define LEN_WIDE 255u
/* A narrow CAS field holds 48 bits: 2^48 stores (9 years at a million a second) before a store
 * starts giving new items wide fields, at half that. A larger value written to a narrow field
 * (a client's `cas` argument kept for comparison) is stored as CAS_NARROW_MAX, which no item's
 * own CAS reaches, so it still compares unequal and greater. */
#define CAS_NARROW_BYTES 6
#define CAS_NARROW_MAX (((uint64_t)1 << 48) - 1)
#define CAS_WIDE_FROM ((uint64_t)1 << 47)

/* The pin word: readers holding the item, and whether the table has let go of it (then the
 * last reader frees it). */
#define PIN_UNLINKED 0x80000000u
#define PIN_COUNT_MASK 0x7fffffffu

/* 16 bytes, then optional fields in this order: wide length (4, when len == LEN_WIDE), pin word
 * (4, values of STORE_PIN_MIN bytes or more: 4-byte aligned since chunks are), CAS (6 or 8),
 * client flags (4), then the key and the value. The slab class is not stored: it is the owner
 * of the item's page. */
struct item {
    uint32_t next;            /* hash chain reference; 0 = end */
    _Atomic uint32_t atime;   /* memcached's it->time: last store or (counted) access */
    uint32_t exptime;         /* 0 = never */
    uint8_t nkey;
    _Atomic uint8_t state;    /* STATE_* */
    _Atomic uint8_t bits;     /* ITEM_* | LAYOUT_*; ITEM_* change under the stripe lock */
    uint8_t len;              /* value length, or LEN_WIDE */
    char body[];
};
_Static_assert(sizeof(struct item) == 16, "item header is 16 bytes");

/* A lock stripe and its view of the hash table. A bucket's chain belongs to the stripe
 * (bucket & (STORE_STRIPES - 1)); since the table only doubles, a chain stays in its stripe. A
 * growing table is switched to one stripe at a time, so no one ever holds two stripes. */
struct stripe {
    _Alignas(64) pthread_mutex_t lock; /* a cache line each: stripes are hot and shared */
    uint32_t *buckets;
    uint32_t mask;
    /* This stripe's share of curr_items, bytes and total_items: written under the lock only (so
     * no locked instruction), read by stats as atomics. */
    _Atomic uint64_t items, bytes, total;
};

#define STRIPE_ADD(sp, field, n)                                                                \
    atomic_store_explicit(&(sp)->field,                                                         \
                          atomic_load_explicit(&(sp)->field, memory_order_relaxed) + (n),       \
                          memory_order_relaxed)

struct store {
    struct store_config cfg;
    struct slabs slabs;
    size_t header_size; /* of a small item with flags 0: 16, plus a narrow CAS field */
    /* The CAS layout bits of new items: 0 with -C, LAYOUT_CAS, and LAYOUT_CAS_WIDE too once the
     * counter passes CAS_WIDE_FROM. Read-mostly, apart from the hot last_cas. */
    _Atomic unsigned cas_layout;
    /* The table as store_maintain (its only writer) sees it; workers look up keys through their
     * stripe's view, and read this one unlocked only for cache hints (bucket_unlocked). Switched
     * table first, mask last, after every stripe, with release. Read-mostly, like the above. */
    uint32_t *table;
    uint32_t table_mask;
    struct stripe stripes[STORE_STRIPES];
    /* Tables that a bigger one replaced: mapped until store_destroy, their pages given back,
     * because an unlocked hint (bucket_unlocked) may still read a bucket of one (it then reads
     * zeros). At most one per doubling. */
    struct retired_table {
        uint32_t *buckets;
        size_t bytes;
    } retired[STORE_MAX_HASHPOWER];
    unsigned nretired;
    _Atomic unsigned hashpower;

    _Atomic uint64_t last_cas;
    _Atomic rel_time_t oldest_live;
    _Atomic uint64_t oldest_cas;

    _Atomic uint64_t evictions, reclaimed, expired_unfetched, evicted_unfetched, evicted_active;
    _Atomic uint64_t crawler_reclaimed;

    pthread_mutex_t maintain_lock;
    /* Under maintain_lock: */
    uint32_t crawl_cursor;
    uint64_t seen_evictions[SLAB_MAX_CLASSES + 1]; /* class eviction counts at the last call */
    unsigned quiet_calls[SLAB_MAX_CLASSES + 1];     /* calls since the class last evicted */
};

#define RELAXED memory_order_relaxed
#define COUNT(var, n) atomic_fetch_add_explicit(&(var), (n), RELAXED)

/* ---- hashing ---- */

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint32_t store_hash(const char *key, size_t nkey)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (nkey * 0x100000001b3ULL);
    size_t i = 0;
    for (; i + 8 <= nkey; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ mix64(w)) * 0x9e3779b97f4a7c15ULL;
        h = (h << 27) | (h >> 37);
    }
    uint64_t tail = 0;
    memcpy(&tail, key + i, nkey - i);
    h ^= mix64(tail ^ ((uint64_t)(nkey - i) << 56));
    return (uint32_t)mix64(h);
}

/* ---- item layout ---- */

static unsigned layout_bits(const struct item *it)
{
    return atomic_load_explicit(&((struct item *)it)->bits, RELAXED);
}

/* Bytes of CAS and flags fields, by the layout bits (bits >> 4). */
static const uint8_t cas_flags_len[8] = {
    [LAYOUT_CAS >> 4] = CAS_NARROW_BYTES,
    [(LAYOUT_CAS | LAYOUT_CAS_WIDE) >> 4] = 8,
    [LAYOUT_FLAGS >> 4] = 4,
    [(LAYOUT_FLAGS | LAYOUT_CAS) >> 4] = CAS_NARROW_BYTES + 4,
    [(LAYOUT_FLAGS | LAYOUT_CAS | LAYOUT_CAS_WIDE) >> 4] = 8 + 4,
};

/* Bytes of the optional fields before the key. */
static size_t fields_len(unsigned layout, size_t nbytes)
{
    size_t n = cas_flags_len[(layout >> 4) & 7];
    if (nbytes >= LEN_WIDE)
        n += nbytes >= STORE_PIN_MIN ? 2 * sizeof(uint32_t) : sizeof(uint32_t);
    return n;
}

static size_t layout_total(unsigned layout, size_t nkey, size_t nbytes)
{
    return sizeof(struct item) + fields_len(layout, nbytes) + nkey + nbytes;
}

size_t item_nbytes(const struct item *it)
{
    if (it->len != LEN_WIDE)
        return it->len;
    uint32_t n;
    memcpy(&n, it->body, sizeof n);
    return n;
}

static inline size_t item_size(const struct store *st, const struct item *it)
{
    (void)st;
    return layout_total(layout_bits(it), it->nkey, item_nbytes(it));
}

/* The optional fields, by position. Before the CAS: the wide length and the pin word. */
static size_t length_fields(const struct item *it)
{
    if (it->len != LEN_WIDE)
        return 0;
    return item_nbytes(it) >= STORE_PIN_MIN ? 2 * sizeof(uint32_t) : sizeof(uint32_t);
}

static char *pin_at(const struct item *it)
{
    return (char *)it->body + sizeof(uint32_t); /* after the wide length a pinnable item has */
}

static char *cas_at(const struct item *it)
{
    return (char *)it->body + length_fields(it);
}

static char *flags_at(const struct item *it, unsigned layout)
{
    return cas_at(it) + cas_flags_len[(layout & (LAYOUT_CAS | LAYOUT_CAS_WIDE)) >> 4];
}

static _Atomic uint32_t *pin_word(const struct item *it)
{
    /* offset 20 of a 4-byte aligned chunk */
    return (_Atomic uint32_t *)(void *)pin_at(it);
}

const char *item_key(const struct item *it)
{
    return it->body + length_fields(it) + cas_flags_len[(layout_bits(it) >> 4) & 7];
}

size_t item_nkey(const struct item *it)
{
    return it->nkey;
}

char *item_data(struct item *it)
{
    return (char *)item_key(it) + it->nkey;
}

uint32_t item_flags(const struct item *it)
{
    unsigned layout = layout_bits(it);
    uint32_t flags = 0;
    if (layout & LAYOUT_FLAGS)
        memcpy(&flags, flags_at(it, layout), sizeof flags);
    return flags;
}

rel_time_t item_exptime(const struct item *it)
{
    return it->exptime;
}

void item_set_exptime(struct item *it, rel_time_t exptime)
{
    it->exptime = exptime;
}

rel_time_t item_atime(const struct item *it)
{
    return atomic_load_explicit(&((struct item *)it)->atime, RELAXED);
}

uint64_t item_cas(const struct item *it)
{
    unsigned layout = layout_bits(it);
    uint64_t cas = 0;
    if (layout & LAYOUT_CAS_WIDE) {
        memcpy(&cas, cas_at(it), sizeof cas);
    } else if (layout & LAYOUT_CAS) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* one load: a narrow CAS is followed by at least a key byte and the chunk is at least
         * 8 bytes longer than this field's offset */
        memcpy(&cas, cas_at(it), sizeof cas);
        cas &= CAS_NARROW_MAX;
#else
        const unsigned char *p = (const unsigned char *)cas_at(it);
        for (int i = CAS_NARROW_BYTES; i-- > 0;)
            cas = cas << 8 | p[i];
#endif
    }
    return cas;
}

void item_give_cas(struct item *it, uint64_t cas)
{
    item_set_cas(it, cas);
    atomic_fetch_or_explicit(&it->bits, (uint8_t)CAS_GIVEN, RELAXED);
}

void item_set_cas(struct item *it, uint64_t cas)
{
    unsigned layout = layout_bits(it);
    if (layout & LAYOUT_CAS_WIDE) {
        memcpy(cas_at(it), &cas, sizeof cas);
    } else if (layout & LAYOUT_CAS) {
        if (cas > CAS_NARROW_MAX)
            cas = CAS_NARROW_MAX;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(cas_at(it), &cas, CAS_NARROW_BYTES);
#else
        unsigned char *p = (unsigned char *)cas_at(it);
        for (int i = 0; i < CAS_NARROW_BYTES; i++, cas >>= 8)
            p[i] = (unsigned char)cas;
#endif
    }
}

void item_get_view(struct item *it, struct item_view *v)
{
    unsigned layout = layout_bits(it);
    size_t nbytes = it->len;
    char *p = it->body;
    if (nbytes == LEN_WIDE) {
        uint32_t n;
        memcpy(&n, p, sizeof n);
        nbytes = n;
        p += nbytes >= STORE_PIN_MIN ? 2 * sizeof(uint32_t) : sizeof(uint32_t);
    }
    v->cas = 0;
    if (layout & LAYOUT_CAS) {
        v->cas = item_cas(it);
        p += (layout & LAYOUT_CAS_WIDE) ? sizeof(uint64_t) : CAS_NARROW_BYTES;
    }
    v->flags = 0;
    if (layout & LAYOUT_FLAGS) {
        memcpy(&v->flags, p, sizeof v->flags);
        p += sizeof(uint32_t);
    }
    v->key = p;
    v->nkey = it->nkey;
    v->data = p + it->nkey;
    v->nbytes = nbytes;
}

bool item_pinnable(const struct item *it)
{
    return item_nbytes(it) >= STORE_PIN_MIN;
}

bool item_pinned(const struct item *it)
{
    return item_pinnable(it) &&
           (atomic_load_explicit(pin_word(it), memory_order_acquire) & PIN_COUNT_MASK) != 0;
}

unsigned item_bits(const struct item *it)
{
    return layout_bits(it) & ITEM_PUBLIC_BITS;
}

/* Under the stripe lock (the only writers), so a load and a store do. */
void item_set_bits(struct item *it, unsigned bits)
{
    unsigned old = layout_bits(it);
    atomic_store_explicit(&it->bits, (uint8_t)((old & ~ITEM_PUBLIC_BITS) | (bits & ITEM_PUBLIC_BITS)),
                          RELAXED);
}

static struct item *item_at(const struct store *st, uint32_t ref)
{
    return (struct item *)slabs_ptr(&st->slabs, ref);
}

static uint32_t item_ref(const struct store *st, const struct item *it)
{
    return slabs_ref(&st->slabs, it);
}

/* The item's slab class: its page's owner, 0 for a span. The owner of a page cannot change
 * while an item lives there. */
static unsigned item_class(const struct store *st, const struct item *it)
{
    uint8_t owner = st->slabs.owner[slabs_page_of(&st->slabs, it)];
    return owner == SLAB_OWNER_SPAN ? 0 : owner;
}

static struct slab_counters *item_counters(struct store *st, const struct item *it)
{
    return &st->slabs.classes[item_class(st, it)].counters;
}

static struct stripe *stripe_of(struct store *st, uint32_t hv)
{
    return &st->stripes[hv & (STORE_STRIPES - 1)];
}

/* Every change of a chain link (a bucket head or an item's next): an atomic store, since the
 * hints of store_lock_key and store_prefetch_keys read links without the stripe's lock. A plain
 * store on x86 all the same. */
static void set_link(uint32_t *link, uint32_t ref)
{
    __atomic_store_n(link, ref, __ATOMIC_RELAXED);
}

/* Under the stripe of hv: the head of hv's chain. */
static uint32_t *bucket_of(struct store *st, uint32_t hv)
{
    struct stripe *sp = stripe_of(st, hv);
    return &sp->buckets[hv & sp->mask];
}

/* ---- life and death ---- */

static bool item_is_flushed(struct store *st, const struct item *it, rel_time_t now)
{
    rel_time_t oldest_live = atomic_load_explicit(&st->oldest_live, RELAXED);
    if (oldest_live == 0 || oldest_live > now)
        return false;
    rel_time_t atime = item_atime(it);
    if (atime <= oldest_live)
        return true;
    /* Within the flush's own second, the CAS order says what came before it; not for a CAS that
     * was given (meta E: a replica's copy, stored after the flush with its primary's lower CAS).
     * Such an item stored in that second before the flush survives it. */
    if (layout_bits(it) & CAS_GIVEN)
        return false;
    uint64_t oldest_cas = atomic_load_explicit(&st->oldest_cas, RELAXED);
    uint64_t cas = item_cas(it);
    return oldest_cas != 0 && cas != 0 && cas < oldest_cas;
}

static bool item_is_expired(const struct item *it, rel_time_t now)
{
    return it->exptime != 0 && it->exptime <= now;
}

static bool item_is_dead(struct store *st, const struct item *it, rel_time_t now)
{
    return item_is_flushed(st, it, now) || item_is_expired(it, now);
}

/* Under the stripe: takes a linked item out of its chain and out of the counts. The chunk stays
 * allocated (the caller frees it). */
static void unlink_from_table(struct store *st, uint32_t hv, struct item *it)
{
    uint32_t ref = item_ref(st, it);
    uint32_t *link = bucket_of(st, hv);
    while (*link != ref) {
        if (*link == 0)
            abort(); /* a linked item missing from its chain: the table is corrupt */
        link = &item_at(st, *link)->next;
    }
    set_link(link, it->next);
    set_link(&it->next, 0);
    atomic_store_explicit(&it->state, STATE_ALLOCATED, memory_order_release);
    STRIPE_ADD(stripe_of(st, hv), items, (uint64_t)-1);
    STRIPE_ADD(stripe_of(st, hv), bytes, (uint64_t)0 - item_size(st, it));
    COUNT(item_counters(st, it)->number, (uint64_t)-1);
}

/* Frees an unlinked item's memory. Takes the class lock (or the pool lock for a span). */
static void free_item(struct store *st, struct item *it)
{
    size_t size = item_size(st, it);
    unsigned cls = item_class(st, it);
    if (cls == 0) {
        atomic_store_explicit(&it->state, 0, memory_order_release);
        slab_span_put(&st->slabs, it);
        return;
    }
    struct slab_class *c = &st->slabs.classes[cls];
    pthread_mutex_lock(&c->lock);
    /* Only under the class lock: an evacuation takes state 0 to mean "on the free list". */
    atomic_store_explicit(&it->state, 0, memory_order_release);
    slab_chunk_put(c, &st->slabs, it, size);
    pthread_mutex_unlock(&c->lock);
}

/* Under the stripe, for an item just taken out of the table: frees it, unless readers still pin
 * it (then the last store_unpin does). */
static void drop_unlinked(struct store *st, struct item *it)
{
    if (item_pinnable(it)) {
        uint32_t old = atomic_fetch_or_explicit(pin_word(it), PIN_UNLINKED, memory_order_acq_rel);
        if (old & PIN_COUNT_MASK)
            return;
    }
    free_item(st, it);
}

void store_pin(struct store *st, struct item *it)
{
    (void)st;
    atomic_fetch_add_explicit(pin_word(it), 1, memory_order_relaxed);
}

void store_unpin(struct store *st, struct item *it)
{
    uint32_t old = atomic_fetch_sub_explicit(pin_word(it), 1, memory_order_acq_rel);
    if (old == (PIN_UNLINKED | 1))
        free_item(st, it);
}

enum removal { REMOVE_EVICT, REMOVE_RECLAIM, REMOVE_CRAWL };

/* Counts an item that the store itself removes (not a client's delete). */
static void count_removal(struct store *st, const struct item *it, enum removal why,
                          rel_time_t now)
{
    struct slab_counters *cc = item_counters(st, it);
    bool fetched = item_bits(it) & ITEM_FETCHED;
    if (why == REMOVE_EVICT) {
        COUNT(st->evictions, 1);
        COUNT(cc->evicted, 1);
        if (it->exptime != 0)
            COUNT(cc->evicted_nonzero, 1);
        if (!fetched) {
            COUNT(st->evicted_unfetched, 1);
            COUNT(cc->evicted_unfetched, 1);
        }
        /* Read and still marked recently used: evicted only by a page move. */
        uint8_t level = atomic_load_explicit(&((struct item *)it)->state, RELAXED) & STATE_REF_MASK;
        if (fetched && level >= 2 * STATE_REF_ONE) {
            COUNT(st->evicted_active, 1);
            COUNT(cc->evicted_active, 1);
        }
        rel_time_t at = item_atime(it);
        atomic_store_explicit(&cc->evicted_time, now >= at ? now - at : 0, RELAXED);
        return;
    }
    if (why == REMOVE_CRAWL) {
        COUNT(st->crawler_reclaimed, 1);
        COUNT(cc->crawler_reclaimed, 1);
    } else {
        COUNT(st->reclaimed, 1);
        COUNT(cc->reclaimed, 1);
    }
    if (!fetched) {
        COUNT(st->expired_unfetched, 1);
        COUNT(cc->expired_unfetched, 1);
    }
}

/* Tries to lock the stripe of a linked chunk seen without it. On success the item is still
 * linked, not pinned, and its stripe is locked (returned); else NULL. */
static pthread_mutex_t *lock_linked(struct store *st, struct item *it, uint32_t *hv)
{
    if (!(atomic_load_explicit(&it->state, memory_order_acquire) & STATE_LINKED))
        return NULL;
    /* LINKED was published after the key was written, and the key does not change while
     * linked; the chunk cannot be freed under us (the caller holds its class or pool lock). */
    *hv = store_hash(item_key(it), it->nkey);
    pthread_mutex_t *m = &stripe_of(st, *hv)->lock;
    if (pthread_mutex_trylock(m) != 0)
        return NULL;
    /* A pinned item is being read outside the lock: it may be neither moved nor evicted (and
     * no new pin can come while we hold its stripe). */
    if (!(atomic_load_explicit(&it->state, RELAXED) & STATE_LINKED) || item_pinned(it)) {
        pthread_mutex_unlock(m);
        return NULL;
    }
    return m;
}

/* Under c->lock: moves the CLOCK hand until one item is freed into the class. With eviction off,
 * only dead items are taken. */
static bool sweep_class(struct store *st, struct slab_class *c, bool allow_evict)
{
    if (c->npages == 0)
        return false;
    uint64_t chunks = (uint64_t)c->npages * c->chunks_per_page;
    /* Levels reach 3: at most three revolutions lower everything to 0. */
    uint64_t limit = allow_evict ? 4 * chunks + 1 : chunks;
    rel_time_t now = clock_now();
    for (uint64_t n = 0; n < limit; n++) {
        if (c->hand_slot >= c->npages)
            c->hand_slot = 0;
        char *page = slabs_page_ptr(&st->slabs, c->pages[c->hand_slot]);
        struct item *it = (struct item *)(page + (size_t)c->hand_chunk * c->chunk_size);
        if (++c->hand_chunk == c->chunks_per_page) {
            c->hand_chunk = 0;
            c->hand_slot = (c->hand_slot + 1) % c->npages;
        }
        uint8_t state = atomic_load_explicit(&it->state, memory_order_acquire);
        if (!(state & STATE_LINKED))
            continue;
        if ((state & STATE_REF_MASK) && allow_evict) {
            /* Only the hand lowers the level; if the state changed meanwhile (an access or an
             * unlink), leave it to the next pass. */
            atomic_compare_exchange_strong_explicit(&it->state, &state,
                                                    (uint8_t)(state - STATE_REF_ONE), RELAXED,
                                                    RELAXED);
            continue;
        }
        uint32_t hv;
        pthread_mutex_t *m = lock_linked(st, it, &hv);
        if (!m)
            continue;
        bool dead = item_is_dead(st, it, now);
        if (dead || allow_evict) {
            count_removal(st, it, dead ? REMOVE_RECLAIM : REMOVE_EVICT, now);
            unlink_from_table(st, hv, it);
            size_t size = item_size(st, it);
            atomic_store_explicit(&it->state, 0, memory_order_release);
            slab_chunk_put(c, &st->slabs, it, size);
            pthread_mutex_unlock(m);
            return true;
        }
        pthread_mutex_unlock(m);
    }
    return false;
}

/* Under c->lock and it's stripe: moves a linked item into chunk `to` of the same class. */
static void move_item(struct store *st, struct slab_class *c, uint32_t hv, struct item *it,
                      struct item *to)
{
    size_t size = item_size(st, it);
    uint8_t state = atomic_load_explicit(&it->state, RELAXED);
    memcpy(to, it, size);
    atomic_store_explicit(&to->state, state, RELAXED);
    uint32_t ref = item_ref(st, it);
    uint32_t *link = bucket_of(st, hv);
    while (*link != ref) {
        if (*link == 0)
            abort(); /* a linked item missing from its chain: the table is corrupt */
        link = &item_at(st, *link)->next;
    }
    set_link(link, item_ref(st, to));
    atomic_store_explicit(&it->state, 0, memory_order_release);
    slab_chunk_put(c, &st->slabs, it, size);
}

/* Under c->lock: a free chunk of class c outside `page`, or NULL. Free chunks of `page` met on
 * the way are parked on *parked (a list through their first 4 bytes) for unpark_chunks. */
static struct item *take_outside(struct store *st, struct slab_class *c, const char *page,
                                 size_t size, uint32_t *parked)
{
    for (;;) {
        char *chunk = slab_chunk_take(c, &st->slabs, size);
        if (!chunk || chunk < page || chunk >= page + st->slabs.page_size)
            return (struct item *)chunk;
        c->mem_requested -= size;
        memcpy(chunk, parked, sizeof *parked);
        *parked = slabs_ref(&st->slabs, chunk);
    }
}

static void unpark_chunks(struct store *st, struct slab_class *c, uint32_t parked)
{
    while (parked) {
        char *chunk = slabs_ptr(&st->slabs, parked);
        memcpy(&parked, chunk, sizeof parked);
        slab_chunk_put(c, &st->slabs, chunk, 0);
    }
}

/* Under c->lock: empties pages[slot] and gives it back to the pool. Live items move to free
 * chunks elsewhere in the class while there are any (memcached's rescue), the rest are evicted.
 * False when an item there is held by a caller or its stripe is busy. */
static bool evacuate_page(struct store *st, struct slab_class *c, uint32_t slot)
{
    char *page = slabs_page_ptr(&st->slabs, c->pages[slot]);
    /* A chunk a caller holds unlinked (a value still arriving) pins the page: look first, so as
     * not to move items for nothing. */
    for (uint32_t i = 0; i < c->chunks_per_page; i++) {
        struct item *it = (struct item *)(page + (size_t)i * c->chunk_size);
        uint8_t state = atomic_load_explicit(&it->state, RELAXED);
        if (state != 0 && !(state & STATE_LINKED))
            return false;
    }
    rel_time_t now = clock_now();
    uint32_t parked = 0;
    bool ok = true;
    for (uint32_t i = 0; i < c->chunks_per_page && ok; i++) {
        struct item *it = (struct item *)(page + (size_t)i * c->chunk_size);
        uint8_t state = atomic_load_explicit(&it->state, memory_order_acquire);
        if (state == 0)
            continue;
        uint32_t hv;
        pthread_mutex_t *m = lock_linked(st, it, &hv);
        if (!m) {
            ok = false;
            break;
        }
        bool dead = item_is_dead(st, it, now);
        struct item *to = dead ? NULL : take_outside(st, c, page, item_size(st, it), &parked);
        if (to) {
            move_item(st, c, hv, it, to);
        } else {
            count_removal(st, it, dead ? REMOVE_RECLAIM : REMOVE_EVICT, now);
            unlink_from_table(st, hv, it);
            size_t size = item_size(st, it);
            atomic_store_explicit(&it->state, 0, memory_order_release);
            slab_chunk_put(c, &st->slabs, it, size);
        }
        pthread_mutex_unlock(m);
    }
    unpark_chunks(st, c, parked);
    if (ok)
        slab_class_release_page(&st->slabs, c, slot);
    return ok;
}

/* Under pool_lock: evicts the large item whose span starts at page `head`. */
static bool evict_span_locked(struct store *st, uint32_t head)
{
    struct item *it = (struct item *)slabs_page_ptr(&st->slabs, head);
    uint32_t hv;
    pthread_mutex_t *m = lock_linked(st, it, &hv);
    if (!m)
        return false;
    rel_time_t now = clock_now();
    count_removal(st, it, item_is_dead(st, it, now) ? REMOVE_RECLAIM : REMOVE_EVICT, now);
    unlink_from_table(st, hv, it);
    atomic_store_explicit(&it->state, 0, memory_order_release);
    slab_span_put_locked(&st->slabs, it);
    pthread_mutex_unlock(m);
    return true;
}

/* Makes page p free by evacuating whatever holds it, but not the page of a class that has fewer
 * than min_class_pages. The caller holds no class or pool lock. */
static bool make_page_free(struct store *st, uint32_t p, uint32_t min_class_pages)
{
    struct slabs *s = &st->slabs;
    pthread_mutex_lock(&s->pool_lock);
    uint8_t owner = s->owner[p];
    if (owner == SLAB_OWNER_FREE || owner == SLAB_OWNER_SPAN || owner == SLAB_OWNER_SPAN_CONT) {
        bool ok = owner == SLAB_OWNER_FREE ||
                  evict_span_locked(st, owner == SLAB_OWNER_SPAN ? p : s->page_aux[p]);
        pthread_mutex_unlock(&s->pool_lock);
        return ok;
    }
    pthread_mutex_unlock(&s->pool_lock);
    struct slab_class *c = &s->classes[owner];
    if (pthread_mutex_trylock(&c->lock) != 0)
        return false;
    /* Holding the class lock, the page cannot leave this class: check it has not already. */
    pthread_mutex_lock(&s->pool_lock);
    bool still = s->owner[p] == owner;
    uint32_t slot = s->page_aux[p];
    pthread_mutex_unlock(&s->pool_lock);
    bool ok = still && c->npages >= min_class_pages && evacuate_page(st, c, slot);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* Frees one page somewhere: preferably one whose items all fit in free chunks elsewhere in
 * their class; else the next page after a rotating cursor that can be emptied, preferring
 * classes that keep at least one other page (a class left with no page would only have to take
 * one back). */
/* Frees a page of a class with a page's worth of free chunks, moving its items (no loss). */
static bool free_spare_page(struct store *st)
{
    struct slabs *s = &st->slabs;
    unsigned top = atomic_load_explicit(&s->top_class, RELAXED);
    for (unsigned id = 1; id <= top; id++) {
        struct slab_class *c = &s->classes[id];
        if (!atomic_load_explicit(&c->spare, RELAXED) || pthread_mutex_trylock(&c->lock) != 0)
            continue;
        bool ok = false;
        /* The last pages first (often the emptiest); a few, in case one is pinned. */
        for (uint32_t k = 0; k < 4 && k < c->npages && !ok; k++)
            ok = c->nfree >= c->chunks_per_page && evacuate_page(st, c, c->npages - 1 - k);
        pthread_mutex_unlock(&c->lock);
        if (ok)
            return true;
    }
    return false;
}

static bool any_spare_class(struct store *st, const struct slab_class *except)
{
    unsigned top = atomic_load_explicit(&st->slabs.top_class, RELAXED);
    for (unsigned id = 1; id <= top; id++)
        if (&st->slabs.classes[id] != except &&
            atomic_load_explicit(&st->slabs.classes[id].spare, RELAXED))
            return true;
    return false;
}

static bool free_some_page(struct store *st)
{
    struct slabs *s = &st->slabs;
    if (free_spare_page(st))
        return true;
    unsigned tries = s->npages < STORE_EVACUATE_TRIES ? s->npages : STORE_EVACUATE_TRIES;
    for (unsigned i = 0; i < 2 * tries; i++) {
        pthread_mutex_lock(&s->pool_lock);
        bool have_free = s->free_pages > 0;
        uint32_t p = s->evict_cursor;
        s->evict_cursor = (p + 1) % s->npages;
        pthread_mutex_unlock(&s->pool_lock);
        if (have_free || make_page_free(st, p, i < tries ? 2 : 1))
            return true;
    }
    return false;
}

static void *alloc_chunk(struct store *st, unsigned cls, size_t size)
{
    struct slab_class *c = &st->slabs.classes[cls];
    for (int attempt = 0; attempt < STORE_ALLOC_ATTEMPTS; attempt++) {
        pthread_mutex_lock(&c->lock);
        void *mem = slab_chunk_take(c, &st->slabs, size);
        if (!mem && slab_class_grow(&st->slabs, c))
            mem = slab_chunk_take(c, &st->slabs, size);
        /* Before evicting here, take a page that another class is not using. */
        bool spare = !mem && st->cfg.evict && attempt < STORE_ALLOC_ATTEMPTS / 2 &&
                     any_spare_class(st, c);
        if (!mem && !spare && sweep_class(st, c, st->cfg.evict))
            mem = slab_chunk_take(c, &st->slabs, size);
        /* Marked under the lock, so that an evacuation never takes it for a free chunk. */
        if (mem)
            atomic_store_explicit(&((struct item *)mem)->state, STATE_ALLOCATED, RELAXED);
        pthread_mutex_unlock(&c->lock);
        if (mem)
            return mem;
        if (spare) {
            free_spare_page(st);
            continue;
        }
        /* Nothing to take in this class (no pages yet, or every item busy): move a page; with
         * -M only one that empties without evicting. */
        if (!(st->cfg.evict ? free_some_page(st) : free_spare_page(st)))
            break;
    }
    COUNT(c->counters.outofmemory, 1);
    return NULL;
}

static void *alloc_span(struct store *st, size_t size)
{
    struct slabs *s = &st->slabs;
    uint32_t npages = (uint32_t)((size + s->page_size - 1) >> s->page_shift);
    if (npages > s->npages)
        return NULL;
    unsigned windows = 2 * (s->npages / npages) + 4;
    for (unsigned attempt = 0; attempt < windows; attempt++) {
        void *mem = slab_span_take(s, npages);
        if (mem)
            return mem;
        if (!st->cfg.evict)
            break;
        /* Empty one window of contiguous pages, rotating through the arena. */
        pthread_mutex_lock(&s->pool_lock);
        uint32_t start = s->evict_cursor;
        if (start + npages > s->npages)
            start = 0;
        s->evict_cursor = (start + npages) % s->npages;
        pthread_mutex_unlock(&s->pool_lock);
        for (uint32_t p = start; p < start + npages; p++)
            if (!make_page_free(st, p, 1))
                break;
    }
    COUNT(s->classes[0].counters.outofmemory, 1);
    return NULL;
}

size_t store_max_value(const struct store *st, size_t nkey, uint32_t flags)
{
    size_t overhead = MEMCACHED_ITEM_HEADER + (st->cfg.use_cas ? 8 : 0) + (flags ? 4 : 0) +
                      nkey + 1 + 2;
    return st->cfg.item_size_max > overhead ? st->cfg.item_size_max - overhead : 0;
}

struct item *store_alloc_flags(struct store *st, const char *key, size_t nkey, uint32_t flags,
                               size_t nbytes, enum store_alloc_err *err)
{
    if (nkey == 0 || nkey > KEY_MAX_LENGTH || nbytes > store_max_value(st, nkey, flags)) {
        *err = STORE_ALLOC_TOO_LARGE;
        return NULL;
    }
    unsigned layout = (flags ? LAYOUT_FLAGS : 0) | atomic_load_explicit(&st->cas_layout, RELAXED);
    size_t size = layout_total(layout, nkey, nbytes);
    unsigned cls = slabs_class_for(&st->slabs, size);
    struct item *it = cls ? alloc_chunk(st, cls, size) : alloc_span(st, size);
    if (!it) {
        *err = STORE_ALLOC_NO_MEMORY;
        return NULL;
    }
    set_link(&it->next, 0);
    atomic_store_explicit(&it->atime, clock_now(), RELAXED);
    it->exptime = 0;
    it->nkey = (uint8_t)nkey;
    atomic_store_explicit(&it->bits, (uint8_t)layout, RELAXED);
    /* the optional fields in order (see struct item) */
    char *p = it->body;
    if (nbytes >= LEN_WIDE) {
        it->len = LEN_WIDE;
        uint32_t n = (uint32_t)nbytes;
        memcpy(p, &n, sizeof n);
        p += sizeof n;
        if (nbytes >= STORE_PIN_MIN) {
            atomic_store_explicit(pin_word(it), 0, RELAXED);
            p += sizeof(uint32_t);
        }
    } else {
        it->len = (uint8_t)nbytes;
    }
    if (layout & LAYOUT_CAS_WIDE) {
        memset(p, 0, sizeof(uint64_t));
        p += sizeof(uint64_t);
    } else if (layout & LAYOUT_CAS) {
        memset(p, 0, CAS_NARROW_BYTES);
        p += CAS_NARROW_BYTES;
    }
    if (flags) {
        memcpy(p, &flags, sizeof flags);
        p += sizeof flags;
    }
    memcpy(p, key, nkey);
    atomic_store_explicit(&it->state, STATE_ALLOCATED, memory_order_release);
    *err = STORE_ALLOC_OK;
    return it;
}

struct item *store_alloc(struct store *st, const char *key, size_t nkey, size_t nbytes,
                         enum store_alloc_err *err)
{
    return store_alloc_flags(st, key, nkey, 0, nbytes, err);
}

void store_free(struct store *st, struct item *it)
{
    free_item(st, it);
}

/* ---- the table ---- */

/* Without any lock, only to warm caches: this must never decide anything, since the chain may
 * change (or the table grow) before the caller locks the stripe. It uses the store's view of the
 * table, not the stripe's, so as not to wait for the stripe's cache line (the lock's line). Mask
 * before table: see struct store. */
static uint32_t *bucket_unlocked(struct store *st, uint32_t hv)
{
    uint32_t mask = __atomic_load_n(&st->table_mask, __ATOMIC_ACQUIRE);
    uint32_t *table = __atomic_load_n(&st->table, __ATOMIC_RELAXED);
    return &table[hv & mask];
}

void store_lock_key(struct store *st, uint32_t hv, struct store_lock *lk)
{
    lk->hv = hv;
    lk->mutex = &stripe_of(st, hv)->lock;
    /* The stripe's lock and the key's bucket are usually both cache misses: ask for the bucket
     * first, so that it arrives while the lock is taken (a prefetch does not wait for the
     * lock's barrier). */
    __builtin_prefetch(bucket_unlocked(st, hv));
    pthread_mutex_lock(lk->mutex);
}

void store_unlock(struct store *st, struct store_lock *lk)
{
    (void)st;
    pthread_mutex_unlock(lk->mutex);
    lk->mutex = NULL;
}

struct item *store_find(struct store *st, uint32_t hv, const char *key, size_t nkey,
                        enum store_miss *why)
{
    uint32_t ref = *bucket_of(st, hv);
    while (ref) {
        struct item *it = item_at(st, ref);
        if (it->nkey == nkey && memcmp(item_key(it), key, nkey) == 0) {
            rel_time_t now = clock_now();
            enum store_miss miss = STORE_HIT;
            if (item_is_flushed(st, it, now))
                miss = STORE_MISS_FLUSHED;
            else if (item_is_expired(it, now))
                miss = STORE_MISS_EXPIRED;
            if (miss != STORE_HIT) {
                unlink_from_table(st, hv, it);
                drop_unlinked(st, it);
                *why = miss;
                return NULL;
            }
            *why = STORE_HIT;
            return it;
        }
        ref = it->next;
    }
    *why = STORE_MISS_ABSENT;
    return NULL;
}

/* Starts loading the first three cache lines of the item at ref: the header, key and a small
 * value (a 100-byte value's item spans up to three; copying them into the reply was otherwise a
 * miss per key too). A prefetch past the end of a smaller item, or of a stale ref, is harmless. */
static void prefetch_item_lines(const struct store *st, uint32_t ref)
{
    const char *it = (const char *)item_at(st, ref);
    __builtin_prefetch(it);
    __builtin_prefetch(it + 64);
    __builtin_prefetch(it + 128);
}

/* The chain's second item, read without the stripe's lock: the head item's next link. The head
 * may have been unlinked, freed and its chunk reused (even by another class, after a page move)
 * since the bucket was read, so this load can race with a plain write of those bytes. The value
 * is used only as a prefetch address, never dereferenced, and the arena stays mapped, so any
 * value is harmless: a deliberate benign race, kept out of ThreadSanitizer's view (the one
 * function it does not instrument; STORAGE.md, Concurrency). */
__attribute__((no_sanitize("thread"))) static uint32_t next_link_hint(const struct store *st,
                                                                       uint32_t ref)
{
    return *(const volatile uint32_t *)&item_at(st, ref)->next;
}

void store_prefetch_keys(struct store *st, const uint32_t *hv, size_t n)
{
    /* Three passes, so that each pass's misses overlap each other: the buckets and the stripes'
     * lock lines (with intent to write: the lock is taken next), then the chains' first items,
     * then their second ones (at the table's load of 0.75-1.5 items per bucket, 30-48% of
     * hits are not their chain's first item, for uniformly spread hashes). */
    for (size_t i = 0; i < n; i++) {
        __builtin_prefetch(bucket_unlocked(st, hv[i]));
        __builtin_prefetch(&stripe_of(st, hv[i])->lock, 1);
    }
    uint32_t head[STORE_PREFETCH_MAX];
    if (n > STORE_PREFETCH_MAX)
        n = STORE_PREFETCH_MAX;
    for (size_t i = 0; i < n; i++) {
        head[i] = __atomic_load_n(bucket_unlocked(st, hv[i]), __ATOMIC_RELAXED);
        if (head[i])
            prefetch_item_lines(st, head[i]);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t second = head[i] ? next_link_hint(st, head[i]) : 0;
        if (second)
            prefetch_item_lines(st, second);
    }
}

void store_touch_access(struct store *st, struct item *it)
{
    unsigned bits = layout_bits(it);
    if (bits & ITEM_FETCHED)
        atomic_store_explicit(&it->atime, clock_now(), RELAXED);
    else
        atomic_store_explicit(&it->bits, (uint8_t)(bits | ITEM_FETCHED), RELAXED);
    (void)st;
    if ((atomic_load_explicit(&it->state, RELAXED) & STATE_REF_MASK) != STATE_REF_MASK)
        atomic_fetch_or_explicit(&it->state, STATE_REF_MASK, RELAXED);
}

void store_new_cas(struct store *st, struct item *it)
{
    if (!st->cfg.use_cas)
        return;
    uint64_t cas = atomic_fetch_add_explicit(&st->last_cas, 1, RELAXED) + 1;
    if (cas >= CAS_WIDE_FROM)
        atomic_fetch_or_explicit(&st->cas_layout, LAYOUT_CAS_WIDE, RELAXED);
    item_set_cas(it, cas);
    if (layout_bits(it) & CAS_GIVEN) /* (rare: an item given a CAS, changed in place) */
        atomic_fetch_and_explicit(&it->bits, (uint8_t)~CAS_GIVEN, RELAXED);
}

void store_observe_cas(struct store *st, uint64_t cas)
{
    uint64_t seen = atomic_load_explicit(&st->last_cas, RELAXED);
    while (seen < cas &&
           !atomic_compare_exchange_weak_explicit(&st->last_cas, &seen, cas, RELAXED, RELAXED))
        ;
    if (cas >= CAS_WIDE_FROM)
        atomic_fetch_or_explicit(&st->cas_layout, LAYOUT_CAS_WIDE, RELAXED);
}

void store_link(struct store *st, uint32_t hv, struct item *it, struct item *old)
{
    if (old) {
        unlink_from_table(st, hv, old);
        drop_unlinked(st, old);
    }
    atomic_store_explicit(&it->atime, clock_now(), RELAXED);
    store_new_cas(st, it);
    uint32_t *bucket = bucket_of(st, hv);
    set_link(&it->next, *bucket);
    set_link(bucket, item_ref(st, it));
    struct stripe *sp = stripe_of(st, hv);
    STRIPE_ADD(sp, items, 1);
    STRIPE_ADD(sp, total, 1);
    STRIPE_ADD(sp, bytes, item_size(st, it));
    COUNT(item_counters(st, it)->number, 1);
    /* Born at level 1: a new item may sit in a chunk just ahead of the CLOCK hand (one freed by
     * a delete), and must still get a full revolution before it can be evicted. */
    atomic_store_explicit(&it->state, STATE_ALLOCATED | STATE_LINKED | STATE_REF_ONE,
                          memory_order_release);
}

void store_unlink(struct store *st, uint32_t hv, struct item *it)
{
    unlink_from_table(st, hv, it);
    drop_unlinked(st, it);
}

void store_flush(struct store *st, rel_time_t when)
{
    rel_time_t now = clock_now();
    if (when == 0)
        when = now;
    if (st->cfg.use_cas) {
        atomic_store(&st->oldest_live, when - 1);
        if (when - 1 <= now)
            atomic_store(&st->oldest_cas, atomic_fetch_add(&st->last_cas, 1) + 1);
    } else {
        atomic_store(&st->oldest_live, when);
    }
}

void store_count(struct store *st, const struct item *it, enum store_counter which)
{
    struct slab_counters *cc = item_counters(st, it);
    switch (which) {
    case STORE_COUNT_GET_HIT: COUNT(cc->get_hits, 1); break;
    case STORE_COUNT_SET: COUNT(cc->cmd_set, 1); break;
    case STORE_COUNT_DELETE_HIT: COUNT(cc->delete_hits, 1); break;
    case STORE_COUNT_INCR_HIT: COUNT(cc->incr_hits, 1); break;
    case STORE_COUNT_DECR_HIT: COUNT(cc->decr_hits, 1); break;
    case STORE_COUNT_CAS_HIT: COUNT(cc->cas_hits, 1); break;
    case STORE_COUNT_CAS_BADVAL: COUNT(cc->cas_badval, 1); break;
    case STORE_COUNT_TOUCH_HIT: COUNT(cc->touch_hits, 1); break;
    }
}

/* ---- upkeep ---- */

static uint64_t count_items(struct store *st)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < STORE_STRIPES; i++)
        n += atomic_load_explicit(&st->stripes[i].items, RELAXED);
    return n;
}

/* A zeroed table of n buckets, or NULL. Mapped rather than malloc'd so that a replaced one can
 * give its pages back and stay readable (table_retire). */
static uint32_t *table_map(size_t n)
{
    void *p = mmap(NULL, n * sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Called by maybe_grow_table once no stripe uses t: its memory goes back to the system, the
 * mapping stays (reads give zeros) until store_destroy. */
static void table_retire(struct store *st, uint32_t *t, size_t n)
{
    if (st->nretired == sizeof st->retired / sizeof st->retired[0])
        abort(); /* more doublings than hash powers: the table bookkeeping is broken */
    (void)madvise(t, n * sizeof *t, MADV_DONTNEED); /* advice: a failure only costs memory */
    st->retired[st->nretired++] = (struct retired_table){t, n * sizeof *t};
}

/* Doubles the table once items outnumber buckets by half again, one stripe at a time: each
 * stripe's chains are rehashed into the new table under that stripe's lock alone. */
static void maybe_grow_table(struct store *st)
{
    unsigned hp = atomic_load(&st->hashpower);
    uint64_t nbuckets = (uint64_t)1 << hp;
    if (hp >= STORE_MAX_HASHPOWER ||
        count_items(st) <= nbuckets + nbuckets / 2)
        return;
    uint32_t *fresh = table_map(nbuckets * 2);
    if (!fresh)
        return; /* keep the longer chains; try again next time */
    uint32_t mask = (uint32_t)(nbuckets * 2 - 1);
    for (unsigned s = 0; s < STORE_STRIPES; s++) {
        struct stripe *sp = &st->stripes[s];
        pthread_mutex_lock(&sp->lock);
        for (uint64_t b = s; b < nbuckets; b += STORE_STRIPES) {
            uint32_t ref = sp->buckets[b];
            while (ref) {
                struct item *it = item_at(st, ref);
                uint32_t next = it->next;
                uint32_t *dst = &fresh[store_hash(item_key(it), it->nkey) & mask];
                set_link(&it->next, *dst);
                set_link(dst, ref);
                ref = next;
            }
        }
        sp->buckets = fresh;
        sp->mask = mask;
        pthread_mutex_unlock(&sp->lock);
    }
    table_retire(st, st->table, nbuckets);
    __atomic_store_n(&st->table, fresh, __ATOMIC_RELAXED);
    __atomic_store_n(&st->table_mask, mask, __ATOMIC_RELEASE);
    atomic_store(&st->hashpower, hp + 1);
}

/* Takes the item at *link out of its chain (stripe sp, locked) and lets it go. */
static void unlink_at(struct store *st, struct stripe *sp, uint32_t *link, struct item *it)
{
    set_link(link, it->next);
    set_link(&it->next, 0);
    atomic_store_explicit(&it->state, STATE_ALLOCATED, memory_order_release);
    STRIPE_ADD(sp, items, (uint64_t)-1);
    STRIPE_ADD(sp, bytes, (uint64_t)0 - item_size(st, it));
    COUNT(item_counters(st, it)->number, (uint64_t)-1);
    drop_unlinked(st, it);
}

/* Visits a slice of the table, reclaiming expired and flushed items. */
static void crawl(struct store *st)
{
    uint32_t nbuckets = st->table_mask + 1;
    uint32_t slice = nbuckets / 32;
    if (slice < STORE_CRAWL_MIN_BUCKETS)
        slice = STORE_CRAWL_MIN_BUCKETS;
    if (slice > nbuckets)
        slice = nbuckets;
    rel_time_t now = clock_now();
    for (uint32_t i = 0; i < slice; i++) {
        uint32_t b = st->crawl_cursor;
        st->crawl_cursor = (b + 1) & st->table_mask;
        struct stripe *sp = &st->stripes[b & (STORE_STRIPES - 1)];
        pthread_mutex_t *m = &sp->lock;
        pthread_mutex_lock(m);
        uint32_t *link = &st->table[b];
        while (*link) {
            struct item *it = item_at(st, *link);
            if (!item_is_dead(st, it, now)) {
                link = &it->next;
                continue;
            }
            count_removal(st, it, REMOVE_CRAWL, now);
            unlink_at(st, sp, link, it);
        }
        pthread_mutex_unlock(m);
    }
}

static uint64_t class_age(struct store *st, struct slab_class *c, rel_time_t now,
                          uint32_t max_pages);

/* Moves one page a call from a class that has not evicted for a while (and keeps another page)
 * to the pool, when some class is evicting: pages follow the value sizes in use, as memcached's
 * slab automover does. The evicting class takes the page on its next allocation. */
static void rebalance(struct store *st)
{
    struct slabs *s = &st->slabs;
    uint64_t most = 0;
    unsigned needy = 0;
    unsigned top = atomic_load_explicit(&s->top_class, RELAXED);
    for (unsigned id = 1; id <= top; id++) {
        uint64_t ev = atomic_load_explicit(&s->classes[id].counters.evicted, RELAXED);
        uint64_t delta = ev >= st->seen_evictions[id] ? ev - st->seen_evictions[id] : ev;
        st->seen_evictions[id] = ev;
        st->quiet_calls[id] = delta ? 0 : st->quiet_calls[id] + 1;
        if (delta > most) {
            most = delta;
            needy = id;
        }
    }
    if (!needy)
        return;
    unsigned donor = 0;
    uint32_t donor_pages = 1;
    for (unsigned id = 1; id <= top; id++) {
        if (id == needy || st->quiet_calls[id] < STORE_QUIET_CALLS)
            continue;
        pthread_mutex_lock(&s->classes[id].lock);
        uint32_t npages = s->classes[id].npages;
        pthread_mutex_unlock(&s->classes[id].lock);
        if (npages > donor_pages) {
            donor = id;
            donor_pages = npages;
        }
    }
    if (!donor)
        return;
    /* Only when the donor's least recently used item is clearly older than what the needy class
     * is evicting: a class that is read but not written keeps its pages. */
    rel_time_t now = clock_now();
    uint64_t needy_age = atomic_load_explicit(&s->classes[needy].counters.evicted_time, RELAXED);
    struct slab_class *c = &s->classes[donor];
    pthread_mutex_lock(&c->lock);
    if (c->npages > 1 && class_age(st, c, now, STORE_AGE_SAMPLE_PAGES) >= 2 * needy_age + 2)
        evacuate_page(st, c, c->hand_slot < c->npages ? c->hand_slot : 0);
    pthread_mutex_unlock(&c->lock);
    /* The move's own evictions do not make the donor busy. */
    st->seen_evictions[donor] = atomic_load_explicit(&c->counters.evicted, RELAXED);
}

bool store_sweep(struct store *st, uint32_t *cursor, uint32_t n, store_keep_fn keep, void *ctx,
                 uint64_t *dropped)
{
    pthread_mutex_lock(&st->maintain_lock); /* the table does not grow meanwhile */
    bool wrapped = false;
    rel_time_t now = clock_now();
    for (uint32_t i = 0; i < n && !wrapped; i++) {
        uint32_t b = *cursor & st->table_mask;
        *cursor = (b + 1) & st->table_mask;
        wrapped = *cursor == 0;
        struct stripe *sp = &st->stripes[b & (STORE_STRIPES - 1)];
        pthread_mutex_lock(&sp->lock);
        uint32_t *link = &st->table[b];
        while (*link) {
            struct item *it = item_at(st, *link);
            if (item_is_dead(st, it, now) || keep(ctx, item_key(it), item_nkey(it))) {
                link = &it->next;
                continue;
            }
            unlink_at(st, sp, link, it);
            (*dropped)++;
        }
        pthread_mutex_unlock(&sp->lock);
    }
    pthread_mutex_unlock(&st->maintain_lock);
    return wrapped;
}

void store_maintain(struct store *st)
{
    pthread_mutex_lock(&st->maintain_lock);
    maybe_grow_table(st);
    crawl(st);
    if (st->cfg.evict)
        rebalance(st);
    pthread_mutex_unlock(&st->maintain_lock);
}

/* ---- life cycle ---- */

struct store *store_create(const struct store_config *cfg, char *err, size_t errlen)
{
    if (cfg->item_size_max < 1024 || cfg->item_size_max > STORE_ITEM_SIZE_MAX_LIMIT) {
        snprintf(err, errlen, "item size max must be between 1024 bytes and 1 GB");
        return NULL;
    }
    if (cfg->chunk_min == 0) {
        snprintf(err, errlen, "chunk size must be positive");
        return NULL;
    }
    /* memcached accepts -o hashpower up to 32; buckets of 4 bytes stop at 2^30 (4 GB). */
    unsigned hp = cfg->hashpower ? cfg->hashpower : STORE_DEFAULT_HASHPOWER;
    if (hp > STORE_MAX_HASHPOWER)
        hp = STORE_MAX_HASHPOWER;
    if (hp < STORE_MIN_HASHPOWER)
        hp = STORE_MIN_HASHPOWER;
    size_t st_size = (sizeof(struct store) + 63) & ~(size_t)63;
    struct store *st = aligned_alloc(64, st_size);
    if (st)
        memset(st, 0, st_size);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->cfg = *cfg;
    st->header_size = sizeof(struct item) + (cfg->use_cas ? CAS_NARROW_BYTES : 0);
    atomic_store(&st->cas_layout, cfg->use_cas ? LAYOUT_CAS : 0);
    if (!slabs_init(&st->slabs, cfg->mem_limit, st->header_size + cfg->chunk_min,
                    cfg->growth_factor, err, errlen)) {
        free(st);
        return NULL;
    }
    st->table = table_map((size_t)1 << hp);
    if (!st->table) {
        snprintf(err, errlen, "out of memory for a hash table of 2^%u buckets", hp);
        slabs_destroy(&st->slabs);
        free(st);
        return NULL;
    }
    st->table_mask = (uint32_t)(((size_t)1 << hp) - 1);
    atomic_store(&st->hashpower, hp);
    for (unsigned i = 0; i < STORE_STRIPES; i++) {
        pthread_mutex_init(&st->stripes[i].lock, NULL);
        st->stripes[i].buckets = st->table;
        st->stripes[i].mask = st->table_mask;
    }
    pthread_mutex_init(&st->maintain_lock, NULL);
    return st;
}

void store_destroy(struct store *st)
{
    if (!st)
        return;
    for (unsigned i = 0; i < STORE_STRIPES; i++)
        pthread_mutex_destroy(&st->stripes[i].lock);
    pthread_mutex_destroy(&st->maintain_lock);
    munmap(st->table, ((size_t)st->table_mask + 1) * sizeof *st->table);
    for (unsigned i = 0; i < st->nretired; i++)
        munmap(st->retired[i].buckets, st->retired[i].bytes);
    slabs_destroy(&st->slabs);
    free(st);
}

/* ---- stats ---- */

void store_get_stats(struct store *st, struct store_stats *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < STORE_STRIPES; i++) {
        out->curr_items += atomic_load_explicit(&st->stripes[i].items, RELAXED);
        out->total_items += atomic_load_explicit(&st->stripes[i].total, RELAXED);
        out->bytes += atomic_load_explicit(&st->stripes[i].bytes, RELAXED);
    }
    out->evictions = atomic_load(&st->evictions);
    out->reclaimed = atomic_load(&st->reclaimed);
    out->expired_unfetched = atomic_load(&st->expired_unfetched);
    out->evicted_unfetched = atomic_load(&st->evicted_unfetched);
    out->evicted_active = atomic_load(&st->evicted_active);
    out->crawler_reclaimed = atomic_load(&st->crawler_reclaimed);
    out->limit_maxbytes = st->cfg.mem_limit;
    unsigned hp = atomic_load(&st->hashpower);
    out->hash_power_level = hp;
    out->hash_bytes = ((uint64_t)1 << hp) * sizeof(uint32_t);
    out->hash_is_expanding = 0;
    out->slabs_moved = atomic_load(&st->slabs.pages_moved);
    struct slabs *s = &st->slabs;
    pthread_mutex_lock(&s->pool_lock);
    out->total_malloced = (uint64_t)(s->npages - s->free_pages) * s->page_size;
    for (uint32_t p = 0; p < s->npages; p++)
        if (s->owner[p] == SLAB_OWNER_FREE && s->touched[p])
            out->slab_global_page_pool++;
    pthread_mutex_unlock(&s->pool_lock);
    for (unsigned i = 1; i <= s->nclasses; i++) {
        pthread_mutex_lock(&s->classes[i].lock);
        if (s->classes[i].ever_had_page)
            out->curr_slab_classes++;
        pthread_mutex_unlock(&s->classes[i].lock);
    }
}

static void reset_counters(struct slab_counters *cc)
{
    _Atomic uint64_t *all[] = {
        &cc->evicted, &cc->evicted_nonzero, &cc->evicted_unfetched, &cc->evicted_active,
        &cc->outofmemory, &cc->reclaimed, &cc->expired_unfetched, &cc->crawler_reclaimed,
        &cc->evicted_time, &cc->get_hits, &cc->cmd_set, &cc->delete_hits, &cc->incr_hits,
        &cc->decr_hits, &cc->cas_hits, &cc->cas_badval, &cc->touch_hits,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        atomic_store(all[i], 0);
}

void store_reset_stats(struct store *st)
{
    for (unsigned i = 0; i < STORE_STRIPES; i++)
        atomic_store_explicit(&st->stripes[i].total, 0, RELAXED);
    atomic_store(&st->evictions, 0);
    atomic_store(&st->reclaimed, 0);
    atomic_store(&st->expired_unfetched, 0);
    atomic_store(&st->evicted_unfetched, 0);
    atomic_store(&st->evicted_active, 0);
    atomic_store(&st->crawler_reclaimed, 0);
    for (unsigned i = 0; i <= st->slabs.nclasses; i++)
        reset_counters(&st->slabs.classes[i].counters);
}

static void fill_counters(struct store_class_stats *o, struct slab_counters *cc)
{
    o->number = atomic_load(&cc->number);
    o->evicted = atomic_load(&cc->evicted);
    o->evicted_nonzero = atomic_load(&cc->evicted_nonzero);
    o->evicted_time = atomic_load(&cc->evicted_time);
    o->outofmemory = atomic_load(&cc->outofmemory);
    o->reclaimed = atomic_load(&cc->reclaimed);
    o->expired_unfetched = atomic_load(&cc->expired_unfetched);
    o->evicted_unfetched = atomic_load(&cc->evicted_unfetched);
    o->evicted_active = atomic_load(&cc->evicted_active);
    o->get_hits = atomic_load(&cc->get_hits);
    o->cmd_set = atomic_load(&cc->cmd_set);
    o->delete_hits = atomic_load(&cc->delete_hits);
    o->incr_hits = atomic_load(&cc->incr_hits);
    o->decr_hits = atomic_load(&cc->decr_hits);
    o->cas_hits = atomic_load(&cc->cas_hits);
    o->cas_badval = atomic_load(&cc->cas_badval);
    o->touch_hits = atomic_load(&cc->touch_hits);
}

/* Under c->lock: seconds since the least recently accessed linked item was accessed, looking at
 * up to max_pages pages (so that a huge class is sampled, not scanned). */
static uint64_t class_age(struct store *st, struct slab_class *c, rel_time_t now,
                          uint32_t max_pages)
{
    rel_time_t oldest = now;
    uint32_t pages = c->npages < max_pages ? c->npages : max_pages;
    for (uint32_t n = 0; n < pages; n++) {
        /* From the CLOCK hand on: where the least recently used items are likeliest. */
        uint32_t slot = (c->hand_slot + n) % c->npages;
        char *page = slabs_page_ptr(&st->slabs, c->pages[slot]);
        for (uint32_t i = 0; i < c->chunks_per_page; i++) {
            struct item *it = (struct item *)(page + (size_t)i * c->chunk_size);
            if (!(atomic_load_explicit(&it->state, memory_order_acquire) & STATE_LINKED))
                continue;
            rel_time_t at = item_atime(it);
            if (at < oldest)
                oldest = at;
        }
    }
    return now - oldest;
}

void store_foreach_class(struct store *st, void (*fn)(void *ctx, const struct store_class_stats *),
                         void *ctx)
{
    struct slabs *s = &st->slabs;
    rel_time_t now = clock_now();
    for (unsigned i = 1; i <= s->nclasses; i++) {
        struct slab_class *c = &s->classes[i];
        struct store_class_stats o;
        memset(&o, 0, sizeof o);
        pthread_mutex_lock(&c->lock);
        bool shown = c->ever_had_page;
        if (shown) {
            o.id = i;
            o.chunk_size = c->chunk_size;
            o.chunks_per_page = c->chunks_per_page;
            o.total_pages = c->npages;
            o.total_chunks = (uint64_t)c->npages * c->chunks_per_page;
            o.free_chunks = c->nfree;
            o.used_chunks = o.total_chunks - c->nfree;
            o.mem_requested = c->mem_requested;
            fill_counters(&o, &c->counters);
            o.age = o.number ? class_age(st, c, now, STORE_AGE_STATS_PAGES) : 0;
        }
        pthread_mutex_unlock(&c->lock);
        if (shown)
            fn(ctx, &o);
    }
    /* Large items: one pseudo-class after the largest, counted in pages. */
    struct store_class_stats o;
    memset(&o, 0, sizeof o);
    fill_counters(&o, &s->classes[0].counters);
    pthread_mutex_lock(&s->pool_lock);
    o.total_pages = s->span_pages;
    pthread_mutex_unlock(&s->pool_lock);
    if (o.total_pages || o.number || o.evicted) {
        o.id = s->nclasses + 1;
        o.chunk_size = s->page_size;
        o.chunks_per_page = 1;
        o.total_chunks = o.total_pages;
        o.used_chunks = o.total_pages;
        fn(ctx, &o);
    }
}
