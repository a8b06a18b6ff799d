#include "server/outbuf.h"

#include <stdlib.h>
#include <string.h>

void outbuf_init(struct outbuf *ob)
{
    ob->head = ob->tail = NULL;
    ob->pending = 0;
}

void outbuf_free(struct outbuf *ob)
{
    struct outbuf_chunk *c = ob->head;
    while (c) {
        struct outbuf_chunk *next = c->next;
        free(c);
        c = next;
    }
    outbuf_init(ob);
}

static struct outbuf_chunk *add_chunk(struct outbuf *ob)
{
    struct outbuf_chunk *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    c->next = NULL;
    c->start = c->end = 0;
    if (ob->tail)
        ob->tail->next = c;
    else
        ob->head = c;
    ob->tail = c;
    return c;
}

char *outbuf_reserve(struct outbuf *ob, size_t n)
{
    if (n > OUTBUF_CHUNK_SIZE)
        return NULL;
    struct outbuf_chunk *c = ob->tail;
    if (!c || OUTBUF_CHUNK_SIZE - c->end < n) {
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
    size_t room = ob->tail ? OUTBUF_CHUNK_SIZE - ob->tail->end : 0;
    struct outbuf_chunk *old_tail = ob->tail;
    size_t left = n > room ? n - room : 0;
    while (left > 0) {
        if (!add_chunk(ob)) {
            /* Undo the chunks added for this call. */
            struct outbuf_chunk *c = old_tail ? old_tail->next : ob->head;
            while (c) {
                struct outbuf_chunk *next = c->next;
                free(c);
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
    struct outbuf_chunk *c = old_tail ? old_tail : ob->head;
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

int outbuf_iov(const struct outbuf *ob, struct iovec *iov, int max)
{
    int n = 0;
    for (const struct outbuf_chunk *c = ob->head; c && n < max; c = c->next) {
        if (c->end == c->start)
            continue;
        iov[n].iov_base = (void *)(c->data + c->start);
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
            free(c);
            ob->head = ob->tail = NULL;
            return;
        }
        ob->head = c->next;
        free(c);
    }
}
