#ifndef SHOAL_CLUSTER_GOSSIP_UDP_H
#define SHOAL_CLUSTER_GOSSIP_UDP_H
/* The real driver of the gossip state machine: its own thread and UDP socket, a poll loop that
 * feeds datagrams and the monotonic clock to gossip_receive / gossip_tick. For the server:
 *
 *   struct gossip_udp_config c;  gossip_udp_config_defaults(&c);
 *   c.gossip.name = ...; c.gossip.data_addr = "10.0.0.5:11211"; c.bind = ...; c.seeds = ...;
 *   struct gossip_udp *d = gossip_udp_start(&c, err, sizeof err);
 *   gossip_udp_subscribe(d, ring_on_change, ring);        // called on the gossip thread
 *   struct gossip_view *v = gossip_udp_view(d);           // workers: enter/exit, no lock
 *   gossip_udp_stats(d, buf, cap);                        // `stats cluster`
 *   gossip_udp_leave(d); gossip_udp_stop(d);              // graceful shutdown
 *
 * Identity: the incarnation is derived from the wall clock (ms) and randomness at start, so a
 * restarted node is always newer than its previous life; the packet counter starts at the
 * wall clock in microseconds. All functions are thread-safe unless noted. */
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/gossip.h"
#include "cluster/gossip/gossip_view.h"

#define GOSSIP_UDP_MAX_SUBSCRIBERS 8

struct gossip_udp_config {
    /* name, data_addr, weight, role, timings, keys, log. addr, incarnation, seed, send, view and
     * counter_start are filled by the driver (addr from advertise, or bind if unset). */
    struct gossip_config gossip;
    struct gossip_addr bind;            /* port 0: the kernel picks (see gossip_udp_addr) */
    struct gossip_addr advertise;       /* family 0: use bind (must then not be a wildcard) */
    const struct gossip_addr *seeds;    /* copied at start */
    size_t nseeds;
    uint32_t leave_linger_ms;           /* gossip_udp_leave keeps answering this long */
    void *fence_ctx;                    /* passed to gossip.on_fence (runs on the gossip thread) */
    /* The secret file gossip.keys came from (copied; NULL or "": none), re-read by
     * gossip_udp_reload_keys. The driver keeps its own copy of gossip.keys. */
    const char *secret_file;
};

struct gossip_udp;
typedef void (*gossip_subscriber_fn)(void *ctx, const struct gossip_event *ev);

void gossip_udp_config_defaults(struct gossip_udp_config *cfg);
/* Parses "host:port[,host:port...]" (numeric IPv4, or [IPv6]) into out (max entries). Returns 0,
 * or -1 on a malformed or empty list or more than max entries. (gossip_seeds.c) */
int gossip_seeds_parse(const char *list, struct gossip_addr *out, size_t max, size_t *count);
/* Binds, starts the thread and the join (never blocks on the network). Returns NULL with a
 * reason in err on failure. */
struct gossip_udp *gossip_udp_start(const struct gossip_udp_config *cfg, char *err, size_t err_len);
/* Adds a callback for every membership change (up to GOSSIP_UDP_MAX_SUBSCRIBERS). It runs on the
 * gossip thread, must not block, and must not call back into this driver. Returns 0 or -1. The
 * subscriber is first told about every member already known, as changes from "none". */
int gossip_udp_subscribe(struct gossip_udp *d, gossip_subscriber_fn fn, void *ctx);
/* The published membership snapshot (owned by the driver; valid until gossip_udp_stop). */
struct gossip_view *gossip_udp_view(struct gossip_udp *d);
/* The gossip address peers reach us at (with the port the kernel picked). */
struct gossip_addr gossip_udp_addr(const struct gossip_udp *d);
/* `stats cluster` lines into buf; see gossip_stats_render. */
size_t gossip_udp_stats(struct gossip_udp *d, char *buf, size_t cap);
/* gossip_hint_unreachable on the gossip state, from any thread, without a lock (the request
 * path may call it): the hint is handed to the gossip thread, which applies it before its next
 * tick. Dropped when 8 hints are already waiting (the gossip keeps only the newest anyway). Meant for failures, not per request. */
void gossip_udp_hint_unreachable(struct gossip_udp *d, const char *name);
/* Asks the gossip thread to re-read the secret file (key rotation without a restart): it loads
 * and derives the keys outside the lock, swaps them in, and logs what changed (key ids, which
 * are public, never secrets); a file that fails to load keeps the keys in use (logged). Returns
 * at once; safe from any thread, the signal-waiting one included. */
void gossip_udp_reload_keys(struct gossip_udp *d);
/* Announces a graceful leave and returns after leave_linger_ms (answering probes meanwhile). */
void gossip_udp_leave(struct gossip_udp *d);
/* Stops the thread, closes the socket, frees everything (the view too: readers must be out). */
void gossip_udp_stop(struct gossip_udp *d);

#endif
