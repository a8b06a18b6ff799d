/* The probe scheduler: one probe per period, round-robin over a shuffled member list. A probe is
 * a ping; without an ack within the probe timeout, k other members are asked to ping for us
 * (ping-req) and answer nack if they get nothing; without any ack by the end of the period the
 * target becomes suspect. Lifeguard's local health ("awareness") stretches the period and the
 * timeout: it grows when our probes fail while the indirect probers stayed silent (missed nacks
 * point at us, not the target) and when we must refute, and shrinks with every successful probe. */
#include "cluster/gossip/gossip_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gossip_awareness_add(struct gossip *g, int delta)
{
    long a = (long)g->awareness + delta;
    if (a < 0)
        a = 0;
    if (a > (long)g->cfg.awareness_max)
        a = (long)g->cfg.awareness_max;
    g->awareness = (unsigned)a;
}

static uint64_t scaled(const struct gossip *g, uint32_t ms)
{
    return (uint64_t)ms * (g->awareness + 1);
}

static bool probe_list_push(struct gossip *g, struct member *m)
{
    if (g->probe_len == g->probe_cap) {
        size_t cap = g->probe_cap ? g->probe_cap * 2 : 16;
        struct member **l = realloc(g->probe_list, cap * sizeof *l);
        if (!l)
            return false;
        g->probe_list = l;
        g->probe_cap = cap;
    }
    g->probe_list[g->probe_len++] = m;
    return true;
}

void gossip_probe_add(struct gossip *g, struct member *m)
{
    if (m->in_probe_list)
        return;
    if (!probe_list_push(g, m))
        return;
    m->in_probe_list = true;
    /* A random place in the rest of this round, so newcomers are probed soon but not first. */
    size_t from = g->probe_pos < g->probe_len ? g->probe_pos : g->probe_len - 1;
    size_t j = from + (size_t)gossip_rand_below(g, g->probe_len - from);
    struct member *t = g->probe_list[j];
    g->probe_list[j] = m;
    g->probe_list[g->probe_len - 1] = t;
}

void gossip_probe_forget(struct gossip *g, struct member *m)
{
    m->in_probe_list = false;
    for (size_t i = 0; i < g->probe_len;) {
        if (g->probe_list[i] == m) {
            memmove(&g->probe_list[i], &g->probe_list[i + 1],
                    (g->probe_len - i - 1) * sizeof *g->probe_list);
            g->probe_len--;
            if (g->probe_pos > i)
                g->probe_pos--;
        } else {
            i++;
        }
    }
    if (g->probe_target == m) {
        g->probe_target = NULL;
        g->phase = PROBE_IDLE;
    }
}

static bool probeable(const struct gossip *g, const struct member *m)
{
    return m != g->self && (m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT);
}

/* Rebuilds and shuffles the list at the end of a round (dropping dead and left members). */
static void probe_list_reshuffle(struct gossip *g)
{
    g->probe_len = 0;
    g->probe_pos = 0;
    for (size_t i = 0; i < g->members.count; i++) {
        struct member *m = g->members.items[i];
        m->in_probe_list = probeable(g, m) && probe_list_push(g, m);
    }
    for (size_t i = g->probe_len; i > 1; i--) {
        size_t j = (size_t)gossip_rand_below(g, i);
        struct member *t = g->probe_list[i - 1];
        g->probe_list[i - 1] = g->probe_list[j];
        g->probe_list[j] = t;
    }
}

void gossip_hint_unreachable(struct gossip *g, const char *name)
{
    struct member *m = member_table_find(&g->members, name);
    if (!m || m == g->self)
        return;
    g->counters.hints++;
    if (!probeable(g, m))
        return; /* dead or left already: nothing to probe */
    snprintf(g->hinted, sizeof g->hinted, "%s", name);
}

/* The hinted member if it is still worth probing (and not the probe in progress), else none. */
static struct member *take_hinted(struct gossip *g)
{
    if (g->hinted[0] == '\0')
        return NULL;
    struct member *m = member_table_find(&g->members, g->hinted);
    g->hinted[0] = '\0';
    if (!m || !probeable(g, m))
        return NULL;
    g->counters.hinted_probes++;
    return m;
}

static struct member *next_target(struct gossip *g)
{
    struct member *hinted = take_hinted(g);
    if (hinted)
        return hinted; /* its turn in the round stays: probed once more, never skipped */
    for (int pass = 0; pass < 2; pass++) {
        while (g->probe_pos < g->probe_len) {
            struct member *m = g->probe_list[g->probe_pos++];
            if (probeable(g, m))
                return m;
        }
        probe_list_reshuffle(g);
    }
    return NULL;
}

static void send_ping(struct gossip *g, struct member *target, uint32_t seq,
                      const struct gossip_addr *to)
{
    struct wire_writer w;
    gossip_packet_begin(g, &w);
    struct wire_ping p = {.seq = seq};
    memcpy(p.target, target ? target->info.name : "", sizeof p.target);
    wire_put_ping(&w, &p);
    /* Lifeguard: a suspect learns of the suspicion from the prober itself, so it can refute
     * without waiting for the gossip to reach it. */
    if (target && target->state == MEMBER_SUSPECT) {
        struct wire_accuse a = {.incarnation = target->info.incarnation};
        memcpy(a.name, target->info.name, sizeof a.name);
        memcpy(a.from, g->name, sizeof a.from);
        wire_put_accuse(&w, WIRE_SUSPECT, &a);
    }
    gossip_packet_send(g, &w, to, true);
}

static void start_probe(struct gossip *g, uint64_t now_ms)
{
    g->next_probe_ms = now_ms + scaled(g, g->cfg.probe_interval_ms);
    struct member *m = next_target(g);
    if (!m)
        return;
    g->probe_target = m;
    g->probe_seq = g->next_seq++;
    g->phase = PROBE_DIRECT;
    g->probe_ack_deadline_ms = now_ms + scaled(g, g->cfg.probe_timeout_ms);
    g->probe_end_ms = g->next_probe_ms;
    g->nacks_expected = g->nacks_received = 0;
    g->counters.probes_sent++;
    send_ping(g, m, g->probe_seq, &m->info.addr);
}

static void start_indirect(struct gossip *g)
{
    struct member *target = g->probe_target;
    struct member *helpers[GOSSIP_MAX_INDIRECT_CHECKS];
    size_t want = g->cfg.indirect_checks, got = 0;      /* clamped in gossip_create */
    size_t n = g->members.count;
    /* Random distinct alive members other than us and the target; bounded tries. */
    for (size_t tries = 0; got < want && tries < 4 * want + 16 && n > 0; tries++) {
        struct member *c = g->members.items[gossip_rand_below(g, n)];
        if (c == g->self || c == target || c->state != MEMBER_ALIVE)
            continue;
        bool dup = false;
        for (size_t i = 0; i < got; i++)
            dup |= helpers[i] == c;
        if (!dup)
            helpers[got++] = c;
    }
    g->phase = PROBE_INDIRECT;
    for (size_t i = 0; i < got; i++) {
        struct wire_writer w;
        gossip_packet_begin(g, &w);
        struct wire_ping_req r = {.seq = g->probe_seq, .target_addr = target->info.addr,
                                  .want_nack = true};
        memcpy(r.target, target->info.name, sizeof r.target);
        wire_put_ping_req(&w, &r);
        gossip_packet_send(g, &w, &helpers[i]->info.addr, true);
        g->counters.indirect_probes_sent++;
    }
    g->nacks_expected = (unsigned)got;
}

static void probe_failed(struct gossip *g, uint64_t now_ms)
{
    struct member *m = g->probe_target;
    g->phase = PROBE_IDLE;
    g->probe_target = NULL;
    g->counters.probes_failed++;
    /* Missed nacks mean our own messages or processing are late: we are the suspect. */
    int delta = g->nacks_expected > 0 ? (int)(g->nacks_expected - g->nacks_received) : 1;
    gossip_awareness_add(g, delta);
    /* Nobody answered at all, not even one of two or more helpers: we may be the one cut off
     * (gossip_quorum.c decides, if nothing else comes in either). */
    if (g->nacks_expected >= 2 && g->nacks_received == 0)
        gossip_probe_answered(g, false);
    if (!m || (m->state != MEMBER_ALIVE && m->state != MEMBER_SUSPECT))
        return;
    struct wire_accuse s = {.incarnation = m->info.incarnation};
    memcpy(s.name, m->info.name, sizeof s.name);
    memcpy(s.from, g->name, sizeof s.from);
    if (m->state == MEMBER_ALIVE) {
        g->counters.suspicions_raised++;
        gossip_logf(g, 2, "gossip: no ack from %s, suspecting it", m->info.name);
    }
    /* Already suspect (someone else's suspicion): our failed probe is an independent
     * confirmation, which shortens the timeout everywhere it reaches (Lifeguard). */
    gossip_handle_suspect(g, &s, NULL, now_ms);
    /* Lifeguard: tell the suspect directly so it can refute at once. */
    struct wire_writer w;
    gossip_packet_begin(g, &w);
    wire_put_accuse(&w, WIRE_SUSPECT, &s);
    gossip_packet_send(g, &w, &m->info.addr, false);
}

static void relays_tick(struct gossip *g, uint64_t now_ms)
{
    for (size_t i = 0; i < GOSSIP_RELAYS; i++) {
        struct relay *r = &g->relays[i];
        if (!r->used)
            continue;
        if (now_ms >= r->expire_ms) {
            r->used = false;
            continue;
        }
        if (!r->acked && !r->nacked && r->want_nack && now_ms >= r->nack_at_ms) {
            r->nacked = true;
            struct wire_writer w;
            gossip_packet_begin(g, &w);
            wire_put_ack(&w, WIRE_NACK, r->their_seq);
            gossip_packet_send(g, &w, &r->requester, false);
            g->counters.nacks_sent++;
        }
    }
}

void gossip_probe_tick(struct gossip *g, uint64_t now_ms)
{
    relays_tick(g, now_ms);
    if (g->phase == PROBE_DIRECT && now_ms >= g->probe_ack_deadline_ms)
        start_indirect(g);
    if (g->phase == PROBE_INDIRECT && now_ms >= g->probe_end_ms)
        probe_failed(g, now_ms);
    if (g->phase == PROBE_IDLE && now_ms >= g->next_probe_ms)
        start_probe(g, now_ms);
}

uint64_t gossip_probe_deadline(const struct gossip *g)
{
    uint64_t d = g->next_probe_ms;
    if (g->phase == PROBE_DIRECT && g->probe_ack_deadline_ms < d)
        d = g->probe_ack_deadline_ms;
    if (g->phase == PROBE_INDIRECT && g->probe_end_ms < d)
        d = g->probe_end_ms;
    for (size_t i = 0; i < GOSSIP_RELAYS; i++) {
        const struct relay *r = &g->relays[i];
        if (!r->used)
            continue;
        uint64_t t = (!r->acked && !r->nacked && r->want_nack) ? r->nack_at_ms : r->expire_ms;
        if (t < d)
            d = t;
    }
    return d;
}

void gossip_handle_ping(struct gossip *g, const struct wire_ping *p, const struct gossip_addr *from)
{
    if (strcmp(p->target, g->name) != 0)
        return;         /* meant for a node that used to live at our address */
    struct wire_writer w;
    gossip_packet_begin(g, &w);
    wire_put_ack(&w, WIRE_ACK, p->seq);
    gossip_packet_send(g, &w, from, true);
}

void gossip_handle_ping_req(struct gossip *g, const struct wire_ping_req *r,
                            const struct gossip_addr *from, uint64_t now_ms)
{
    if (strcmp(r->target, g->name) == 0) {
        struct wire_ping p = {.seq = r->seq};
        memcpy(p.target, g->name, sizeof p.target);
        gossip_handle_ping(g, &p, from);
        return;
    }
    /* Reuse a free slot, else the one closest to expiry. */
    struct relay *slot = &g->relays[0];
    for (size_t i = 0; i < GOSSIP_RELAYS; i++) {
        if (!g->relays[i].used) {
            slot = &g->relays[i];
            break;
        }
        if (g->relays[i].expire_ms < slot->expire_ms)
            slot = &g->relays[i];
    }
    *slot = (struct relay){
        .used = true,
        .want_nack = r->want_nack,
        .our_seq = g->next_seq++,
        .their_seq = r->seq,
        .requester = *from,
        .nack_at_ms = now_ms + g->cfg.probe_timeout_ms,
        .expire_ms = now_ms + 2 * (uint64_t)g->cfg.probe_interval_ms,
    };
    struct wire_writer w;
    gossip_packet_begin(g, &w);
    struct wire_ping p = {.seq = slot->our_seq};
    memcpy(p.target, r->target, sizeof p.target);
    wire_put_ping(&w, &p);
    gossip_packet_send(g, &w, &r->target_addr, true);
}

void gossip_handle_ack(struct gossip *g, uint32_t seq, uint64_t now_ms)
{
    (void)now_ms;
    if (g->phase != PROBE_IDLE && seq == g->probe_seq) {
        g->counters.acks_received++;
        g->phase = PROBE_IDLE;
        g->probe_target = NULL;
        gossip_awareness_add(g, -1);
        gossip_probe_answered(g, true);
        return;
    }
    for (size_t i = 0; i < GOSSIP_RELAYS; i++) {
        struct relay *r = &g->relays[i];
        if (r->used && !r->acked && r->our_seq == seq) {
            r->acked = true;
            struct wire_writer w;
            gossip_packet_begin(g, &w);
            wire_put_ack(&w, WIRE_ACK, r->their_seq);
            gossip_packet_send(g, &w, &r->requester, true);
            return;
        }
    }
}

void gossip_handle_nack(struct gossip *g, uint32_t seq)
{
    if (g->phase == PROBE_INDIRECT && seq == g->probe_seq &&
        g->nacks_received < g->nacks_expected) {
        g->counters.nacks_received++;
        g->nacks_received++;
        gossip_probe_answered(g, true);
    }
}
