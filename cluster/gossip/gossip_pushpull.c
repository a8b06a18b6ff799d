/* Full-state push-pull, join and leave.
 *
 * Push-pull: every pushpull interval (scaled up with log2(N) beyond 32 members, so the bytes per
 * node stay flat) we send our whole member table to one random member, chunked into datagrams; it
 * merges and answers with its own. Each chunk stands alone (a lost chunk loses only its entries).
 * The peer is drawn from every member we have not seen leave, dead ones included: that is how two
 * halves of a healed partition find each other again. Remote dead entries about members we know
 * are merged as suspicions (a live member then refutes; a dead one times out here too); about
 * members we never knew, kept as tombstones (gossip_learn_tombstone).
 *
 * Join: a push-pull request flagged JOIN to every seed, repeated every join_retry_ms until a
 * push-pull answer arrives; repeated again whenever we find ourselves alone. */
#include "cluster/gossip/gossip_internal.h"

#include <string.h>

#define PP_ENTRY_ROOM (WIRE_MAX_PACKET - WIRE_HEADER_MAX - WIRE_AUTH_HEADER_LEN - WIRE_TAG_LEN - \
                       WIRE_MSG_HEADER - 10)

uint64_t gossip_pushpull_interval(const struct gossip *g)
{
    size_t n = gossip_alive_count(g);
    uint64_t mult = 1;
    if (n > 32)
        mult = (uint64_t)(gossip_log2((double)n) - 5.0 + 0.999) + 1;
    return g->cfg.pushpull_interval_ms * mult;
}

static void entry_of(const struct member *m, struct wire_member *out)
{
    *out = m->info;
}

/* How many datagrams our state takes (same packing as gossip_send_state). */
static uint16_t chunks_needed(const struct gossip *g)
{
    size_t chunks = 1, used = 0, count = 0;
    for (size_t i = 0; i < g->members.count; i++) {
        size_t n = wire_pp_entry_size(&g->members.items[i]->info);
        if (used + n > PP_ENTRY_ROOM || count == UINT8_MAX) {
            chunks++;
            used = count = 0;
        }
        used += n;
        count++;
    }
    return chunks > UINT16_MAX ? UINT16_MAX : (uint16_t)chunks;
}

void gossip_send_state(struct gossip *g, const struct gossip_addr *to, uint8_t flags,
                       uint32_t session)
{
    uint16_t chunks = chunks_needed(g), chunk = 0;
    size_t i = 0;
    g->counters.pushpulls_sent++;
    do {
        struct wire_writer w;
        size_t mark, used = 0, count = 0;
        gossip_packet_begin(g, &w);
        wire_pp_begin(&w, flags, session, chunk, chunks, &mark);
        for (; i < g->members.count; i++) {
            struct wire_member e;
            entry_of(g->members.items[i], &e);
            size_t n = wire_pp_entry_size(&e);
            if (used + n > PP_ENTRY_ROOM || count == UINT8_MAX)
                break;
            const struct member *m = g->members.items[i];
            /* A member buried without takeover is only suspected, as far as others (and it
             * itself) should know: it refutes instead of fencing. */
            uint8_t state = m->state == MEMBER_DEAD && !m->taken_over ? MEMBER_SUSPECT : m->state;
            wire_pp_add(&w, mark, state, &e);
            used += n;
            count++;
        }
        wire_pp_end(&w, mark);
        gossip_packet_send(g, &w, to, false);
        chunk++;
    } while (i < g->members.count && chunk < chunks);
}

static struct member *random_pushpull_peer(struct gossip *g)
{
    size_t n = g->members.count;
    for (size_t tries = 0; tries < 32 && n > 1; tries++) {
        struct member *m = g->members.items[gossip_rand_below(g, n)];
        if (m != g->self && m->state != MEMBER_LEFT)
            return m;
    }
    return NULL;
}

static void contact_seeds(struct gossip *g, uint64_t now_ms)
{
    g->next_join_ms = now_ms + g->cfg.join_retry_ms;
    uint32_t session = (uint32_t)gossip_rand(g);
    for (size_t i = 0; i < g->nseeds; i++)
        gossip_send_state(g, &g->seeds[i], WIRE_PP_REQUEST | WIRE_PP_JOIN, session);
}

void gossip_pushpull_tick(struct gossip *g, uint64_t now_ms)
{
    if (g->nseeds > 0 && now_ms >= g->next_join_ms && (g->joining || gossip_alive_count(g) <= 1))
        contact_seeds(g, now_ms);
    if (now_ms < g->next_pushpull_ms)
        return;
    g->next_pushpull_ms = now_ms + gossip_pushpull_interval(g);
    struct member *peer = random_pushpull_peer(g);
    if (peer)
        gossip_send_state(g, &peer->info.addr, WIRE_PP_REQUEST, (uint32_t)gossip_rand(g));
}

int gossip_join(struct gossip *g, const struct gossip_addr *seeds, size_t nseeds, uint64_t now_ms)
{
    g->nseeds = 0;
    for (size_t i = 0; i < nseeds && g->nseeds < GOSSIP_MAX_SEEDS; i++)
        if (!gossip_addr_equal(&seeds[i], &g->cfg.addr))
            g->seeds[g->nseeds++] = seeds[i];
    if (g->nseeds == 0)
        return nseeds == 0 || nseeds > GOSSIP_MAX_SEEDS ? -1 : 0;  /* we are the only seed */
    g->joining = true;
    contact_seeds(g, now_ms);
    return 0;
}

void gossip_leave(struct gossip *g, uint64_t now_ms)
{
    if (g->left)
        return;
    g->left = true;
    struct member *self = g->self;
    member_set_state(&g->members, self, MEMBER_LEFT, now_ms);
    gossip_notify(g, self, MEMBER_ALIVE);
    struct wire_accuse d = {.incarnation = self->info.incarnation};
    memcpy(d.name, g->name, sizeof d.name);
    memcpy(d.from, g->name, sizeof d.from);
    uint8_t buf[256];
    size_t n = wire_encode_accuse(buf, sizeof buf, WIRE_DEAD, &d);
    if (n)
        gossip_queue_push(&g->queue, buf, n, &self->bcast);
    /* Tell a few members directly; they spread it, and acks we still send carry it too. */
    size_t told = 0;
    for (size_t tries = 0; told < g->cfg.leave_fanout && tries < 8 * g->cfg.leave_fanout + 8 &&
                           g->members.count > 1; tries++) {
        struct member *m = g->members.items[gossip_rand_below(g, g->members.count)];
        if (m == self || m->state != MEMBER_ALIVE)
            continue;
        struct wire_writer w;
        gossip_packet_begin(g, &w);
        wire_put_accuse(&w, WIRE_DEAD, &d);
        gossip_packet_send(g, &w, &m->info.addr, false);
        told++;
    }
    gossip_publish(g);
}

static bool already_answered(struct gossip *g, const struct gossip_addr *from, uint32_t session)
{
    for (size_t i = 0; i < GOSSIP_PP_ANSWERED; i++)
        if (g->answered[i].session == session && gossip_addr_equal(&g->answered[i].from, from))
            return true;
    g->answered[g->answered_next].from = *from;
    g->answered[g->answered_next].session = session;
    g->answered_next = (g->answered_next + 1) % GOSSIP_PP_ANSWERED;
    return false;
}

/* Where a push-pull answer goes: to the address the sender gives for itself (its entry comes
 * first in every state it sends, and is merged by now), not to the datagram's source, which a
 * replayed copy can spoof: so no copy of a captured request can aim our whole member table at a
 * third party. The source only for a sender we still do not hold alive. */
static const struct gossip_addr *answer_address(struct gossip *g, const char *sender,
                                                const struct gossip_addr *from)
{
    const struct member *m = member_table_find(&g->members, sender);
    if (m && m != g->self && (m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT))
        return &m->info.addr;
    return from;
}

void gossip_handle_pushpull(struct gossip *g, const struct wire_pushpull *pp, const char *sender,
                            const struct gossip_addr *from, uint64_t now_ms)
{
    g->counters.pushpulls_received++;
    if (!(pp->flags & WIRE_PP_REQUEST))
        g->joining = false;         /* somebody answered */
    struct wire_cursor cur = {pp->entries, pp->entries_len};
    struct wire_member e;
    uint8_t state;
    while (wire_pp_next(&cur, &state, &e) == 1) {
        struct wire_accuse a = {.incarnation = e.incarnation};
        memcpy(a.name, e.name, sizeof a.name);
        if (gossip_fencing(g) && (state == MEMBER_DEAD || state == MEMBER_LEFT) &&
            strcmp(e.name, g->name) == 0) {
            /* The sender holds us dead: that is news to fence for, not a mere suspicion. */
            gossip_handle_self_death(g, e.incarnation, "", from);
            continue;
        }
        bool known = member_table_find(&g->members, e.name) != NULL;
        if (!known && (state == MEMBER_DEAD || state == MEMBER_LEFT)) {
            /* A death from before we joined: keep its tombstone, or we would take the dead
             * member's old life (its old epoch) back from the first stale gossip about it. */
            gossip_learn_tombstone(g, &e, state, now_ms);
            continue;
        }
        switch (state) {
        case MEMBER_ALIVE:
            gossip_handle_alive(g, &e, from, now_ms);
            break;
        case MEMBER_SUSPECT:
            /* A member we never heard of: learn it first, so the suspicion has something to
             * apply to (and it can still refute). */
            if (!known)
                gossip_handle_alive(g, &e, from, now_ms);
            /* fall through */
        case MEMBER_DEAD:
            /* Unknown accuser: starts a suspicion but confirms nothing. */
            gossip_handle_suspect(g, &a, from, now_ms);
            break;
        case MEMBER_LEFT:
            memcpy(a.from, e.name, sizeof a.from);
            gossip_handle_dead(g, &a, from, now_ms);
            break;
        }
    }
    if (!(pp->flags & WIRE_PP_REQUEST) || g->left)
        return;
    const struct gossip_addr *to = answer_address(g, sender, from);
    if (!already_answered(g, to, pp->session))
        gossip_send_state(g, to, 0, pp->session);
}
