#ifndef SHOAL_OUTBUF_H
#define SHOAL_OUTBUF_H
/* A connection's pending output: replies are appended at the tail, the socket drains the head
 * with writev. Memory is a list of fixed-size chunks, so appending never moves what is already
 * queued and a drained connection holds no chunk at all. A chunk may instead borrow bytes it does
 * not own (outbuf_append_ref: a large value written straight from the store), with a release
 * callback run once they are written or dropped.
 *
 * The outbuf owns its chunks; outbuf_free releases them (and runs the pending release callbacks).
 * Not thread-safe: one connection, one thread. */
#include <stddef.h>
#include <sys/uio.h>

#define OUTBUF_CHUNK_SIZE 16384

typedef void outbuf_release_fn(void *owner, void *ref);

struct outbuf_chunk {
    struct outbuf_chunk *next;
    size_t start; /* first byte not yet written to the socket */
    size_t end;   /* first free byte (of a borrowed chunk: its length) */
    /* A borrowed chunk: its bytes are borrowed[start..end), data[] is not allocated, and
     * release(owner, ref) runs when the chunk is dropped. NULL for an ordinary chunk. */
    const char *borrowed;
    outbuf_release_fn *release;
    void *owner, *ref;
    char data[]; /* OUTBUF_CHUNK_SIZE bytes in an ordinary chunk, none in a borrowed one */
};

struct outbuf {
    struct outbuf_chunk *head;
    struct outbuf_chunk *tail;
    size_t pending; /* bytes queued and not yet consumed */
};

void outbuf_init(struct outbuf *ob);
void outbuf_free(struct outbuf *ob);

/* Frees the chunks this thread keeps for reuse; call when a thread that used outbufs ends
 * (chunks are recycled per thread, see outbuf.c). */
void outbuf_thread_release(void);
/* Appends n bytes. Returns 0, or -1 when memory ran out (nothing appended). */
int outbuf_append(struct outbuf *ob, const void *data, size_t n);
static inline int outbuf_append_str(struct outbuf *ob, const char *s);
/* Queues n bytes at `data` without copying them. The caller keeps them valid and unchanged
 * until release(owner, ref) is called: once they are written (outbuf_consume) or dropped
 * (outbuf_free). Returns 0, or -1 when memory ran out: then nothing is queued and release is not
 * called. */
int outbuf_append_ref(struct outbuf *ob, const void *data, size_t n, outbuf_release_fn *release,
                      void *owner, void *ref);
/* Returns a pointer to at least n (<= OUTBUF_CHUNK_SIZE) contiguous free bytes at the tail, or
 * NULL when memory ran out. Follow with outbuf_commit(ob, used) where used <= n. */
char *outbuf_reserve(struct outbuf *ob, size_t n);
void outbuf_commit(struct outbuf *ob, size_t used);

/* Drops the last n (<= pending) bytes queued, releasing what they borrowed: replies that are to
 * be discarded unsent. */
void outbuf_drop_tail(struct outbuf *ob, size_t n);

/* Copies the last n (<= pending) bytes queued into dst. */
void outbuf_copy_tail(const struct outbuf *ob, size_t n, char *dst);

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
