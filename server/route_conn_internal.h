#ifndef SHOAL_ROUTE_CONN_INTERNAL_H
#define SHOAL_ROUTE_CONN_INTERNAL_H
/* What the three files of a routed client connection share (not for anyone else):
 *   route_conn.c     framing, the FIFO of pending commands, sending parts, replies in order;
 *   route_handoff.c  a local miss looked up at another holder of the key (warm-up after a join,
 *                    read repair with --replicas), and the write counters that keep a delete
 *                    from being undone by such a copy;
 *   route_replica.c  --replicas: a write at its primary and copied to the other owners, and a
 *                    read whose owner failed sent to the next.
 * Single-threaded: everything here belongs to the worker that owns the connection. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/route/backend.h"
#include "cluster/route/route.h"
#include "proto/parse.h"
#include "server/line_copy.h"
#include "server/outbuf.h"
#include "server/route_conn.h"

/* Marks the deletes warm-up sends to a previous owner, so that that node, in warm-up itself,
 * does not pass them on (which would make two joining nodes delete back and forth forever). */
#define WARMUP_OPAQUE "O.shoal-warmup"

struct repl;
struct route_binary;

/* A backend completion's argument: which part of which command. */
struct part_ref {
    struct entry *entry;
    uint32_t index;
};

/* One pending command: a routed plan waiting for parts, or local replies waiting their turn.
 * Recycled through the worker's pool with the memory of its plan and part arrays. */
struct entry {
    struct entry *next;
    struct route_conn_pool *pool;
    struct route_conn *owner; /* NULL once the client is gone: the last part frees it */
    bool is_plan;
    bool sending; /* forward() is still sending its parts: it drains itself afterwards */
    uint32_t parts_left;
    struct outbuf local; /* !is_plan: the replies */
    struct route_plan plan;
    /* per part, allocated together: the outcome, its bytes when kept, the callback argument */
    struct route_result *results;
    struct route_buf *copies;
    struct part_ref *refs;
    size_t block_cap; /* parts the block above has room for */
    struct repl *repl; /* a replicated write (--replicas): owned; NULL otherwise */
};

struct route_conn_pool {
    struct entry *free;
    size_t nfree;
};

struct route_conn {
    struct route_worker *router;
    struct route_conn_pool *pool;
    struct session *session;
    struct outbuf *out;
    route_conn_notify_fn notify;
    void *notify_arg;
    struct entry *head, *tail;
    size_t nentries;
    size_t held; /* reply bytes copied into entries */
    bool seen_first_line;
    bool forwarded;
    int conn_id; /* for -vv lines, as the session's */
    struct line_copy line; /* the current line, NUL-terminated, for the tokenizer */
    /* The command at the front of the input is routed with a data block not all here yet: the
     * bytes (line and block) it needs in one buffer; 0 when none. */
    size_t want_input;
    /* Bytes of a refused (over the item size limit) data block still to pass to the session,
     * which swallows them as memcached does: such a block is never buffered whole. */
    uint64_t skip_left;
    /* A binary protocol client: its requests go through route_binary.c instead. */
    struct route_binary *binary;
    bool ascii_only; /* route_binary's inner connection: never binary, whatever -B says */
};


/* ---- route_conn.c ---- */

/* Room for n parts in the entry's block. */
bool rc_reserve_parts(struct entry *e, size_t n);
/* Queues e at the tail of the connection's FIFO. */
void rc_push(struct route_conn *pc, struct entry *e);
/* Moves every finished command at the head of the FIFO to the client's outbuf. */
void rc_drain(struct route_conn *pc);
/* One part of e has its result: frees an orphan's last part, or writes what is now in order
 * (and wakes the connection when called from a backend's completion). */
void rc_finish_part(struct entry *e, bool from_backend);
/* Records part i's outcome (a failed read may be taken over by the failover), then
 * rc_finish_part. */
void rc_complete_part(struct entry *e, uint32_t i, enum backend_error err, const char *reply,
                      size_t len, bool from_backend);
/* Runs part i through the local session; its reply becomes the part's result. False when memory
 * ran out (the result then says so). */
bool rc_local_part(struct route_conn *pc, struct entry *e, uint32_t i);
/* The key a single-key command addresses, as it is placed and stored: a meta command's base64
 * key (b) decoded into buf. False when there is none (or it does not decode). */
bool rc_command_key(const struct proto_token *t, size_t nt, enum proto_cmd cmd,
                    unsigned char buf[PROTO_KEY_MAX_LENGTH + 4], const char **key, size_t *len,
                    bool *binary);
/* Appends n bytes to b, growing it. False when memory ran out. */
bool rc_buf_put(struct route_buf *b, const void *p, size_t n);
/* Moves everything src holds to the end of b. False when memory ran out (src is emptied). */
bool rc_outbuf_move(struct outbuf *src, struct route_buf *b);
/* A backend completion for requests whose reply nobody reads. */
void rc_ignore_reply(void *arg, enum backend_error err, const char *reply, size_t len);

/* ---- route_handoff.c ---- */

/* Whether a local miss of a key this node owns is looked up elsewhere: at its previous owner
 * during warm-up, and at its other owners with --replicas (read repair). */
bool handoff_lookups_on(const struct route_worker *r);
/* Retrievals whose local misses may be looked up elsewhere. */
bool handoff_warmable(enum proto_cmd cmd);
/* A lookup or delete another node's warm-up sent (WARMUP_OPAQUE): run here, never passed on. */
bool handoff_is_lookup(const struct proto_token *t, size_t nt, enum proto_cmd cmd);
/* After part i ran locally: looks its missed keys up elsewhere. True when lookups are in flight
 * (the part then completes when they are answered). */
bool handoff_start_lookups(struct route_conn *pc, struct entry *e, uint32_t i);
/* Before a write to a key this node owns runs: counts it (a copy-in racing it is undone), and
 * during the hand-off window deletes the previous owner's copy. */
void handoff_note_write(struct route_conn *pc, const struct proto_token *t, size_t nt,
                        enum proto_cmd cmd);
/* Counts a write of the key (placed form) before it runs here. */
void handoff_count_write(const char *key, size_t len);

/* ---- route_replica.c ---- */

/* Takes a single-key write whose key has other owners (--replicas): queues the entry and starts
 * it. False when it is not such a write: the caller goes on as without replication. */
bool replica_write(struct route_conn *pc, struct entry *e, const struct proto_token *t, size_t nt);
/* Part i of a read failed with err at its owner: asks its keys' next owners. True when it took
 * the part over. */
bool replica_failover_read(struct entry *e, uint32_t i, enum backend_error err, bool from_backend);
void replica_free(struct repl *r);

#endif
