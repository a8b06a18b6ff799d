/* Hostile input against the whole state machine, not just the decoder: well-formed and mutated
 * packets of every type, about random and known members (ourselves included), from random
 * addresses, interleaved with time passing. Nothing may crash (ASan/UBSan watch memory), every
 * datagram sent stays within the size limit, and the member counts stay consistent. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cluster/gossip/gossip.h"
#include "cluster/gossip/wire.h"

static uint64_t rng = 88172645463325252ULL;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static size_t sent_count;

static void check_send(void *ctx, const struct gossip_addr *to, const uint8_t *buf, size_t len)
{
    (void)ctx, (void)to;
    ck_assert_uint_le(len, WIRE_MAX_PACKET);
    struct wire_packet p;
    ck_assert_int_eq(wire_packet_parse(buf, len, &p), WIRE_OK);    /* we only send valid ones */
    sent_count++;
}

static const char *names[] = {"self", "a", "b", "c", "d", "e", "f", "g"};

static struct gossip_addr random_addr(void)
{
    struct gossip_addr a = {.family = 4, .port = (uint16_t)(7000 + rnd() % 8),
                            .ip = {10, 0, 0, (uint8_t)(rnd() % 8)}};
    return a;
}

static struct wire_member random_member(void)
{
    struct wire_member m = {0};
    snprintf(m.name, sizeof m.name, "%s", names[rnd() % 8]);
    m.addr = random_addr();
    snprintf(m.data_addr, sizeof m.data_addr, "h:%u", rnd() % 100);
    m.incarnation = rnd() % 4 == 0 ? UINT64_MAX - rnd() % 3 : rnd() % 50;
    m.weight = rnd();
    m.role = (uint8_t)(rnd() % 2);
    m.proto = (uint8_t)(rnd() % 8 == 0 ? 2 : 1);
    return m;
}

static size_t random_packet(uint8_t *buf, uint64_t counter)
{
    struct wire_writer w;
    wire_writer_init(&w, buf, WIRE_MAX_PACKET);
    wire_put_header(&w, false, NULL, counter, 0, "peer");
    int msgs = 1 + (int)(rnd() % 4);
    for (int i = 0; i < msgs; i++) {
        switch (rnd() % 8) {
        case 0: {
            struct wire_ping p = {.seq = rnd() % 16};
            snprintf(p.target, sizeof p.target, "%s", names[rnd() % 8]);
            wire_put_ping(&w, &p);
            break;
        }
        case 1: {
            struct wire_ping_req r = {.seq = rnd() % 16, .target_addr = random_addr(),
                                      .want_nack = rnd() % 2};
            snprintf(r.target, sizeof r.target, "%s", names[rnd() % 8]);
            wire_put_ping_req(&w, &r);
            break;
        }
        case 2:
            wire_put_ack(&w, (uint8_t)(rnd() % 2 ? WIRE_ACK : WIRE_NACK), rnd() % 16);
            break;
        case 3:
        case 4: {
            struct wire_member m = random_member();
            wire_put_alive(&w, &m);
            break;
        }
        case 5:
        case 6: {
            struct wire_accuse a = {.incarnation = rnd() % 60};
            snprintf(a.name, sizeof a.name, "%s", names[rnd() % 8]);
            snprintf(a.from, sizeof a.from, "%s", names[rnd() % 8]);
            wire_put_accuse(&w, (uint8_t)(rnd() % 2 ? WIRE_SUSPECT : WIRE_DEAD), &a);
            break;
        }
        default: {
            size_t mark;
            if (!wire_pp_begin(&w, (uint8_t)(rnd() % 4), rnd() % 4, 0, 1, &mark))
                break;
            int n = (int)(rnd() % 6);
            for (int k = 0; k < n; k++) {
                struct wire_member m = random_member();
                wire_pp_add(&w, mark, (uint8_t)(rnd() % 4), &m);
            }
            wire_pp_end(&w, mark);
        }
        }
    }
    return w.len;
}

static void check_counts(struct gossip *g)
{
    size_t sum = 0;
    for (int s = MEMBER_ALIVE; s <= MEMBER_LEFT; s++)
        sum += gossip_member_count(g, s);
    ck_assert_uint_eq(sum, gossip_member_count(g, -1));
    ck_assert_int_eq(gossip_member_state(g, "self", NULL), MEMBER_ALIVE);
}

START_TEST(hostile_traffic)
{
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    cfg.name = "self";
    cfg.addr = (struct gossip_addr){.family = 4, .port = 7946, .ip = {10, 0, 0, 100}};
    cfg.incarnation = 10;
    cfg.send = check_send;
    cfg.dead_retention_ms = 5000;       /* exercise reaping too */
    struct gossip *g = gossip_create(&cfg, 1000);
    struct gossip_addr seed = {.family = 4, .port = 7000, .ip = {10, 0, 0, 1}};
    gossip_join(g, &seed, 1, 1000);
    uint64_t now = 1000, counter = 1, last_inc = gossip_incarnation(g);
    static uint8_t buf[WIRE_MAX_PACKET + 8];
    for (int i = 0; i < 60000; i++) {
        size_t len = random_packet(buf, counter++);
        if (rnd() % 3 == 0) {           /* mutate: flips, truncation or extension */
            int flips = 1 + (int)(rnd() % 3);
            for (int f = 0; f < flips; f++)
                buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
            if (rnd() % 4 == 0)
                len = rnd() % (len + 1);
            else if (rnd() % 8 == 0)
                len += rnd() % 8;
        }
        struct gossip_addr from = random_addr();
        gossip_receive(g, buf, len, &from, now);
        if (rnd() % 4 == 0) {
            now += rnd() % 300;
            gossip_tick(g, now);
        }
        ck_assert_uint_ge(gossip_incarnation(g), last_inc);   /* never wraps or goes back */
        last_inc = gossip_incarnation(g);
        if (i % 1000 == 0)
            check_counts(g);
    }
    check_counts(g);
    char stats[16384];
    gossip_stats_render(g, stats, sizeof stats);
    ck_assert_uint_gt(sent_count, 0);
    ck_assert_uint_gt(gossip_counters(g)->dropped_invalid, 0);
    gossip_destroy(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gossip_fuzz");
    TCase *tc = tcase_create("fuzz");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hostile_traffic);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
