/* The cluster's options: parsing, `stats settings` values and derived defaults. See
 * cluster_options.h. */
#include "server/cluster_options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cluster/gossip/gossip_udp.h"
#include "server/options.h"
#include "server/settings.h"

#define DEFAULT_GOSSIP_HOST "127.0.0.1"

/* Option values here are small unsigned numbers: the option table's strict parser, narrowed. */
static bool parse_u32(const char *arg, long min, long max, uint32_t *out)
{
    long v;
    if (!options_parse_long(arg, min, max, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* A node name travels in every gossip message: 1..64 printable bytes, no blank. */
static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f)
            return false;
    return true;
}

bool cluster_enabled(const struct settings *s)
{
    const struct cluster_settings *c = &s->cluster;
    return c->node_name || c->gossip_port_set || c->gossip_addr || c->join;
}

bool cluster_any_option(const struct settings *s)
{
    if (cluster_enabled(s) || s->cluster.secret_file)
        return true;
    for (int i = 0; i < CLUSTER_KNOB_COUNT; i++)
        if (s->cluster.knob_set[i])
            return true;
    return false;
}

/* The first -l entry split into host and port ("h", "h:p", "[v6]", "[v6]:p", bare "v6").
 * Returns false when there is no -l. *port is 0 when the entry has none. */
static bool first_listen(const struct settings *s, char *host, size_t len, int *port)
{
    *port = 0;
    if (!s->inter || !*s->inter)
        return false;
    size_t n = strcspn(s->inter, ",");
    char item[128];
    if (n >= sizeof item)
        n = sizeof item - 1;
    memcpy(item, s->inter, n);
    item[n] = '\0';
    char *h = item;
    char *colon = NULL;
    if (h[0] == '[') {
        char *close = strchr(h, ']');
        if (close) {
            *close = '\0';
            if (close[1] == ':')
                colon = close + 1;
            h++;
        }
    } else if ((colon = strchr(h, ':')) != NULL && strchr(colon + 1, ':') != NULL) {
        colon = NULL;                   /* a bare IPv6 address: no port */
    }
    if (colon) {
        *colon = '\0';
        *port = atoi(colon + 1);
    }
    snprintf(host, len, "%s", h);
    return true;
}

static bool wildcard_host(const char *h)
{
    return !*h || strcmp(h, "*") == 0 || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 ||
           strcmp(h, "[::]") == 0;
}

void cluster_gossip_host(const struct settings *s, char *buf, size_t len)
{
    char host[128];
    int port;
    if (s->cluster.gossip_addr)
        snprintf(buf, len, "%s", s->cluster.gossip_addr);
    else if (first_listen(s, host, sizeof host, &port) && !wildcard_host(host))
        snprintf(buf, len, "%s", host);
    else
        snprintf(buf, len, "%s", DEFAULT_GOSSIP_HOST);
}

/* The TCP port clients use: the first -l entry's own port, else -p; 0 without TCP. */
static int data_port(const struct settings *s)
{
    char host[128];
    int port;
    if (s->socketpath)
        return 0;
    if (first_listen(s, host, sizeof host, &port) && port > 0)
        return port;
    return s->port;
}

int cluster_gossip_port(const struct settings *s)
{
    return s->cluster.gossip_port_set ? s->cluster.gossip_port : data_port(s);
}

/* host:port with IPv6 hosts in brackets, as gossip_addr_parse reads them. */
static void host_port(char *buf, size_t len, const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL && host[0] != '[';
    snprintf(buf, len, v6 ? "[%s]:%d" : "%s:%d", host, port);
}

void cluster_node_name(const struct settings *s, char *buf, size_t len)
{
    if (s->cluster.node_name) {
        snprintf(buf, len, "%s", s->cluster.node_name);
        return;
    }
    char host[128];
    cluster_gossip_host(s, host, sizeof host);
    host_port(buf, len, host, cluster_gossip_port(s));
}

void cluster_data_addr(const struct settings *s, char *buf, size_t len)
{
    int port = data_port(s);
    if (port == 0) {
        snprintf(buf, len, "%s", "");
        return;
    }
    char host[128];
    int ignored;
    if (!first_listen(s, host, sizeof host, &ignored) || wildcard_host(host))
        cluster_gossip_host(s, host, sizeof host);
    host_port(buf, len, host, port);
}

static uint32_t knob_default(enum cluster_knob k, const struct settings *s);

static uint32_t knob_value(const struct settings *s, enum cluster_knob k)
{
    return s->cluster.knob_set[k] ? s->cluster.knob[k] : knob_default(k, s);
}

void cluster_apply_knobs(const struct settings *s, struct gossip_udp_config *cfg)
{
    struct gossip_config *g = &cfg->gossip;
    g->probe_interval_ms = knob_value(s, CLUSTER_KNOB_interval);
    g->probe_timeout_ms = knob_value(s, CLUSTER_KNOB_probe_timeout);
    g->indirect_checks = knob_value(s, CLUSTER_KNOB_indirect_checks);
    g->suspicion_mult = knob_value(s, CLUSTER_KNOB_suspicion_mult);
    g->suspicion_max_mult = knob_value(s, CLUSTER_KNOB_suspicion_max_mult);
    g->retransmit_mult = knob_value(s, CLUSTER_KNOB_retransmit_mult);
    g->pushpull_interval_ms = knob_value(s, CLUSTER_KNOB_pushpull_interval);
    g->dead_retention_ms = knob_value(s, CLUSTER_KNOB_dead_retention);
    g->join_retry_ms = knob_value(s, CLUSTER_KNOB_join_retry);
    g->awareness_max = knob_value(s, CLUSTER_KNOB_awareness_max);
    g->leave_fanout = knob_value(s, CLUSTER_KNOB_leave_fanout);
    cfg->leave_linger_ms = knob_value(s, CLUSTER_KNOB_leave_linger);
}

static uint32_t knob_default(enum cluster_knob k, const struct settings *s)
{
    struct gossip_udp_config d;
    gossip_udp_config_defaults(&d);
    const struct gossip_config *g = &d.gossip;
    switch (k) {
    case CLUSTER_KNOB_interval: return g->probe_interval_ms;
    case CLUSTER_KNOB_probe_timeout: {
        /* The module's 80 ms, or its 2/5 ratio to the period when that is shorter, so that a
         * short --gossip-interval alone stays valid (the timeout must be below the period). */
        uint32_t scaled = knob_value(s, CLUSTER_KNOB_interval) * 2 / 5;
        if (scaled < 1)
            scaled = 1;
        return scaled < g->probe_timeout_ms ? scaled : g->probe_timeout_ms;
    }
    case CLUSTER_KNOB_indirect_checks: return g->indirect_checks;
    case CLUSTER_KNOB_suspicion_mult: return g->suspicion_mult;
    case CLUSTER_KNOB_suspicion_max_mult: return g->suspicion_max_mult;
    case CLUSTER_KNOB_retransmit_mult: return g->retransmit_mult;
    case CLUSTER_KNOB_pushpull_interval: return g->pushpull_interval_ms;
    case CLUSTER_KNOB_dead_retention: return g->dead_retention_ms;
    case CLUSTER_KNOB_join_retry: return g->join_retry_ms;
    case CLUSTER_KNOB_awareness_max: return g->awareness_max;
    case CLUSTER_KNOB_leave_fanout: return g->leave_fanout;
    case CLUSTER_KNOB_leave_linger:
        /* Two probe periods: long enough for the acks that carry the news to go out. */
        return 2 * knob_value(s, CLUSTER_KNOB_interval);
    case CLUSTER_KNOB_COUNT: break;
    }
    return 0;
}

/* ---- parsers ------------------------------------------------------------------------------ */

int cluster_parse_node_name(struct settings *s, const char *arg, FILE *msg)
{
    if (!arg || !valid_name(arg)) {
        fprintf(msg, "Invalid --node-name: 1 to 64 printable characters without blanks\n");
        return EX_USAGE;
    }
    s->cluster.node_name = arg;
    return 0;
}

int cluster_parse_gossip_port(struct settings *s, const char *arg, FILE *msg)
{
    uint32_t v;
    if (!parse_u32(arg, 1, 65535, &v)) {
        fprintf(msg, "Invalid --gossip-port %s: a UDP port, 1 to 65535\n", arg ? arg : "");
        return EX_USAGE;
    }
    s->cluster.gossip_port = (int)v;
    s->cluster.gossip_port_set = true;
    return 0;
}

int cluster_parse_gossip_addr(struct settings *s, const char *arg, FILE *msg)
{
    if (!arg || !*arg || strchr(arg, ',') || wildcard_host(arg)) {
        fprintf(msg, "Invalid --gossip-addr %s: one specific address (peers must reach it)\n",
                arg ? arg : "");
        return EX_USAGE;
    }
    s->cluster.gossip_addr = arg;
    return 0;
}

int cluster_parse_join(struct settings *s, const char *arg, FILE *msg)
{
    if (!arg || !*arg || arg[0] == ',' || strstr(arg, ",,") || arg[strlen(arg) - 1] == ',') {
        fprintf(msg, "Invalid --join %s: host:port[,host:port...]\n", arg ? arg : "");
        return EX_USAGE;
    }
    s->cluster.join = arg;
    return 0;
}

int cluster_parse_secret_file(struct settings *s, const char *arg, FILE *msg)
{
    if (!arg || !*arg) {
        fprintf(msg, "Invalid --cluster-secret-file: a file name is needed\n");
        return EX_USAGE;
    }
    s->cluster.secret_file = arg;
    return 0;
}

#define CLUSTER_KNOB_PARSE(id, lo, stat, unit, def, min, max, help)                         \
    int cluster_parse_##id(struct settings *s, const char *arg, FILE *msg)             \
    {                                                                                  \
        uint32_t v;                                                                    \
        if (!parse_u32(arg, min, max, &v)) {                                           \
            fprintf(msg, "Invalid --%s %s: %ld to %ld\n", lo, arg ? arg : "",          \
                    (long)(min), (long)(max));                                         \
            return EX_USAGE;                                                           \
        }                                                                              \
        s->cluster.knob[CLUSTER_KNOB_##id] = v;                                        \
        s->cluster.knob_set[CLUSTER_KNOB_##id] = true;                                 \
        return 0;                                                                      \
    }                                                                                  \
    void cluster_show_##id(const struct settings *s, char *buf, size_t len)            \
    {                                                                                  \
        snprintf(buf, len, "%u", (unsigned)knob_value(s, CLUSTER_KNOB_##id));          \
    }
CLUSTER_KNOBS(CLUSTER_KNOB_PARSE)

/* ---- stats settings ----------------------------------------------------------------------- */
/* Without gossip the identity rows read NULL, as memcached shows unset strings. */

void cluster_show_node_name(const struct settings *s, char *buf, size_t len)
{
    if (cluster_enabled(s))
        cluster_node_name(s, buf, len);
    else
        snprintf(buf, len, "NULL");
}

void cluster_show_gossip_port(const struct settings *s, char *buf, size_t len)
{
    snprintf(buf, len, "%d", cluster_enabled(s) ? cluster_gossip_port(s) : 0);
}

void cluster_show_gossip_addr(const struct settings *s, char *buf, size_t len)
{
    if (cluster_enabled(s))
        cluster_gossip_host(s, buf, len);
    else
        snprintf(buf, len, "NULL");
}

void cluster_show_join(const struct settings *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s", s->cluster.join ? s->cluster.join : "NULL");
}

void cluster_show_secret_file(const struct settings *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s", s->cluster.secret_file ? s->cluster.secret_file : "NULL");
}
