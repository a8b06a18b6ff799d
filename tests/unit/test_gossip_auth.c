/* Unit tests for gossip packet authentication: tagged packets accepted, unauthenticated, tampered,
 * wrong-key and replayed packets dropped and counted; key rotation accepts the previous key; the
 * secret file loads into keys. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/gossip/crypto/keys.h"
#include "cluster/gossip/gossip.h"
#include "cluster/gossip/gossip_auth.h"

struct captured {
    size_t n;
    size_t len[64];
    struct gossip_addr to[64];
    uint8_t data[64][WIRE_MAX_PACKET];
};

static void capture(void *ctx, const struct gossip_addr *to, const uint8_t *buf, size_t len)
{
    struct captured *c = ctx;
    ck_assert_uint_le(len, WIRE_MAX_PACKET);
    if (c->n < 64) {
        c->len[c->n] = len;
        c->to[c->n] = *to;
        memcpy(c->data[c->n], buf, len);
        c->n++;
    }
}

static struct packet_keys keys_from(uint8_t fill)
{
    struct cluster_secret secret = {.len = 32};
    memset(secret.bytes, fill, secret.len);
    struct packet_keys k = {0};
    packet_key_derive(&secret, &k.current);
    return k;
}

static struct gossip *make(const char *name, int ip, const struct packet_keys *keys,
                           struct captured *out)
{
    struct gossip_config cfg;
    gossip_config_defaults(&cfg);
    cfg.name = name;
    cfg.addr = (struct gossip_addr){.family = 4, .port = 7946, .ip = {10, 0, 0, (uint8_t)ip}};
    cfg.incarnation = 1;
    cfg.send = capture;
    cfg.ctx = out;
    cfg.keys = keys;
    cfg.counter_start = 1000000;
    struct gossip *g = gossip_create(&cfg, 1000);
    ck_assert_ptr_nonnull(g);
    return g;
}

static const struct gossip_addr addr_a = {.family = 4, .port = 7946, .ip = {10, 0, 0, 1}};

/* A joins through B: A's first packet (a push-pull request) is what we replay and tamper with. */
START_TEST(authenticated_exchange)
{
    static struct captured ca, cb;
    memset(&ca, 0, sizeof ca);
    memset(&cb, 0, sizeof cb);
    struct packet_keys k = keys_from(0x11);
    struct gossip *a = make("a", 1, &k, &ca), *b = make("b", 2, &k, &cb);
    struct gossip_addr addr_b = {.family = 4, .port = 7946, .ip = {10, 0, 0, 2}};
    gossip_join(a, &addr_b, 1, 1000);
    ck_assert_uint_eq(ca.n, 1);
    struct wire_packet p;
    ck_assert_int_eq(wire_packet_parse(ca.data[0], ca.len[0], &p), WIRE_OK);
    ck_assert(p.flags & WIRE_FLAG_AUTH);
    ck_assert_uint_eq(p.counter, 1000001);

    /* Tampered: dropped before anything is applied. */
    uint8_t bad[WIRE_MAX_PACKET];
    memcpy(bad, ca.data[0], ca.len[0]);
    bad[ca.len[0] / 2] ^= 1;
    gossip_receive(b, bad, ca.len[0], &addr_a, 1001);
    ck_assert_uint_eq(gossip_counters(b)->dropped_unauthenticated, 1);
    ck_assert_int_eq(gossip_member_state(b, "a", NULL), -1);

    gossip_receive(b, ca.data[0], ca.len[0], &addr_a, 1002);
    ck_assert_int_eq(gossip_member_state(b, "a", NULL), MEMBER_ALIVE);
    ck_assert_uint_ge(cb.n, 1);                     /* b answered */
    /* Replayed: dropped. */
    gossip_receive(b, ca.data[0], ca.len[0], &addr_a, 1003);
    ck_assert_uint_eq(gossip_counters(b)->dropped_unauthenticated, 1);
    ck_assert_uint_eq(gossip_counters(b)->dropped_replay, 1);
    /* b's answer authenticates at a. */
    for (size_t i = 0; i < cb.n; i++)
        gossip_receive(a, cb.data[i], cb.len[i], &addr_b, 1004);
    ck_assert_int_eq(gossip_member_state(a, "b", NULL), MEMBER_ALIVE);
    ck_assert_uint_eq(gossip_counters(a)->dropped_unauthenticated, 0);
    gossip_destroy(a);
    gossip_destroy(b);
}
END_TEST

/* One captured push-pull request, replayed from many spoofed source addresses: it used to be
 * accepted once per address (a fresh replay window each), and each copy made the receiver send
 * its whole member table to that address. The window belongs to the sender's name now. */
START_TEST(replay_from_spoofed_addresses_changes_nothing)
{
    static struct captured ca, cb, cc;
    memset(&ca, 0, sizeof ca);
    memset(&cb, 0, sizeof cb);
    memset(&cc, 0, sizeof cc);
    struct packet_keys k = keys_from(0x11);
    struct gossip *a = make("a", 1, &k, &ca), *b = make("b", 2, &k, &cb);
    struct gossip *c = make("c", 3, &k, &cc);
    struct gossip_addr addr_b = {.family = 4, .port = 7946, .ip = {10, 0, 0, 2}};
    gossip_join(a, &addr_b, 1, 1000);
    ck_assert_uint_eq(ca.n, 1);
    gossip_receive(b, ca.data[0], ca.len[0], &addr_a, 1001);
    ck_assert_int_eq(gossip_member_state(b, "a", NULL), MEMBER_ALIVE);
    size_t answered = cb.n;
    ck_assert_uint_ge(answered, 1);
    uint64_t inc_a = 0;
    gossip_member_state(b, "a", &inc_a);

    for (int i = 0; i < 200; i++) {
        struct gossip_addr spoofed = {.family = 4, .port = (uint16_t)(1000 + i),
                                      .ip = {192, 0, 2, (uint8_t)(i + 1)}};
        gossip_receive(b, ca.data[0], ca.len[0], &spoofed, 1002 + (uint64_t)i);
    }
    ck_assert_uint_eq(gossip_counters(b)->dropped_replay, 200);
    ck_assert_uint_eq(cb.n, answered);              /* no reply to any copy */
    ck_assert_uint_eq(gossip_counters(b)->pushpulls_received, 1);
    ck_assert_uint_eq(gossip_member_count(b, -1), 2);
    uint64_t inc_now = 0;
    ck_assert_int_eq(gossip_member_state(b, "a", &inc_now), MEMBER_ALIVE);
    ck_assert_uint_eq(inc_now, inc_a);

    /* A member that never heard from a takes the first copy (nothing older to compare with),
     * and only that one, whatever address the others come from; its answer goes to a's own
     * address, not to the spoofed source. */
    struct gossip_addr first = {.family = 4, .port = 9, .ip = {192, 0, 2, 1}};
    gossip_receive(c, ca.data[0], ca.len[0], &first, 1001);
    size_t c_answered = cc.n;
    ck_assert_uint_ge(c_answered, 1);
    for (size_t i = 0; i < c_answered; i++)
        ck_assert(gossip_addr_equal(&cc.to[i], &addr_a));
    for (int i = 0; i < 50; i++) {
        struct gossip_addr spoofed = {.family = 4, .port = (uint16_t)(2000 + i),
                                      .ip = {198, 51, 100, (uint8_t)(i + 1)}};
        gossip_receive(c, ca.data[0], ca.len[0], &spoofed, 1002 + (uint64_t)i);
    }
    ck_assert_uint_eq(cc.n, c_answered);
    ck_assert_uint_eq(gossip_counters(c)->dropped_replay, 50);

    /* A packet in a member's own name coming back to it (a reflection) is not acted on. */
    size_t a_sent = ca.n;
    gossip_receive(a, ca.data[0], ca.len[0], &addr_b, 1003);
    ck_assert_uint_eq(gossip_counters(a)->dropped_replay, 1);
    ck_assert_uint_eq(ca.n, a_sent);
    gossip_destroy(a);
    gossip_destroy(b);
    gossip_destroy(c);
}
END_TEST

START_TEST(unauthenticated_and_wrong_key_dropped)
{
    static struct captured c1, c2, c3;
    memset(&c1, 0, sizeof c1);
    memset(&c2, 0, sizeof c2);
    memset(&c3, 0, sizeof c3);
    struct packet_keys k = keys_from(0x11), other = keys_from(0x22);
    struct gossip *plain = make("plain", 1, NULL, &c1);
    struct gossip *wrong = make("wrong", 1, &other, &c2);
    struct gossip *b = make("b", 2, &k, &c3);
    struct gossip_addr addr_b = {.family = 4, .port = 7946, .ip = {10, 0, 0, 2}};
    gossip_join(plain, &addr_b, 1, 1000);
    gossip_join(wrong, &addr_b, 1, 1000);
    gossip_receive(b, c1.data[0], c1.len[0], &addr_a, 1001);
    gossip_receive(b, c2.data[0], c2.len[0], &addr_a, 1001);
    ck_assert_uint_eq(gossip_counters(b)->dropped_unauthenticated, 2);
    ck_assert_uint_eq(gossip_member_count(b, -1), 1);
    ck_assert_uint_eq(c3.n, 0);
    char stats[4096];
    gossip_stats_render(b, stats, sizeof stats);
    ck_assert_ptr_nonnull(strstr(stats, "STAT cluster_dropped_unauthenticated 2\r\n"));
    gossip_destroy(plain);
    gossip_destroy(wrong);
    gossip_destroy(b);
}
END_TEST

START_TEST(rotation_accepts_previous_key)
{
    static struct captured ca, cb;
    memset(&ca, 0, sizeof ca);
    memset(&cb, 0, sizeof cb);
    struct packet_keys old = keys_from(0x11), rotated = keys_from(0x33);
    rotated.previous = old.current;
    rotated.has_previous = true;
    struct gossip *a = make("a", 1, &old, &ca), *b = make("b", 2, &rotated, &cb);
    struct gossip_addr addr_b = {.family = 4, .port = 7946, .ip = {10, 0, 0, 2}};
    gossip_join(a, &addr_b, 1, 1000);
    gossip_receive(b, ca.data[0], ca.len[0], &addr_a, 1001);
    ck_assert_int_eq(gossip_member_state(b, "a", NULL), MEMBER_ALIVE);
    gossip_destroy(a);
    gossip_destroy(b);
}
END_TEST

START_TEST(keys_load_from_secret_file)
{
    char path[] = "/tmp/shoal-gossip-secret-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "00112233445566778899aabbccddeeff\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    struct packet_keys k;
    char err[128];
    ck_assert_int_eq(packet_keys_load(path, &k, NULL, err, sizeof err), 0);
    ck_assert(!k.has_previous);
    packet_keys_wipe(&k);
    unlink(path);
    ck_assert_int_eq(packet_keys_load(path, &k, NULL, err, sizeof err), -1);
    ck_assert_uint_gt(strlen(err), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gossip_auth");
    TCase *tc = tcase_create("auth");
    tcase_add_test(tc, authenticated_exchange);
    tcase_add_test(tc, replay_from_spoofed_addresses_changes_nothing);
    tcase_add_test(tc, unauthenticated_and_wrong_key_dropped);
    tcase_add_test(tc, rotation_accepts_previous_key);
    tcase_add_test(tc, keys_load_from_secret_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
