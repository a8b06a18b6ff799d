/* Quorum: what a side of a partition may do (cluster/README.md, "Partitions").
 *
 * Fencing makes a member that was buried drop its data before anyone routes to it again. What that
 * costs is decided here: a member needs to fence only if keys it owns may have been stored
 * elsewhere while it was buried. So only a side that sees a majority takes keys over, and a side
 * that does not serves no key at all:
 *
 *   known    = members not seen leaving (dead ones included), ourselves included
 *   quorum   = 2 * (alive + suspect) > known, or exactly half with the member of the smallest
 *              name among them (a two-node cluster: the smaller name carries on)
 *   serving  = quorum and not isolated (below): otherwise every key misses or fails here
 *   takeover = serving, 2 * alive > known (or the same tie) with suspects counted absent, and an
 *              agreed death: the suspicion was raised or confirmed (Lifeguard's independent
 *              confirmations) by a majority of the known members, or by all k + 1 a suspicion
 *              counts (k = indirect checks; none below five members, so one accuser is enough)
 *
 * *Isolated*: our last probe got no ack and not even a nack from the two or more helpers we asked,
 * and nothing at all came in for three probe periods. A node cut off alone notices so about three
 * periods after the cut, while the others need a failed probe plus a whole suspicion
 * (suspicion_mult periods, 4 by default) to bury it: it stops answering for its own keys before
 * they are written elsewhere. Any packet ends it, and we check in with every member (one that
 * buried us meanwhile says so, and we fence). With fewer than two helpers (up to three members) a
 * dead peer and a silent one look alike, so such a node is never isolated. A minority of several
 * nodes hears itself and is not isolated either: it serves its own keys until it has buried a
 * majority (a window, cluster/README.md), but with too few accusers it takes no key over.
 *
 * A member buried without takeover stays on the ring without a backend (its keys fail here), is
 * told only that it is suspected (it refutes instead of fencing) and is accepted back in its
 * epoch. Once we may take keys over, it is taken over at once if only a passing suspicion of
 * another member hid our majority when it died; if we were cut off since (isolated, or without
 * the quorum) or too few accused it, it is suspected afresh: after a heal it refutes within a
 * round trip, and if it stays silent, the new suspicion ends in an agreed death. Regaining a lost
 * quorum fences: the majority may have buried us meanwhile.
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

bool gossip_accusers_enough(const struct gossip *g, unsigned accusers, unsigned k)
{
    size_t known = 0;
    for (size_t i = 0; i < g->members.count; i++)
        if (g->members.items[i]->state != MEMBER_LEFT || g->members.items[i] == g->self)
            known++;
    size_t needed = known / 2 + 1;
    if (needed > (size_t)k + 1)
        needed = (size_t)k + 1;
    return accusers >= needed;
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
        for (size_t i = 0; i < g->members.count; i++) {
            struct member *m = g->members.items[i];
            if (m->state != MEMBER_DEAD || m->taken_over)
                continue;
            if (m->cut_offs_at_death == g->cut_offs && m->accused_by_quorum) {
                /* Not taken over only because a suspicion elsewhere (of a member that is
                 * back) hid our majority for a moment: nothing suggests it is alive. */
                m->taken_over = true;
                g->dirty = true;
            } else {
                /* We were cut off since, or too few members accused it: it may be alive (on
                 * the other side of a partition); a fresh suspicion, which the members still
                 * reaching it refute, decides. */
                g->resuspect_pending = true;
            }
        }
    }
    if (serving == g->quorum)
        return;
    g->quorum = serving;
    g->dirty = true;
    if (!serving) {
        g->cut_offs++;
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

static void set_isolated(struct gossip *g, bool isolated)
{
    if (g->isolated == isolated)
        return;
    g->isolated = isolated;
    g->dirty = true;                    /* the snapshot's serving flag changes */
    if (isolated) {
        g->cut_offs++;
        g->counters.isolations++;
        gossip_logf(g, 1, "gossip: cut off (our last probe answered by nobody, nothing heard "
                    "for three probe periods): serving no key until we hear from a member");
    } else {
        gossip_logf(g, 1, "gossip: hearing from members again: checking in with every one");
        gossip_check_in(g);
    }
    gossip_quorum_update(g);
}

void gossip_probe_answered(struct gossip *g, bool answered)
{
    g->probe_unanswered = !answered;
}

void gossip_heard(struct gossip *g, uint64_t now_ms)
{
    g->last_heard_ms = now_ms;
    if (g->isolated)
        set_isolated(g, false);
}

/* Three probe periods (not scaled by local health: a cut-off node's health falls at once and
 * would slow it down) without a packet, after an unanswered probe: a member's probe of us
 * failing, then its shortest suspicion (suspicion_mult periods, 4 by default), takes longer
 * (cluster/README.md, "Partitions"). */
static uint64_t silence_limit(const struct gossip *g)
{
    return 3 * (uint64_t)g->cfg.probe_interval_ms;
}

void gossip_isolation_tick(struct gossip *g, uint64_t now_ms)
{
    if (gossip_fencing(g) && g->probe_unanswered && !g->isolated &&
        now_ms >= g->last_heard_ms + silence_limit(g))
        set_isolated(g, true);
}

uint64_t gossip_isolation_deadline(const struct gossip *g)
{
    if (!gossip_fencing(g) || !g->probe_unanswered || g->isolated)
        return UINT64_MAX;
    return g->last_heard_ms + silence_limit(g);
}

bool gossip_serving(const struct gossip *g)
{
    if (!gossip_fencing(g))
        return true;
    return g->quorum && !g->isolated;
}
