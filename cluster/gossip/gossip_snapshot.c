/* Builds the immutable membership snapshot other threads read (see gossip_view.h). */
#include "cluster/gossip/gossip_internal.h"
#include "cluster/gossip/gossip_view.h"

#include <string.h>

void gossip_publish(struct gossip *g)
{
    g->dirty = false;
    g->publish_at_ms = 0;
    if (!g->cfg.view)
        return;
    struct gossip_snapshot *s = gossip_snapshot_alloc(g->members.count);
    if (!s) {
        g->dirty = true;                /* try again at the next tick */
        g->publish_at_ms = 0;
        return;
    }
    for (size_t i = 0; i < g->members.count; i++) {
        const struct member *m = g->members.items[i];
        struct gossip_snapshot_member *o = &s->members[i];
        memcpy(o->name, m->info.name, sizeof o->name);
        memcpy(o->data_addr, m->info.data_addr, sizeof o->data_addr);
        o->addr = m->info.addr;
        o->incarnation = m->info.incarnation;
        o->weight = m->info.weight;
        o->role = m->info.role;
        o->state = m->state;
        o->taken_over = m->taken_over;
        if (m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT)
            s->alive++;
    }
    s->quorum = gossip_serving(g);
    gossip_view_publish(g->cfg.view, s);
}

void gossip_publish_pending(struct gossip *g)
{
    if (g->dirty)
        gossip_publish(g);
}
