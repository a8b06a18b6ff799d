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
 *   takeover = serving, 2 * alive > known (or the same tie) counting suspects as absent, and not
 *              isolated (below)
 *   keys     = served only while serving holds and we are not isolated
 *
 * *Isolated*: our last probe got no ack and not even a nack from the two or more helpers we
 * asked, and no packet at all came in for three probe periods. That is the first sign of being
 * cut off, about three periods after the cut, while the others need a failed probe plus a whole
 * suspicion (suspicion_mult periods, 4 by default) to bury us and take our keys; so a node cut
 * off alone stops answering for its own keys before they are written elsewhere. Any packet ends
 * it, and we check in with every member (those that buried us meanwhile say so, and we fence).
 * With fewer than two helpers to ask (up to three members) a node is never isolated: a dead
 * member and a quiet one are too alike there. A minority of several nodes hears itself, so it is not
 * isolated: it serves its own keys until it has buried a majority, while the others may have
 * buried it and taken them over sooner (a window, cluster/README.md).
 *
 * Takeover also needs the death to be agreed: the suspicion that ended in it was raised or
 * confirmed (Lifeguard's independent confirmations) by a majority of the members we know, or by
 * all k + 1 that a suspicion counts (k = indirect checks). A minority of several nodes, which hears
 * itself and so is not isolated, can then bury the others but not take their keys, however its
 * suspicions happen to be ordered; the majority's members all probe a member cut off from them
 * and confirm each other. (Up to four members a suspicion counts no confirmation, so one accuser
 * is all of them.)
 *
 * A member buried without takeover only because a suspicion hid our majority at that moment is
 * taken over as soon as the majority is seen again; one buried while we were cut off (isolated,
 * or without the serving quorum, at any time since), or by too few accusers, is suspected afresh
 * instead, and is taken over when that suspicion ends in an agreed death.
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
