#ifndef SHOAL_CLUSTER_OPTIONS_H
#define SHOAL_CLUSTER_OPTIONS_H
/* The cluster's command-line options (--node-name, --gossip-port, --gossip-addr, --join,
 * --cluster-secret-file and the gossip timing knobs): their settings, parsers, `stats settings`
 * values and the defaults derived from the other options. The rows themselves sit in
 * server/options.c's table (CLUSTER_OPTION_ROWS), so -h, `stats settings` and the man page cover
 * them like every other flag.
 *
 * Gossip runs only when one of --node-name, --gossip-port, --gossip-addr or --join is given: a
 * plain memcached-style start opens no UDP socket and prints nothing about clusters. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct settings;
struct gossip_udp_config;

/* X(id, long name, stat name, unit, default, min, max, help): one per gossip timing knob. The
 * defaults are the gossip module's LAN values (gossip_config_defaults; tests/unit/test_options.c
 * checks they agree), except leave_linger, which follows the probe period. */
#define CLUSTER_KNOBS(X)                                                                          \
    X(interval, "gossip-interval", "gossip_interval", "<ms>", "200", 2, 60000,                     \
      "gossip probe period, milliseconds")                                                         \
    X(probe_timeout, "gossip-probe-timeout", "gossip_probe_timeout", "<ms>", "80", 1, 60000,       \
      "wait for a direct ack before asking others, ms (at most 2/5 of the period unless given)")  \
    X(indirect_checks, "gossip-indirect-checks", "gossip_indirect_checks", "<num>", "3", 1, 16,    \
      "members asked to probe an unanswering one")                                                 \
    X(suspicion_mult, "gossip-suspicion-mult", "gossip_suspicion_mult", "<num>", "4", 1, 100,      \
      "shortest suspicion = num x log10(members) x probe period")                                  \
    X(suspicion_max_mult, "gossip-suspicion-max-mult", "gossip_suspicion_max_mult", "<num>", "4", \
      1, 100, "longest suspicion = num x shortest")                                                \
    X(retransmit_mult, "gossip-retransmit-mult", "gossip_retransmit_mult", "<num>", "4", 1, 100,   \
      "each update is piggybacked num x log10(members + 1) times")                                 \
    X(pushpull_interval, "gossip-pushpull-interval", "gossip_pushpull_interval", "<ms>", "15000",  \
      100, 3600000, "full state exchange period, milliseconds")                                    \
    X(dead_retention, "gossip-dead-retention", "gossip_dead_retention", "<ms>", "600000", 1000,    \
      86400000, "dead and left members are remembered this long, milliseconds")                    \
    X(join_retry, "gossip-join-retry", "gossip_join_retry", "<ms>", "1000", 10, 3600000,           \
      "seeds are contacted again this often until one answers, milliseconds")                      \
    X(awareness_max, "gossip-awareness-max", "gossip_awareness_max", "<num>", "8", 1, 64,          \
      "ceiling of the local health multiplier")                                                    \
    X(leave_fanout, "gossip-leave-fanout", "gossip_leave_fanout", "<num>", "5", 1, 64,             \
      "members told directly when this node leaves")                                               \
    X(leave_linger, "gossip-leave-linger", "gossip_leave_linger", "<ms>", NULL, 0, 60000,          \
      "keep answering this long after announcing a leave, milliseconds (default: 2 periods)")

enum cluster_knob {
#define CLUSTER_KNOB_ENUM(id, ...) CLUSTER_KNOB_##id,
    CLUSTER_KNOBS(CLUSTER_KNOB_ENUM)
#undef CLUSTER_KNOB_ENUM
    CLUSTER_KNOB_COUNT
};

/* Part of struct settings (settings.cluster). All zero = no cluster option given. Strings are
 * borrowed from argv. */
struct cluster_settings {
    const char *node_name;      /* --node-name; NULL: "<gossip addr>:<gossip port>" */
    const char *gossip_addr;    /* --gossip-addr; NULL: first specific -l host, else 127.0.0.1 */
    const char *join;           /* --join host[:port][,...]; port defaults to our gossip port */
    const char *secret_file;    /* --cluster-secret-file */
    int gossip_port;            /* --gossip-port, valid when gossip_port_set; else the TCP port */
    bool gossip_port_set;
    uint32_t knob[CLUSTER_KNOB_COUNT];
    bool knob_set[CLUSTER_KNOB_COUNT];
};

/* True when the options ask for gossip (see the top of this file). */
bool cluster_enabled(const struct settings *s);
/* True when any cluster option at all was given (a secret file or a knob alone is refused). */
bool cluster_any_option(const struct settings *s);

/* The effective values, derived from the options alone (no name resolution). */
void cluster_gossip_host(const struct settings *s, char *buf, size_t len);
int cluster_gossip_port(const struct settings *s);      /* 0: none (TCP off and no --gossip-port) */
void cluster_node_name(const struct settings *s, char *buf, size_t len);
/* "host:port" clients use for this node, or "" when it serves no TCP. */
void cluster_data_addr(const struct settings *s, char *buf, size_t len);
/* Copies the gossip module's defaults overridden by the knobs given into cfg's timings. */
void cluster_apply_knobs(const struct settings *s, struct gossip_udp_config *cfg);

/* Parsers and `stats settings` values for the option table. */
int cluster_parse_node_name(struct settings *s, const char *arg, FILE *msg);
int cluster_parse_gossip_port(struct settings *s, const char *arg, FILE *msg);
int cluster_parse_gossip_addr(struct settings *s, const char *arg, FILE *msg);
int cluster_parse_join(struct settings *s, const char *arg, FILE *msg);
int cluster_parse_secret_file(struct settings *s, const char *arg, FILE *msg);
void cluster_show_node_name(const struct settings *s, char *buf, size_t len);
void cluster_show_gossip_port(const struct settings *s, char *buf, size_t len);
void cluster_show_gossip_addr(const struct settings *s, char *buf, size_t len);
void cluster_show_join(const struct settings *s, char *buf, size_t len);
void cluster_show_secret_file(const struct settings *s, char *buf, size_t len);
#define CLUSTER_KNOB_DECL(id, ...)                                                \
    int cluster_parse_##id(struct settings *s, const char *arg, FILE *msg);       \
    void cluster_show_##id(const struct settings *s, char *buf, size_t len);
CLUSTER_KNOBS(CLUSTER_KNOB_DECL)
#undef CLUSTER_KNOB_DECL

/* The option table's rows (struct option_def initialisers, long options only), for
 * server/options.c. `stats settings` shows them after memcached's rows (ranks from 101). */
#define CLUSTER_ROW(lo, arg, def, help, id, stat, rank) \
    {OPTION_FLAG, 0, lo, arg, false, def, help, cluster_parse_##id, stat, cluster_show_##id, rank},
#define CLUSTER_KNOB_ROW(id, lo, stat, unit, def, min, max, help) \
    CLUSTER_ROW(lo, unit, def, help, id, stat, 110 + CLUSTER_KNOB_##id)
#define CLUSTER_OPTION_ROWS                                                                       \
    CLUSTER_ROW("node-name", "<name>", NULL,                                                       \
                "cluster: this node's unique name (default: gossip addr:port)", node_name,         \
                "cluster_node_name", 101)                                                          \
    CLUSTER_ROW("gossip-port", "<num>", NULL, "cluster: gossip UDP port (default: the TCP port)",  \
                gossip_port, "gossip_port", 102)                                                   \
    CLUSTER_ROW("gossip-addr", "<addr>", NULL,                                                     \
                "cluster: gossip bind and advertised address (default: first -l, or 127.0.0.1)",  \
                gossip_addr, "gossip_addr", 103)                                                   \
    CLUSTER_ROW("join", "<host:port,...>", NULL, "cluster: seed nodes to join through", join,      \
                "cluster_join", 104)                                                               \
    CLUSTER_ROW("cluster-secret-file", "<file>", NULL,                                             \
                "cluster: file with the secret that authenticates gossip packets", secret_file,    \
                "cluster_secret_file", 105)                                                        \
    CLUSTER_KNOBS(CLUSTER_KNOB_ROW)

#endif
