#ifndef SHOAL_CLUSTER_NODE_H
#define SHOAL_CLUSTER_NODE_H
/* This process as a cluster member: runs the gossip UDP driver (cluster/gossip/gossip_udp.h) inside
 * bin/shoal when the cluster options ask for it (see cluster_options.h), logs membership changes
 * at -v, answers `stats cluster`, and hands workers the membership snapshot.
 *
 * One per process (module state). Life cycle, all from the main thread:
 *   cluster_node_prepare(&settings)   before daemonizing: checks the options, resolves addresses,
 *                                     loads the secret; errors go to stderr with an exit code
 *   cluster_node_start()              once the workers serve: binds, starts the thread, joins
 *   cluster_node_leave()              on SIGTERM/SIGINT/shutdown, before the workers stop:
 *                                     announces a graceful leave and lingers a moment
 *   cluster_node_stop()               after the workers stopped: joins the thread, frees all
 * Without gossip every call is a no-op and cluster_node_view() is NULL. */
#include <stdbool.h>

struct settings;
struct outbuf;
struct gossip_view;
struct store;

/* Returns 0, or the exit code to stop with (message already printed on stderr). */
int cluster_node_prepare(const struct settings *s);
/* Returns 0, or the exit code to stop with (message already printed on stderr). */
int cluster_node_start(void);
void cluster_node_leave(void);
/* The store a fence flushes (see cluster/README.md, "Partitions").
 * Call before cluster_node_start (without it a fence flushes nothing). The store
 * must outlive cluster_node_stop. */
void cluster_node_attach_store(struct store *st);
void cluster_node_stop(void);

/* The router could not reach member `name` (refused, timed out, lost): gossip probes it next,
 * and its own probes decide (cluster/gossip/gossip.h, gossip_hint_unreachable). Thread-safe and lock-free
 * (the request path calls it); meant for failures, rate-limited by the caller. No-op without
 * gossip. */
void cluster_node_hint_unreachable(const char *name);

/* SIGHUP: the gossip thread re-reads --cluster-secret-file (key rotation without a restart) and
 * logs what changed. Returns at once. No-op without gossip. */
void cluster_node_reload(void);

/* True while gossip runs. */
bool cluster_node_running(void);

/* The membership snapshot for workers (NULL without gossip), valid until cluster_node_stop.
 * Each reading thread registers once (gossip_view_register) and brackets every use with
 * gossip_view_enter / gossip_view_exit; see cluster/gossip/gossip_view.h. */
struct gossip_view *cluster_node_view(void);

/* `stats cluster`: appends the STAT lines (without END) and returns true; returns false without
 * gossip (the caller answers ERROR, as memcached does for an unknown stats group). */
bool cluster_node_stats(struct outbuf *out);

#endif
