/* Per-worker rings and backend pools; see route_worker.h. */
#include "server/route_worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "cluster/gossip/gossip_view.h"
#include "cluster/route/hash/hash.h"
#include "cluster/route/ketama.h"
#include "cluster/route/route.h"
#include "cluster/gossip/wire.h"
#include "server/cluster_node.h"
#include "server/cluster_options.h"
#include "server/event_handler.h"
#include "server/log.h"
#include "server/outbuf.h"
#include "server/settings.h"
#include "server/store.h"

/* Unwritten request bytes per backend per worker beyond which requests are refused ("backend
 * busy"): far above any healthy pipeline, low enough that a stuck backend cannot take the
 * machine's memory. */
#define BACKEND_MAX_QUEUED (64u * 1024 * 1024)
/* A backend reply held beyond this is read and dropped as it arrives, and its command fails
 * with "backend reply too large" (backend.h, max_reply_bytes), so that a multi-get of many large
 * values cannot take the worker's memory. Raised to fit one value of -I. */
#define REPLY_HOLD_MAX (64u * 1024 * 1024)
/* After warm-up, how long a joined node's writes still delete the previous owner's copy: time
 * for that owner to notice the change and drop the keys it no longer owns (a sweep of its table,
 * route_worker_sweep_step), so that none of its copies can be served stale if this node goes
 * again. */
#define HANDOFF_GRACE_MS 10000u
/* Buckets a hand-off sweep visits per loop turn; the loop does not sleep while one runs. */
#define SWEEP_BUCKETS_PER_TURN 4096u
/* Reconnect backoff: the first retry soon (a restarted backend is back within a tick), then
 * doubling to one attempt a second, so a dead backend costs one connect per second per worker. */
#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 1000
#define MAX_WORKERS 1024


enum route_worker_mode {
    MODE_OFF,
    MODE_FIXED,   /* --servers */
    MODE_CLUSTER, /* gossip */
};

/* What `stats proxy` reads from other threads: the worker copies its backend's counters here
 * once per turn (relaxed stores, single writer). */
struct published {
    _Atomic uint64_t requests, replies, errors, timeouts, reconnects, in_flight;
};

/* One ring member as this worker sees it. Allocated one by one so that its handler, registered
 * in epoll, stays valid while the table around it is rebuilt. */
struct member {
    struct event_handler handler;   /* the backend socket's, in the worker's epoll */
    struct route_worker *router;    /* the worker's router it belongs to */
    char label[WIRE_NAME_MAX + 72]; /* stats: the name, else host:port */
    char ring_name[WIRE_NAME_MAX + 1]; /* ketama label name ("" for none) */
    char host[WIRE_NAME_MAX + 1];   /* as configured (ketama label when unnamed) */
    char addr[64];                  /* numeric */
    uint16_t port;
    uint32_t weight;
    bool self;                      /* this node: no backend, execute locally */
    struct backend *backend;        /* owned; NULL for self */
    uint64_t reg_serial;            /* the socket registered in epoll (by fd serial) */
    uint32_t reg_events;
    struct published pub;
    uint64_t errors_seen;           /* backend errors already hinted to gossip */
    uint64_t next_hint_ms;          /* no new hint before then */
};

struct route_worker {
    int worker_id;
    int epfd;
    /* Guards the table's shape (members, nmembers) against route_worker_stats readers. The worker
     * takes it only to change the table (membership changes), never per request. */
    pthread_mutex_t table_lock;
    struct member **members;
    uint32_t nmembers;
    struct ketama_ring *ring; /* NULL when no member (cluster mode before gossip) */
    /* Members that left the ring at the start of this turn: the turn's epoll events may still
     * name them, so they are freed after the events (route_worker_tick). */
    struct member **retired;
    uint32_t nretired;
    struct route_buf scratch;
    /* cluster mode */
    uint64_t now; /* ms, read once per turn (timeouts have ms granularity) */
    /* warm-up (cluster mode): the ring of the current members without this node, and which
     * member each of its servers is; valid for g.warmup_ms after joined_at */
    struct ketama_ring *others_ring;
    uint32_t *others_map;
    uint64_t joined_at;
    bool had_others;
    struct gossip_view *view;
    int view_slot;
    uint64_t view_version;
    bool view_seen;
    /* hand-off sweep (cluster mode, worker 0 alone: the store is shared): after a ring change,
     * once the joiners' warm-up is over, the keys this node no longer owns are dropped */
    uint64_t sweep_at;     /* ms; 0: none due */
    uint32_t sweep_cursor; /* the next bucket */
};

static struct {
    enum route_worker_mode mode;
    bool proxy_only;
    struct route_worker_server_list servers;
    key_hash_fn hash;
    uint64_t timeout_ms;
    /* --warmup: for this long after this node joined a ring with other members, a local miss of
     * a key is looked up at the member that would own it without this node (and copied in);
     * 0: off */
    uint64_t warmup_ms;
    char self_name[WIRE_NAME_MAX + 1];
    struct route_worker *workers[MAX_WORKERS];
    _Atomic uint64_t counts[ROUTE_COUNTS]; /* replication's, route_worker_count */
    _Atomic uint64_t sweeps;        /* hand-off sweeps completed */
    _Atomic uint64_t swept_items;   /* items they dropped */
} g;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the --servers list -------------------------------------------------------------------- */

static char *dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static bool parse_u32(const char *s, size_t n, uint32_t min, uint32_t max, uint32_t *out)
{
    if (n == 0 || n > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* One "host:port[:weight][ name]" entry. */
static int parse_entry(const char *e, size_t n, struct route_worker_server *out, char *err,
                       size_t err_len)
{
    while (n > 0 && e[0] == ' ')
        e++, n--;
    while (n > 0 && e[n - 1] == ' ')
        n--;
    const char *space = memchr(e, ' ', n);
    size_t addr_len = space ? (size_t)(space - e) : n;
    if (space) {
        const char *name = space;
        size_t name_len = n - addr_len;
        while (name_len > 0 && *name == ' ')
            name++, name_len--;
        if (name_len == 0 || name_len > WIRE_NAME_MAX || memchr(name, ' ', name_len)) {
            snprintf(err, err_len, "bad server name in \"%.*s\"", (int)n, e);
            return -1;
        }
        out->name = dup_range(name, name_len);
        if (!out->name)
            goto nomem;
    }
    const char *host = e, *rest;
    size_t host_len;
    if (addr_len > 0 && e[0] == '[') {
        const char *close = memchr(e, ']', addr_len);
        if (!close || close + 1 >= e + addr_len || close[1] != ':')
            goto bad;
        host = e + 1;
        host_len = (size_t)(close - host);
        rest = close + 2;
    } else {
        const char *colon = memchr(e, ':', addr_len);
        if (!colon)
            goto bad;
        host_len = (size_t)(colon - e);
        rest = colon + 1;
    }
    size_t rest_len = addr_len - (size_t)(rest - e);
    const char *colon = memchr(rest, ':', rest_len);
    size_t port_len = colon ? (size_t)(colon - rest) : rest_len;
    uint32_t port, weight = 1;
    if (host_len == 0 || host_len > WIRE_NAME_MAX || !parse_u32(rest, port_len, 1, 65535, &port))
        goto bad;
    if (colon && !parse_u32(colon + 1, rest_len - port_len - 1, 1, 1000000, &weight))
        goto bad;
    out->host = dup_range(host, host_len);
    if (!out->host)
        goto nomem;
    out->port = (uint16_t)port;
    out->weight = weight;
    return 0;
bad:
    snprintf(err, err_len, "\"%.*s\" is not host:port[:weight][ name]", (int)n, e);
    return -1;
nomem:
    snprintf(err, err_len, "out of memory");
    return -1;
}

int route_worker_servers_parse(const char *spec, struct route_worker_server_list *out, char *err,
                         size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) {
        snprintf(err, err_len, "empty list");
        return -1;
    }
    size_t cap = 1;
    for (const char *p = spec; *p; p++)
        cap += *p == ',';
    out->items = calloc(cap, sizeof *out->items);
    if (!out->items) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (parse_entry(p, n, &out->items[out->count], err, err_len) != 0) {
            out->count++; /* free what the entry got */
            route_worker_servers_free(out);
            return -1;
        }
        out->count++;
        if (!comma)
            break;
        p = comma + 1;
    }
    for (size_t i = 0; i < out->count; i++)
        for (size_t j = 0; j < i; j++) {
            const struct route_worker_server *a = &out->items[i], *b = &out->items[j];
            bool same_name = a->name && b->name && strcmp(a->name, b->name) == 0;
            bool same_addr = strcmp(a->host, b->host) == 0 && a->port == b->port;
            if (same_name || same_addr) {
                snprintf(err, err_len, "%s:%u listed twice", a->host, a->port);
                route_worker_servers_free(out);
                return -1;
            }
        }
    return 0;
}

int route_worker_servers_resolve(struct route_worker_server_list *list, char *err, size_t err_len)
{
    for (size_t i = 0; i < list->count; i++) {
        struct route_worker_server *sv = &list->items[i];
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        int rc = getaddrinfo(sv->host, NULL, &hints, &res);
        if (rc != 0 || !res) {
            snprintf(err, err_len, "cannot resolve %s: %s", sv->host, gai_strerror(rc));
            return -1;
        }
        const void *a = res->ai_family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
        inet_ntop(res->ai_family, a, sv->addr, sizeof sv->addr);
        freeaddrinfo(res);
    }
    return 0;
}

void route_worker_servers_free(struct route_worker_server_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].name);
        free(list->items[i].host);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}

/* ---- process-wide -------------------------------------------------------------------------- */

bool route_worker_hash_known(const char *name, FILE *msg)
{
    if (name && hash_by_name(name))
        return true;
    fprintf(msg, "Invalid --hash %s: one of", name ? name : "");
    for (const struct hash_algorithm *h = hash_algorithms(); h->name; h++)
        fprintf(msg, " %s", h->name);
    fprintf(msg, "\n");
    return false;
}

int route_worker_prepare(const struct settings *s)
{
    g.mode = MODE_OFF;
    g.proxy_only = s->proxy;
    g.timeout_ms = s->backend_timeout_ms ? s->backend_timeout_ms : 1000;
    g.warmup_ms = (uint64_t)s->warmup_sec * 1000;
    g.hash = hash_md5;
    if (s->proxy_hash) {
        const struct hash_algorithm *h = hash_by_name(s->proxy_hash);
        if (!h) {
            fprintf(stderr, "unknown --hash %s\n", s->proxy_hash);
            return 64;
        }
        g.hash = h->fn;
    }
    if (s->servers) {
        char err[256];
        if (route_worker_servers_parse(s->servers, &g.servers, err, sizeof err) != 0 ||
            route_worker_servers_resolve(&g.servers, err, sizeof err) != 0) {
            fprintf(stderr, "--servers: %s\n", err);
            route_worker_servers_free(&g.servers);
            return 64;
        }
        g.mode = MODE_FIXED;
    } else if (cluster_enabled(s)) {
        g.mode = MODE_CLUSTER;
        cluster_node_name(s, g.self_name, sizeof g.self_name);
    }
    return 0;
}

bool route_worker_enabled(void)
{
    return g.mode != MODE_OFF;
}

bool route_worker_proxy_only(void)
{
    return g.proxy_only;
}

void route_worker_release(void)
{
    route_worker_servers_free(&g.servers);
    g.mode = MODE_OFF;
}

/* ---- members ------------------------------------------------------------------------------- */

/* The backend socket's events (its handler). */
static void member_on_event(struct event_handler *h, uint32_t events)
{
    struct member *m = EVENT_HANDLER_OWNER(h, struct member, handler);
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        backend_on_readable(m->backend, m->router->now);
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        backend_on_writable(m->backend, m->router->now);
}

static void member_free(struct member *m)
{
    if (!m)
        return;
    backend_free(m->backend); /* completes what is in flight with BACKEND_LOST */
    free(m);
}

/* The bound on a held reply: REPLY_HOLD_MAX, or one value of -I with its VALUE line. */
static size_t reply_hold_max(void)
{
    size_t one_value = settings.item_size_max + REPLY_LINE_MAX + 2;
    return one_value > REPLY_HOLD_MAX ? one_value : REPLY_HOLD_MAX;
}

/* A member of r's ring for host:port (numeric addr), connecting from `source` (NULL: the
 * kernel's choice), or NULL when memory ran out or addr is bad. */
static struct member *member_new(struct route_worker *r, const char *label,
                                 const char *ring_name, const char *host, const char *addr,
                                 uint16_t port, uint32_t weight, bool self, const char *source)
{
    struct member *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->handler.on_event = member_on_event;
    m->router = r;
    snprintf(m->label, sizeof m->label, "%s", label);
    snprintf(m->ring_name, sizeof m->ring_name, "%s", ring_name ? ring_name : "");
    snprintf(m->host, sizeof m->host, "%s", host);
    snprintf(m->addr, sizeof m->addr, "%s", addr);
    m->port = port;
    m->weight = weight;
    m->self = self;
    if (self)
        return m;
    struct backend_config cfg = {
        .host = m->addr,
        .port = port,
        .source = source,
        .timeout_ms = g.timeout_ms,
        .backoff_min_ms = BACKOFF_MIN_MS,
        .backoff_max_ms = BACKOFF_MAX_MS,
        .max_queued_bytes = BACKEND_MAX_QUEUED,
        .max_reply_bytes = reply_hold_max(),
        .hello = ROUTE_PEER_HELLO,
        .hello_kind = REPLY_META,
        .defer_writes = true,
    };
    m->backend = backend_new(&cfg);
    if (!m->backend) {
        free(m);
        return NULL;
    }
    return m;
}

/* A ring member without a backend (cluster/README.md, "Partitions"): a member buried without
 * its keys being taken over, or the one member of the ring of a node without a quorum. Its keys
 * fail at once: reads miss, writes answer SERVER_ERROR. */
static struct member *member_unreachable(struct route_worker *r, const char *name,
                                         const char *host, const char *addr, uint16_t port,
                                         uint32_t weight)
{
    struct member *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->handler.on_event = member_on_event; /* (never registered: it has no socket) */
    m->router = r;
    snprintf(m->label, sizeof m->label, "%s", name);
    snprintf(m->ring_name, sizeof m->ring_name, "%s", name);
    snprintf(m->host, sizeof m->host, "%s", host);
    snprintf(m->addr, sizeof m->addr, "%s", addr);
    m->port = port;
    m->weight = weight;
    return m;
}

static int build_ring(struct member **members, uint32_t n, struct ketama_ring **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    struct ketama_server *servers = calloc(n, sizeof *servers);
    if (!servers)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        servers[i] = (struct ketama_server){
            .name = members[i]->ring_name[0] ? members[i]->ring_name : NULL,
            .host = members[i]->host,
            .port = members[i]->port,
            .weight = members[i]->weight,
        };
    int rc = ketama_ring_build(servers, n, KETAMA_COMPAT_TWEMPROXY, g.hash, out);
    free(servers);
    return rc;
}

static void free_retired(struct route_worker *r)
{
    for (uint32_t i = 0; i < r->nretired; i++)
        member_free(r->retired[i]);
    free(r->retired);
    r->retired = NULL;
    r->nretired = 0;
}

/* Installs a new table and ring. The members of the old table not carried over (carried[i]
 * false, or carried NULL) are retired, freed by the next route_worker_tick: the old table is not
 * touched before the swap, since `stats proxy` may be reading it. */
static void install(struct route_worker *r, struct member **members, uint32_t n, struct ketama_ring *ring,
                    const bool *carried)
{
    pthread_mutex_lock(&r->table_lock);
    struct member **old = r->members;
    uint32_t nold = r->nmembers;
    struct ketama_ring *old_ring = r->ring;
    r->members = members;
    r->nmembers = n;
    r->ring = ring;
    pthread_mutex_unlock(&r->table_lock);
    ketama_ring_free(old_ring);
    free_retired(r); /* normally none left: every turn frees them */
    for (uint32_t i = 0; i < nold; i++)
        if (carried && carried[i])
            old[i] = NULL;
    r->retired = old;
    r->nretired = nold;
}

static int setup_fixed(struct route_worker *r)
{
    uint32_t n = (uint32_t)g.servers.count;
    struct member **members = calloc(n, sizeof *members);
    if (!members)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const struct route_worker_server *sv = &g.servers.items[i];
        char label[WIRE_NAME_MAX + 72];
        if (sv->name)
            snprintf(label, sizeof label, "%s", sv->name);
        else
            snprintf(label, sizeof label, "%s:%u", sv->host, sv->port);
        members[i] = member_new(r, label, sv->name, sv->host, sv->addr, sv->port, sv->weight, false,
                                NULL);
        if (!members[i]) {
            for (uint32_t j = 0; j < i; j++)
                member_free(members[j]);
            free(members);
            return -1;
        }
    }
    struct ketama_ring *ring;
    if (build_ring(members, n, &ring) != 0) {
        for (uint32_t j = 0; j < n; j++)
            member_free(members[j]);
        free(members);
        return -1;
    }
    install(r, members, n, ring, NULL);
    return 0;
}

/* "host:port" or "[v6]:port" -> numeric host (resolved if need be) and port. */
static bool split_data_addr(const char *da, char *host, size_t host_len, char *addr,
                            size_t addr_len, uint16_t *port)
{
    const char *colon = strrchr(da, ':');
    if (!colon || colon == da)
        return false;
    const char *h = da;
    size_t hn = (size_t)(colon - da);
    if (h[0] == '[' && hn >= 2 && h[hn - 1] == ']')
        h++, hn -= 2;
    uint32_t p;
    if (hn == 0 || hn >= host_len || !parse_u32(colon + 1, strlen(colon + 1), 1, 65535, &p))
        return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    *port = (uint16_t)p;
    unsigned char buf[16];
    if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1) {
        if (hn >= addr_len)
            return false;
        memcpy(addr, host, hn + 1);
        return true;
    }
    /* a host name: rare (only -l with a name), and only on a membership change */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return false;
    const void *a = res->ai_family == AF_INET6
                        ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                        : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    inet_ntop(res->ai_family, a, addr, (socklen_t)addr_len);
    freeaddrinfo(res);
    return true;
}

/* How long after joining a ring this node keeps the ring of the others: --warmup for lookups,
 * then HANDOFF_GRACE_MS more in which its writes still delete the previous owner's copy, until
 * that owner has dropped the keys it no longer owns (route_worker_sweep_step). */
static uint64_t handoff_ms(void)
{
    return g.warmup_ms + HANDOFF_GRACE_MS;
}

static void drop_warmup(struct route_worker *r)
{
    ketama_ring_free(r->others_ring);
    free(r->others_map);
    r->others_ring = NULL;
    r->others_map = NULL;
}

/* After a ring change: notes when this node joined a ring with others, and while the grace
 * period lasts keeps the ring those others would have without it. */
static void update_warmup(struct route_worker *r)
{
    drop_warmup(r);
    bool self_in = false;
    uint32_t others = 0;
    for (uint32_t i = 0; i < r->nmembers; i++) {
        if (r->members[i]->self)
            self_in = true;
        else
            others++;
    }
    bool has_others = self_in && others > 0;
    if (has_others && !r->had_others) {
        r->joined_at = r->now;
        log_msg(2, "router: worker %d joined a ring of %u others: warm-up for %d s", r->worker_id,
                others, (int)(g.warmup_ms / 1000));
    }
    r->had_others = has_others;
    if (!has_others || r->now - r->joined_at >= handoff_ms())
        return;
    struct member **list = calloc(others, sizeof *list);
    r->others_map = calloc(others, sizeof *r->others_map);
    if (!list || !r->others_map) {
        free(list);
        drop_warmup(r);
        return;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < r->nmembers; i++)
        if (!r->members[i]->self) {
            list[k] = r->members[i];
            r->others_map[k++] = i;
        }
    if (build_ring(list, others, &r->others_ring) != 0)
        drop_warmup(r);
    free(list);
}

bool route_worker_warmup_source(struct route_worker *r, const char *key, size_t len, uint32_t *member)
{
    if (!r->others_ring)
        return false;
    if (r->now - r->joined_at >= handoff_ms()) {
        drop_warmup(r);
        return false;
    }
    *member = r->others_map[ketama_ring_server_for_key(r->others_ring, key, len)];
    return true;
}

bool route_worker_warmup_active(const struct route_worker *r)
{
    return r->others_ring != NULL && r->now - r->joined_at < g.warmup_ms;
}

bool route_worker_handoff_active(const struct route_worker *r)
{
    return r->others_ring != NULL && r->now - r->joined_at < handoff_ms();
}

/* After a ring change: the keys this node held for others may now belong elsewhere. They stay
 * through the warm-up of whoever took them (which looks its misses up here), then go, so that
 * no copy is left here to be served stale should their owner leave again (it deletes them here
 * during its hand-off window, which outlasts this wait by HANDOFF_GRACE_MS). A pass in progress
 * starts over under the new ring. */
static void schedule_sweep(struct route_worker *r)
{
    if (r->worker_id != 0 || g.mode != MODE_CLUSTER || g.proxy_only)
        return;
    r->sweep_at = r->now + g.warmup_ms;
    if (r->sweep_at == 0)
        r->sweep_at = 1;
    r->sweep_cursor = 0;
}

static bool owned_here(void *ctx, const char *key, size_t len)
{
    struct route_worker *r = ctx;
    uint32_t owners[ROUTE_REPLICAS_MAX];
    uint32_t n = route_worker_owners(r, key, len, owners, ROUTE_REPLICAS_MAX);
    for (uint32_t i = 0; i < n; i++)
        if (route_worker_is_self(r, owners[i]))
            return true; /* the primary's or a replica's copy */
    return false;
}

void route_worker_sweep_step(struct route_worker *r, struct store *st)
{
    if (r->sweep_at == 0 || r->now < r->sweep_at)
        return;
    uint32_t self;
    if (!r->ring || !route_worker_self_member(r, &self)) {
        r->sweep_at = 0; /* not on a ring: nothing here is anyone else's yet */
        return;
    }
    uint64_t dropped = 0;
    bool done = store_sweep(st, &r->sweep_cursor, SWEEP_BUCKETS_PER_TURN, owned_here, r, &dropped);
    if (dropped)
        atomic_fetch_add_explicit(&g.swept_items, dropped, memory_order_relaxed);
    if (done) {
        r->sweep_at = 0;
        atomic_fetch_add_explicit(&g.sweeps, 1, memory_order_relaxed);
        log_msg(2, "router: hand-off sweep done (%llu items dropped in total)",
                (unsigned long long)atomic_load(&g.swept_items));
    }
}

static bool loopback(const char *numeric)
{
    return strncmp(numeric, "127.", 4) == 0 || strcmp(numeric, "::1") == 0;
}

/* The address to connect to a peer from: our own data address (so that a firewall rule by
 * address sees which node a connection comes from), unless that is a loopback address and the
 * peer is not (a node on a wildcard -l advertises 127.0.0.1). NULL: the kernel's choice. */
static const char *connect_from(const char *self_addr, const char *peer_addr)
{
    if (!self_addr[0] || (loopback(self_addr) && !loopback(peer_addr)))
        return NULL;
    return self_addr;
}

/* Rebuilds the table from a membership snapshot: alive and suspect data members, kept by name
 * (a member that stays keeps its connection), and dead ones whose keys nobody took over, without
 * a backend. Without a quorum, one member without a backend owns every key. */
static void setup_from_snapshot(struct route_worker *r, const struct gossip_snapshot *snap)
{
    struct member **members = calloc(snap->count ? snap->count : 1, sizeof *members);
    bool *carried = calloc(r->nmembers ? r->nmembers : 1, sizeof *carried);
    if (!members || !carried) {
        free(members);
        free(carried);
        return; /* keep the old ring; retried at the next change */
    }
    char self_addr[64] = "";
    for (size_t i = 0; i < snap->count; i++) {
        char host[WIRE_NAME_MAX + 1];
        uint16_t port;
        if (strcmp(snap->members[i].name, g.self_name) == 0 &&
            !split_data_addr(snap->members[i].data_addr, host, sizeof host, self_addr,
                             sizeof self_addr, &port))
            self_addr[0] = '\0';
    }
    uint32_t n = 0;
    if (!snap->quorum) {
        struct member *m = member_unreachable(r, "(no quorum)", "no-quorum", "0.0.0.0", 0, 1);
        if (m)
            members[n++] = m;
    }
    for (size_t i = 0; snap->quorum && i < snap->count; i++) {
        const struct gossip_snapshot_member *sm = &snap->members[i];
        bool unreachable = sm->state == MEMBER_DEAD && !sm->taken_over;
        if ((sm->state != MEMBER_ALIVE && sm->state != MEMBER_SUSPECT && !unreachable) ||
            sm->role != MEMBER_ROLE_DATA || sm->weight == 0 || !sm->data_addr[0])
            continue;
        char host[WIRE_NAME_MAX + 1], addr[64];
        uint16_t port;
        if (!split_data_addr(sm->data_addr, host, sizeof host, addr, sizeof addr, &port)) {
            log_msg(1, "router: member %s has an unusable data address %s", sm->name,
                    sm->data_addr);
            continue;
        }
        bool self = strcmp(sm->name, g.self_name) == 0;
        struct member *m = NULL;
        for (uint32_t j = 0; j < r->nmembers; j++) {
            struct member *old = r->members[j];
            if (!carried[j] && strcmp(old->label, sm->name) == 0 && old->self == self &&
                (old->self || (old->backend == NULL) == unreachable) &&
                strcmp(old->addr, addr) == 0 && old->port == port) {
                m = old;
                carried[j] = true; /* install does not retire it */
                m->weight = sm->weight;
                break;
            }
        }
        if (!m)
            m = unreachable ? member_unreachable(r, sm->name, host, addr, port, sm->weight)
                            : member_new(r, sm->name, sm->name, host, addr, port, sm->weight, self,
                                         connect_from(self_addr, addr));
        if (m)
            members[n++] = m;
    }
    struct ketama_ring *ring;
    if (build_ring(members, n, &ring) != 0) {
        /* out of memory: serve locally rather than on a half-built ring; the next change
         * retries. New members go now; carried ones are retired with the old table. */
        for (uint32_t i = 0; i < n; i++) {
            bool was_carried = false;
            for (uint32_t j = 0; j < r->nmembers; j++)
                if (carried[j] && r->members[j] == members[i])
                    was_carried = true;
            if (!was_carried)
                member_free(members[i]);
        }
        memset(carried, 0, (r->nmembers ? r->nmembers : 1) * sizeof *carried);
        n = 0;
        ring = NULL;
    }
    install(r, members, n, ring, carried);
    free(carried);
    update_warmup(r);
    schedule_sweep(r);
    log_msg(2, "router: worker %d ring rebuilt, %u members (snapshot %llu)", r->worker_id, n,
            (unsigned long long)snap->version);
}

static void refresh_from_gossip(struct route_worker *r)
{
    if (!r->view) {
        r->view = cluster_node_view();
        if (!r->view)
            return;
        r->view_slot = gossip_view_register(r->view);
        if (r->view_slot < 0) {
            log_msg(0, "router: no gossip view slot left for worker %d", r->worker_id);
            r->view = NULL;
            return;
        }
    }
    const struct gossip_snapshot *snap = gossip_view_enter(r->view, r->view_slot);
    if (snap && (!r->view_seen || snap->version != r->view_version)) {
        r->view_seen = true;
        r->view_version = snap->version;
        setup_from_snapshot(r, snap);
    }
    gossip_view_exit(r->view, r->view_slot);
}

/* ---- per worker ---------------------------------------------------------------------------- */

struct route_worker *route_worker_create(int worker_id, int epfd)
{
    if (g.mode == MODE_OFF || worker_id < 0 || worker_id >= MAX_WORKERS)
        return NULL;
    struct route_worker *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->worker_id = worker_id;
    r->epfd = epfd;
    r->view_slot = -1;
    r->now = now_ms();
    pthread_mutex_init(&r->table_lock, NULL);
    if (g.mode == MODE_FIXED && setup_fixed(r) != 0) {
        pthread_mutex_destroy(&r->table_lock);
        free(r);
        errno = ENOMEM;
        return NULL;
    }
    g.workers[worker_id] = r;
    return r;
}

void route_worker_destroy(struct route_worker *r)
{
    if (!r)
        return;
    g.workers[r->worker_id] = NULL;
    install(r, NULL, 0, NULL, NULL);
    free_retired(r);
    drop_warmup(r);
    if (r->view && r->view_slot >= 0)
        gossip_view_unregister(r->view, r->view_slot);
    route_buf_free(&r->scratch);
    pthread_mutex_destroy(&r->table_lock);
    free(r);
}

void route_worker_refresh(struct route_worker *r)
{
    r->now = now_ms();
    if (g.mode == MODE_CLUSTER)
        refresh_from_gossip(r);
}

void route_worker_tick(struct route_worker *r)
{
    if (r->nretired)
        free_retired(r); /* their requests in flight fail now: "backend connection lost" */
    uint64_t now = r->now = now_ms();
    for (uint32_t i = 0; i < r->nmembers; i++) {
        struct backend *b = r->members[i]->backend;
        if (b && backend_next_deadline(b) <= now)
            backend_tick(b, now);
    }
}

static void publish(struct member *m)
{
    const struct backend_counters *c = backend_counters(m->backend);
    atomic_store_explicit(&m->pub.requests, c->requests, memory_order_relaxed);
    atomic_store_explicit(&m->pub.replies, c->replies, memory_order_relaxed);
    atomic_store_explicit(&m->pub.errors, c->errors, memory_order_relaxed);
    atomic_store_explicit(&m->pub.timeouts, c->timeouts, memory_order_relaxed);
    atomic_store_explicit(&m->pub.reconnects, c->reconnects, memory_order_relaxed);
    atomic_store_explicit(&m->pub.in_flight, c->in_flight, memory_order_relaxed);
}

/* Requests to m failed since the last turn: in cluster mode, gossip is told (at most once a
 * second per member and worker) and probes that member next; its probes decide. */
static void hint_failures(struct member *m, uint64_t now)
{
    uint64_t errors = backend_counters(m->backend)->errors;
    if (errors == m->errors_seen)
        return;
    m->errors_seen = errors;
    if (g.mode != MODE_CLUSTER || now < m->next_hint_ms)
        return;
    m->next_hint_ms = now + 1000;
    cluster_node_hint_unreachable(m->ring_name);
}

/* Keeps the epoll registration in step with the backend's socket and wanted events. */
static void reregister(struct route_worker *r, struct member *m)
{
    struct backend *b = m->backend;
    int fd = backend_fd(b);
    uint64_t serial = backend_fd_serial(b);
    uint32_t want = backend_events(b);
    uint32_t events = (want & BACKEND_WANT_READ ? EPOLLIN : 0) |
                      (want & BACKEND_WANT_WRITE ? EPOLLOUT : 0);
    if (fd < 0)
        return; /* closed: the kernel dropped it from epoll already */
    struct epoll_event ev = {.events = events, .data.ptr = &m->handler};
    if (serial != m->reg_serial) {
        /* a new socket; the old one left epoll when it was closed */
        if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            log_msg(0, "router: epoll add for %s: %s", m->label, strerror(errno));
        m->reg_serial = serial;
        m->reg_events = events;
    } else if (events != m->reg_events) {
        if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
            log_msg(0, "router: epoll mod for %s: %s", m->label, strerror(errno));
        m->reg_events = events;
    }
}

int route_worker_flush(struct route_worker *r, int max_ms)
{
    uint64_t now = now_ms();
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < r->nmembers; i++) {
        struct member *m = r->members[i];
        if (!m->backend)
            continue;
        backend_flush(m->backend, now);
        reregister(r, m);
        publish(m);
        hint_failures(m, now);
        uint64_t d = backend_next_deadline(m->backend);
        if (d < next)
            next = d;
    }
    if (r->sweep_at != 0 && r->sweep_at < next)
        next = r->sweep_at; /* a sweep due, or in progress: wake for it */
    if (next == UINT64_MAX)
        return max_ms;
    if (next <= now)
        return 0;
    /* +1: wake just after the deadline, not just before it (epoll rounds down) */
    uint64_t wait = next - now + 1;
    return wait < (uint64_t)max_ms ? (int)wait : max_ms;
}

uint32_t route_worker_member_count(const struct route_worker *r)
{
    return r->nmembers;
}

uint32_t route_worker_owner(void *ctx, const char *key, size_t len)
{
    const struct route_worker *r = ctx;
    if (!r->ring)
        return 0;
    return ketama_ring_server_for_key(r->ring, key, len);
}

void route_worker_count(enum route_count which)
{
    atomic_fetch_add_explicit(&g.counts[which], 1, memory_order_relaxed);
}

uint32_t route_worker_owners(const struct route_worker *r, const char *key, size_t len,
                             uint32_t *out, uint32_t max)
{
    if (!r->ring || max == 0)
        return 0;
    uint32_t want = settings.replicas < max ? settings.replicas : max;
    return (uint32_t)ketama_ring_owners_for_key(r->ring, key, len, out, want);
}

bool route_worker_self_member(const struct route_worker *r, uint32_t *member)
{
    for (uint32_t i = 0; i < r->nmembers; i++)
        if (r->members[i]->self) {
            *member = i;
            return true;
        }
    return false;
}

bool route_worker_member_gone(const struct route_worker *r, uint32_t member)
{
    return member < r->nmembers && r->members[member]->backend &&
           backend_peer_gone(r->members[member]->backend);
}

bool route_worker_is_self(const struct route_worker *r, uint32_t member)
{
    return member < r->nmembers && r->members[member]->self;
}

enum backend_error route_worker_send(struct route_worker *r, uint32_t member, const char *req, size_t len,
                               enum reply_kind kind, backend_done_fn done, void *arg)
{
    if (member >= r->nmembers || !r->members[member]->backend)
        return BACKEND_DOWN;
    return backend_send(r->members[member]->backend, req, len, kind, done, arg, r->now);
}

struct route_buf *route_worker_scratch(struct route_worker *r)
{
    r->scratch.len = 0;
    return &r->scratch;
}

/* ---- stats proxy --------------------------------------------------------------------------- */

struct stat_row {
    char label[WIRE_NAME_MAX + 72];
    char addr[80];
    uint64_t v[6];
};

void route_worker_stats(struct outbuf *out)
{
    static const char *const names[6] = {"requests", "replies", "errors",
                                         "timeouts", "reconnects", "in_flight"};
    struct stat_row *rows = NULL;
    size_t nrows = 0, cap = 0;
    for (int w = 0; w < MAX_WORKERS; w++) {
        struct route_worker *r = g.workers[w];
        if (!r)
            continue;
        pthread_mutex_lock(&r->table_lock);
        for (uint32_t i = 0; i < r->nmembers; i++) {
            struct member *m = r->members[i];
            if (m->self || !m->backend)
                continue;
            size_t k = 0;
            while (k < nrows && strcmp(rows[k].label, m->label) != 0)
                k++;
            if (k == nrows) {
                if (nrows == cap) {
                    size_t ncap = cap ? cap * 2 : 8;
                    struct stat_row *p = realloc(rows, ncap * sizeof *p);
                    if (!p)
                        break;
                    rows = p;
                    cap = ncap;
                }
                memset(&rows[k], 0, sizeof rows[k]);
                snprintf(rows[k].label, sizeof rows[k].label, "%s", m->label);
                snprintf(rows[k].addr, sizeof rows[k].addr, strchr(m->addr, ':') ? "[%s]:%u" : "%s:%u",
                         m->addr, m->port);
                nrows++;
            }
            rows[k].v[0] += atomic_load_explicit(&m->pub.requests, memory_order_relaxed);
            rows[k].v[1] += atomic_load_explicit(&m->pub.replies, memory_order_relaxed);
            rows[k].v[2] += atomic_load_explicit(&m->pub.errors, memory_order_relaxed);
            rows[k].v[3] += atomic_load_explicit(&m->pub.timeouts, memory_order_relaxed);
            rows[k].v[4] += atomic_load_explicit(&m->pub.reconnects, memory_order_relaxed);
            rows[k].v[5] += atomic_load_explicit(&m->pub.in_flight, memory_order_relaxed);
        }
        pthread_mutex_unlock(&r->table_lock);
    }
    char line[400];
    for (size_t k = 0; k < nrows; k++) {
        int n = snprintf(line, sizeof line, "STAT %s:addr %s\r\n", rows[k].label, rows[k].addr);
        if (n > 0 && (size_t)n < sizeof line)
            outbuf_append(out, line, (size_t)n);
        for (int f = 0; f < 6; f++) {
            n = snprintf(line, sizeof line, "STAT %s:%s %llu\r\n", rows[k].label, names[f],
                         (unsigned long long)rows[k].v[f]);
            if (n > 0 && (size_t)n < sizeof line)
                outbuf_append(out, line, (size_t)n);
        }
    }
    free(rows);
    if (settings.replicas > 1) {
        static const char *const names[ROUTE_COUNTS] = {
            "replica_writes", "replica_write_errors", "failover_writes", "failover_reads",
            "read_repairs"};
        for (int c = 0; c < ROUTE_COUNTS; c++) {
            int n = snprintf(line, sizeof line, "STAT %s %llu\r\n", names[c],
                             (unsigned long long)atomic_load(&g.counts[c]));
            if (n > 0 && (size_t)n < sizeof line)
                outbuf_append(out, line, (size_t)n);
        }
    }
    if (g.mode == MODE_CLUSTER && !g.proxy_only) {
        int n = snprintf(line, sizeof line, "STAT handoff_sweeps %llu\r\nSTAT handoff_swept_items %llu\r\n",
                         (unsigned long long)atomic_load(&g.sweeps),
                         (unsigned long long)atomic_load(&g.swept_items));
        if (n > 0 && (size_t)n < sizeof line)
            outbuf_append(out, line, (size_t)n);
    }
}
