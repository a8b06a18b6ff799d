/* The replay window (see gossip_auth.h): per sender, highest counter + 64-bit bitmap. */
#include "cluster/gossip_auth.h"

#include <stdlib.h>
#include <string.h>

void replay_init(struct replay_table *t)
{
    memset(t, 0, sizeof *t);
}

void replay_free(struct replay_table *t)
{
    free(t->peers);
    memset(t, 0, sizeof *t);
}

static struct replay_peer *peer_slot(struct replay_table *t, const struct gossip_addr *addr,
                                     bool *fresh)
{
    size_t oldest = 0;
    for (size_t i = 0; i < t->count; i++) {
        if (gossip_addr_equal(&t->peers[i].addr, addr)) {
            *fresh = false;
            return &t->peers[i];
        }
        if (t->peers[i].last_used < t->peers[oldest].last_used)
            oldest = i;
    }
    *fresh = true;
    if (!t->peers) {
        t->peers = calloc(REPLAY_PEERS, sizeof *t->peers);
        if (!t->peers)
            return NULL;
    }
    struct replay_peer *p = t->count < REPLAY_PEERS ? &t->peers[t->count++] : &t->peers[oldest];
    memset(p, 0, sizeof *p);
    p->addr = *addr;
    return p;
}

bool replay_check(struct replay_table *t, const struct gossip_addr *addr, uint64_t counter)
{
    bool fresh;
    struct replay_peer *p = peer_slot(t, addr, &fresh);
    if (!p)
        return false;
    p->last_used = ++t->clock;
    if (fresh) {
        p->highest = counter;
        p->seen = 1;
        return true;
    }
    if (counter > p->highest) {
        uint64_t shift = counter - p->highest;
        p->seen = shift >= 64 ? 0 : p->seen << shift;
        p->seen |= 1;
        p->highest = counter;
        return true;
    }
    uint64_t back = p->highest - counter;
    if (back >= 64 || (p->seen >> back) & 1)
        return false;
    p->seen |= (uint64_t)1 << back;
    return true;
}
