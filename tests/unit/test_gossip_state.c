/* Unit tests for the gossip state machine: every member state transition, incarnation rules,
 * refutation, resurrection guards, suspicion timeouts (Lifeguard confirmations), probing with
 * indirect probes and nacks, push-pull, join, leave, stats and the dropped-packet counters.
 * The gossip under test is fed crafted packets; what it sends is captured and decoded. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip/gossip.h"
#include "cluster/gossip/gossip_view.h"
#include "cluster/gossip/wire.h"
#include "tests/unit/gossip_test_util.h"

static struct gossip_event events[256];
static char event_names[256][WIRE_NAME_MAX + 1];
static size_t nevents;
static char last_log[256];

static void capture_change(void *ctx, const struct gossip_event *ev)
{
    (void)ctx;
    if (nevents < 256) {
        events[nevents] = *ev;
        snprintf(event_names[nevents], sizeof event_names[nevents], "%s", ev->member->name);
        nevents++;
    }
}

static void capture_log(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level;
    snprintf(last_log, sizeof last_log, "%s", msg);
}

static struct gossip *make_gossip(uint64_t now)
{
    nsent = nevents = 0;
    last_log[0] = '\0';
    struct gossip_config cfg;
    self_config(&cfg, 100);
    cfg.on_change = capture_change;
    cfg.log = capture_log;
    struct gossip *g = gossip_create(&cfg, now);
    ck_assert_ptr_nonnull(g);
    return g;
}

static void feed_packet(struct gossip *g, struct wire_writer *w, int from_ip, uint64_t now)
{
    struct gossip_addr from = addr_of(from_ip);
    gossip_receive(g, w->buf, w->len, &from, now);
}

static uint8_t pktbuf[WIRE_MAX_PACKET];
static uint64_t packet_counter = 1000;      /* ours: every crafted packet is fresh */

static void feed_alive(struct gossip *g, struct wire_member m, uint64_t now)
{
    struct wire_writer w;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_put_alive(&w, &m);
    feed_packet(g, &w, 200, now);
}

static void feed_accuse(struct gossip *g, uint8_t type, const char *name, uint64_t inc,
                        const char *from, uint64_t now)
{
    struct wire_accuse a = {.incarnation = inc};
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.from, sizeof a.from, "%s", from);
    struct wire_writer w;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_put_accuse(&w, type, &a);
    feed_packet(g, &w, 200, now);
}

/* Finds, in the captured packets from index `from` on, the first message of a type. */
static bool find_sent(size_t from, uint8_t type, struct wire_msg *out, size_t *which)
{
    for (size_t i = from; i < nsent; i++) {
        struct wire_packet p;
        if (wire_packet_parse(sent[i].data, sent[i].len, &p) != WIRE_OK)
            continue;
        struct wire_cursor c = {p.body, p.body_len};
        struct wire_msg msg;
        while (wire_next_msg(&c, &msg) == 1) {
            if (msg.type == type) {
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

static int state_of(struct gossip *g, const char *name)
{
    return gossip_member_state(g, name, NULL);
}

START_TEST(create_has_self_alive)
{
    struct gossip *g = make_gossip(1000);
    ck_assert_int_eq(state_of(g, "self"), MEMBER_ALIVE);
    ck_assert_uint_eq(gossip_member_count(g, MEMBER_ALIVE), 1);
    ck_assert_uint_eq(gossip_incarnation(g), 100);
    ck_assert_uint_eq(nevents, 1);
    ck_assert_uint_eq(events[0].old_state, GOSSIP_STATE_NONE);
    gossip_destroy(g);

    struct gossip_config bad;
    gossip_config_defaults(&bad);
    bad.name = "has space";
    bad.addr = addr_of(1);
    bad.send = capture_send;
    ck_assert_ptr_null(gossip_create(&bad, 0));
}
END_TEST

START_TEST(alive_adds_and_incarnation_orders)
{
    struct gossip *g = make_gossip(1000);
    feed_alive(g, member("a", 2, 10), 1001);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_ALIVE);
    ck_assert_uint_eq(nevents, 2);
    ck_assert_str_eq(event_names[1], "a");
    ck_assert_uint_eq(events[1].old_state, GOSSIP_STATE_NONE);

    /* Equal or older incarnations change nothing, not even metadata. */
    struct wire_member m = member("a", 3, 10);
    feed_alive(g, m, 1002);
    m.incarnation = 9;
    feed_alive(g, m, 1003);
    ck_assert_uint_eq(nevents, 2);

    /* A newer one carries new metadata (at the same gossip address: see
     * same_name_at_another_address_kept_out). */
    m = member("a", 2, 11);
    snprintf(m.data_addr, sizeof m.data_addr, "10.0.0.2:11311");
    m.weight = 5;
    feed_alive(g, m, 1004);
    ck_assert_uint_eq(nevents, 3);
    uint64_t inc;
    gossip_member_state(g, "a", &inc);
    ck_assert_uint_eq(inc, 11);
    gossip_destroy(g);
}
END_TEST

START_TEST(suspect_rules)
{
    struct gossip *g = make_gossip(1000);
    feed_alive(g, member("a", 2, 10), 1000);
    feed_accuse(g, WIRE_SUSPECT, "a", 9, "b", 1001);           /* stale */
    ck_assert_int_eq(state_of(g, "a"), MEMBER_ALIVE);
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "b", 1002);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_SUSPECT);
    ck_assert_uint_eq(events[nevents - 1].new_state, MEMBER_SUSPECT);
    /* Refuted by the member's own alive at a higher incarnation, not at the same one. */
    feed_alive(g, member("a", 2, 10), 1003);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_SUSPECT);
    feed_alive(g, member("a", 2, 11), 1004);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_ALIVE);
    /* Suspecting an unknown member does nothing. */
    feed_accuse(g, WIRE_SUSPECT, "nobody", 1, "b", 1005);
    ck_assert_int_eq(state_of(g, "nobody"), -1);
    gossip_destroy(g);
}
END_TEST

/* With 5 members (k = 3 confirmations expected), min = 4 * 1 * 200 = 800 ms, max = 3,200 ms. */
static struct gossip *five_members(void)
{
    struct gossip *g = make_gossip(1000);
    feed_alive(g, member("a", 2, 10), 1000);
    feed_alive(g, member("b", 3, 10), 1000);
    feed_alive(g, member("c", 4, 10), 1000);
    feed_alive(g, member("d", 5, 10), 1000);
    return g;
}

START_TEST(suspicion_times_out_to_dead)
{
    struct gossip *g = five_members();
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "b", 10000);
    gossip_tick(g, 10000 + 3199);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_SUSPECT);
    gossip_tick(g, 10000 + 3200);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_DEAD);
    ck_assert_uint_eq(gossip_counters(g)->deaths_declared, 1);
    gossip_destroy(g);
}
END_TEST

START_TEST(confirmations_shorten_suspicion)
{
    struct gossip *g = five_members();
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "b", 10000);
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "b", 10001);     /* same accuser: not independent */
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "c", 10002);
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "d", 10003);
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "self", 10004);
    /* 3 confirmations = k: the timeout is min, 800 ms from the first suspicion. */
    gossip_tick(g, 10799);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_SUSPECT);
    gossip_tick(g, 10800);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_DEAD);
    gossip_destroy(g);

    /* One confirmation: max - (max - min) * log(2) / log(4) = 3200 - 1200 = 2000 ms. */
    g = five_members();
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "b", 10000);
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "c", 10001);
    gossip_tick(g, 11999);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_SUSPECT);
    gossip_tick(g, 12000);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_DEAD);
    gossip_destroy(g);
}
END_TEST

/* The time a suspect accused by "b" and then by the given accusers (in order) is declared dead,
 * with k = 16 indirect checks among 20 members. */
static uint64_t death_time_k16(const char *const *accusers, size_t n)
{
    nsent = nevents = 0;
    struct gossip_config cfg;
    self_config(&cfg, 100);
    cfg.indirect_checks = 16;
    struct gossip *g = gossip_create(&cfg, 1000);
    ck_assert_ptr_nonnull(g);
    feed_alive(g, member("a", 2, 10), 1000);
    feed_alive(g, member("b", 3, 10), 1000);
    for (int i = 0; i < 17; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        feed_alive(g, member(name, 10 + i, 10), 1000);
    }
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "b", 10000);
    for (size_t i = 0; i < n; i++)
        feed_accuse(g, WIRE_SUSPECT, "a", 10, accusers[i], 10000);
    uint64_t t = 10000;
    while (state_of(g, "a") == MEMBER_SUSPECT && t < 30000)
        gossip_tick(g, ++t);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_DEAD);
    gossip_destroy(g);
    return t;
}

START_TEST(confirmations_counted_once_up_to_max_k)
{
    /* --gossip-indirect-checks accepts 16: past 8 accusers, one that repeats must still count
     * once (it used to count again, shortening the timeout). */
    static const char *const distinct[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7",
                                           "c8", "c9", "c10"};
    static const char *const repeated[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7",
                                           "c8", "c9", "c10", "c8", "c9", "c10", "b", "c0",
                                           "c9", "c10"};
    uint64_t once = death_time_k16(distinct, 11);
    ck_assert_uint_eq(death_time_k16(repeated, 18), once);
    /* And 16 distinct confirmations do reach the shortest timeout: sooner than 11. */
    static const char *const all[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8",
                                      "c9", "c10", "c11", "c12", "c13", "c14", "c15"};
    ck_assert_uint_lt(death_time_k16(all, 16), once);
}
END_TEST

START_TEST(same_name_at_another_address_kept_out)
{
    struct gossip *g = make_gossip(1000);
    feed_alive(g, member("x", 3, 10), 1000);
    /* A second node started as "x" (at 10.0.0.9, a newer incarnation): refused and logged; the
     * first keeps the name, its address and its ring slot. */
    size_t events_before = nevents;
    feed_alive(g, member("x", 9, 50), 1001);
    feed_alive(g, member("x", 9, 51), 1002);
    uint64_t inc = 0;
    ck_assert_int_eq(gossip_member_state(g, "x", &inc), MEMBER_ALIVE);
    ck_assert_uint_eq(inc, 10);
    ck_assert_uint_eq(nevents, events_before);
    ck_assert_uint_eq(gossip_counters(g)->name_conflicts, 2);
    ck_assert_ptr_nonnull(strstr(last_log, "same --node-name"));
    /* The first one refutes a suspicion as usual: accepted. */
    feed_accuse(g, WIRE_SUSPECT, "x", 10, "b", 1003);
    ck_assert_int_eq(state_of(g, "x"), MEMBER_SUSPECT);
    feed_alive(g, member("x", 9, 52), 1004);            /* suspect: still refused */
    ck_assert_int_eq(state_of(g, "x"), MEMBER_SUSPECT);
    feed_alive(g, member("x", 3, 11), 1005);
    ck_assert_int_eq(gossip_member_state(g, "x", &inc), MEMBER_ALIVE);
    ck_assert_uint_eq(inc, 11);
    /* Once it is dead, the name is free: the other node may take it. */
    feed_accuse(g, WIRE_DEAD, "x", 11, "b", 1006);
    feed_alive(g, member("x", 9, 60), 1007);
    ck_assert_int_eq(gossip_member_state(g, "x", &inc), MEMBER_ALIVE);
    ck_assert_uint_eq(inc, 60);
    gossip_destroy(g);

    /* About ourselves: an alive for our name at another address, above our incarnation, is not
     * outbid (each outbidding would be answered in kind, for ever): logged, nothing sent. */
    g = make_gossip(1000);
    size_t sent_before = nsent;
    feed_alive(g, member("self", 9, 500), 1001);
    ck_assert_uint_eq(gossip_incarnation(g), 100);
    ck_assert_uint_eq(gossip_counters(g)->refutations, 0);
    ck_assert_uint_eq(gossip_counters(g)->name_conflicts, 1);
    ck_assert_uint_eq(nsent, sent_before);
    ck_assert_ptr_nonnull(strstr(last_log, "(us)"));
    gossip_destroy(g);
}
END_TEST

START_TEST(dead_and_resurrection_guard)
{
    struct gossip *g = make_gossip(1000);
    feed_alive(g, member("a", 2, 10), 1000);
    feed_accuse(g, WIRE_DEAD, "a", 9, "b", 1001);               /* stale */
    ck_assert_int_eq(state_of(g, "a"), MEMBER_ALIVE);
    feed_accuse(g, WIRE_DEAD, "a", 10, "b", 1002);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_DEAD);
    /* Stale gossip cannot bring it back, nor can a suspicion. */
    feed_alive(g, member("a", 2, 10), 1003);
    feed_alive(g, member("a", 2, 9), 1004);
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "c", 1005);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_DEAD);
    /* A restart (fresh, higher incarnation) is accepted. */
    feed_alive(g, member("a", 2, 5000), 1006);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_ALIVE);
    ck_assert_uint_eq(events[nevents - 1].old_state, MEMBER_DEAD);
    gossip_destroy(g);
}
END_TEST

START_TEST(leave_is_left_and_sticks)
{
    struct gossip *g = make_gossip(1000);
    feed_alive(g, member("a", 2, 10), 1000);
    feed_accuse(g, WIRE_DEAD, "a", 10, "a", 1001);              /* sent by a itself */
    ck_assert_int_eq(state_of(g, "a"), MEMBER_LEFT);
    feed_accuse(g, WIRE_DEAD, "a", 10, "b", 1002);
    feed_alive(g, member("a", 2, 10), 1003);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_LEFT);
    /* Tombstones expire after dead_retention_ms; until then they guard. */
    gossip_tick(g, 1001 + 10 * 60 * 1000 - 1);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_LEFT);
    gossip_tick(g, 1001 + 10 * 60 * 1000 + 1000);
    ck_assert_int_eq(state_of(g, "a"), -1);
    gossip_destroy(g);
}
END_TEST

START_TEST(refutes_suspicion_and_death_of_self)
{
    struct gossip *g = make_gossip(1000);
    feed_accuse(g, WIRE_SUSPECT, "self", 99, "b", 1001);        /* older than us: ignored */
    ck_assert_uint_eq(gossip_incarnation(g), 100);
    size_t before = nsent;
    feed_accuse(g, WIRE_SUSPECT, "self", 100, "b", 1002);
    ck_assert_uint_eq(gossip_incarnation(g), 101);
    ck_assert_uint_eq(gossip_counters(g)->refutations, 1);
    /* Told directly back to whoever said it (Lifeguard's fast refutation). */
    struct wire_msg msg;
    size_t which;
    ck_assert(find_sent(before, WIRE_ALIVE, &msg, &which));
    ck_assert_str_eq(msg.u.alive.name, "self");
    ck_assert_uint_eq(msg.u.alive.incarnation, 101);
    struct gossip_addr from = addr_of(200);
    ck_assert(gossip_addr_equal(&sent[which].to, &from));
    ck_assert_uint_ge(gossip_awareness(g), 1);

    feed_accuse(g, WIRE_DEAD, "self", 150, "b", 1003);
    ck_assert_uint_eq(gossip_incarnation(g), 151);
    ck_assert_int_eq(state_of(g, "self"), MEMBER_ALIVE);

    /* Someone claiming a newer us: we go above it ourselves. */
    feed_alive(g, member("self", 1, 400), 1004);
    ck_assert_uint_eq(gossip_incarnation(g), 401);
    gossip_destroy(g);
}
END_TEST

START_TEST(stale_accusation_corrected_directly)
{
    struct gossip *g = make_gossip(1000);
    size_t before = nsent;
    feed_accuse(g, WIRE_SUSPECT, "self", 42, "b", 1001);        /* older than our 100 */
    ck_assert_uint_eq(gossip_incarnation(g), 100);              /* no bump */
    ck_assert_uint_eq(gossip_counters(g)->refutations, 0);
    struct wire_msg msg;
    size_t which;
    ck_assert(find_sent(before, WIRE_ALIVE, &msg, &which));
    ck_assert_uint_eq(msg.u.alive.incarnation, 100);
    struct gossip_addr from = addr_of(200);
    ck_assert(gossip_addr_equal(&sent[which].to, &from));
    before = nsent;
    feed_accuse(g, WIRE_DEAD, "self", 99, "b", 1002);
    ck_assert(find_sent(before, WIRE_ALIVE, &msg, NULL));
    gossip_destroy(g);
}
END_TEST

START_TEST(suspect_asked_directly_halfway)
{
    /* We heard the suspicion from someone else: at min / 2 (400 ms) we ask the suspect. */
    struct gossip *g = five_members();
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "b", 10000);
    ck_assert_uint_le(gossip_next_deadline(g), 10400);
    gossip_tick(g, 10399);
    size_t before = nsent;
    gossip_tick(g, 10400);
    /* A packet to a holding the suspicion alone (not a probe's ping carrying it). */
    struct gossip_addr a_addr = addr_of(2);
    bool asked = false;
    for (size_t i = before; i < nsent; i++) {
        struct wire_msg msg;
        if (gossip_addr_equal(&sent[i].to, &a_addr) && find_sent(i, WIRE_SUSPECT, &msg, NULL) &&
            !strcmp(msg.u.accuse.name, "a") && !find_sent(i, WIRE_PING, NULL, NULL) &&
            i == nsent - 1)
            asked = true;
    }
    ck_assert(asked);
    gossip_destroy(g);
}
END_TEST

START_TEST(incompatible_protocol_refused)
{
    struct gossip *g = make_gossip(1000);
    struct wire_member m = member("future", 2, 1);
    m.proto = GOSSIP_PROTO_MAX + 1;
    feed_alive(g, m, 1001);
    ck_assert_int_eq(state_of(g, "future"), -1);
    ck_assert_uint_eq(gossip_counters(g)->refused_protocol, 1);
    ck_assert_ptr_nonnull(strstr(last_log, "protocol version"));

    uint8_t pkt[] = {'S', 'G', WIRE_VERSION + 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, WIRE_ACK, 0, 4, 0, 0, 0, 1};
    struct gossip_addr from = addr_of(2);
    gossip_receive(g, pkt, sizeof pkt, &from, 1002);
    ck_assert_uint_eq(gossip_counters(g)->dropped_version, 1);
    ck_assert_ptr_nonnull(strstr(last_log, "wire version"));
    gossip_destroy(g);
}
END_TEST

START_TEST(garbage_dropped_and_counted)
{
    struct gossip *g = make_gossip(1000);
    struct gossip_addr from = addr_of(2);
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37);
    gossip_receive(g, junk, sizeof junk, &from, 1001);
    gossip_receive(g, junk, 0, &from, 1001);
    /* A valid alive followed by garbage: the whole packet goes, the alive is not applied. */
    struct wire_writer w;
    struct wire_member m = member("a", 2, 1);
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_put_alive(&w, &m);
    pktbuf[w.len++] = 0xee;
    feed_packet(g, &w, 2, 1002);
    ck_assert_int_eq(state_of(g, "a"), -1);
    ck_assert_uint_eq(gossip_counters(g)->dropped_invalid, 3);
    gossip_destroy(g);
}
END_TEST

START_TEST(replayed_packets_dropped)
{
    struct gossip *g = make_gossip(1000);
    struct wire_writer w;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, 5000000, 0, "peer");
    struct wire_member m = member("a", 2, 10);
    wire_put_alive(&w, &m);
    feed_packet(g, &w, 2, 1001);
    ck_assert_int_eq(state_of(g, "a"), MEMBER_ALIVE);
    feed_packet(g, &w, 2, 1002);                    /* the same datagram again */
    ck_assert_uint_eq(gossip_counters(g)->dropped_replay, 1);
    /* One far older than the window from the same sender: dropped too, from whatever address
     * (the window is the sender's name's, not its address's); another sender: fine. */
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, 5000000 - 100, 0, "peer");
    wire_put_alive(&w, &m);
    feed_packet(g, &w, 2, 1003);
    ck_assert_uint_eq(gossip_counters(g)->dropped_replay, 2);
    feed_packet(g, &w, 3, 1004);
    ck_assert_uint_eq(gossip_counters(g)->dropped_replay, 3);
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, 5000000 - 100, 0, "other");
    wire_put_alive(&w, &m);
    feed_packet(g, &w, 3, 1005);
    ck_assert_uint_eq(gossip_counters(g)->dropped_replay, 3);
    char stats[4096];
    gossip_stats_render(g, stats, sizeof stats);
    ck_assert_ptr_nonnull(strstr(stats, "STAT cluster_dropped_replay 3\r\n"));
    gossip_destroy(g);
}
END_TEST

START_TEST(answers_ping_with_ack)
{
    struct gossip *g = make_gossip(1000);
    struct wire_writer w;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    struct wire_ping p = {.seq = 4242};
    strcpy(p.target, "self");
    wire_put_ping(&w, &p);
    feed_packet(g, &w, 7, 1001);
    struct wire_msg msg;
    size_t which;
    ck_assert(find_sent(0, WIRE_ACK, &msg, &which));
    ck_assert_uint_eq(msg.u.seq, 4242);
    struct gossip_addr to = addr_of(7);
    ck_assert(gossip_addr_equal(&sent[which].to, &to));
    /* A ping for another name (an old tenant of our address) is not answered. */
    size_t before = nsent;
    strcpy(p.target, "other");
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_put_ping(&w, &p);
    feed_packet(g, &w, 7, 1002);
    ck_assert_uint_eq(nsent, before);
    gossip_destroy(g);
}
END_TEST

/* Runs ticks 1 ms apart until the gossip sends a ping; returns its seq and target. */
static uint32_t wait_for_ping(struct gossip *g, uint64_t *now, char *target)
{
    size_t before = nsent;
    for (int i = 0; i < 5000; i++) {
        gossip_tick(g, ++*now);
        struct wire_msg msg;
        if (find_sent(before, WIRE_PING, &msg, NULL)) {
            strcpy(target, msg.u.ping.target);
            return msg.u.ping.seq;
        }
    }
    ck_abort_msg("no ping sent");
    return 0;
}

START_TEST(probe_ack_keeps_member_alive)
{
    struct gossip *g = five_members();
    uint64_t now = 1000;
    char target[WIRE_NAME_MAX + 1];
    uint32_t seq = wait_for_ping(g, &now, target);
    struct wire_writer w;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_put_ack(&w, WIRE_ACK, seq);
    feed_packet(g, &w, 2, now + 1);
    gossip_tick(g, now + 1000);
    ck_assert_int_eq(state_of(g, target), MEMBER_ALIVE);
    ck_assert_uint_eq(gossip_counters(g)->acks_received, 1);
    ck_assert_uint_eq(gossip_counters(g)->indirect_probes_sent, 0);
    gossip_destroy(g);
}
END_TEST

/* The router's hint moves a member's probe forward and nothing else: it suspects no one. */
START_TEST(unreachable_hint_probes_member_next)
{
    struct gossip *g = five_members();
    uint64_t now = 1000;
    char target[WIRE_NAME_MAX + 1];
    wait_for_ping(g, &now, target);
    gossip_hint_unreachable(g, "nobody");       /* unknown: ignored */
    gossip_hint_unreachable(g, "self");         /* ourselves: ignored */
    ck_assert_uint_eq(gossip_counters(g)->hints, 0);
    for (int round = 0; round < 3; round++) {
        uint64_t suspicions = gossip_counters(g)->suspicions_raised;
        gossip_hint_unreachable(g, "c");
        ck_assert_uint_eq(gossip_counters(g)->suspicions_raised, suspicions);
        wait_for_ping(g, &now, target);
        ck_assert_str_eq(target, "c");
    }
    ck_assert_uint_eq(gossip_counters(g)->hints, 3);
    ck_assert_uint_eq(gossip_counters(g)->hinted_probes, 3);
    gossip_destroy(g);
}
END_TEST

START_TEST(probe_failure_goes_indirect_then_suspect)
{
    struct gossip *g = five_members();
    uint64_t now = 1000;
    char target[WIRE_NAME_MAX + 1];
    uint32_t seq = wait_for_ping(g, &now, target);
    size_t before = nsent;
    gossip_tick(g, now + 80);                   /* probe timeout: ask 3 others */
    ck_assert_uint_eq(gossip_counters(g)->indirect_probes_sent, 3);
    struct wire_msg msg;
    ck_assert(find_sent(before, WIRE_PING_REQ, &msg, NULL));
    ck_assert_uint_eq(msg.u.ping_req.seq, seq);
    ck_assert_str_eq(msg.u.ping_req.target, target);
    /* Two helpers answer nack: one nack missed, so our local health worsens by one. */
    for (int i = 0; i < 2; i++) {
        struct wire_writer w;
        wire_writer_init(&w, pktbuf, sizeof pktbuf);
        wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
        wire_put_ack(&w, WIRE_NACK, seq);
        feed_packet(g, &w, 3, now + 150);
    }
    before = nsent;
    gossip_tick(g, now + 200);                  /* end of the period */
    ck_assert_int_eq(state_of(g, target), MEMBER_SUSPECT);
    ck_assert_uint_eq(gossip_counters(g)->suspicions_raised, 1);
    ck_assert_uint_eq(gossip_counters(g)->nacks_received, 2);
    ck_assert_uint_eq(gossip_awareness(g), 1);
    /* The suspect was told directly. */
    ck_assert(find_sent(before, WIRE_SUSPECT, &msg, NULL));
    ck_assert_str_eq(msg.u.accuse.name, target);
    gossip_destroy(g);
}
END_TEST

START_TEST(local_health_stretches_probe_period)
{
    struct gossip *g = five_members();
    uint64_t now = 1000;
    char target[WIRE_NAME_MAX + 1];
    /* Our own suspicion refuted twice: awareness 2, so the period is 3 x 200 ms. */
    feed_accuse(g, WIRE_SUSPECT, "self", 100, "a", now);
    feed_accuse(g, WIRE_SUSPECT, "self", 101, "a", now);
    ck_assert_uint_eq(gossip_awareness(g), 2);
    wait_for_ping(g, &now, target);
    uint64_t first = now;
    gossip_tick(g, first + 239);                /* timeout 80 ms x 3 not reached yet */
    ck_assert_uint_eq(gossip_counters(g)->indirect_probes_sent, 0);
    gossip_tick(g, first + 240);
    ck_assert_uint_eq(gossip_counters(g)->indirect_probes_sent, 3);
    gossip_destroy(g);
}
END_TEST

START_TEST(relays_ping_req_ack_and_nack)
{
    struct gossip *g = make_gossip(1000);
    struct wire_writer w;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    struct wire_ping_req r = {.seq = 555, .target_addr = addr_of(9), .want_nack = true};
    strcpy(r.target, "t");
    wire_put_ping_req(&w, &r);
    feed_packet(g, &w, 3, 2000);
    struct wire_msg msg;
    size_t which;
    ck_assert(find_sent(0, WIRE_PING, &msg, &which));
    struct gossip_addr t = addr_of(9), requester = addr_of(3);
    ck_assert(gossip_addr_equal(&sent[which].to, &t));
    ck_assert_str_eq(msg.u.ping.target, "t");
    /* The target acks our ping: the requester gets an ack with its own seq. */
    size_t before = nsent;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_put_ack(&w, WIRE_ACK, msg.u.ping.seq);
    feed_packet(g, &w, 9, 2010);
    ck_assert(find_sent(before, WIRE_ACK, &msg, &which));
    ck_assert_uint_eq(msg.u.seq, 555);
    ck_assert(gossip_addr_equal(&sent[which].to, &requester));

    /* A second request whose target stays silent: a nack after the probe timeout. */
    r.seq = 556;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_put_ping_req(&w, &r);
    feed_packet(g, &w, 3, 3000);
    before = nsent;
    gossip_tick(g, 3079);
    ck_assert(!find_sent(before, WIRE_NACK, NULL, NULL));
    gossip_tick(g, 3080);
    ck_assert(find_sent(before, WIRE_NACK, &msg, &which));
    ck_assert_uint_eq(msg.u.seq, 556);
    ck_assert(gossip_addr_equal(&sent[which].to, &requester));
    gossip_destroy(g);
}
END_TEST

START_TEST(join_retries_until_answered)
{
    struct gossip *g = make_gossip(1000);
    struct gossip_addr seeds[2] = {addr_of(2), addr_of(1) /* ourselves: skipped */};
    ck_assert_int_eq(gossip_join(g, seeds, 2, 1000), 0);
    struct wire_msg msg;
    size_t which;
    ck_assert(find_sent(0, WIRE_PUSHPULL, &msg, &which));
    ck_assert(msg.u.pp.flags & WIRE_PP_JOIN);
    ck_assert(gossip_addr_equal(&sent[which].to, &seeds[0]));
    ck_assert_uint_eq(nsent, 1);
    /* No answer: tried again after join_retry_ms. */
    gossip_tick(g, 1999);
    size_t before = nsent;
    gossip_tick(g, 2000);
    ck_assert(find_sent(before, WIRE_PUSHPULL, &msg, NULL));
    /* The seed answers with its state: we learn it and stop retrying. */
    struct wire_writer w;
    size_t mark;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_pp_begin(&w, 0, msg.u.pp.session, 0, 1, &mark);
    struct wire_member seed = member("seed", 2, 1), other = member("o", 3, 1);
    wire_pp_add(&w, mark, MEMBER_ALIVE, &seed);
    wire_pp_add(&w, mark, MEMBER_ALIVE, &other);
    wire_pp_end(&w, mark);
    feed_packet(g, &w, 2, 2001);
    ck_assert_int_eq(state_of(g, "seed"), MEMBER_ALIVE);
    ck_assert_int_eq(state_of(g, "o"), MEMBER_ALIVE);
    before = nsent;
    gossip_tick(g, 3001);
    for (size_t i = before; i < nsent; i++) {
        struct wire_packet p;
        wire_packet_parse(sent[i].data, sent[i].len, &p);
        struct wire_cursor c = {p.body, p.body_len};
        while (wire_next_msg(&c, &msg) == 1)
            ck_assert(msg.type != WIRE_PUSHPULL || !(msg.u.pp.flags & WIRE_PP_JOIN));
    }
    gossip_destroy(g);
}
END_TEST

static size_t fences_seen;

static void count_fence(void *ctx, const struct gossip_fence *f)
{
    (void)ctx, (void)f;
    fences_seen++;
}

/* A push-pull answer to our join, from "seed" at member 2, listing one entry. */
static void feed_pushpull_entry(struct gossip *g, uint8_t state, struct wire_member e, uint64_t now)
{
    struct wire_writer w;
    size_t mark;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_pp_begin(&w, 0, 5, 0, 1, &mark);
    struct wire_member seed = member("seed", 2, 10);
    wire_pp_add(&w, mark, MEMBER_ALIVE, &seed);
    wire_pp_add(&w, mark, state, &e);
    wire_pp_end(&w, mark);
    feed_packet(g, &w, 2, now);
}

START_TEST(pushpull_teaches_tombstones_to_newcomers)
{
    /* Without fencing: a member dead at incarnation 7 before we joined stays dead when stale
     * gossip (incarnation 6) about its old life arrives; it comes back only above 7. */
    struct gossip *g = make_gossip(1000);
    feed_pushpull_entry(g, MEMBER_DEAD, member("x", 3, 7), 1001);
    ck_assert_int_eq(state_of(g, "x"), MEMBER_DEAD);
    feed_pushpull_entry(g, MEMBER_LEFT, member("y", 4, 7), 1002);
    ck_assert_int_eq(state_of(g, "y"), MEMBER_LEFT);
    feed_alive(g, member("x", 3, 6), 1003);
    feed_alive(g, member("y", 4, 7), 1003);
    ck_assert_int_eq(state_of(g, "x"), MEMBER_DEAD);
    ck_assert_int_eq(state_of(g, "y"), MEMBER_LEFT);
    feed_alive(g, member("x", 3, 8), 1004);
    ck_assert_int_eq(state_of(g, "x"), MEMBER_ALIVE);
    /* Reaped here, the tombstone is not taken back from a peer that still keeps it. */
    gossip_tick(g, 1002 + 10 * 60 * 1000 + 1000);
    ck_assert_int_eq(state_of(g, "y"), -1);
    feed_pushpull_entry(g, MEMBER_LEFT, member("y", 4, 7), 1002 + 10 * 60 * 1000 + 2000);
    ck_assert_int_eq(state_of(g, "y"), -1);
    gossip_destroy(g);

    /* With fencing: the dead member's old epoch is refused, a new epoch accepted. */
    nsent = nevents = fences_seen = 0;
    struct gossip_config cfg;
    self_config(&cfg, 100);
    cfg.on_fence = count_fence;
    g = gossip_create(&cfg, 1000);
    ck_assert_ptr_nonnull(g);
    uint64_t epoch5 = (uint64_t)5 << GOSSIP_EPOCH_SHIFT;
    feed_pushpull_entry(g, MEMBER_DEAD, member("x", 3, epoch5 | 2), 1001);
    ck_assert_int_eq(state_of(g, "x"), MEMBER_DEAD);
    feed_alive(g, member("x", 3, epoch5 | 9), 1002);
    ck_assert_int_eq(state_of(g, "x"), MEMBER_DEAD);
    ck_assert_uint_eq(gossip_counters(g)->resurrections_refused, 1);
    feed_alive(g, member("x", 3, epoch5 + (1 << GOSSIP_EPOCH_SHIFT)), 1003);
    ck_assert_int_eq(state_of(g, "x"), MEMBER_ALIVE);
    ck_assert_uint_eq(fences_seen, 0);
    gossip_destroy(g);
}
END_TEST

START_TEST(pushpull_answered_once_in_chunks)
{
    struct gossip *g = make_gossip(1000);
    for (int i = 0; i < 60; i++) {
        char name[32];
        snprintf(name, sizeof name, "member-%02d", i);
        feed_alive(g, member(name, 10 + i, 1), 1000);
    }
    struct wire_writer w;
    size_t mark;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    wire_pp_begin(&w, WIRE_PP_REQUEST, 77, 0, 1, &mark);
    struct wire_member dead = member("member-05", 15, 1);
    wire_pp_add(&w, mark, MEMBER_DEAD, &dead);     /* remote death merges as suspicion */
    wire_pp_end(&w, mark);
    size_t before = nsent;
    feed_packet(g, &w, 99, 1001);
    ck_assert_int_eq(state_of(g, "member-05"), MEMBER_SUSPECT);
    size_t answers = nsent - before;
    ck_assert_uint_ge(answers, 2);              /* 61 members do not fit one datagram */
    size_t entries = 0;
    for (size_t i = before; i < nsent; i++) {
        struct wire_msg msg;
        ck_assert(find_sent(i, WIRE_PUSHPULL, &msg, NULL));
        ck_assert_uint_eq(msg.u.pp.chunks, answers);
        ck_assert_uint_eq(msg.u.pp.session, 77);
        ck_assert(!(msg.u.pp.flags & WIRE_PP_REQUEST));
        entries += msg.u.pp.count;
    }
    ck_assert_uint_eq(entries, 61);
    /* The same request again (a duplicate chunk): not answered twice. */
    before = nsent;
    feed_packet(g, &w, 99, 1002);
    ck_assert_uint_eq(nsent, before);
    gossip_destroy(g);
}
END_TEST

START_TEST(leave_announces_and_stops)
{
    struct gossip *g = five_members();
    size_t before = nsent;
    gossip_leave(g, 2000);
    ck_assert_int_eq(state_of(g, "self"), MEMBER_LEFT);
    struct wire_msg msg;
    ck_assert(find_sent(before, WIRE_DEAD, &msg, NULL));
    ck_assert_str_eq(msg.u.accuse.name, "self");
    ck_assert_str_eq(msg.u.accuse.from, "self");
    ck_assert_uint_ge(nsent - before, 4);       /* all four others told directly */
    /* No more probes; suspicion of us is not refuted any more. */
    before = nsent;
    gossip_tick(g, 5000);
    ck_assert(!find_sent(before, WIRE_PING, NULL, NULL));
    gossip_destroy(g);
}
END_TEST

START_TEST(piggybacks_updates_on_acks)
{
    struct gossip *g = make_gossip(1000);
    feed_alive(g, member("a", 2, 10), 1000);
    struct wire_writer w;
    wire_writer_init(&w, pktbuf, sizeof pktbuf);
    wire_put_header(&w, false, NULL, ++packet_counter, 0, "peer");
    struct wire_ping p = {.seq = 1};
    strcpy(p.target, "self");
    wire_put_ping(&w, &p);
    feed_packet(g, &w, 7, 1001);
    struct wire_msg msg;
    ck_assert(find_sent(0, WIRE_ACK, NULL, NULL));
    ck_assert(find_sent(0, WIRE_ALIVE, &msg, NULL));
    gossip_destroy(g);
}
END_TEST

START_TEST(stats_render_lines)
{
    struct gossip *g = five_members();
    feed_accuse(g, WIRE_SUSPECT, "a", 10, "b", 1001);
    feed_accuse(g, WIRE_DEAD, "b", 10, "c", 1001);
    feed_accuse(g, WIRE_DEAD, "c", 10, "c", 1001);
    char buf[8192];
    size_t n = gossip_stats_render(g, buf, sizeof buf);
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_ptr_nonnull(strstr(buf, "STAT cluster_alive 2\r\n"));     /* self and d */
    ck_assert_ptr_nonnull(strstr(buf, "STAT cluster_suspect 1\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "STAT cluster_dead 1\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "STAT cluster_left 1\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "STAT cluster_self self\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "STAT cluster_incarnation 100\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "STAT cluster_member a 10.0.0.2:11211 suspect 10\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "STAT cluster_dropped_unauthenticated 0\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "STAT cluster_probes_sent "));
    /* A small buffer: whole lines only, and the return value says what was needed. */
    char small[40];
    ck_assert_uint_eq(gossip_stats_render(g, small, sizeof small), n);
    ck_assert_str_eq(small, "STAT cluster_alive 2\r\n");
    gossip_destroy(g);
}
END_TEST

START_TEST(publishes_snapshots_coalesced)
{
    nsent = nevents = 0;
    struct gossip_view *v = gossip_view_create();
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    cfg.name = "self";
    cfg.addr = addr_of(1);
    cfg.incarnation = 100;
    cfg.send = capture_send;
    cfg.view = v;
    struct gossip *g = gossip_create(&cfg, 1000);
    int slot = gossip_view_register(v);
    const struct gossip_snapshot *s = gossip_view_enter(v, slot);
    ck_assert_uint_eq(s->count, 1);
    ck_assert_str_eq(s->members[0].name, "self");
    gossip_view_exit(v, slot);
    /* A burst of changes: one snapshot after the coalescing delay, at the deadline it reports. */
    feed_alive(g, member("a", 2, 10), 2000);
    feed_alive(g, member("b", 3, 10), 2001);
    ck_assert_uint_le(gossip_next_deadline(g), 2010);
    gossip_tick(g, 2009);
    s = gossip_view_enter(v, slot);
    ck_assert_uint_eq(s->count, 1);
    gossip_view_exit(v, slot);
    gossip_tick(g, 2010);
    s = gossip_view_enter(v, slot);
    ck_assert_uint_eq(s->count, 3);
    ck_assert_uint_eq(s->alive, 3);
    ck_assert_uint_eq(s->version, 2);
    gossip_view_exit(v, slot);
    /* Before `stats cluster`: a change still in its coalescing delay is published at once. */
    feed_alive(g, member("c", 4, 10), 3000);
    s = gossip_view_enter(v, slot);
    ck_assert_uint_eq(s->count, 3);
    gossip_view_exit(v, slot);
    gossip_publish_pending(g);
    s = gossip_view_enter(v, slot);
    ck_assert_uint_eq(s->count, 4);
    ck_assert_uint_eq(s->version, 3);
    gossip_view_exit(v, slot);
    gossip_publish_pending(g); /* nothing pending: no new snapshot */
    s = gossip_view_enter(v, slot);
    ck_assert_uint_eq(s->version, 3);
    gossip_view_exit(v, slot);
    gossip_view_unregister(v, slot);
    gossip_destroy(g);
    gossip_view_destroy(v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gossip_state");
    TCase *tc = tcase_create("state");
    tcase_add_test(tc, create_has_self_alive);
    tcase_add_test(tc, alive_adds_and_incarnation_orders);
    tcase_add_test(tc, suspect_rules);
    tcase_add_test(tc, suspicion_times_out_to_dead);
    tcase_add_test(tc, confirmations_shorten_suspicion);
    tcase_add_test(tc, confirmations_counted_once_up_to_max_k);
    tcase_add_test(tc, same_name_at_another_address_kept_out);
    tcase_add_test(tc, dead_and_resurrection_guard);
    tcase_add_test(tc, leave_is_left_and_sticks);
    tcase_add_test(tc, refutes_suspicion_and_death_of_self);
    tcase_add_test(tc, stale_accusation_corrected_directly);
    tcase_add_test(tc, suspect_asked_directly_halfway);
    tcase_add_test(tc, incompatible_protocol_refused);
    tcase_add_test(tc, garbage_dropped_and_counted);
    tcase_add_test(tc, replayed_packets_dropped);
    tcase_add_test(tc, answers_ping_with_ack);
    tcase_add_test(tc, probe_ack_keeps_member_alive);
    tcase_add_test(tc, unreachable_hint_probes_member_next);
    tcase_add_test(tc, probe_failure_goes_indirect_then_suspect);
    tcase_add_test(tc, local_health_stretches_probe_period);
    tcase_add_test(tc, relays_ping_req_ack_and_nack);
    tcase_add_test(tc, join_retries_until_answered);
    tcase_add_test(tc, pushpull_answered_once_in_chunks);
    tcase_add_test(tc, pushpull_teaches_tombstones_to_newcomers);
    tcase_add_test(tc, leave_announces_and_stops);
    tcase_add_test(tc, piggybacks_updates_on_acks);
    tcase_add_test(tc, stats_render_lines);
    tcase_add_test(tc, publishes_snapshots_coalesced);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
