/* This process as a cluster member; see cluster_node.h. */
#include "server/cluster_node.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>

#include "cluster/gossip/crypto/keys.h"
#include "cluster/gossip/gossip_udp.h"
#include "cluster/gossip/membership.h"
#include "server/clock.h"
#include "server/cluster_options.h"
#include "server/log.h"
#include "server/outbuf.h"
#include "server/settings.h"
#include "server/store.h"

#define MAX_SEEDS 64
#define STATS_FIRST_TRY 8192        /* `stats cluster` of a few dozen members fits at once */

/* Module state: filled by prepare, driver set by start. Owns seeds and keys (wiped at stop). */
static struct {
    bool prepared;
    struct gossip_udp_config cfg;
    struct gossip_addr seeds[MAX_SEEDS];
    size_t nseeds;
    struct packet_keys keys;            /* borrowed by the gossip while it runs */
    char name[WIRE_NAME_MAX + 1];
    char data_addr[WIRE_NAME_MAX + 1];
    char secret_path[PATH_MAX];         /* absolute: -d changes the directory to / */
} node;
static _Atomic(struct gossip_udp *) driver;
/* The store a fence flushes (borrowed from the workers; main owns it). */
static _Atomic(struct store *) fenced_store;

/* host (name or numeric) and port into a gossip address of the wanted family (0: any). */
static int resolve(const char *host, int port, uint8_t family, struct gossip_addr *out,
                   const char *what)
{
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
    hints.ai_family = family == 6 ? AF_INET6 : family == 4 ? AF_INET : AF_UNSPEC;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "failed to resolve %s %s: %s\n", what, host,
                rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->port = (uint16_t)port;
    if (res->ai_family == AF_INET6) {
        out->family = 6;
        memcpy(out->ip, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16);
    } else {
        out->family = 4;
        memcpy(out->ip, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
    }
    freeaddrinfo(res);
    return 0;
}

/* One --join entry: "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address. */
static int parse_seed(const char *item, int default_port, uint8_t family, struct gossip_addr *out)
{
    char host[256];
    snprintf(host, sizeof host, "%s", item);
    char *h = host, *port_text = NULL;
    if (h[0] == '[') {
        char *close = strchr(h, ']');
        if (!close || (close[1] && close[1] != ':')) {
            fprintf(stderr, "Invalid --join entry %s\n", item);
            return -1;
        }
        *close = '\0';
        port_text = close[1] == ':' ? close + 2 : NULL;
        h++;
    } else {
        char *colon = strchr(h, ':');
        if (colon && !strchr(colon + 1, ':')) {
            *colon = '\0';
            port_text = colon + 1;
        }
    }
    int port = default_port;
    if (port_text) {
        char *end;
        long v = strtol(port_text, &end, 10);
        if (!*port_text || *end || v < 1 || v > 65535) {
            fprintf(stderr, "Invalid --join entry %s: bad port\n", item);
            return -1;
        }
        port = (int)v;
    }
    return resolve(h, port, family, out, "--join entry");
}

static bool is_loopback(const struct gossip_addr *a)
{
    static const uint8_t v6_loopback[16] = {[15] = 1};
    return a->family == 4 ? a->ip[0] == 127 : memcmp(a->ip, v6_loopback, 16) == 0;
}

static int parse_seeds(const char *list, int default_port, const struct gossip_addr *self)
{
    char *copy = strdup(list);
    if (!copy) {
        fprintf(stderr, "out of memory\n");
        return -1;
    }
    int rc = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        if (node.nseeds == MAX_SEEDS) {
            fprintf(stderr, "--join: at most %d seeds\n", MAX_SEEDS);
            rc = -1;
            break;
        }
        struct gossip_addr a;
        if (parse_seed(item, default_port, self->family, &a) != 0) {
            rc = -1;
            break;
        }
        /* Every node may share one --join list that names itself too. */
        if (!gossip_addr_equal(&a, self))
            node.seeds[node.nseeds++] = a;
    }
    free(copy);
    return rc;
}

static void forward_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    log_msg(level, "%s", msg);
}

static const char *change_reason(uint8_t from, uint8_t to)
{
    if (from == GOSSIP_STATE_NONE)
        return to == MEMBER_ALIVE ? "joined" : "first heard of";
    switch (to) {
    case MEMBER_ALIVE:
        return from == MEMBER_SUSPECT ? "refuted the suspicion with a higher incarnation"
                                      : "came back with a higher incarnation";
    case MEMBER_SUSPECT:
        return from == MEMBER_DEAD ? "buried without a quorum, suspected again now that there is one"
                                   : "did not answer direct or indirect probes";
    case MEMBER_DEAD:
        return from == MEMBER_SUSPECT ? "suspicion not refuted in time"
                                      : "declared dead by another member";
    case MEMBER_LEFT:
        return "left gracefully";
    }
    return "changed";
}

/* Runs on the gossip thread for every change (first for every member already known). */
static void log_change(void *ctx, const struct gossip_event *ev)
{
    (void)ctx;
    const struct wire_member *m = ev->member;
    char a[64];
    gossip_addr_format(&m->addr, a, sizeof a);
    int level = ev->old_state == ev->new_state ? 3 : 1;
    log_msg(level, "cluster: %s (gossip %s, data %s) %s -> %s, incarnation %llu: %s", m->name, a,
            m->data_addr[0] ? m->data_addr : "-",
            ev->old_state == GOSSIP_STATE_NONE ? "none" : member_state_name(ev->old_state),
            member_state_name(ev->new_state), (unsigned long long)m->incarnation,
            ev->old_state == ev->new_state ? "metadata or incarnation update"
                                           : change_reason(ev->old_state, ev->new_state));
}

/* Runs on the gossip thread, before the new epoch is announced: whatever this node stored
 * before now may have been overwritten on other nodes while the cluster counted it out. */
static void flush_on_fence(void *ctx, const struct gossip_fence *f)
{
    (void)ctx;
    struct store *st = atomic_load(&fenced_store);
    if (st)
        store_flush(st, clock_now());
    if (f->reason == GOSSIP_FENCE_STALLED)
        log_msg(1, "cluster: flushed every item: this node did not run for %llu ms, longer than "
                   "members remember the dead; incarnation now %llu",
                (unsigned long long)f->stalled_ms, (unsigned long long)f->new_incarnation);
    else
        log_msg(1, "cluster: flushed every item: %s%s%s at incarnation %llu; incarnation now %llu",
                gossip_fence_reason_name(f->reason), f->by[0] ? " by " : "", f->by,
                (unsigned long long)f->accused_incarnation,
                (unsigned long long)f->new_incarnation);
}

int cluster_node_prepare(const struct settings *s)
{
    node.prepared = false;
    if (!cluster_enabled(s)) {
        if (cluster_any_option(s)) {
            fprintf(stderr, "--cluster-secret-file and --gossip-* settings need gossip: add "
                            "--node-name, --gossip-port, --gossip-addr or --join\n");
            return EX_USAGE;
        }
        return 0;
    }
    int port = cluster_gossip_port(s);
    if (port <= 0) {
        fprintf(stderr, "gossip needs a UDP port: give --gossip-port (TCP is off)\n");
        return EX_USAGE;
    }
    gossip_udp_config_defaults(&node.cfg);
    cluster_apply_knobs(s, &node.cfg);
    if (node.cfg.gossip.probe_timeout_ms >= node.cfg.gossip.probe_interval_ms) {
        fprintf(stderr, "--gossip-probe-timeout (%u ms) must be shorter than --gossip-interval "
                        "(%u ms)\n", (unsigned)node.cfg.gossip.probe_timeout_ms,
                (unsigned)node.cfg.gossip.probe_interval_ms);
        return EX_USAGE;
    }
    char host[128];
    cluster_gossip_host(s, host, sizeof host);
    if (resolve(host, port, 0, &node.cfg.bind, "--gossip-addr") != 0)
        return EX_USAGE;
    node.nseeds = 0;
    if (s->cluster.join && parse_seeds(s->cluster.join, port, &node.cfg.bind) != 0)
        return EX_USAGE;
    node.cfg.seeds = node.seeds;
    node.cfg.nseeds = node.nseeds;
    for (size_t i = 0; i < node.nseeds; i++) {
        if (is_loopback(&node.cfg.bind) && !is_loopback(&node.seeds[i])) {
            char a[64];
            fprintf(stderr, "warning: gossip advertises %s, which seeds on other hosts cannot "
                            "reach (give --gossip-addr or a specific -l)\n",
                    gossip_addr_format(&node.cfg.bind, a, sizeof a));
            break;
        }
    }

    cluster_node_name(s, node.name, sizeof node.name);
    cluster_data_addr(s, node.data_addr, sizeof node.data_addr);
    node.cfg.gossip.name = node.name;
    node.cfg.gossip.data_addr = node.data_addr;
    /* a --proxy node routes but stores nothing: others must not put it on their rings */
    node.cfg.gossip.role = s->proxy ? MEMBER_ROLE_PROXY : MEMBER_ROLE_DATA;
    node.cfg.gossip.log = forward_log;
    node.cfg.gossip.on_fence = flush_on_fence;

    if (s->cluster.secret_file) {
        char err[256] = "";
        bool group_accessible = false;
        if (packet_keys_load(s->cluster.secret_file, &node.keys, &group_accessible, err,
                             sizeof err) != 0) {
            fprintf(stderr, "failed to load --cluster-secret-file %s: %s\n",
                    s->cluster.secret_file, err);
            return EXIT_FAILURE;
        }
        if (group_accessible)
            fprintf(stderr, "warning: --cluster-secret-file %s is accessible to its group\n",
                    s->cluster.secret_file);
        node.cfg.gossip.keys = &node.keys;
        /* SIGHUP re-reads it, maybe after -d moved us to /. */
        if (!realpath(s->cluster.secret_file, node.secret_path))
            snprintf(node.secret_path, sizeof node.secret_path, "%s", s->cluster.secret_file);
        node.cfg.secret_file = node.secret_path;
    } else {
        char a[64];
        fprintf(stderr, "warning: gossip on %s is unauthenticated: anyone who reaches it can "
                        "join or forge membership (give --cluster-secret-file)\n",
                gossip_addr_format(&node.cfg.bind, a, sizeof a));
    }
    node.prepared = true;
    return 0;
}

int cluster_node_start(void)
{
    if (!node.prepared)
        return 0;
    char err[256] = "";
    struct gossip_udp *d = gossip_udp_start(&node.cfg, err, sizeof err);
    if (!d) {
        fprintf(stderr, "failed to start gossip: %s\n", err);
        return EX_OSERR;
    }
    gossip_udp_subscribe(d, log_change, NULL);
    atomic_store(&driver, d);
    char a[64];
    struct gossip_addr bound = gossip_udp_addr(d);
    log_msg(1, "cluster: node %s gossiping on %s (%s), %zu seed(s)", node.name,
            gossip_addr_format(&bound, a, sizeof a),
            node.cfg.gossip.keys ? "authenticated" : "unauthenticated", node.nseeds);
    return 0;
}

void cluster_node_leave(void)
{
    struct gossip_udp *d = atomic_load(&driver);
    if (!d)
        return;
    log_msg(1, "cluster: node %s leaving", node.name);
    gossip_udp_leave(d);
}

void cluster_node_stop(void)
{
    struct gossip_udp *d = atomic_exchange(&driver, NULL);
    if (d)
        gossip_udp_stop(d);
    atomic_store(&fenced_store, NULL);
    if (node.prepared)
        packet_keys_wipe(&node.keys);
    node.prepared = false;
}

void cluster_node_attach_store(struct store *st)
{
    atomic_store(&fenced_store, st);
}

void cluster_node_hint_unreachable(const char *name)
{
    struct gossip_udp *d = atomic_load(&driver);
    if (d)
        gossip_udp_hint_unreachable(d, name);
}

void cluster_node_reload(void)
{
    struct gossip_udp *d = atomic_load(&driver);
    if (!d)
        return;
    log_msg(1, "cluster: SIGHUP: re-reading %s",
            node.cfg.gossip.keys ? node.secret_path : "no --cluster-secret-file");
    gossip_udp_reload_keys(d);
}

bool cluster_node_running(void)
{
    return atomic_load(&driver) != NULL;
}

struct gossip_view *cluster_node_view(void)
{
    struct gossip_udp *d = atomic_load(&driver);
    return d ? gossip_udp_view(d) : NULL;
}

bool cluster_node_stats(struct outbuf *out)
{
    struct gossip_udp *d = atomic_load(&driver);
    if (!d)
        return false;
    char first[STATS_FIRST_TRY];
    size_t need = gossip_udp_stats(d, first, sizeof first);
    if (need < sizeof first) {
        outbuf_append(out, first, need);
        return true;
    }
    /* Large cluster: the member list grows between calls, so leave room. */
    size_t cap = need + need / 2 + 1;
    char *big = malloc(cap);
    if (!big) {
        outbuf_append(out, first, strlen(first));   /* whole lines only: still well formed */
        return true;
    }
    size_t n = gossip_udp_stats(d, big, cap);
    outbuf_append(out, big, n < cap ? n : strlen(big));
    free(big);
    return true;
}
