/* Unit tests for fencing (cluster/README.md, "Partitions"): a node told
 * it was declared dead drops its data exactly once per death, before anything announces its new
 * epoch; members refuse to bring a buried member back in its old epoch and tell it; a stalled
 * node asks every member about itself, and fences on its own after a stop longer than tombstones
 * live; without the callback nothing changes (test_gossip_state covers that).
 * The gossip under test is fed crafted packets; what it sends is captured and decoded. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip/gossip.h"
#include "cluster/gossip/wire.h"
#include "tests/unit/gossip_test_util.h"

#define EPOCH(e) ((uint64_t)(e) << GOSSIP_EPOCH_SHIFT)

static struct gossip_fence fences[16];
static char fence_by[16][WIRE_NAME_MAX + 1];
static size_t nfences;
static size_t sent_at_fence[16];          /* packets already sent when each fence ran */
static uint64_t packet_counter = 5000;
static uint8_t pktbuf[WIRE_MAX_PACKET];

static void capture_fence(void *ctx, const struct gossip_fence *f)
{
    (void)ctx;
    ck_assert_uint_lt(nfences, 16);
    fences[nfences] = *f;
    snprintf(fence_by[nfences], sizeof fence_by[nfences], "%s", f->by);
    sent_at_fence[nfences] = nsent;
    nfences++;
}

/* "self" at 10.0.0.1, created with incarnation EPOCH(3) + 7: fencing rounds it up to EPOCH(4) + 7. */
static struct gossip *make_gossip(bool fencing)
{
    nsent = nfences = 0;
    struct gossip_config cfg;
    self_config(&cfg, EPOCH(3) + 7);
    if (fencing)
        cfg.on_fence = capture_fence;
    struct gossip *g = gossip_create(&cfg, 1000);
    ck_assert_ptr_nonnull(g);
    return g;
}

static void begin(struct wire_writer *w)
{
    wire_writer_init(w, pktbuf, sizeof pktbuf);
    wire_put_header(w, false, NULL, ++packet_counter);
}

static void feed(struct gossip *g, struct wire_writer *w, int from_ip, uint64_t now)
{
    struct gossip_addr from = addr_of(from_ip);
    gossip_receive(g, w->buf, w->len, &from, now);
}

static void feed_alive(struct gossip *g, struct wire_member m, int from_ip, uint64_t now)
{
    struct wire_writer w;
    begin(&w);
    wire_put_alive(&w, &m);
    feed(g, &w, from_ip, now);
}

static void feed_accuse(struct gossip *g, uint8_t type, const char *name, uint64_t inc,
                        const char *from, int from_ip, uint64_t now)
{
    struct wire_accuse a = {.incarnation = inc};
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.from, sizeof a.from, "%s", from);
    struct wire_writer w;
    begin(&w);
    wire_put_accuse(&w, type, &a);
    feed(g, &w, from_ip, now);
}

static void feed_pushpull_entry(struct gossip *g, uint8_t state, struct wire_member e, int from_ip,
                                uint64_t now)
{
    struct wire_writer w;
    size_t mark;
    begin(&w);
    wire_pp_begin(&w, 0, (uint32_t)packet_counter, 0, 1, &mark);
    wire_pp_add(&w, mark, state, &e);
    wire_pp_end(&w, mark);
    feed(g, &w, from_ip, now);
}

/* The first message of `type` about `name` sent from index `from` on; its packet's index into
 * *which. */
static bool find_sent(size_t from, uint8_t type, const char *name, struct wire_msg *out,
                      size_t *which)
{
    for (size_t i = from; i < nsent; i++) {
        struct wire_packet p;
        if (wire_packet_parse(sent[i].data, sent[i].len, &p) != WIRE_OK)
            continue;
        struct wire_cursor c = {p.body, p.body_len};
        struct wire_msg msg;
        while (wire_next_msg(&c, &msg) == 1) {
            const char *about = type == WIRE_ALIVE ? msg.u.alive.name : msg.u.accuse.name;
            if (msg.type == type && strcmp(about, name) == 0) {
                if (out)
                    *out = msg;
                if (which)
                    *which = i;
                return true;
            }
        }
    }
    return false;
}

/* "self" knowing a, b, c, d alive (enough members for regular probing). */
static struct gossip *with_members(bool fencing)
{
    struct gossip *g = make_gossip(fencing);
    feed_alive(g, member("a", 2, EPOCH(9) + 1), 2, 1000);
    feed_alive(g, member("b", 3, EPOCH(9) + 1), 3, 1000);
    feed_alive(g, member("c", 4, EPOCH(9) + 1), 4, 1000);
    feed_alive(g, member("d", 5, EPOCH(9) + 1), 5, 1000);
    return g;
}

START_TEST(first_incarnation_starts_an_epoch)
{
    struct gossip *g = make_gossip(true);
    ck_assert_uint_eq(gossip_incarnation(g), EPOCH(4) + 7);
    gossip_destroy(g);
    g = make_gossip(false);
    ck_assert_uint_eq(gossip_incarnation(g), EPOCH(3) + 7);
    gossip_destroy(g);
}
END_TEST

START_TEST(declared_dead_fences_once_per_death)
{
    struct gossip *g = with_members(true);
    uint64_t ours = gossip_incarnation(g);
    size_t before = nsent;
    feed_accuse(g, WIRE_DEAD, "self", ours, "b", 3, 2000);
    ck_assert_uint_eq(nfences, 1);
    ck_assert_int_eq(fences[0].reason, GOSSIP_FENCE_DECLARED_DEAD);
    ck_assert_str_eq(fence_by[0], "b");
    ck_assert_uint_eq(fences[0].accused_incarnation, ours);
    ck_assert_uint_eq(fences[0].new_incarnation, EPOCH(5));
    ck_assert_uint_eq(gossip_incarnation(g), EPOCH(5));
    ck_assert_int_eq(gossip_member_state(g, "self", NULL), MEMBER_ALIVE);
    /* Nothing went out before the flush; afterwards the accuser hears the new epoch at once. */
    ck_assert_uint_eq(sent_at_fence[0], before);
    struct wire_msg msg;
    size_t which;
    ck_assert(find_sent(before, WIRE_ALIVE, "self", &msg, &which));
    ck_assert_uint_eq(msg.u.alive.incarnation, EPOCH(5));
    struct gossip_addr b = addr_of(3);
    ck_assert(gossip_addr_equal(&sent[which].to, &b));
    ck_assert_uint_eq(gossip_counters(g)->fences, 1);

    /* The same death again, from the same or another member, or pushed in a full state: that
     * epoch is behind us, so only a correction. */
    before = nsent;
    feed_accuse(g, WIRE_DEAD, "self", ours, "b", 3, 2001);
    feed_accuse(g, WIRE_DEAD, "self", ours, "c", 4, 2002);
    feed_pushpull_entry(g, MEMBER_DEAD, member("self", 1, ours), 5, 2003);
    ck_assert_uint_eq(nfences, 1);
    ck_assert_uint_eq(gossip_incarnation(g), EPOCH(5));
    ck_assert(find_sent(before, WIRE_ALIVE, "self", &msg, NULL));
    ck_assert_uint_eq(msg.u.alive.incarnation, EPOCH(5));

    /* Buried again in the new epoch: a new death, a new fence. */
    feed_accuse(g, WIRE_DEAD, "self", EPOCH(5), "c", 4, 3000);
    ck_assert_uint_eq(nfences, 2);
    ck_assert_uint_eq(gossip_incarnation(g), EPOCH(6));
    char stats[4096];
    gossip_stats_render(g, stats, sizeof stats);
    ck_assert_ptr_nonnull(strstr(stats, "STAT cluster_rejoin_flushes 2\r\n"));
    gossip_destroy(g);
}
END_TEST

START_TEST(death_after_a_refutation_still_fences)
{
    /* We refuted a suspicion (same epoch, counter + 1), but b never heard it and buried us at
     * the older incarnation: b sent our keys elsewhere all the same. */
    struct gossip *g = with_members(true);
    uint64_t ours = gossip_incarnation(g);
    feed_accuse(g, WIRE_SUSPECT, "self", ours, "c", 4, 2000);
    ck_assert_uint_eq(gossip_incarnation(g), ours + 1);
    ck_assert_uint_eq(nfences, 0);
    feed_accuse(g, WIRE_DEAD, "self", ours, "b", 3, 2001);
    ck_assert_uint_eq(nfences, 1);
    ck_assert_uint_eq(gossip_incarnation(g), EPOCH(5));
    gossip_destroy(g);
}
END_TEST

START_TEST(previous_life_death_does_not_fence)
{
    struct gossip *g = with_members(true);
    size_t before = nsent;
    feed_accuse(g, WIRE_DEAD, "self", EPOCH(3) + 500, "b", 3, 2000);
    ck_assert_uint_eq(nfences, 0);
    ck_assert_uint_eq(gossip_incarnation(g), EPOCH(4) + 7);
    ck_assert(find_sent(before, WIRE_ALIVE, "self", NULL, NULL));   /* corrected */
    gossip_destroy(g);
}
END_TEST

START_TEST(pushpull_dead_or_left_entry_fences)
{
    struct gossip *g = with_members(true);
    feed_pushpull_entry(g, MEMBER_DEAD, member("self", 1, gossip_incarnation(g)), 3, 2000);
    ck_assert_uint_eq(nfences, 1);
    ck_assert_str_eq(fence_by[0], "");
    feed_pushpull_entry(g, MEMBER_LEFT, member("self", 1, gossip_incarnation(g)), 3, 2001);
    ck_assert_uint_eq(nfences, 2);
    /* A suspicion in a full state is refuted without a fence. */
    uint64_t inc = gossip_incarnation(g);
    feed_pushpull_entry(g, MEMBER_SUSPECT, member("self", 1, inc), 3, 2002);
    ck_assert_uint_eq(nfences, 2);
    ck_assert_uint_eq(gossip_incarnation(g), inc + 1);
    gossip_destroy(g);
}
END_TEST

START_TEST(refutation_into_a_new_epoch_fences)
{
    struct gossip *g = with_members(true);
    /* Accused at the last incarnation of our epoch: + 1 would be a new epoch. */
    feed_accuse(g, WIRE_SUSPECT, "self", EPOCH(5) - 1, "c", 4, 2000);
    ck_assert_uint_eq(nfences, 1);
    ck_assert_int_eq(fences[0].reason, GOSSIP_FENCE_EPOCH);
    ck_assert_uint_eq(gossip_incarnation(g), EPOCH(5));
    ck_assert_uint_eq(gossip_counters(g)->refutations, 1);
    gossip_destroy(g);
}
END_TEST

START_TEST(buried_member_needs_a_new_epoch)
{
    struct gossip *g = with_members(true);
    feed_accuse(g, WIRE_DEAD, "a", EPOCH(9) + 1, "b", 3, 2000);
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), MEMBER_DEAD);

    /* a refutes a suspicion it heard, unaware of its death: same epoch, refused, and a is told
     * directly that it is dead. */
    size_t before = nsent;
    feed_alive(g, member("a", 2, EPOCH(9) + 2), 4, 2001);
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), MEMBER_DEAD);
    ck_assert_uint_eq(gossip_counters(g)->resurrections_refused, 1);
    struct wire_msg msg;
    size_t which;
    ck_assert(find_sent(before, WIRE_DEAD, "a", &msg, &which));
    ck_assert_uint_eq(msg.u.accuse.incarnation, EPOCH(9) + 1);
    ck_assert_str_eq(msg.u.accuse.from, "self");
    struct gossip_addr a = addr_of(2);
    ck_assert(gossip_addr_equal(&sent[which].to, &a));

    /* Any packet from it tells it too, at most once per probe period. */
    struct wire_writer w;
    struct wire_ping ping = {.seq = 1};
    snprintf(ping.target, sizeof ping.target, "self");
    begin(&w);
    wire_put_ping(&w, &ping);
    feed(g, &w, 2, 2002);
    ck_assert_uint_eq(gossip_counters(g)->told_dead, 1);
    begin(&w);
    wire_put_ping(&w, &ping);
    feed(g, &w, 2, 2001 + 200);
    ck_assert_uint_eq(gossip_counters(g)->told_dead, 2);

    /* After its fence, a new epoch: welcome back. */
    feed_alive(g, member("a", 2, EPOCH(10)), 2, 2300);
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), MEMBER_ALIVE);
    gossip_destroy(g);
}
END_TEST

START_TEST(left_member_needs_a_new_epoch)
{
    struct gossip *g = with_members(true);
    feed_accuse(g, WIRE_DEAD, "a", EPOCH(9) + 1, "a", 2, 2000);
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), MEMBER_LEFT);
    feed_alive(g, member("a", 2, EPOCH(9) + 9), 2, 2001);
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), MEMBER_LEFT);
    feed_alive(g, member("a", 2, EPOCH(12) + 3), 2, 2002);     /* a restart */
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), MEMBER_ALIVE);
    gossip_destroy(g);
}
END_TEST

START_TEST(without_fencing_nothing_changes)
{
    struct gossip *g = with_members(false);
    feed_accuse(g, WIRE_DEAD, "a", EPOCH(9) + 1, "b", 3, 2000);
    feed_alive(g, member("a", 2, EPOCH(9) + 2), 2, 2001);
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), MEMBER_ALIVE);
    uint64_t ours = gossip_incarnation(g);
    feed_accuse(g, WIRE_DEAD, "self", ours, "b", 3, 2002);
    ck_assert_uint_eq(gossip_incarnation(g), ours + 1);
    gossip_tick(g, 2003);
    gossip_tick(g, 60000);                   /* a long stall */
    ck_assert_uint_eq(gossip_counters(g)->fences, 0);
    ck_assert_uint_eq(nfences, 0);
    gossip_destroy(g);
}
END_TEST

/* Packets with our own ALIVE sent from index `from` on, each to a different member. */
static size_t check_ins_since(size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < nsent; i++) {
        struct wire_msg msg;
        size_t which;
        if (find_sent(i, WIRE_ALIVE, "self", &msg, &which) && which == i)
            n++;
    }
    return n;
}

START_TEST(stall_checks_in_then_fences_when_long)
{
    struct gossip *g = with_members(true);
    uint64_t now = 1000;
    for (int i = 0; i < 3; i++) {            /* on time: nothing */
        gossip_tick(g, now);
        now = gossip_next_deadline(g);
    }
    ck_assert_uint_eq(gossip_counters(g)->stall_checks, 0);
    /* Defaults: the shortest suspicion is 4 x 1 x 200 ms. Late by 700 ms: nothing. */
    uint64_t due = gossip_next_deadline(g);
    gossip_tick(g, due + 700);
    ck_assert_uint_eq(gossip_counters(g)->stall_checks, 0);
    /* Late by 900 ms: we tell every member who we are (whoever buried us answers), no fence. */
    due = gossip_next_deadline(g);
    size_t before = nsent;
    gossip_tick(g, due + 900);
    ck_assert_uint_eq(gossip_counters(g)->stall_checks, 1);
    ck_assert_uint_ge(check_ins_since(before), 4);
    ck_assert_uint_eq(nfences, 0);
    /* b answers that it holds us dead: that fences. */
    feed_accuse(g, WIRE_DEAD, "self", gossip_incarnation(g), "b", 3, due + 901);
    ck_assert_uint_eq(nfences, 1);
    ck_assert_int_eq(fences[0].reason, GOSSIP_FENCE_DECLARED_DEAD);
    /* Stopped longer than tombstones live (10 min): fence without waiting to be told. (A second
     * more: the packet just fed may have moved the next deadline before the one the stall is
     * measured from, e.g. the check for being cut off.) */
    due = gossip_next_deadline(g);
    gossip_tick(g, due + 10 * 60 * 1000 + 1000);
    ck_assert_uint_eq(nfences, 2);
    ck_assert_int_eq(fences[1].reason, GOSSIP_FENCE_STALLED);
    ck_assert_uint_ge(fences[1].stalled_ms, 10 * 60 * 1000);
    ck_assert_uint_eq(gossip_counters(g)->fences_stalled, 1);
    gossip_destroy(g);

    /* A node alone has no one to be buried by. */
    g = make_gossip(true);
    gossip_tick(g, 1000);
    gossip_tick(g, 100000);
    ck_assert_uint_eq(gossip_counters(g)->stall_checks, 0);
    gossip_tick(g, 100000 + 11 * 60 * 1000);
    ck_assert_uint_eq(nfences, 0);
    gossip_destroy(g);
}
END_TEST

START_TEST(stall_seen_by_the_first_packet)
{
    /* After SIGCONT the driver may read queued datagrams before it ticks: the stall is handled
     * first (here a stop past the tombstone retention: a fence), and a death among those
     * datagrams is then a previous epoch's. */
    struct gossip *g = with_members(true);
    gossip_tick(g, 1000);
    uint64_t due = gossip_next_deadline(g);
    uint64_t ours = gossip_incarnation(g);
    feed_accuse(g, WIRE_DEAD, "self", ours, "b", 3, due + 11 * 60 * 1000);
    ck_assert_uint_eq(nfences, 1);
    ck_assert_int_eq(fences[0].reason, GOSSIP_FENCE_STALLED);
    gossip_tick(g, due + 11 * 60 * 1000 + 1);
    ck_assert_uint_eq(nfences, 1);
    gossip_destroy(g);
}
END_TEST

/* ---- a small cluster on a virtual network: partitions, heals, and the ordering invariant ---- */

#define NET_NODES 4
#define NET_QUEUE 4096

struct net_packet {
    int from, to;
    uint64_t at;
    size_t len;
    uint8_t data[WIRE_MAX_PACKET];
};

struct net_node {
    struct gossip *g;
    int index;
    unsigned fences;
    uint64_t fenced_epochs[16];         /* epochs this node fenced into, in order */
};

static struct {
    struct net_node nodes[NET_NODES];
    struct net_packet *queue;           /* NET_QUEUE slots, used when len > 0 */
    bool cut[NET_NODES];                /* true: on the far side of the partition */
    uint64_t now, rng;
    unsigned violations, resurrections;
    char violation[256];
    bool seen_dead[NET_NODES][NET_NODES];   /* [observer][member] */
    bool took_over[NET_NODES][NET_NODES];   /* [observer][member]: at its last death there */
    unsigned unfenced_returns;          /* taken back as they were: nobody took their keys */
    uint32_t dead_retention_ms;         /* 0: the default */
} net;

static uint64_t net_rand(void)
{
    uint64_t z = (net.rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void net_send(void *ctx, const struct gossip_addr *to, const uint8_t *buf, size_t len)
{
    struct net_node *from = ctx;
    int dest = to->ip[3] - 1;
    if (dest < 0 || dest >= NET_NODES || net.cut[dest] != net.cut[from->index])
        return;                         /* across the partition: lost */
    for (size_t i = 0; i < NET_QUEUE; i++) {
        if (net.queue[i].len == 0) {
            struct net_packet *p = &net.queue[i];
            p->from = from->index;
            p->to = dest;
            p->at = net.now + 1 + net_rand() % 4;     /* 1..4 ms, so packets reorder */
            p->len = len;
            memcpy(p->data, buf, len);
            return;
        }
    }
}

static void net_fence(void *ctx, const struct gossip_fence *f)
{
    struct net_node *n = ctx;
    if (n->fences < 16)
        n->fenced_epochs[n->fences] = gossip_epoch(f->new_incarnation);
    n->fences++;
}

static bool net_fenced_into(const struct net_node *n, uint64_t epoch)
{
    for (unsigned i = 0; i < n->fences && i < 16; i++)
        if (n->fenced_epochs[i] == epoch)
            return true;
    return false;
}

/* The invariant: whoever took over the keys of a member it held dead or left takes it back only
 * in an epoch that member fenced into, i.e. after it dropped its data. A member buried without
 * takeover (the burier had no quorum, gossip_quorum.c) may come back as it is. */
static void net_change(void *ctx, const struct gossip_event *ev)
{
    struct net_node *observer = ctx;
    int who = ev->member->addr.ip[3] - 1;
    if (who < 0 || who >= NET_NODES)
        return;
    bool up = ev->new_state == MEMBER_ALIVE || ev->new_state == MEMBER_SUSPECT;
    if (!up) {
        net.seen_dead[observer->index][who] = true;
        net.took_over[observer->index][who] =
            ev->new_state == MEMBER_LEFT || gossip_member_taken_over(observer->g, ev->member->name);
        return;
    }
    /* Back from a tombstone, or first heard of again after the tombstone was reaped. */
    bool back = ev->old_state == MEMBER_DEAD || ev->old_state == MEMBER_LEFT ||
                (ev->old_state == GOSSIP_STATE_NONE && net.seen_dead[observer->index][who]);
    if (!back)
        return;
    net.seen_dead[observer->index][who] = false;
    net.resurrections++;
    uint64_t epoch = gossip_epoch(ev->member->incarnation);
    /* A reaped tombstone (old state none) is always treated as taken over: graves are strict. */
    if (ev->old_state == MEMBER_DEAD && !net.took_over[observer->index][who]) {
        net.unfenced_returns++;
        return;
    }
    if (!net_fenced_into(&net.nodes[who], epoch)) {
        net.violations++;
        snprintf(net.violation, sizeof net.violation, "%s back at epoch %llu, never fenced into",
                 ev->member->name, (unsigned long long)epoch);
    }
}

static void net_start(uint64_t seed, uint32_t dead_retention_ms)
{
    memset(&net, 0, sizeof net);
    net.dead_retention_ms = dead_retention_ms;
    net.queue = calloc(NET_QUEUE, sizeof *net.queue);
    ck_assert_ptr_nonnull(net.queue);
    net.rng = seed;
    net.now = 1000;
    for (int i = 0; i < NET_NODES; i++) {
        struct net_node *n = &net.nodes[i];
        char name[16], data[32];
        snprintf(name, sizeof name, "n%d", i);
        snprintf(data, sizeof data, "10.0.0.%d:11211", i + 1);
        struct gossip_config cfg;
        gossip_config_defaults(&cfg);
        cfg.name = name;
        cfg.addr = addr_of(i + 1);
        cfg.data_addr = data;
        cfg.incarnation = EPOCH(100 + i) + 5;
        cfg.seed = seed + (uint64_t)i;
        cfg.pushpull_interval_ms = 1000;
        cfg.join_retry_ms = 500;
        if (net.dead_retention_ms)
            cfg.dead_retention_ms = net.dead_retention_ms;
        cfg.send = net_send;
        cfg.on_change = net_change;
        cfg.on_fence = net_fence;
        cfg.ctx = n;
        n->index = i;
        n->g = gossip_create(&cfg, net.now);
        ck_assert_ptr_nonnull(n->g);
    }
    /* Everyone shares one seed list, n0 and n1: a node that finds itself alone calls them. */
    struct gossip_addr seeds[2] = {addr_of(1), addr_of(2)};
    for (int i = 0; i < NET_NODES; i++)
        gossip_join(net.nodes[i].g, seeds, 2, net.now);
}

/* Runs the network for ms milliseconds of virtual time, 1 ms per step. */
static void net_run(uint64_t ms)
{
    for (uint64_t end = net.now + ms; net.now < end; net.now++) {
        for (size_t i = 0; i < NET_QUEUE; i++) {
            struct net_packet *p = &net.queue[i];
            if (p->len && p->at <= net.now) {
                struct gossip_addr from = addr_of(p->from + 1);
                size_t len = p->len;
                p->len = 0;             /* free the slot first: receiving may send */
                gossip_receive(net.nodes[p->to].g, p->data, len, &from, net.now);
            }
        }
        for (int i = 0; i < NET_NODES; i++)
            if (gossip_next_deadline(net.nodes[i].g) <= net.now)
                gossip_tick(net.nodes[i].g, net.now);
    }
}

static int net_state(int observer, int member)
{
    char name[16];
    snprintf(name, sizeof name, "n%d", member);
    return gossip_member_state(net.nodes[observer].g, name, NULL);
}

static bool net_all_alive(void)
{
    for (int i = 0; i < NET_NODES; i++)
        for (int j = 0; j < NET_NODES; j++)
            if (net_state(i, j) != MEMBER_ALIVE)
                return false;
    return true;
}

static void net_stop(void)
{
    for (int i = 0; i < NET_NODES; i++)
        gossip_destroy(net.nodes[i].g);
    free(net.queue);
}

/* Ends the cut around n0 and runs 20 s: the cluster forms again; n0 fenced exactly once, however
 * many members told it; each other node fenced `others_fence` times; every node was taken back,
 * never at an epoch it had not fenced into by a member that had taken over its keys. Stops the
 * network. */
static void heal_n0_expect_fences(uint64_t seed, unsigned others_fence)
{
    net.cut[0] = false;
    net_run(20000);
    ck_assert_msg(net_all_alive(), "seed %llu: not healed", (unsigned long long)seed);
    for (int i = 0; i < NET_NODES; i++)
        ck_assert_msg(net.nodes[i].fences == (i == 0 ? 1 : others_fence),
                      "seed %llu: n%d fenced %u times", (unsigned long long)seed, i,
                      net.nodes[i].fences);
    ck_assert_uint_ge(net.resurrections, NET_NODES);
    ck_assert_msg(net.violations == 0, "seed %llu: %s", (unsigned long long)seed, net.violation);
    net_stop();
}

START_TEST(partition_heals_with_one_fence_per_buried_node)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        net_start(seed, 0);
        net_run(3000);
        ck_assert_msg(net_all_alive(), "seed %llu: the cluster did not form",
                      (unsigned long long)seed);
        /* n0 alone on one side for 5 s: each side buries the other. */
        net.cut[0] = true;
        net_run(5000);
        for (int j = 1; j < NET_NODES; j++) {
            ck_assert_int_eq(net_state(j, 0), MEMBER_DEAD);
            ck_assert_int_eq(net_state(0, j), MEMBER_DEAD);
        }
        for (int i = 0; i < NET_NODES; i++)
            ck_assert_uint_eq(net.nodes[i].fences, 0);
        /* Issue 11 changed this from "every node fences once": n0, alone with 1 of 4, had no
         * quorum, so it took none of the others' keys and buried them without takeover; they
         * come back to it as they are. Only n0, whose keys the majority took, fences. */
        for (int j = 1; j < NET_NODES; j++) {
            ck_assert(gossip_member_taken_over(net.nodes[j].g, "n0"));
            ck_assert(!gossip_has_quorum(net.nodes[0].g));
        }
        heal_n0_expect_fences(seed, 0);
        ck_assert_uint_ge(net.unfenced_returns, NET_NODES - 1);
    }
}
END_TEST

START_TEST(even_split_the_side_of_the_smallest_name_keeps_the_quorum)
{
    /* n0 n1 | n2 n3: exactly half on each side. The side with the smallest name (n0) keeps its
     * quorum and takes over n2's and n3's keys; the other serves nothing and takes nothing, so
     * after the heal only n2 and n3 fence. */
    for (uint64_t seed = 1; seed <= 5; seed++) {
        net_start(seed, 0);
        net_run(3000);
        ck_assert(net_all_alive());
        net.cut[2] = net.cut[3] = true;
        net_run(5000);
        ck_assert(gossip_has_quorum(net.nodes[0].g) && gossip_has_quorum(net.nodes[1].g));
        ck_assert(!gossip_has_quorum(net.nodes[2].g) && !gossip_has_quorum(net.nodes[3].g));
        for (int i = 0; i < 2; i++)
            for (int j = 2; j < 4; j++) {
                char far[16], near[16];
                snprintf(far, sizeof far, "n%d", j);
                snprintf(near, sizeof near, "n%d", i);
                ck_assert(gossip_member_taken_over(net.nodes[i].g, far));
                ck_assert_int_eq(net_state(j, i), MEMBER_DEAD);
                ck_assert(!gossip_member_taken_over(net.nodes[j].g, near));
            }
        net.cut[2] = net.cut[3] = false;
        net_run(20000);
        ck_assert_msg(net_all_alive(), "seed %llu: not healed", (unsigned long long)seed);
        for (int i = 0; i < NET_NODES; i++)
            ck_assert_msg(net.nodes[i].fences == (i >= 2 ? 1u : 0u), "seed %llu: n%d fenced %u",
                          (unsigned long long)seed, i, net.nodes[i].fences);
        ck_assert_msg(net.violations == 0, "seed %llu: %s", (unsigned long long)seed,
                      net.violation);
        ck_assert(gossip_has_quorum(net.nodes[2].g));
        net_stop();
    }
}
END_TEST

START_TEST(partition_longer_than_tombstones)
{
    /* Tombstones kept 2 s, partition 8 s: both sides forget each other's death. The graves
     * still refuse the old epochs, so the heal goes exactly as with tombstones. */
    for (uint64_t seed = 1; seed <= 5; seed++) {
        net_start(seed, 2000);
        net_run(3000);
        ck_assert(net_all_alive());
        net.cut[0] = true;
        net_run(8000);
        for (int j = 1; j < NET_NODES; j++) {
            ck_assert_int_eq(net_state(j, 0), -1);          /* reaped */
            ck_assert_int_eq(net_state(0, j), -1);
        }
        /* Forgotten on both sides: graves keep no takeover flag and refuse the old epoch
         * whoever buried it (n0, having reaped everyone, is a majority of one again), so every
         * node fences once, as before issue 11. */
        heal_n0_expect_fences(seed, 1);
    }
}
END_TEST

START_TEST(reaped_member_refused_in_its_old_epoch)
{
    struct gossip *g = with_members(true);
    feed_accuse(g, WIRE_DEAD, "a", EPOCH(9) + 1, "b", 3, 2000);
    gossip_tick(g, 2000 + 10 * 60 * 1000 + 1000);                  /* tombstone reaped */
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), -1);
    size_t before = nsent;
    feed_alive(g, member("a", 2, EPOCH(9) + 3), 4, 700000);
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), -1);
    ck_assert_uint_eq(gossip_counters(g)->resurrections_refused, 1);
    struct wire_msg msg;
    size_t which;
    ck_assert(find_sent(before, WIRE_DEAD, "a", &msg, &which));
    ck_assert_uint_eq(msg.u.accuse.incarnation, EPOCH(9) + 1);
    struct gossip_addr a = addr_of(2);
    ck_assert(gossip_addr_equal(&sent[which].to, &a));
    feed_alive(g, member("a", 2, EPOCH(10)), 2, 700001);
    ck_assert_int_eq(gossip_member_state(g, "a", NULL), MEMBER_ALIVE);
    gossip_destroy(g);
}
END_TEST

START_TEST(short_partition_suspects_but_never_fences)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        net_start(seed, 0);
        net_run(3000);
        ck_assert(net_all_alive());
        uint64_t before = 0, after = 0;
        for (int i = 0; i < NET_NODES; i++)
            before += gossip_counters(net.nodes[i].g)->suspicions_raised;
        /* Shorter than the shortest suspicion (4 x 200 ms): suspected, refuted, never dead. */
        net.cut[0] = true;
        net_run(500);
        net.cut[0] = false;
        net_run(5000);
        ck_assert(net_all_alive());
        for (int i = 0; i < NET_NODES; i++) {
            ck_assert_uint_eq(net.nodes[i].fences, 0);
            after += gossip_counters(net.nodes[i].g)->suspicions_raised;
        }
        ck_assert_uint_gt(after, before);       /* the partition did bite */
        ck_assert_uint_eq(net.resurrections, 0);
        net_stop();
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gossip_fence");
    TCase *tc = tcase_create("fence");
    tcase_add_test(tc, first_incarnation_starts_an_epoch);
    tcase_add_test(tc, declared_dead_fences_once_per_death);
    tcase_add_test(tc, death_after_a_refutation_still_fences);
    tcase_add_test(tc, previous_life_death_does_not_fence);
    tcase_add_test(tc, pushpull_dead_or_left_entry_fences);
    tcase_add_test(tc, refutation_into_a_new_epoch_fences);
    tcase_add_test(tc, buried_member_needs_a_new_epoch);
    tcase_add_test(tc, left_member_needs_a_new_epoch);
    tcase_add_test(tc, without_fencing_nothing_changes);
    tcase_add_test(tc, stall_checks_in_then_fences_when_long);
    tcase_add_test(tc, stall_seen_by_the_first_packet);
    tcase_add_test(tc, reaped_member_refused_in_its_old_epoch);
    suite_add_tcase(s, tc);
    TCase *cluster = tcase_create("cluster");
    tcase_set_timeout(cluster, 120);
    tcase_add_test(cluster, partition_heals_with_one_fence_per_buried_node);
    tcase_add_test(cluster, partition_longer_than_tombstones);
    tcase_add_test(cluster, even_split_the_side_of_the_smallest_name_keeps_the_quorum);
    tcase_add_test(cluster, short_partition_suspects_but_never_fences);
    suite_add_tcase(s, cluster);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
