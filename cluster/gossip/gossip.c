/* Gossip lifecycle, packet intake and packet building (see gossip.h, gossip_internal.h). */
#include "cluster/gossip/gossip_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gossip_config_defaults(struct gossip_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->data_addr = "";
    cfg->weight = 1;
    cfg->role = MEMBER_ROLE_DATA;
    /* LAN timings: a 200 ms period keeps failure detection within a few seconds at 1,000 nodes
     * while pings stay tiny; see BENCHMARKS-gossip.md for what these give. */
    cfg->probe_interval_ms = 200;
    cfg->probe_timeout_ms = 80;
    cfg->indirect_checks = 3;
    cfg->suspicion_mult = 4;
    cfg->suspicion_max_mult = 4;
    cfg->retransmit_mult = 4;
    cfg->pushpull_interval_ms = 15000;
    cfg->dead_retention_ms = 10 * 60 * 1000;
    cfg->join_retry_ms = 1000;
    cfg->awareness_max = 8;
    cfg->leave_fanout = 5;
}

uint64_t gossip_fresh_incarnation(uint64_t wall_ms, uint64_t random)
{
    /* 12 low bits of noise leave room for 4,096 refutations per millisecond of downtime. */
    return wall_ms << 12 | (random & 0xfff);
}

uint64_t gossip_rand(struct gossip *g)
{
    /* splitmix64: deterministic for a seed, good enough for shuffles and peer choice. */
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t gossip_rand_below(struct gossip *g, uint64_t n)
{
    return gossip_rand(g) % n;
}

double gossip_log2(double x)
{
    double e = 0.0;
    while (x >= 2.0) {
        x /= 2.0;
        e += 1.0;
    }
    /* ln(x) = 2 atanh((x - 1) / (x + 1)), x in [1, 2): the series converges fast. */
    double y = (x - 1.0) / (x + 1.0), y2 = y * y, term = y, sum = 0.0;
    for (int k = 1; k < 40; k += 2) {
        sum += term / k;
        term *= y2;
    }
    return e + 2.0 * sum / 0.6931471805599453;
}

void gossip_logf(struct gossip *g, int level, const char *fmt, ...)
{
    if (!g->cfg.log)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    g->cfg.log(g->cfg.ctx, level, line);
}

static bool valid_token(const char *s, size_t min)
{
    size_t n = strnlen(s, WIRE_NAME_MAX + 1);
    if (n < min || n > WIRE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

struct gossip *gossip_create(const struct gossip_config *cfg, uint64_t now_ms)
{
    if (!cfg->name || !valid_token(cfg->name, 1) || !cfg->send || cfg->probe_interval_ms == 0 ||
        cfg->probe_timeout_ms == 0 || cfg->probe_timeout_ms >= cfg->probe_interval_ms ||
        (cfg->addr.family != 4 && cfg->addr.family != 6) || cfg->role > MEMBER_ROLE_PROXY ||
        (cfg->data_addr && !valid_token(cfg->data_addr, 0)))
        return NULL;
    struct gossip *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->cfg = *cfg;
    snprintf(g->name, sizeof g->name, "%s", cfg->name);
    snprintf(g->data_addr, sizeof g->data_addr, "%s", cfg->data_addr ? cfg->data_addr : "");
    g->cfg.name = g->name;
    g->cfg.data_addr = g->data_addr;
    if (g->cfg.suspicion_mult == 0)
        g->cfg.suspicion_mult = 1;
    if (g->cfg.suspicion_max_mult == 0)
        g->cfg.suspicion_max_mult = 1;
    if (g->cfg.retransmit_mult == 0)
        g->cfg.retransmit_mult = 1;
    if (g->cfg.indirect_checks > GOSSIP_MAX_INDIRECT_CHECKS)
        g->cfg.indirect_checks = GOSSIP_MAX_INDIRECT_CHECKS;
    g->rng = cfg->seed ^ member_name_hash(g->name);
    g->send_counter = cfg->counter_start;
    g->next_seq = (uint32_t)gossip_rand(g);
    g->life = (uint32_t)gossip_rand(g);
    member_table_init(&g->members);
    gossip_queue_init(&g->queue);
    replay_init(&g->replay);

    struct wire_member self = {0};
    self.incarnation = cfg->incarnation;
    if (cfg->on_fence && gossip_epoch(self.incarnation) < (UINT64_MAX >> GOSSIP_EPOCH_SHIFT)) {
        /* The start of the next epoch (rounding up keeps a restart above its previous life): a
         * whole epoch of counter for refutations, and every accusation of a previous life falls
         * in an older epoch. */
        self.incarnation = (gossip_epoch(self.incarnation) + 1) << GOSSIP_EPOCH_SHIFT |
                           (self.incarnation & 0xfff);
    }
    g->first_incarnation = self.incarnation;
    snprintf(self.name, sizeof self.name, "%s", g->name);
    self.addr = cfg->addr;
    snprintf(self.data_addr, sizeof self.data_addr, "%s", g->data_addr);
    self.weight = cfg->weight;
    self.role = cfg->role;
    self.proto = GOSSIP_PROTO_VERSION;
    g->self = member_table_add(&g->members, &self, MEMBER_ALIVE, now_ms);
    if (!g->self) {
        gossip_destroy(g);
        return NULL;
    }
    g->next_probe_ms = now_ms + gossip_rand_below(g, cfg->probe_interval_ms);
    g->next_pushpull_ms = now_ms + cfg->pushpull_interval_ms / 2 +
                          gossip_rand_below(g, cfg->pushpull_interval_ms / 2 + 1);
    g->next_reap_ms = now_ms + GOSSIP_REAP_EVERY_MS;
    g->quorum = true;                   /* alone, we are all the members we know */
    gossip_notify(g, g->self, GOSSIP_STATE_NONE);
    gossip_publish(g);
    return g;
}

void gossip_destroy(struct gossip *g)
{
    if (!g)
        return;
    gossip_queue_free(&g->queue);
    member_table_free(&g->members);
    replay_free(&g->replay);
    free(g->probe_list);
    free(g->suspects);
    free(g);
}

size_t gossip_alive_count(const struct gossip *g)
{
    return g->members.by_state[MEMBER_ALIVE] + g->members.by_state[MEMBER_SUSPECT];
}

/* ---- sending ---- */

void gossip_packet_begin(struct gossip *g, struct wire_writer *w)
{
    wire_writer_init(w, g->pkt, sizeof g->pkt);
    bool auth = g->cfg.keys != NULL;
    wire_put_header(w, auth, auth ? g->cfg.keys->current.id : NULL, ++g->send_counter, g->life,
                    g->name);
}

static unsigned retransmit_limit(const struct gossip *g)
{
    /* lambda * ceil(log10(N + 1)) */
    size_t n = g->members.count + 1;
    unsigned digits = 0;
    while (n > 0) {
        digits++;
        n /= 10;
    }
    return g->cfg.retransmit_mult * digits;
}

void gossip_packet_send(struct gossip *g, struct wire_writer *w, const struct gossip_addr *to,
                        bool piggyback)
{
    if (piggyback)
        gossip_queue_fill(&g->queue, w, retransmit_limit(g));
    if (g->cfg.keys) {
        /* wire_put_header kept WIRE_TAG_LEN bytes out of cap for this. */
        gossip_auth_tag(&g->cfg.keys->current, w->buf, w->len, w->buf + w->len);
        w->len += WIRE_TAG_LEN;
    }
    g->counters.packets_sent++;
    g->counters.bytes_sent += w->len;
    g->cfg.send(g->cfg.ctx, to, w->buf, w->len);
}

/* ---- receiving ---- */

static void dispatch(struct gossip *g, const struct wire_msg *msg, const char *sender,
                     const struct gossip_addr *from, uint64_t now_ms)
{
    switch (msg->type) {
    case WIRE_PING:
        gossip_handle_ping(g, &msg->u.ping, from);
        break;
    case WIRE_PING_REQ:
        gossip_handle_ping_req(g, &msg->u.ping_req, from, now_ms);
        break;
    case WIRE_ACK:
        gossip_handle_ack(g, msg->u.seq, now_ms);
        break;
    case WIRE_NACK:
        gossip_handle_nack(g, msg->u.seq);
        break;
    case WIRE_ALIVE:
        gossip_handle_alive(g, &msg->u.alive, from, now_ms);
        break;
    case WIRE_SUSPECT:
        gossip_handle_suspect(g, &msg->u.accuse, from, now_ms);
        break;
    case WIRE_DEAD:
        gossip_handle_dead(g, &msg->u.accuse, from, now_ms);
        break;
    case WIRE_PUSHPULL:
        gossip_handle_pushpull(g, &msg->u.pp, sender, from, now_ms);
        break;
    }
}

void gossip_receive(struct gossip *g, const uint8_t *pkt, size_t len,
                    const struct gossip_addr *from, uint64_t now_ms)
{
    g->counters.packets_received++;
    g->counters.bytes_received += len;
    struct wire_packet p;
    int r = wire_packet_parse(pkt, len, &p);
    if (r == WIRE_ERR_VERSION) {
        char a[64];
        g->counters.dropped_version++;
        if (g->counters.dropped_version == 1 || g->counters.dropped_version % 1000 == 0)
            gossip_logf(g, 1, "gossip: refused packet from %s: wire version %u, we speak %u",
                        gossip_addr_format(from, a, sizeof a), p.version, WIRE_VERSION);
        return;
    }
    if (r != WIRE_OK) {
        g->counters.dropped_invalid++;
        return;
    }
    if (g->cfg.keys) {
        if (!p.tag || !gossip_auth_verify(g->cfg.keys, p.key_id, p.signed_part, p.signed_len,
                                          p.tag)) {
            g->counters.dropped_unauthenticated++;
            return;
        }
    }
    /* After the tag (when there is one), so a forger cannot poison the window. By the sender's
     * name and life id, which the tag covers, not by the UDP source, which anyone can spoof: a captured
     * packet sent again from many addresses is still one sender's old counter. A packet in our
     * own name is our own sent back to us (or a second node with our name): never ours to act
     * on. A replay changes nothing and is answered by nothing. */
    if (strcmp(p.sender, g->name) == 0 ||
        !replay_check(&g->replay, p.sender, p.life, p.counter)) {
        g->counters.dropped_replay++;
        return;
    }
    /* Validate the whole packet before acting on any of it. */
    struct wire_cursor cur = {p.body, p.body_len};
    struct wire_msg msg;
    unsigned n = 0;
    while ((r = wire_next_msg(&cur, &msg)) == 1)
        n++;
    if (r != 0 || n == 0) {
        g->counters.dropped_invalid++;
        return;
    }
    /* A genuine packet: first whether we ourselves were away too long (the fence must come
     * before anything this packet makes us send); last whether its sender is a member we still
     * hold dead (a refutation in a new epoch inside the packet has brought it back by then). */
    gossip_check_stall(g, now_ms);
    gossip_heard(g, now_ms);
    cur = (struct wire_cursor){p.body, p.body_len};
    while (wire_next_msg(&cur, &msg) == 1)
        dispatch(g, &msg, p.sender, from, now_ms);
    gossip_tell_dead_sender(g, from, now_ms);
    gossip_quorum_settle(g, now_ms);
    if (g->dirty && !g->cfg.view)
        g->dirty = false;
    else if (g->dirty && g->publish_at_ms == 0)
        g->publish_at_ms = now_ms + GOSSIP_PUBLISH_COALESCE_MS;
}

/* ---- time ---- */

void gossip_tick(struct gossip *g, uint64_t now_ms)
{
    gossip_check_stall(g, now_ms);
    gossip_quorum_settle(g, now_ms);
    if (!g->left) {
        gossip_probe_tick(g, now_ms);
        gossip_isolation_tick(g, now_ms);
        gossip_check_suspicions(g, now_ms);
        gossip_pushpull_tick(g, now_ms);
    }
    if (now_ms >= g->next_reap_ms) {
        g->next_reap_ms = now_ms + GOSSIP_REAP_EVERY_MS;
        gossip_reap(g, now_ms);
    }
    gossip_quorum_settle(g, now_ms);    /* (what this tick's changes asked for) */
    if (g->dirty && now_ms >= g->publish_at_ms)
        gossip_publish(g);
    g->due_ms = gossip_next_deadline(g);
}

uint64_t gossip_next_deadline(const struct gossip *g)
{
    uint64_t d = g->next_reap_ms;
    uint64_t iso = gossip_isolation_deadline(g);
    if (iso < d)
        d = iso;
    if (g->dirty && g->publish_at_ms < d)
        d = g->publish_at_ms;
    if (g->left)
        return d;
    uint64_t p = gossip_probe_deadline(g);
    if (p < d)
        d = p;
    if (g->next_pushpull_ms < d)
        d = g->next_pushpull_ms;
    if (g->joining && g->next_join_ms < d)
        d = g->next_join_ms;
    for (size_t i = 0; i < g->suspects_len; i++) {
        const struct member *m = g->suspects[i];
        if (m->susp_deadline_ms < d)
            d = m->susp_deadline_ms;
        if (m->susp_recheck_ms && m->susp_recheck_ms < d)
            d = m->susp_recheck_ms;
    }
    return d;
}

/* ---- read access ---- */

const struct gossip_counters *gossip_counters(const struct gossip *g)
{
    return &g->counters;
}

size_t gossip_member_count(const struct gossip *g, int state)
{
    if (state < 0)
        return g->members.count;
    if (state > MEMBER_LEFT)
        return 0;
    return g->members.by_state[state];
}

int gossip_member_state(const struct gossip *g, const char *name, uint64_t *inc)
{
    struct member *m = member_table_find(&g->members, name);
    if (!m)
        return -1;
    if (inc)
        *inc = m->info.incarnation;
    return m->state;
}

bool gossip_member_taken_over(const struct gossip *g, const char *name)
{
    const struct member *m = member_table_find(&g->members, name);
    return m && m->state == MEMBER_DEAD && m->taken_over;
}

uint64_t gossip_incarnation(const struct gossip *g)
{
    return g->self->info.incarnation;
}

void gossip_for_each_member(const struct gossip *g,
                            void (*fn)(void *ctx, const struct wire_member *m, uint8_t state),
                            void *ctx)
{
    for (size_t i = 0; i < g->members.count; i++)
        fn(ctx, &g->members.items[i]->info, g->members.items[i]->state);
}

unsigned gossip_awareness(const struct gossip *g)
{
    return g->awareness;
}
