#ifndef SHOAL_ROUTE_WORKER_H
#define SHOAL_ROUTE_WORKER_H
/* Routing keys to their owners: the ketama ring and one pipelined connection per ring member,
 * per worker thread.
 *
 * Two modes (cluster/README.md, "Routing"):
 *   - a fixed ring, `--proxy --servers host:port[:weight][ name],...`: twemproxy's ring
 *     (KETAMA_COMPAT_TWEMPROXY), nothing stored locally;
 *   - a cluster ring, gossip on: each worker builds its ring from the membership snapshot's
 *     alive and suspect data members and rebuilds it when the snapshot changes; the member that
 *     is this node executes locally (route_worker_is_self). With --proxy this node is not a member of
 *     the ring (its gossip role is proxy) and stores nothing.
 *
 * Threads: the process-wide configuration is set once by route_worker_prepare before the workers
 * start and is read-only afterwards. A `struct route_worker` belongs to one worker: only that thread
 * calls into it (no locks on the request path). `stats proxy` (route_worker_stats) reads every
 * worker's counters from whatever thread runs it, through per-member atomic copies the worker
 * publishes once per event-loop turn. */
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/route/backend.h"

struct settings;
struct outbuf;

/* ---- the --servers list -------------------------------------------------------------------- */

struct route_worker_server {
    char *name;   /* twemproxy's optional name (ring label); NULL when none */
    char *host;   /* as written */
    char addr[64]; /* numeric address, after route_worker_servers_resolve */
    uint16_t port;
    uint32_t weight;
};

/* Owns items and their strings (route_worker_servers_free). */
struct route_worker_server_list {
    struct route_worker_server *items;
    size_t count;
};

/* Parses "host:port[:weight][ name],..." (IPv6 as [addr]:port). Returns 0, or -1 with a reason
 * in err. */
int route_worker_servers_parse(const char *spec, struct route_worker_server_list *out, char *err,
                         size_t err_len);
/* Resolves every host to a numeric address (the first one getaddrinfo gives). Returns 0, or -1
 * with a reason in err. */
int route_worker_servers_resolve(struct route_worker_server_list *list, char *err, size_t err_len);
void route_worker_servers_free(struct route_worker_server_list *list);

/* ---- process-wide -------------------------------------------------------------------------- */

/* Whether `name` is a key hash of --hash; when not, says so on msg with the names there are. */
bool route_worker_hash_known(const char *name, FILE *msg);

/* From the settings: parses and resolves --servers, picks the hash. Call once before the
 * workers start (with or without routing). Returns 0, or the exit code (message on stderr). */
int route_worker_prepare(const struct settings *s);
/* True when client commands are routed (fixed ring, or gossip running). Valid after
 * route_worker_prepare. */
bool route_worker_enabled(void);
/* True with --proxy: nothing is stored here; the forwarding marker is not honoured (a chain of
 * proxies must keep routing). */
bool route_worker_proxy_only(void);
/* Frees what route_worker_prepare built (after the workers stopped). */
void route_worker_release(void);

/* ---- per worker ---------------------------------------------------------------------------- */

struct route_worker;

/* A worker's router, registering backend sockets in epfd, each with its own event handler
 * (server/event_handler.h): the worker's loop runs their events without knowing them. NULL with
 * routing off or when memory ran out (errno ENOMEM). Call before the worker thread starts. */
struct route_worker *route_worker_create(int worker_id, int epfd);
/* Frees every backend: their requests in flight complete with BACKEND_LOST first. */
void route_worker_destroy(struct route_worker *r);

/* Once per event-loop turn, before handling its events: picks up a membership change (cluster
 * mode), so that a batch of commands sees one ring. Completions may run from here (backends of
 * members that left fail what they had in flight). */
void route_worker_refresh(struct route_worker *r);
/* Once per event-loop turn, after its events and before handling ready connections: runs the
 * backends' timers. Completions may run from here. */
void route_worker_tick(struct route_worker *r);
/* Once per event-loop turn, after everything else: writes what the turn queued (one write per
 * backend per turn), updates the epoll registrations, publishes counters. Returns the epoll
 * timeout in ms the backends need (at most max_ms). Runs no completion. */
int route_worker_flush(struct route_worker *r, int max_ms);

/* The ring, as of now (stable between route_worker_tick calls). */
uint32_t route_worker_member_count(const struct route_worker *r);
/* route_owner_fn: ctx is the router. */
uint32_t route_worker_owner(void *ctx, const char *key, size_t len);
/* True when member i is this node itself (cluster mode): execute locally. */
/* A key's owners with --replicas R: its first R distinct members clockwise on the ring (the first
 * is route_worker_owner's answer), at most max of them. Returns how many (0 without a ring). */
#define ROUTE_REPLICAS_MAX 16

/* Replication's counters in `stats proxy` (summed over workers). */
enum route_count {
    ROUTE_COUNT_REPLICA_WRITES,       /* copies sent to a key's other owners */
    ROUTE_COUNT_REPLICA_WRITE_ERRORS, /* of which failed (owner down, timed out) */
    ROUTE_COUNT_FAILOVER_WRITES,      /* writes done at a later owner: the primary failed */
    ROUTE_COUNT_FAILOVER_READS,       /* reads sent to a later owner: the primary failed */
    ROUTE_COUNT_READ_REPAIRS,         /* local misses refilled from another owner */
    ROUTE_COUNTS
};
void route_worker_count(enum route_count which);
uint32_t route_worker_owners(const struct route_worker *r, const char *key, size_t len,
                             uint32_t *out, uint32_t max);
/* Whether the member's process is gone (backend_peer_gone): its port refused us or it closed
 * our connection, so it holds nothing it could serve again (a node restarts empty). A member that
 * only stopped answering, or one on the ring without a backend, is not gone. */
bool route_worker_member_gone(const struct route_worker *r, uint32_t member);
bool route_worker_is_self(const struct route_worker *r, uint32_t member);

/* The member that is this node, if it is on the ring. */
bool route_worker_self_member(const struct route_worker *r, uint32_t *member);

/* Sends one request to member i; see backend_send (done is never called from inside). */
enum backend_error route_worker_send(struct route_worker *r, uint32_t member, const char *req, size_t len,
                               enum reply_kind kind, backend_done_fn done, void *arg);

/* Warm-up (cluster mode, --warmup SEC): during that grace period after this node joined a ring
 * with other members, a local miss may be looked up at the key's previous owner. */
bool route_worker_warmup_active(const struct route_worker *r);
/* The hand-off window: warm-up and a grace after it, in which writes of this node's keys also
 * delete the copy at the key's previous owner. */
bool route_worker_handoff_active(const struct route_worker *r);
/* Called once per loop turn with the node's store: runs a slice of a due hand-off sweep, which
 * drops the keys this node no longer owns after a ring change (cluster mode; worker 0 alone). */
struct store;
void route_worker_sweep_step(struct route_worker *r, struct store *st);
/* Within the hand-off window: true with *member set to the member that would own the key
 * without this node, which may still hold it (never this node itself). */
bool route_worker_warmup_source(struct route_worker *r, const char *key, size_t len, uint32_t *member);

/* Scratch buffer for merging replies, reused across requests (owned by the router). */
struct route_buf *route_worker_scratch(struct route_worker *r);

/* `stats proxy`: STAT lines per backend (summed over workers), without END. */
void route_worker_stats(struct outbuf *out);

#endif
