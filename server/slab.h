#ifndef SHOAL_SLAB_H
#define SHOAL_SLAB_H
/* The storage engine's memory: one reserved arena of fixed-size pages, handed to slab classes
 * (each page cut into equal chunks) or, for items larger than the largest class, to spans of
 * contiguous pages. Chunks are named by 32-bit references (offset in the arena shifted right by
 * the chunk alignment, plus one so that 0 means "none").
 *
 * This file knows nothing about items except that the first 8 bytes of a free chunk hold the
 * free-list links and that a chunk's first SLAB_CHUNK_HEADER_CLEAR bytes read as zeros when the
 * chunk is first handed to a class.
 *
 * Locking: each class has a mutex that its caller holds around every call taking a class; the
 * page pool has its own mutex, taken inside these functions (a leaf lock: nothing else is locked
 * while it is held, except by trylock). Order: stripe -> class -> pool.
 *
 * Ownership: struct slabs owns the arena and its tables; slabs_destroy frees them. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pages are 1 MB, or smaller (down to 64 KB) when -m would give fewer than 64 pages, so that
 * a small cache still has room for a page in each class in use. */
#define SLAB_PAGE_MAX ((size_t)1 << 20)
#define SLAB_PAGE_MIN ((size_t)1 << 16)
#define SLAB_PAGES_WANTED 64
/* slab_class_grow clears this many bytes at the head of each chunk of a reused page. */
#define SLAB_CHUNK_HEADER_CLEAR 24
/* slab_span_take clears this many bytes at the head of a span: at least an item header. */
#define SLAB_SPAN_HEADER_CLEAR 64
/* Class ids 1..SLAB_MAX_CLASSES (page owners, below the SLAB_OWNER_SPAN values); 0 means "a
 * span, not a class". 16 classes per doubling from ~64 bytes to 1 MB take about 220. */
#define SLAB_MAX_CLASSES 253
#define SLAB_STEPS_PER_DOUBLING 16
#define SLAB_LOOKUP_MAX 2048

/* What a page is used for (slabs.owner[page]): a class id, or one of these. */
#define SLAB_OWNER_FREE 0
#define SLAB_OWNER_SPAN 254      /* first page of a large item's span */
#define SLAB_OWNER_SPAN_CONT 255 /* a later page of a span */

/* Per-class counters for `stats items`; atomic because they are bumped under stripe locks too. */
struct slab_counters {
    _Atomic uint64_t number; /* linked items */
    _Atomic uint64_t evicted, evicted_nonzero, evicted_unfetched, evicted_active, outofmemory;
    _Atomic uint64_t reclaimed, expired_unfetched, crawler_reclaimed;
    _Atomic uint64_t evicted_time; /* seconds since the last evicted item was accessed */
    _Atomic uint64_t get_hits, cmd_set, delete_hits, incr_hits, decr_hits, cas_hits, cas_badval,
        touch_hits;
};

struct slab_class {
    pthread_mutex_t lock;
    unsigned id;
    uint32_t chunk_size;
    uint32_t chunks_per_page;
    /* Under lock: */
    uint32_t *pages; /* page numbers owned by this class; capacity = slabs.npages */
    uint32_t npages;
    uint32_t free_head; /* free-list of chunk refs */
    uint64_t nfree;
    /* nfree >= chunks_per_page: some page's worth of chunks is free, so a page could leave
     * without evicting anything. Read without the lock as a hint. */
    atomic_bool spare;
    uint64_t mem_requested; /* bytes asked for by the chunks in use */
    uint32_t hand_slot, hand_chunk; /* CLOCK hand: pages[hand_slot], chunk index */
    bool ever_had_page;
    struct slab_counters counters;
};

struct slabs {
    char *base;
    size_t arena_size;
    size_t page_size;
    unsigned page_shift;
    uint32_t npages;
    unsigned shift; /* log2 of the chunk alignment (>= 3) */
    unsigned nclasses;
    /* The highest class id that has ever held a page: loops over classes in use stop there
     * (there are ~220 classes, most never used). Only grows. */
    _Atomic unsigned top_class;
    /* slabs_class_for without a search for sizes up to SLAB_LOOKUP_MAX: [(size + 3) / 4] */
    uint8_t class_of_small[SLAB_LOOKUP_MAX / 4 + 1];
    struct slab_class classes[SLAB_MAX_CLASSES + 1]; /* [0]: spans (counters only) */

    pthread_mutex_t pool_lock;
    /* Under pool_lock: */
    uint8_t *owner;     /* per page: SLAB_OWNER_* or class id */
    uint32_t *page_aux; /* class page: its slot in class.pages; span head: length; cont: head */
    uint8_t *touched;   /* per page: ever used, so it must be cleared before reuse */
    uint32_t free_pages;
    uint32_t span_pages;  /* pages held by spans */
    uint32_t evict_cursor; /* where the next page to evacuate is looked for */
    _Atomic uint64_t pages_moved;
};

/* Sets up the arena: mem_limit bytes (0 = 16 GB), classes from `smallest` bytes growing by
 * `factor`, but by no more than 1/SLAB_STEPS_PER_DOUBLING of the power of two below, up to a
 * page. Returns false with a message in err. */
bool slabs_init(struct slabs *s, size_t mem_limit, size_t smallest, double factor, char *err,
                size_t errlen);
void slabs_destroy(struct slabs *s);

/* The smallest class whose chunks hold `size` bytes, or 0 when only a span can. */
unsigned slabs_class_for(const struct slabs *s, size_t size);

static inline void *slabs_ptr(const struct slabs *s, uint32_t ref)
{
    return s->base + ((size_t)(ref - 1) << s->shift);
}
static inline uint32_t slabs_ref(const struct slabs *s, const void *p)
{
    return (uint32_t)(((size_t)((const char *)p - s->base) >> s->shift) + 1);
}
static inline uint32_t slabs_page_of(const struct slabs *s, const void *p)
{
    return (uint32_t)((size_t)((const char *)p - s->base) >> s->page_shift);
}
static inline char *slabs_page_ptr(const struct slabs *s, uint32_t page)
{
    return s->base + ((size_t)page << s->page_shift);
}

/* Under c->lock: a free chunk, or NULL. */
void *slab_chunk_take(struct slab_class *c, const struct slabs *s, size_t requested);
/* Under c->lock: returns a chunk to the class's free list. */
void slab_chunk_put(struct slab_class *c, const struct slabs *s, void *chunk, size_t requested);
/* Under c->lock: moves a free page from the pool into the class. False when the pool is empty. */
bool slab_class_grow(struct slabs *s, struct slab_class *c);
/* Under c->lock, when every chunk of pages[slot] is free (on the free list): gives that page
 * back to the pool. */
void slab_class_release_page(struct slabs *s, struct slab_class *c, uint32_t slot);

/* Pool: `npages` contiguous free pages for one large item, or NULL. */
void *slab_span_take(struct slabs *s, uint32_t npages);
void slab_span_put(struct slabs *s, void *span);
/* As slab_span_put, for a caller that holds pool_lock. */
void slab_span_put_locked(struct slabs *s, void *span);

#endif
