#include "server/slab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* With -m 0 ("no limit") the arena is this large; pages are only backed once used. */
#define SLAB_UNLIMITED_ARENA ((size_t)16 << 30)

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) & ~(a - 1);
}

/* The largest step from a class of `size` bytes to the next: 1/16 of the power of two at or
 * below size, rounded down to the alignment (at least the alignment). */
static size_t max_step(size_t size, size_t align)
{
    size_t pow2 = 1;
    while (pow2 <= size / 2)
        pow2 *= 2;
    size_t step = pow2 / SLAB_STEPS_PER_DOUBLING & ~(align - 1);
    return step > align ? step : align;
}

static void class_init(struct slab_class *c, unsigned id, uint32_t size, size_t page_size)
{
    c->id = id;
    c->chunk_size = size;
    c->chunks_per_page = (uint32_t)(page_size / size);
    c->pages = NULL;
}

bool slabs_init(struct slabs *s, size_t mem_limit, size_t smallest, double factor, char *err,
                size_t errlen)
{
    memset(s, 0, sizeof *s);
    size_t arena = mem_limit ? mem_limit : SLAB_UNLIMITED_ARENA;
    s->page_size = SLAB_PAGE_MAX;
    s->page_shift = 20;
    while (s->page_size > SLAB_PAGE_MIN && arena / s->page_size < SLAB_PAGES_WANTED) {
        s->page_size /= 2;
        s->page_shift--;
    }
    s->npages = (uint32_t)(arena / s->page_size);
    if (s->npages == 0) {
        snprintf(err, errlen, "memory limit %zu is below one %zu-byte page", mem_limit,
                 s->page_size);
        return false;
    }
    if (factor <= 1.0) {
        snprintf(err, errlen, "slab growth factor must be greater than 1");
        return false;
    }
    s->arena_size = (size_t)s->npages * s->page_size;
    /* 4-byte chunk alignment (items' largest fields are 4-byte words) while 32-bit
     * references reach the whole arena: up to 16 GB. */
    s->shift = 2;
    while ((s->arena_size >> s->shift) >= UINT32_MAX)
        s->shift++;
    size_t align = (size_t)1 << s->shift;

    void *base = mmap(NULL, s->arena_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        snprintf(err, errlen, "cannot reserve %zu bytes for items", s->arena_size);
        return false;
    }
    s->base = base;
    s->owner = calloc(s->npages, 1);
    s->touched = calloc(s->npages, 1);
    s->page_aux = calloc(s->npages, sizeof *s->page_aux);
    if (!s->owner || !s->touched || !s->page_aux) {
        snprintf(err, errlen, "out of memory for the page tables");
        slabs_destroy(s);
        return false;
    }
    s->free_pages = s->npages;
    pthread_mutex_init(&s->pool_lock, NULL);

    size_t size = align_up(smallest, align);
    unsigned id = 1;
    while (id < SLAB_MAX_CLASSES && size < s->page_size) {
        class_init(&s->classes[id], id, (uint32_t)size, s->page_size);
        id++;
        size_t next = align_up((size_t)((double)size * factor), align);
        /* Never more than 1/16 of the power of two below: rounding costs at most ~6%, not the
         * 25% of -f 1.25, for 16 classes per doubling. */
        size_t finest = size + max_step(size, align);
        if (next > finest)
            next = finest;
        if (next < size + align)
            next = size + align;
        size = next;
    }
    class_init(&s->classes[id], id, (uint32_t)s->page_size, s->page_size);
    s->nclasses = id;
    class_init(&s->classes[0], 0, (uint32_t)s->page_size, s->page_size);
    for (unsigned i = 0, cls = 1; i <= SLAB_LOOKUP_MAX / 4; i++) {
        while (s->classes[cls].chunk_size < 4 * i) /* the last class (a page) ends the walk */
            cls++;
        s->class_of_small[i] = (uint8_t)cls;
    }
    for (unsigned i = 0; i <= s->nclasses; i++) {
        struct slab_class *c = &s->classes[i];
        pthread_mutex_init(&c->lock, NULL);
        if (i > 0) {
            c->pages = malloc((size_t)s->npages * sizeof *c->pages);
            if (!c->pages) {
                snprintf(err, errlen, "out of memory for the class tables");
                slabs_destroy(s);
                return false;
            }
        }
    }
    return true;
}

void slabs_destroy(struct slabs *s)
{
    for (unsigned i = 0; i <= s->nclasses; i++) {
        free(s->classes[i].pages);
        s->classes[i].pages = NULL;
    }
    if (s->base)
        munmap(s->base, s->arena_size);
    free(s->owner);
    free(s->touched);
    free(s->page_aux);
    s->base = NULL;
    s->owner = s->touched = NULL;
    s->page_aux = NULL;
}

unsigned slabs_class_for(const struct slabs *s, size_t size)
{
    if (size <= SLAB_LOOKUP_MAX)
        return s->class_of_small[(size + 3) / 4];
    if (size > s->page_size)
        return 0;
    unsigned lo = 1, hi = s->nclasses;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (s->classes[mid].chunk_size >= size)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Free chunks form a doubly linked list (next at offset 0, prev at offset 4), so that a page
 * leaving the class can take its chunks out in time proportional to the page. */
enum { LINK_NEXT = 0, LINK_PREV = 4 };

static uint32_t link_get(const struct slabs *s, uint32_t ref, size_t at)
{
    uint32_t v;
    memcpy(&v, (char *)slabs_ptr(s, ref) + at, sizeof v);
    return v;
}

static void link_set(const struct slabs *s, uint32_t ref, size_t at, uint32_t v)
{
    memcpy((char *)slabs_ptr(s, ref) + at, &v, sizeof v);
}

static void note_spare(struct slab_class *c)
{
    bool spare = c->nfree >= c->chunks_per_page;
    if (atomic_load_explicit(&c->spare, memory_order_relaxed) != spare)
        atomic_store_explicit(&c->spare, spare, memory_order_relaxed);
}

static void free_push(struct slab_class *c, const struct slabs *s, uint32_t ref)
{
    link_set(s, ref, LINK_NEXT, c->free_head);
    link_set(s, ref, LINK_PREV, 0);
    if (c->free_head)
        link_set(s, c->free_head, LINK_PREV, ref);
    c->free_head = ref;
    c->nfree++;
    note_spare(c);
}

static void free_remove(struct slab_class *c, const struct slabs *s, uint32_t ref)
{
    uint32_t next = link_get(s, ref, LINK_NEXT), prev = link_get(s, ref, LINK_PREV);
    if (prev)
        link_set(s, prev, LINK_NEXT, next);
    else
        c->free_head = next;
    if (next)
        link_set(s, next, LINK_PREV, prev);
    c->nfree--;
    note_spare(c);
}

void *slab_chunk_take(struct slab_class *c, const struct slabs *s, size_t requested)
{
    uint32_t ref = c->free_head;
    if (!ref)
        return NULL;
    free_remove(c, s, ref);
    c->mem_requested += requested;
    return slabs_ptr(s, ref);
}

void slab_chunk_put(struct slab_class *c, const struct slabs *s, void *chunk, size_t requested)
{
    free_push(c, s, slabs_ref(s, chunk));
    c->mem_requested -= requested;
}

/* Under pool_lock: the first free page, or UINT32_MAX. Lowest first keeps the touched part of
 * the arena (and so the resident set) as small as the data allows. */
static uint32_t pool_find_free_run(const struct slabs *s, uint32_t len)
{
    uint32_t run = 0;
    for (uint32_t p = 0; p < s->npages; p++) {
        if (s->owner[p] != SLAB_OWNER_FREE) {
            run = 0;
            continue;
        }
        if (++run == len)
            return p + 1 - len;
    }
    return UINT32_MAX;
}

bool slab_class_grow(struct slabs *s, struct slab_class *c)
{
    pthread_mutex_lock(&s->pool_lock);
    uint32_t page = s->free_pages ? pool_find_free_run(s, 1) : UINT32_MAX;
    if (page == UINT32_MAX) {
        pthread_mutex_unlock(&s->pool_lock);
        return false;
    }
    bool reused = s->touched[page];
    s->owner[page] = (uint8_t)c->id;
    s->page_aux[page] = c->npages;
    s->touched[page] = 1;
    s->free_pages--;
    pthread_mutex_unlock(&s->pool_lock);

    char *base = slabs_page_ptr(s, page);
    c->pages[c->npages++] = page;
    c->ever_had_page = true;
    unsigned top = atomic_load_explicit(&s->top_class, memory_order_relaxed);
    while (top < c->id && !atomic_compare_exchange_weak_explicit(&s->top_class, &top, c->id,
                                                                 memory_order_relaxed,
                                                                 memory_order_relaxed)) {
    }
    for (uint32_t i = c->chunks_per_page; i-- > 0;) {
        char *chunk = base + (size_t)i * c->chunk_size;
        /* A fresh page reads as zeros; a reused one still holds old items, whose bytes would
         * look like chunk headers to a sweep. */
        if (reused)
            memset(chunk, 0, SLAB_CHUNK_HEADER_CLEAR);
        free_push(c, s, slabs_ref(s, chunk));
    }
    return true;
}

void slab_class_release_page(struct slabs *s, struct slab_class *c, uint32_t slot)
{
    uint32_t page = c->pages[slot];
    char *base = slabs_page_ptr(s, page);
    for (uint32_t i = 0; i < c->chunks_per_page; i++)
        free_remove(c, s, slabs_ref(s, base + (size_t)i * c->chunk_size));
    pthread_mutex_lock(&s->pool_lock);
    c->npages--;
    if (slot != c->npages) {
        c->pages[slot] = c->pages[c->npages];
        s->page_aux[c->pages[slot]] = slot;
    }
    s->owner[page] = SLAB_OWNER_FREE;
    s->page_aux[page] = 0;
    s->free_pages++;
    pthread_mutex_unlock(&s->pool_lock);
    atomic_fetch_add_explicit(&s->pages_moved, 1, memory_order_relaxed);
    if (c->hand_slot >= c->npages || c->hand_slot == slot) {
        c->hand_slot = c->hand_slot >= c->npages ? 0 : c->hand_slot;
        c->hand_chunk = 0;
    }
}

void *slab_span_take(struct slabs *s, uint32_t npages)
{
    pthread_mutex_lock(&s->pool_lock);
    uint32_t head = s->free_pages >= npages ? pool_find_free_run(s, npages) : UINT32_MAX;
    if (head == UINT32_MAX) {
        pthread_mutex_unlock(&s->pool_lock);
        return NULL;
    }
    s->owner[head] = SLAB_OWNER_SPAN;
    s->page_aux[head] = npages;
    s->touched[head] = 1;
    for (uint32_t p = head + 1; p < head + npages; p++) {
        s->owner[p] = SLAB_OWNER_SPAN_CONT;
        s->page_aux[p] = head;
        s->touched[p] = 1;
    }
    s->free_pages -= npages;
    s->span_pages += npages;
    /* Cleared under the pool lock so that an evacuation looking at this span before its owner
     * has written a header sees a chunk that is not linked. */
    memset(slabs_page_ptr(s, head), 0, SLAB_SPAN_HEADER_CLEAR);
    pthread_mutex_unlock(&s->pool_lock);
    return slabs_page_ptr(s, head);
}

void slab_span_put_locked(struct slabs *s, void *span)
{
    uint32_t head = slabs_page_of(s, span);
    uint32_t npages = s->page_aux[head];
    for (uint32_t p = head; p < head + npages; p++) {
        s->owner[p] = SLAB_OWNER_FREE;
        s->page_aux[p] = 0;
    }
    s->free_pages += npages;
    s->span_pages -= npages;
}

void slab_span_put(struct slabs *s, void *span)
{
    pthread_mutex_lock(&s->pool_lock);
    slab_span_put_locked(s, span);
    pthread_mutex_unlock(&s->pool_lock);
}
