#include "server/outbuf.h"

#include <stdlib.h>
#include <string.h>

/* Ordinary chunks this thread dropped, kept for its next replies: a connection answering one
 * request at a time would otherwise malloc and free a chunk per request, a visible share of a
 * get's instructions (BENCHMARKS.md, "What this run says", "Instructions per request"). Per
 * thread, so no lock; at most OUTBUF_SPARE_MAX chunks per thread, freed by
 * outbuf_thread_release. */
#define OUTBUF_SPARE_MAX 4
static _Thread_local struct outbuf_chunk *spare;
static _Thread_local int nspare;

static struct outbuf_chunk *ordinary_chunk_alloc(void)
{
    struct outbuf_chunk *c = spare;
    if (c) {
        spare = c->next;
        nspare--;
        return c;
    }
    return malloc(sizeof(*c) + OUTBUF_CHUNK_SIZE);
}

static void ordinary_chunk_free(struct outbuf_chunk *c)
{
    if (nspare < OUTBUF_SPARE_MAX) {
        c->next = spare;
        spare = c;
        nspare++;
        return;
    }
    free(c);
}

void outbuf_thread_release(void)
{
    while (spare) {
        struct outbuf_chunk *next = spare->next;
        free(spare);
        spare = next;
    }
    nspare = 0;
}

void outbuf_init(struct outbuf *ob)
{
    ob->head = ob->tail = NULL;
    ob->pending = 0;
}

/* Frees one chunk, handing borrowed bytes back to their owner. */
static void drop_chunk(struct outbuf_chunk *c)
{
    if (c->borrowed) {
        c->release(c->owner, c->ref);
        free(c);
    } else {
        ordinary_chunk_free(c);
    }
}

void outbuf_free(struct outbuf *ob)
{
    struct outbuf_chunk *c = ob->head;
    while (c) {
        struct outbuf_chunk *next = c->next;
        drop_chunk(c);
        c = next;
    }
    outbuf_init(ob);
}

static void link_tail(struct outbuf *ob, struct outbuf_chunk *c)
{
    c->next = NULL;
    if (ob->tail)
        ob->tail->next = c;
    else
        ob->head = c;
    ob->tail = c;
}

static struct outbuf_chunk *add_chunk(struct outbuf *ob)
{
    struct outbuf_chunk *c = ordinary_chunk_alloc();
    if (!c)
        return NULL;
    c->start = c->end = 0;
    c->borrowed = NULL;
    link_tail(ob, c);
    return c;
}

/* Free bytes at the end of the tail chunk (none in a borrowed one). */
static size_t tail_room(const struct outbuf *ob)
{
    const struct outbuf_chunk *c = ob->tail;
    return c && !c->borrowed ? OUTBUF_CHUNK_SIZE - c->end : 0;
}

char *outbuf_reserve(struct outbuf *ob, size_t n)
{
    if (n > OUTBUF_CHUNK_SIZE)
        return NULL;
    struct outbuf_chunk *c = ob->tail;
    if (tail_room(ob) < n) {
        c = add_chunk(ob);
        if (!c)
            return NULL;
    }
    return c->data + c->end;
}

void outbuf_commit(struct outbuf *ob, size_t used)
{
    ob->tail->end += used;
    ob->pending += used;
}

int outbuf_append(struct outbuf *ob, const void *data, size_t n)
{
    /* Count the chunks needed first so that a failed allocation appends nothing. */
    size_t room = tail_room(ob);
    struct outbuf_chunk *old_tail = ob->tail;
    size_t left = n > room ? n - room : 0;
    while (left > 0) {
        if (!add_chunk(ob)) {
            /* Undo the chunks added for this call (all ordinary: nothing to release). */
            struct outbuf_chunk *c = old_tail ? old_tail->next : ob->head;
            while (c) {
                struct outbuf_chunk *next = c->next;
                ordinary_chunk_free(c);
                c = next;
            }
            if (old_tail)
                old_tail->next = NULL;
            else
                ob->head = NULL;
            ob->tail = old_tail;
            return -1;
        }
        left = left > OUTBUF_CHUNK_SIZE ? left - OUTBUF_CHUNK_SIZE : 0;
    }
    const char *p = data;
    struct outbuf_chunk *c = room > 0 ? old_tail : old_tail ? old_tail->next : ob->head;
    while (n > 0) {
        size_t take = OUTBUF_CHUNK_SIZE - c->end;
        if (take > n)
            take = n;
        memcpy(c->data + c->end, p, take);
        c->end += take;
        ob->pending += take;
        p += take;
        n -= take;
        if (n > 0)
            c = c->next;
    }
    return 0;
}

int outbuf_append_ref(struct outbuf *ob, const void *data, size_t n, outbuf_release_fn *release,
                      void *owner, void *ref)
{
    struct outbuf_chunk *c = malloc(sizeof(*c)); /* no data[]: the bytes are borrowed */
    if (!c)
        return -1;
    c->start = 0;
    c->end = n;
    c->borrowed = data;
    c->release = release;
    c->owner = owner;
    c->ref = ref;
    link_tail(ob, c);
    ob->pending += n;
    return 0;
}

static const char *chunk_bytes(const struct outbuf_chunk *c)
{
    return c->borrowed ? c->borrowed : c->data;
}

int outbuf_iov(const struct outbuf *ob, struct iovec *iov, int max)
{
    int n = 0;
    for (const struct outbuf_chunk *c = ob->head; c && n < max; c = c->next) {
        if (c->end == c->start)
            continue;
        iov[n].iov_base = (void *)(chunk_bytes(c) + c->start);
        iov[n].iov_len = c->end - c->start;
        n++;
    }
    return n;
}

void outbuf_consume(struct outbuf *ob, size_t n)
{
    ob->pending -= n;
    while (ob->head) {
        struct outbuf_chunk *c = ob->head;
        size_t avail = c->end - c->start;
        if (n < avail) {
            c->start += n;
            return;
        }
        n -= avail;
        if (c == ob->tail) {
            /* Keep nothing once drained: an idle connection holds no chunk. */
            drop_chunk(c);
            ob->head = ob->tail = NULL;
            return;
        }
        ob->head = c->next;
        drop_chunk(c);
    }
}

void outbuf_drop_tail(struct outbuf *ob, size_t n)
{
    if (n == 0)
        return;
    if (n >= ob->pending) {
        outbuf_free(ob);
        return;
    }
    size_t keep = ob->pending - n;
    struct outbuf_chunk *c = ob->head;
    for (;;) {
        size_t avail = c->end - c->start;
        if (keep <= avail) {
            c->end = c->start + keep;
            break;
        }
        keep -= avail;
        c = c->next;
    }
    struct outbuf_chunk *rest = c->next;
    c->next = NULL;
    ob->tail = c;
    while (rest) {
        struct outbuf_chunk *next = rest->next;
        drop_chunk(rest);
        rest = next;
    }
    ob->pending -= n;
}

void outbuf_copy_tail(const struct outbuf *ob, size_t n, char *dst)
{
    size_t skip = ob->pending - n;
    for (const struct outbuf_chunk *c = ob->head; c && n > 0; c = c->next) {
        size_t avail = c->end - c->start;
        if (skip >= avail) {
            skip -= avail;
            continue;
        }
        size_t take = avail - skip;
        memcpy(dst, chunk_bytes(c) + c->start + skip, take);
        dst += take;
        n -= take;
        skip = 0;
    }
}
