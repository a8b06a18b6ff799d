/* `stats cluster` lines (see gossip_stats_render in gossip.h). */
#include "cluster/gossip/gossip_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct render {
    char *buf;
    size_t cap, len;                    /* len counts what the whole text needs */
    bool full;                          /* a line did not fit: later lines are not written */
};

static void line(struct render *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(struct render *r, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1;
    if (!r->full && r->len + len < r->cap) {
        memcpy(r->buf + r->len, tmp, len);
        r->buf[r->len + len] = '\0';
    } else {
        r->full = true;
    }
    r->len += len;
}

size_t gossip_stats_render(const struct gossip *g, char *buf, size_t cap)
{
    struct render r = {buf, cap, 0, false};
    if (cap > 0)
        buf[0] = '\0';
    const struct member_table *t = &g->members;
    const struct gossip_counters *c = &g->counters;
    line(&r, "STAT cluster_alive %zu\r\n", t->by_state[MEMBER_ALIVE]);
    line(&r, "STAT cluster_suspect %zu\r\n", t->by_state[MEMBER_SUSPECT]);
    line(&r, "STAT cluster_dead %zu\r\n", t->by_state[MEMBER_DEAD]);
    line(&r, "STAT cluster_left %zu\r\n", t->by_state[MEMBER_LEFT]);
    line(&r, "STAT cluster_self %s\r\n", g->name);
    line(&r, "STAT cluster_incarnation %llu\r\n",
         (unsigned long long)g->self->info.incarnation);
    line(&r, "STAT cluster_local_health %u\r\n", g->awareness);
    line(&r, "STAT cluster_quorum %d\r\n", g->quorum ? 1 : 0);
    line(&r, "STAT cluster_serving %d\r\n", gossip_serving(g) ? 1 : 0);
    for (size_t i = 0; i < t->count; i++) {
        const struct member *m = t->items[i];
        line(&r, "STAT cluster_member %s %s %s %llu\r\n", m->info.name,
             m->info.data_addr[0] ? m->info.data_addr : "-", member_state_name(m->state),
             (unsigned long long)m->info.incarnation);
    }
    line(&r, "STAT cluster_probes_sent %llu\r\n", (unsigned long long)c->probes_sent);
    line(&r, "STAT cluster_indirect_probes %llu\r\n", (unsigned long long)c->indirect_probes_sent);
    line(&r, "STAT cluster_probes_failed %llu\r\n", (unsigned long long)c->probes_failed);
    line(&r, "STAT cluster_nacks_received %llu\r\n", (unsigned long long)c->nacks_received);
    line(&r, "STAT cluster_suspicions %llu\r\n", (unsigned long long)c->suspicions_raised);
    line(&r, "STAT cluster_refutations %llu\r\n", (unsigned long long)c->refutations);
    line(&r, "STAT cluster_deaths_declared %llu\r\n", (unsigned long long)c->deaths_declared);
    line(&r, "STAT cluster_pushpulls %llu\r\n", (unsigned long long)c->pushpulls_sent);
    line(&r, "STAT cluster_packets_sent %llu\r\n", (unsigned long long)c->packets_sent);
    line(&r, "STAT cluster_packets_received %llu\r\n", (unsigned long long)c->packets_received);
    line(&r, "STAT cluster_bytes_sent %llu\r\n", (unsigned long long)c->bytes_sent);
    line(&r, "STAT cluster_bytes_received %llu\r\n", (unsigned long long)c->bytes_received);
    line(&r, "STAT cluster_dropped_invalid %llu\r\n", (unsigned long long)c->dropped_invalid);
    line(&r, "STAT cluster_dropped_unauthenticated %llu\r\n",
         (unsigned long long)c->dropped_unauthenticated);
    line(&r, "STAT cluster_dropped_replay %llu\r\n", (unsigned long long)c->dropped_replay);
    line(&r, "STAT cluster_dropped_version %llu\r\n", (unsigned long long)c->dropped_version);
    line(&r, "STAT cluster_refused_protocol %llu\r\n", (unsigned long long)c->refused_protocol);
    line(&r, "STAT cluster_name_conflicts %llu\r\n", (unsigned long long)c->name_conflicts);
    /* Key ids are public (every packet carries one); they show which secret a node signs with,
     * e.g. during a rotation (cluster/gossip/README.md). */
    const struct packet_keys *k = g->cfg.keys;
    if (k)
        line(&r, "STAT cluster_signing_key %02x%02x%02x%02x\r\n", k->current.id[0],
             k->current.id[1], k->current.id[2], k->current.id[3]);
    else
        line(&r, "STAT cluster_signing_key none\r\n");
    line(&r, "STAT cluster_accepted_keys %d\r\n", k ? 1 + k->has_previous : 0);
    line(&r, "STAT cluster_rejoin_flushes %llu\r\n", (unsigned long long)c->fences);
    line(&r, "STAT cluster_stall_flushes %llu\r\n", (unsigned long long)c->fences_stalled);
    line(&r, "STAT cluster_refused_resurrections %llu\r\n",
         (unsigned long long)c->resurrections_refused);
    line(&r, "STAT cluster_told_dead %llu\r\n", (unsigned long long)c->told_dead);
    line(&r, "STAT cluster_stall_checks %llu\r\n", (unsigned long long)c->stall_checks);
    line(&r, "STAT cluster_unreachable_hints %llu\r\n", (unsigned long long)c->hints);
    line(&r, "STAT cluster_hinted_probes %llu\r\n", (unsigned long long)c->hinted_probes);
    line(&r, "STAT cluster_quorum_losses %llu\r\n", (unsigned long long)c->quorum_losses);
    line(&r, "STAT cluster_quorum_fences %llu\r\n", (unsigned long long)c->quorum_fences);
    line(&r, "STAT cluster_isolations %llu\r\n", (unsigned long long)c->isolations);
    return r.len;
}
