/* Member state transitions: SWIM's incarnation rules plus Lifeguard's suspicion timeouts.
 *
 * Rules (X = a member, i = the incarnation a message carries, cur = what we know):
 *   alive(X, i):   unknown X -> add alive. Known: accepted only if i > cur; then X is alive with
 *                  the new address/metadata, whatever its state was (a refutation, a restart).
 *                  So stale gossip (i <= cur) never resurrects a dead or left member. An alive
 *                  or suspect X keeps its gossip address: an alive for X at another address is a
 *                  second node started with the same name, refused and logged (name conflict).
 *   suspect(X, i): only an alive X with i >= cur becomes suspect; a suspect X with i == cur
 *                  counts a new independent confirmation (the timeout shrinks).
 *   dead(X, i):    alive/suspect X with i >= cur becomes dead (left if X itself sent it).
 *   about us:      suspect/dead at i >= ours -> refute: our incarnation becomes i + 1, broadcast.
 *                  Only a node raises its own incarnation. An alive for our name at another
 *                  address is not outbid (that would flip the name between two hosts): logged.
 * Tombstones (dead/left) are kept dead_retention_ms, far longer than gossip lives. */
#include "cluster/gossip/gossip_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gossip_notify(struct gossip *g, struct member *m, uint8_t old_state)
{
    g->dirty = true;
    gossip_quorum_update(g);
    if (g->cfg.on_change) {
        struct gossip_event ev = {&m->info, old_state, m->state};
        g->cfg.on_change(g->cfg.ctx, &ev);
    }
}

void gossip_broadcast_alive(struct gossip *g, struct member *m)
{
    uint8_t buf[256];
    size_t n = wire_encode_alive(buf, sizeof buf, &m->info);
    if (n)
        gossip_queue_push(&g->queue, buf, n, &m->bcast);
}

static void broadcast_accuse(struct gossip *g, struct member *m, uint8_t type, const char *from)
{
    struct wire_accuse a = {.incarnation = m->info.incarnation};
    memcpy(a.name, m->info.name, sizeof a.name);
    snprintf(a.from, sizeof a.from, "%s", from);
    uint8_t buf[256];
    size_t n = wire_encode_accuse(buf, sizeof buf, type, &a);
    if (n)
        gossip_queue_push(&g->queue, buf, n, &m->bcast);
}

bool gossip_fencing(const struct gossip *g)
{
    return g->cfg.on_fence != NULL;
}

const char *gossip_fence_reason_name(enum gossip_fence_reason reason)
{
    switch (reason) {
    case GOSSIP_FENCE_DECLARED_DEAD:
        return "declared dead";
    case GOSSIP_FENCE_STALLED:
        return "stalled";
    case GOSSIP_FENCE_EPOCH:
        return "new epoch";
    case GOSSIP_FENCE_QUORUM:
        return "quorum regained";
    }
    return "fence";
}

/* Has the data layer drop everything, then moves us to the first incarnation of the epoch after
 * both ours and `accused`, and queues that news. The order is the point: nothing can announce
 * the new epoch (which is what lets members holding us dead route to us again) before the
 * callback has returned. Returns false (nothing done) if no epoch is left. */
bool gossip_fence(struct gossip *g, enum gossip_fence_reason reason, uint64_t accused,
                  const char *by, uint64_t stalled_ms)
{
    struct member *self = g->self;
    uint64_t base = accused > self->info.incarnation ? accused : self->info.incarnation;
    if (gossip_epoch(base) >= (UINT64_MAX >> GOSSIP_EPOCH_SHIFT)) {
        gossip_logf(g, 1, "gossip: ignoring an accusation in the last epoch");
        return false;
    }
    uint64_t next = (gossip_epoch(base) + 1) << GOSSIP_EPOCH_SHIFT;
    struct gossip_fence f = {reason, accused, by ? by : "", next, stalled_ms};
    g->counters.fences++;
    if (reason == GOSSIP_FENCE_STALLED)
        g->counters.fences_stalled++;
    g->cfg.on_fence(g->cfg.ctx, &f);
    g->quorum_fence_pending = false;    /* nothing older than now is left to serve */
    self->info.incarnation = next;
    gossip_broadcast_alive(g, self);
    g->dirty = true;
    return true;
}

/* The end of every refutation: counted, and told straight back to the accuser. */
static void refutation_sent(struct gossip *g, const struct gossip_addr *to)
{
    g->counters.refutations++;
    gossip_awareness_add(g, 1);         /* being suspected hints that we are the slow one */
    gossip_logf(g, 3, "gossip: refuting suspicion, incarnation now %llu",
                (unsigned long long)g->self->info.incarnation);
    if (to) {
        struct wire_writer w;
        gossip_packet_begin(g, &w);
        wire_put_alive(&w, &g->self->info);
        gossip_packet_send(g, &w, to, false);
    }
}

void gossip_refute(struct gossip *g, uint64_t inc, const struct gossip_addr *to)
{
    struct member *self = g->self;
    if (inc == UINT64_MAX) {
        /* Nothing is above it: only a forged or corrupt message says this. Wrapping to 0 would
         * silence us for good, so we ignore it. */
        gossip_logf(g, 1, "gossip: ignoring an accusation at the largest incarnation");
        return;
    }
    uint64_t next = inc >= self->info.incarnation ? inc + 1 : self->info.incarnation;
    if (gossip_fencing(g) && gossip_epoch(next) != gossip_epoch(self->info.incarnation)) {
        /* A higher epoch promises that we hold nothing older than it: keep the promise. */
        if (!gossip_fence(g, GOSSIP_FENCE_EPOCH, inc, "", 0))
            return;
    } else {
        self->info.incarnation = next;
        gossip_broadcast_alive(g, self);
        g->dirty = true;
    }
    refutation_sent(g, to);
}

/* Tells a peer that still believes an older suspicion or death of us who we are now. */
static void correct_stale(struct gossip *g, const struct gossip_addr *to)
{
    if (!to || g->left)
        return;
    struct wire_writer w;
    gossip_packet_begin(g, &w);
    wire_put_alive(&w, &g->self->info);
    gossip_packet_send(g, &w, to, false);
}

static bool protocol_compatible(struct gossip *g, const struct wire_member *a)
{
    if (a->proto >= GOSSIP_PROTO_MIN && a->proto <= GOSSIP_PROTO_MAX)
        return true;
    g->counters.refused_protocol++;
    if (g->counters.refused_protocol == 1 || g->counters.refused_protocol % 1000 == 0)
        gossip_logf(g, 1, "gossip: refused member %s: protocol version %u, we speak %u..%u",
                    a->name, a->proto, GOSSIP_PROTO_MIN, GOSSIP_PROTO_MAX);
    return false;
}

/* Tells a member we hold dead (or left) so, straight to it, at most once per probe period: it
 * may not know, and it must fence before anyone routes to it again. A member whose keys we did
 * not take over is only told that it is suspected (type WIRE_SUSPECT): it refutes in its epoch,
 * which we accept, and keeps its data. */
static void send_dead(struct gossip *g, const char *name, uint64_t inc,
                      const struct gossip_addr *to, uint8_t type)
{
    struct wire_accuse d = {.incarnation = inc};
    snprintf(d.name, sizeof d.name, "%s", name);
    memcpy(d.from, g->name, sizeof d.from);
    struct wire_writer w;
    gossip_packet_begin(g, &w);
    wire_put_accuse(&w, type, &d);
    gossip_packet_send(g, &w, to, false);
    g->counters.told_dead++;
}

static void tell_dead(struct gossip *g, struct member *m, uint64_t now_ms)
{
    if (g->left || (m->told_dead_ms && now_ms < m->told_dead_ms + g->cfg.probe_interval_ms))
        return;
    m->told_dead_ms = now_ms;
    send_dead(g, m->info.name, m->info.incarnation, &m->info.addr,
              m->state == MEMBER_DEAD && !m->taken_over ? WIRE_SUSPECT : WIRE_DEAD);
}

void gossip_tell_dead_sender(struct gossip *g, const struct gossip_addr *from, uint64_t now_ms)
{
    if (!gossip_fencing(g) || g->members.by_state[MEMBER_DEAD] == 0)
        return;
    for (size_t i = 0; i < g->members.count; i++) {
        struct member *m = g->members.items[i];
        if (m->state == MEMBER_DEAD && gossip_addr_equal(&m->info.addr, from)) {
            tell_dead(g, m, now_ms);
            return;
        }
    }
}

static uint64_t grave_hash(const char *name)
{
    uint64_t h = member_name_hash(name);
    return h ? h : 1;                   /* 0 marks a free grave */
}

static struct grave *grave_find(struct gossip *g, const char *name)
{
    uint64_t h = grave_hash(name);
    for (size_t i = 0; i < GOSSIP_GRAVES; i++)
        if (g->graves[i].name_hash == h)
            return &g->graves[i];
    return NULL;
}

static void grave_add(struct gossip *g, const struct member *m)
{
    struct grave *gr = grave_find(g, m->info.name);
    if (!gr) {
        gr = &g->graves[g->graves_next];
        g->graves_next = (g->graves_next + 1) % GOSSIP_GRAVES;
    }
    *gr = (struct grave){grave_hash(m->info.name), m->info.incarnation, 0};
}

/* An unknown member that we buried and forgot, back in the epoch it was buried in: refused and
 * told, as if its tombstone were still there. Returns true when refused. */
static bool grave_refuses(struct gossip *g, const struct wire_member *a, uint64_t now_ms)
{
    if (!gossip_fencing(g))
        return false;
    struct grave *gr = grave_find(g, a->name);
    if (!gr)
        return false;
    if (gossip_epoch(a->incarnation) > gossip_epoch(gr->incarnation)) {
        gr->name_hash = 0;              /* fenced (or restarted) since: welcome */
        return false;
    }
    g->counters.resurrections_refused++;
    if (!g->left && (!gr->told_ms || now_ms >= gr->told_ms + g->cfg.probe_interval_ms)) {
        gr->told_ms = now_ms;
        send_dead(g, a->name, gr->incarnation, &a->addr, WIRE_DEAD);
    }
    return true;
}

/* An alive message for a name that a live member holds at another gossip address: refused,
 * counted and logged (the first time and every 1000th). */
static void name_conflict(struct gossip *g, const struct wire_member *a,
                          const struct wire_member *holder)
{
    g->counters.name_conflicts++;
    if (g->counters.name_conflicts != 1 && g->counters.name_conflicts % 1000 != 0)
        return;
    char theirs[64], ours[64];
    gossip_logf(g, 1, "gossip: refused member %s at %s: the name belongs to the member at %s%s; "
                "two nodes started with the same --node-name? (%llu refused)", a->name,
                gossip_addr_format(&a->addr, theirs, sizeof theirs),
                gossip_addr_format(&holder->addr, ours, sizeof ours),
                holder == &g->self->info ? " (us)" : "",
                (unsigned long long)g->counters.name_conflicts);
}

void gossip_learn_tombstone(struct gossip *g, const struct wire_member *e, uint8_t state,
                            uint64_t now_ms)
{
    /* Kept dead_retention_ms from now, as we cannot know how old it is. A member we buried and
     * reaped ourselves is not taken back: tombstones would otherwise travel from node to node
     * for ever, each keeping it another retention period. */
    struct grave *gr = grave_find(g, e->name);
    if (strcmp(e->name, g->name) == 0 || (gr && gr->incarnation >= e->incarnation))
        return;
    struct member *m = member_table_add(&g->members, e, state, now_ms);
    if (!m)
        return;
    /* push-pull names a death DEAD only once its keys were taken over (a burial without takeover
     * travels as SUSPECT): the cluster routes without it, and so must we */
    m->taken_over = state == MEMBER_DEAD;
    gossip_notify(g, m, GOSSIP_STATE_NONE);
}

static bool same_identity(const struct wire_member *a, const struct wire_member *b)
{
    return gossip_addr_equal(&a->addr, &b->addr) && strcmp(a->data_addr, b->data_addr) == 0 &&
           a->weight == b->weight && a->role == b->role && a->proto == b->proto;
}

void gossip_handle_alive(struct gossip *g, const struct wire_member *a,
                         const struct gossip_addr *from, uint64_t now_ms)
{
    if (!protocol_compatible(g, a))
        return;
    if (strcmp(a->name, g->name) == 0) {
        if (!gossip_addr_equal(&a->addr, &g->self->info.addr)) {
            /* Another node uses our name. Outbidding it would flip our ring slot between the
             * two hosts for ever; members that know us refuse it (name_conflict), so we keep
             * our slot by doing nothing. (A previous life of ours at another address is older
             * than us: nothing to do about it either.) */
            if (a->incarnation >= g->self->info.incarnation)
                name_conflict(g, a, &g->self->info);
            return;
        }
        /* Someone believes in a newer us, or in us with other metadata (a previous life at our
         * address): reassert ourselves above it. */
        if (!g->left && (a->incarnation > g->self->info.incarnation ||
                         (a->incarnation == g->self->info.incarnation &&
                          !same_identity(a, &g->self->info))))
            gossip_refute(g, a->incarnation, from);
        return;
    }
    struct member *m = member_table_find(&g->members, a->name);
    if (!m) {
        if (grave_refuses(g, a, now_ms))
            return;
        m = member_table_add(&g->members, a, MEMBER_ALIVE, now_ms);
        if (!m)
            return;
        gossip_probe_add(g, m);
        gossip_broadcast_alive(g, m);
        gossip_notify(g, m, GOSSIP_STATE_NONE);
        return;
    }
    if (a->incarnation <= m->info.incarnation)
        return;
    if ((m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT) &&
        !gossip_addr_equal(&a->addr, &m->info.addr)) {
        /* The name is taken by a member that is not dead: the newcomer stays out until the
         * member holding the name dies or leaves (memberlist does the same). */
        name_conflict(g, a, &m->info);
        return;
    }
    bool gated = m->state == MEMBER_LEFT || (m->state == MEMBER_DEAD && m->taken_over);
    if (gossip_fencing(g) && gated &&
        gossip_epoch(a->incarnation) <= gossip_epoch(m->info.incarnation)) {
        /* Back in the epoch it was buried in: it may still hold data written before, which
         * others overwrote on other nodes meanwhile. Only a new epoch (after its flush) counts.
         * (A dead member whose keys we never took over may come back as it is.) */
        g->counters.resurrections_refused++;
        tell_dead(g, m, now_ms);
        return;
    }
    uint8_t old = m->state;
    bool changed = old != MEMBER_ALIVE || !same_identity(a, &m->info);
    m->info = *a;
    if (old == MEMBER_SUSPECT)
        gossip_suspects_remove(g, m);
    member_set_state(&g->members, m, MEMBER_ALIVE, now_ms);
    if (old == MEMBER_DEAD || old == MEMBER_LEFT)
        gossip_probe_add(g, m);
    gossip_broadcast_alive(g, m);
    if (changed)
        gossip_notify(g, m, old);
}

/* Lifeguard: timeout = max - (max - min) * log(C + 1) / log(k + 1), never below min. */
static void suspicion_recompute(struct member *m)
{
    uint64_t t = m->susp_min_ms;
    if (m->susp_k > 0 && m->susp_confirmations < m->susp_k) {
        double frac = gossip_log2((double)m->susp_confirmations + 1.0) /
                      gossip_log2((double)m->susp_k + 1.0);
        double span = (double)(m->susp_max_ms - m->susp_min_ms);
        t = m->susp_max_ms - (uint64_t)(span * frac);
        if (t < m->susp_min_ms)
            t = m->susp_min_ms;
    }
    m->susp_deadline_ms = m->susp_start_ms + t;
}

static void suspects_add(struct gossip *g, struct member *m)
{
    if (g->suspects_len == g->suspects_cap) {
        size_t cap = g->suspects_cap ? g->suspects_cap * 2 : 16;
        struct member **s = realloc(g->suspects, cap * sizeof *s);
        if (!s)
            return;     /* the member then never times out here; others will declare it */
        g->suspects = s;
        g->suspects_cap = cap;
    }
    g->suspects[g->suspects_len++] = m;
}

void gossip_suspects_remove(struct gossip *g, struct member *m)
{
    for (size_t i = 0; i < g->suspects_len; i++) {
        if (g->suspects[i] == m) {
            g->suspects[i] = g->suspects[--g->suspects_len];
            return;
        }
    }
}

/* Lifeguard's shortest suspicion at n members: mult * max(1, log10 n) * probe interval. */
static uint64_t suspicion_min_ms(const struct gossip *g, size_t n)
{
    double lg = n > 1 ? gossip_log2((double)n) / 3.321928094887362 : 0.0;  /* log10 */
    if (lg < 1.0)
        lg = 1.0;
    return (uint64_t)(g->cfg.suspicion_mult * lg * g->cfg.probe_interval_ms);
}

static void start_suspicion(struct gossip *g, struct member *m, const char *from, uint64_t now_ms)
{
    size_t n = gossip_alive_count(g);
    m->susp_start_ms = now_ms;
    m->susp_min_ms = suspicion_min_ms(g, n);
    m->susp_max_ms = m->susp_min_ms * g->cfg.suspicion_max_mult;
    /* Expect as many confirmations as indirect probers exist; too few members, none. */
    m->susp_k = n >= g->cfg.indirect_checks + 2 ? g->cfg.indirect_checks : 0;
    m->susp_confirmations = 0;
    memset(m->susp_confirmers, 0, sizeof m->susp_confirmers);
    m->susp_confirmers[0] = member_name_hash(from);
    /* Halfway to the shortest timeout we ask the suspect ourselves (unless we accused it, which
     * told it already): its refutation may not have reached us through the gossip. */
    m->susp_recheck_ms = strcmp(from, g->name) == 0 ? 0 : now_ms + m->susp_min_ms / 2;
    suspicion_recompute(m);
    suspects_add(g, m);
}

_Static_assert(SUSPICION_CONFIRMERS_MAX >= GOSSIP_MAX_INDIRECT_CHECKS + 1,
               "every counted accuser has a slot");

static bool suspicion_confirm(struct member *m, const char *from)
{
    if (m->susp_confirmations >= m->susp_k)
        return false;
    uint64_t h = member_name_hash(from);
    size_t slots = m->susp_confirmations + 1;   /* < k + 1 <= SUSPICION_CONFIRMERS_MAX */
    for (size_t i = 0; i < slots; i++)
        if (m->susp_confirmers[i] == h)
            return false;
    m->susp_confirmers[slots] = h;
    m->susp_confirmations++;
    suspicion_recompute(m);
    return true;
}

void gossip_handle_suspect(struct gossip *g, const struct wire_accuse *s,
                           const struct gossip_addr *from, uint64_t now_ms)
{
    if (strcmp(s->name, g->name) == 0) {
        if (!g->left && s->incarnation >= g->self->info.incarnation)
            gossip_refute(g, s->incarnation, from);
        else
            correct_stale(g, from);
        return;
    }
    struct member *m = member_table_find(&g->members, s->name);
    if (!m || s->incarnation < m->info.incarnation)
        return;
    if (m->state == MEMBER_SUSPECT) {
        if (s->incarnation == m->info.incarnation && s->from[0] && suspicion_confirm(m, s->from))
            broadcast_accuse(g, m, WIRE_SUSPECT, s->from);
        return;
    }
    if (m->state != MEMBER_ALIVE)
        return;
    m->info.incarnation = s->incarnation;
    member_set_state(&g->members, m, MEMBER_SUSPECT, now_ms);
    start_suspicion(g, m, s->from, now_ms);
    broadcast_accuse(g, m, WIRE_SUSPECT, s->from[0] ? s->from : g->name);
    gossip_notify(g, m, MEMBER_ALIVE);
}

void gossip_handle_dead(struct gossip *g, const struct wire_accuse *d,
                        const struct gossip_addr *from, uint64_t now_ms)
{
    if (strcmp(d->name, g->name) == 0) {
        gossip_handle_self_death(g, d->incarnation, d->from, from);
        return;
    }
    struct member *m = member_table_find(&g->members, d->name);
    if (!m || d->incarnation < m->info.incarnation)
        return;
    bool leave = strcmp(d->from, d->name) == 0;
    if (m->state == MEMBER_DEAD && !m->taken_over && from && !leave) {
        /* Somebody else took its keys over: it must fence before we take it back too. */
        m->taken_over = true;
        g->dirty = true;
    }
    if (m->state == MEMBER_DEAD || m->state == MEMBER_LEFT)
        return;
    uint8_t old = m->state;
    if (old == MEMBER_SUSPECT)
        gossip_suspects_remove(g, m);
    m->info.incarnation = d->incarnation;
    member_set_state(&g->members, m, leave ? MEMBER_LEFT : MEMBER_DEAD, now_ms);
    /* A DEAD message comes only from a member that took the keys over (one that did not sends
     * SUSPECT). Our own declaration (from NULL, m->accused_by_quorum set just before) takes them
     * over if a majority agrees and we may (gossip_quorum.c). Buried while we were cut off
     * ourselves, it may well be alive: then it is only ever suspected afresh, never taken over
     * directly. */
    m->taken_over = from != NULL || (m->accused_by_quorum && gossip_may_take_over(g));
    m->cut_offs_at_death = g->isolated || !g->quorum ? UINT64_MAX : g->cut_offs;
    gossip_notify(g, m, old);
    broadcast_accuse(g, m, leave || m->taken_over ? WIRE_DEAD : WIRE_SUSPECT, d->from);
}

void gossip_handle_self_death(struct gossip *g, uint64_t inc, const char *by,
                              const struct gossip_addr *from)
{
    struct member *self = g->self;
    if (g->left) {
        correct_stale(g, from);
        return;
    }
    /* A death in our current epoch (or a later one) is news: the accuser may have sent our keys
     * elsewhere since, so what we hold can be stale. A death in an older epoch was already
     * fenced for when we left that epoch; one below our first incarnation was a previous life's. */
    if (gossip_fencing(g) && inc >= g->first_incarnation &&
        gossip_epoch(inc) >= gossip_epoch(self->info.incarnation)) {
        if (inc == UINT64_MAX || !gossip_fence(g, GOSSIP_FENCE_DECLARED_DEAD, inc, by, 0))
            return;
        refutation_sent(g, from);
        return;
    }
    if (inc >= self->info.incarnation)
        gossip_refute(g, inc, from);
    else
        correct_stale(g, from);
}

/* After a stall long enough for a member to have buried us (its shortest suspicion), we say
 * who we are straight to every member we have not seen leave: one that holds us dead (or keeps
 * our grave) answers that we are dead, and we fence. Asking instead of fencing outright keeps a
 * merely slow node (a loaded machine, a sanitizer) from dropping its data for nothing; without
 * asking, the news would reach us only when we next probe such a member, N periods away. */
void gossip_check_in(struct gossip *g)
{
    for (size_t i = 0; i < g->members.count; i++) {
        struct member *m = g->members.items[i];
        if (m == g->self || m->state == MEMBER_LEFT)
            continue;
        struct wire_writer w;
        gossip_packet_begin(g, &w);
        wire_put_alive(&w, &g->self->info);
        gossip_packet_send(g, &w, &m->info.addr, false);
    }
}

void gossip_check_stall(struct gossip *g, uint64_t now_ms)
{
    if (!gossip_fencing(g) || g->left || g->due_ms == 0 || gossip_alive_count(g) <= 1 ||
        now_ms <= g->due_ms + suspicion_min_ms(g, gossip_alive_count(g)))
        return;
    uint64_t late = now_ms - g->due_ms;
    g->due_ms = now_ms;
    if (late >= g->cfg.dead_retention_ms) {
        /* Stopped longer than tombstones live: who buried us may have forgotten it (graves
         * remember only so many), so nobody might ever tell us. */
        gossip_fence(g, GOSSIP_FENCE_STALLED, g->self->info.incarnation, "", late);
        return;
    }
    g->counters.stall_checks++;
    gossip_check_in(g);
}

void gossip_resuspect(struct gossip *g, struct member *m, uint64_t now_ms)
{
    member_set_state(&g->members, m, MEMBER_SUSPECT, now_ms);
    start_suspicion(g, m, g->name, now_ms);
    gossip_probe_add(g, m);
    broadcast_accuse(g, m, WIRE_SUSPECT, g->name);
    m->told_dead_ms = 0;
    send_dead(g, m->info.name, m->info.incarnation, &m->info.addr, WIRE_SUSPECT);
    gossip_logf(g, 2, "gossip: suspecting %s again, now that we may take over its keys",
                m->info.name);
    gossip_notify(g, m, MEMBER_DEAD);
}

void gossip_check_suspicions(struct gossip *g, uint64_t now_ms)
{
    for (size_t i = 0; i < g->suspects_len;) {
        struct member *m = g->suspects[i];
        if (m->susp_recheck_ms && now_ms >= m->susp_recheck_ms) {
            m->susp_recheck_ms = 0;
            struct wire_accuse a = {.incarnation = m->info.incarnation};
            memcpy(a.name, m->info.name, sizeof a.name);
            memcpy(a.from, g->name, sizeof a.from);
            struct wire_writer w;
            gossip_packet_begin(g, &w);
            wire_put_accuse(&w, WIRE_SUSPECT, &a);
            gossip_packet_send(g, &w, &m->info.addr, false);
        }
        if (now_ms < m->susp_deadline_ms) {
            i++;
            continue;
        }
        /* handle_dead removes m from the list; index i now holds another suspect. */
        m->accused_by_quorum = gossip_accusers_enough(g, 1 + m->susp_confirmations, m->susp_k);
        struct wire_accuse d = {.incarnation = m->info.incarnation};
        memcpy(d.name, m->info.name, sizeof d.name);
        memcpy(d.from, g->name, sizeof d.from);
        g->counters.deaths_declared++;
        gossip_logf(g, 2, "gossip: %s suspected for %llu ms, declaring it dead", m->info.name,
                    (unsigned long long)(now_ms - m->susp_start_ms));
        gossip_handle_dead(g, &d, NULL, now_ms);
    }
}

void gossip_reap(struct gossip *g, uint64_t now_ms)
{
    for (size_t i = 0; i < g->members.count;) {
        struct member *m = g->members.items[i];
        if ((m->state == MEMBER_DEAD || m->state == MEMBER_LEFT) && m != g->self &&
            now_ms - m->state_since_ms >= g->cfg.dead_retention_ms) {
            if (m->bcast)
                gossip_queue_remove(&g->queue, m->bcast);
            grave_add(g, m);    /* also without fencing: see gossip_learn_tombstone */
            gossip_probe_forget(g, m);
            member_table_remove(&g->members, m);    /* moves the last member into slot i */
            g->dirty = true;
            continue;
        }
        i++;
    }
    gossip_quorum_update(g);            /* fewer members known: a quorum may be back */
}
