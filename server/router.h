#ifndef SHOAL_ROUTER_H
#define SHOAL_ROUTER_H
/* Routing keys to their owners: the ketama ring and one pipelined connection per ring member,
 * per worker thread.
 *
 * Two modes (cluster/README.md, "Routing"):
 *   - a fixed ring, `--proxy --servers host:port[:weight][ name],...`: twemproxy's ring
 *     (KETAMA_COMPAT_TWEMPROXY), nothing stored locally;
 *   - a cluster ring, gossip on: each worker builds its ring from the membership snapshot's
 *     alive and suspect data members and rebuilds it when the snapshot changes; the member that
 *     is this node executes locally (router_is_self). With --proxy this node is not a member of
 *     the ring (its gossip role is proxy) and stores nothing.
 *
 * Threads: the process-wide configuration is set once by router_prepare before the workers
 * start and is read-only afterwards. A `struct router` belongs to one worker: only that thread
 * calls into it (no locks on the request path). `stats proxy` (router_stats) reads every
 * worker's counters from whatever thread runs it, through per-member atomic copies the worker
 * publishes once per event-loop turn. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/backend.h"

struct settings;
struct outbuf;

/* ---- the --servers list -------------------------------------------------------------------- */

struct router_server {
    char *name;   /* twemproxy's optional name (ring label); NULL when none */
    char *host;   /* as written */
    char addr[64]; /* numeric address, after router_servers_resolve */
    uint16_t port;
    uint32_t weight;
};

/* Owns items and their strings (router_servers_free). */
struct router_server_list {
    struct router_server *items;
    size_t count;
};

/* Parses "host:port[:weight][ name],..." (IPv6 as [addr]:port). Returns 0, or -1 with a reason
 * in err. */
int router_servers_parse(const char *spec, struct router_server_list *out, char *err,
                         size_t err_len);
/* Resolves every host to a numeric address (the first one getaddrinfo gives). Returns 0, or -1
 * with a reason in err. */
int router_servers_resolve(struct router_server_list *list, char *err, size_t err_len);
void router_servers_free(struct router_server_list *list);

/* ---- process-wide -------------------------------------------------------------------------- */

/* From the settings: parses and resolves --servers, picks the hash. Call once before the
 * workers start (with or without routing). Returns 0, or the exit code (message on stderr). */
int router_prepare(const struct settings *s);
/* True when client commands are routed (fixed ring, or gossip running). Valid after
 * router_prepare. */
bool router_enabled(void);
/* True with --proxy: nothing is stored here; the forwarding marker is not honoured (a chain of
 * proxies must keep routing). */
bool router_proxy_only(void);
/* Frees what router_prepare built (after the workers stopped). */
void router_release(void);

/* ---- per worker ---------------------------------------------------------------------------- */

struct router;

/* A worker's router, registering backend sockets in epfd. NULL with routing off or when memory
 * ran out (errno ENOMEM). Call before the worker thread starts. */
struct router *router_create(int worker_id, int epfd);
/* Frees every backend: their requests in flight complete with BACKEND_LOST first. */
void router_destroy(struct router *r);

/* Epoll tags: a backend's events carry a pointer with the low bit set (conns, listeners and the
 * wake fd never have it, see worker.c). */
static inline bool router_is_tag(const void *p)
{
    return ((uintptr_t)p & 1u) != 0 && (uintptr_t)p > 4096;
}
void router_on_event(struct router *r, void *tag, uint32_t events);

/* Once per event-loop turn, before handling its events: picks up a membership change (cluster
 * mode), so that a batch of commands sees one ring. Completions may run from here (backends of
 * members that left fail what they had in flight). */
void router_refresh(struct router *r);
/* Once per event-loop turn, after its events and before handling ready connections: runs the
 * backends' timers. Completions may run from here. */
void router_tick(struct router *r);
/* Once per event-loop turn, after everything else: writes what the turn queued (one write per
 * backend per turn), updates the epoll registrations, publishes counters. Returns the epoll
 * timeout in ms the backends need (at most max_ms). Runs no completion. */
int router_flush(struct router *r, int max_ms);

/* The ring, as of now (stable between router_tick calls). */
uint32_t router_member_count(const struct router *r);
/* route_owner_fn: ctx is the router. */
uint32_t router_owner(void *ctx, const char *key, size_t len);
/* True when member i is this node itself (cluster mode): execute locally. */
bool router_is_self(const struct router *r, uint32_t member);

/* The member that is this node, if it is on the ring. */
bool router_self_member(const struct router *r, uint32_t *member);

/* Sends one request to member i; see backend_send (done is never called from inside). */
enum backend_error router_send(struct router *r, uint32_t member, const char *req, size_t len,
                               enum reply_kind kind, backend_done_fn done, void *arg);

/* Warm-up (cluster mode, --warmup SEC): during that grace period after this node joined a ring
 * with other members, the member that would own a key without this node, which may still hold
 * it. */
bool router_warmup_active(const struct router *r);
/* True with *member set when the key has such a source (never this node itself). */
bool router_warmup_source(struct router *r, const char *key, size_t len, uint32_t *member);

/* Scratch buffer for merging replies, reused across requests (owned by the router). */
struct route_buf *router_scratch(struct router *r);

/* `stats proxy`: STAT lines per backend (summed over workers), without END. */
void router_stats(struct outbuf *out);

#endif
