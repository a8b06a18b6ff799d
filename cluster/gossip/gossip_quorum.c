/* Quorum: what a side of a partition may do (cluster/README.md, "Partitions").
 *
 * Fencing makes a member that was buried drop its data before anyone routes to it again. What it
 * costs is decided here: a member needs to fence only if keys it owns may have been stored
 * elsewhere while it was buried. So a node takes over the keys of members it holds dead only while
 * it sees a majority of the cluster, and a node that cannot see one serves no key at all:
 *
 *   known    = members not seen leaving (dead ones included), ourselves included
 *   serving  = 2 * (alive + suspect) > known, or exactly half with the member of the smallest
 *              name among them (a two-node cluster: the smaller name keeps serving)
 *   takeover = serving, and 2 * alive > known (or the same tie), counting suspects as absent, and
 *              our own last probe was answered by somebody (an ack, or a helper's nack)
 *
 * A member buried without takeover keeps its keys: the router leaves it on the ring (its keys
 * miss or fail here) and it may come back in the same epoch without flushing; a node tells it
 * only that it is suspected, so it refutes instead of fencing. Once we may take over keys again,
 * such a member is suspected afresh rather than taken over at once: after a partition heals it
 * refutes within a round trip, and only if it stays silent for a whole suspicion is it buried
 * again, this time with takeover. Only two sides can both have a
 * quorum at once if their views of `known` differ (a member joined or left on one side only).
 *
 * Active only with fencing (cfg.on_fence); without it every node always has a quorum and every
 * dead member counts as taken over: SWIM as it was. */
#include "cluster/gossip/gossip_internal.h"

#include <string.h>

/* Whether the members present (alive, and suspect when count_suspects) form a majority. */
static bool majority(const struct gossip *g, bool count_suspects)
{
    size_t known = 0, present = 0;
    const char *smallest = NULL;
    bool smallest_present = false;
    for (size_t i = 0; i < g->members.count; i++) {
        const struct member *m = g->members.items[i];
        if (m->state == MEMBER_LEFT && m != g->self)
            continue;
        bool here = m == g->self || m->state == MEMBER_ALIVE ||
                    (count_suspects && m->state == MEMBER_SUSPECT);
        known++;
        present += here;
        if (!smallest || strcmp(m->info.name, smallest) < 0) {
            smallest = m->info.name;
            smallest_present = here;
        }
    }
    return 2 * present > known || (2 * present == known && smallest_present);
}

bool gossip_has_quorum(const struct gossip *g)
{
    return g->quorum;
}

bool gossip_may_take_over(const struct gossip *g)
{
    if (!gossip_fencing(g))
        return true;
    return !g->left && !g->isolated && majority(g, true) && majority(g, false);
}

void gossip_quorum_update(struct gossip *g)
{
    if (!gossip_fencing(g)) {
        g->quorum = true;
        return;
    }
    bool serving = g->left || majority(g, true);
    if (serving && g->members.by_state[MEMBER_DEAD] > 0 && gossip_may_take_over(g)) {
        for (size_t i = 0; i < g->members.count && !g->resuspect_pending; i++) {
            const struct member *m = g->members.items[i];
            g->resuspect_pending = m->state == MEMBER_DEAD && !m->taken_over;
        }
    }
    if (serving == g->quorum)
        return;
    g->quorum = serving;
    g->dirty = true;
    if (!serving) {
        g->counters.quorum_losses++;
        g->quorum_fence_pending = true;
        gossip_logf(g, 1, "gossip: lost the quorum (fewer than half of the members we know are "
                    "alive or suspect): serving no key until it is back");
        return;
    }
    gossip_logf(g, 1, "gossip: quorum regained");
    if (g->quorum_fence_pending) {
        /* While we could not see a majority, it may have buried us and stored our keys
         * elsewhere; what we hold may be older than that. Serving resumes only after the flush
         * (the new snapshot goes out after this returns). */
        g->counters.quorum_fences++;
        gossip_fence(g, GOSSIP_FENCE_QUORUM, g->self->info.incarnation, "", 0);
    }
}

void gossip_quorum_settle(struct gossip *g, uint64_t now_ms)
{
    if (!g->resuspect_pending)
        return;
    g->resuspect_pending = false;
    if (!gossip_may_take_over(g))
        return;
    for (size_t i = 0; i < g->members.count; i++) {
        struct member *m = g->members.items[i];
        if (m->state == MEMBER_DEAD && !m->taken_over)
            gossip_resuspect(g, m, now_ms);
    }
}
