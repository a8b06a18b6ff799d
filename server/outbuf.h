#ifndef SHOAL_OUTBUF_H
#define SHOAL_OUTBUF_H
/* A connection's pending output: replies are appended at the tail, the socket drains the head
 * with writev. Memory is a list of fixed-size chunks, so appending never moves what is already
 * queued and a drained connection holds no chunk at all.
 *
 * The outbuf owns its chunks; outbuf_free releases them. Not thread-safe: one connection, one
 * thread. */
#include <stddef.h>
#include <sys/uio.h>

#define OUTBUF_CHUNK_SIZE 16384

struct outbuf_chunk {
    struct outbuf_chunk *next;
    size_t start; /* first byte not yet written to the socket */
    size_t end;   /* first free byte */
    char data[OUTBUF_CHUNK_SIZE];
};

struct outbuf {
    struct outbuf_chunk *head;
    struct outbuf_chunk *tail;
    size_t pending; /* bytes queued and not yet consumed */
};

void outbuf_init(struct outbuf *ob);
void outbuf_free(struct outbuf *ob);

/* Appends n bytes. Returns 0, or -1 when memory ran out (nothing appended). */
int outbuf_append(struct outbuf *ob, const void *data, size_t n);
static inline int outbuf_append_str(struct outbuf *ob, const char *s);
/* Returns a pointer to at least n (<= OUTBUF_CHUNK_SIZE) contiguous free bytes at the tail, or
 * NULL when memory ran out. Follow with outbuf_commit(ob, used) where used <= n. */
char *outbuf_reserve(struct outbuf *ob, size_t n);
void outbuf_commit(struct outbuf *ob, size_t used);

/* Fills up to max iovecs with the queued bytes, oldest first; returns how many it filled. */
int outbuf_iov(const struct outbuf *ob, struct iovec *iov, int max);
/* Drops n bytes from the head (they were written). Frees drained chunks. */
void outbuf_consume(struct outbuf *ob, size_t n);

#include <string.h>
static inline int outbuf_append_str(struct outbuf *ob, const char *s)
{
    return outbuf_append(ob, s, strlen(s));
}

#endif
