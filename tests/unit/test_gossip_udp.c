/* The real UDP driver on 127.0.0.1: three nodes join through a seed, see each other in the
 * published snapshot and through a subscriber, detect a crash, see a graceful leave, and render
 * `stats cluster`. Waits poll the snapshot (bounded), never sleep blindly. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster/gossip/gossip_udp.h"

static struct gossip_udp *start_node(const char *name, const struct gossip_addr *seed)
{
    struct gossip_udp_config c;
    gossip_udp_config_defaults(&c);
    c.gossip.name = name;
    c.gossip.data_addr = "127.0.0.1:11211";
    gossip_addr_parse("127.0.0.1:0", &c.bind);
    c.seeds = seed;
    c.nseeds = seed ? 1 : 0;
    c.leave_linger_ms = 300;
    char err[256];
    struct gossip_udp *d = gossip_udp_start(&c, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

/* The state of `name` in d's snapshot, or -1. Reads the view as a worker would. */
static int seen_state(struct gossip_udp *d, const char *name, size_t *alive)
{
    struct gossip_view *v = gossip_udp_view(d);
    int slot = gossip_view_register(v);
    ck_assert_int_ge(slot, 0);
    const struct gossip_snapshot *s = gossip_view_enter(v, slot);
    int state = -1;
    if (s) {
        for (size_t i = 0; i < s->count; i++)
            if (strcmp(s->members[i].name, name) == 0)
                state = s->members[i].state;
        if (alive)
            *alive = s->alive;
    }
    gossip_view_exit(v, slot);
    gossip_view_unregister(v, slot);
    return state;
}

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls (10 ms steps, at most limit_ms) until d sees name in state. */
static bool wait_state(struct gossip_udp *d, const char *name, int state, long limit_ms)
{
    for (long t = 0; t < limit_ms; t += 10) {
        if (seen_state(d, name, NULL) == state)
            return true;
        pause_ms(10);
    }
    return false;
}

static atomic_int events_seen;

static void on_change(void *ctx, const struct gossip_event *ev)
{
    (void)ctx, (void)ev;
    atomic_fetch_add(&events_seen, 1);
}

START_TEST(three_nodes_over_udp)
{
    struct gossip_udp *a = start_node("a", NULL);
    struct gossip_addr seed = gossip_udp_addr(a);
    ck_assert_uint_ne(seed.port, 0);
    ck_assert_int_eq(gossip_udp_subscribe(a, on_change, NULL), 0);
    ck_assert_int_ge(atomic_load(&events_seen), 1);         /* told about itself */
    struct gossip_udp *b = start_node("b", &seed);
    struct gossip_udp *c = start_node("c", &seed);

    ck_assert(wait_state(a, "b", MEMBER_ALIVE, 10000));
    ck_assert(wait_state(a, "c", MEMBER_ALIVE, 10000));
    ck_assert(wait_state(b, "c", MEMBER_ALIVE, 10000));
    ck_assert(wait_state(c, "b", MEMBER_ALIVE, 10000));
    ck_assert_int_ge(atomic_load(&events_seen), 3);

    char stats[8192];
    size_t n = gossip_udp_stats(a, stats, sizeof stats);
    ck_assert_uint_lt(n, sizeof stats);
    ck_assert_ptr_nonnull(strstr(stats, "STAT cluster_alive 3\r\n"));
    ck_assert_ptr_nonnull(strstr(stats, "STAT cluster_self a\r\n"));
    ck_assert_ptr_nonnull(strstr(stats, "STAT cluster_member b 127.0.0.1:11211 alive "));

    /* c crashes (no leave): a and b mark it dead. */
    gossip_udp_stop(c);
    ck_assert(wait_state(a, "c", MEMBER_DEAD, 15000));
    ck_assert(wait_state(b, "c", MEMBER_DEAD, 15000));

    /* b leaves gracefully: a sees it as left. */
    gossip_udp_leave(b);
    ck_assert(wait_state(a, "b", MEMBER_LEFT, 5000));
    gossip_udp_stop(b);
    size_t alive = 0;
    seen_state(a, "a", &alive);
    ck_assert_uint_eq(alive, 1);
    gossip_udp_stop(a);
}
END_TEST

static struct gossip_udp *hinting_node;
static atomic_int hints_given;

/* Runs with the driver's lock held (gossip_udp_subscribe calls it for each known member). */
static void hint_under_lock(void *ctx, const struct gossip_event *ev)
{
    (void)ctx;
    if (strcmp(ev->member->name, "b") == 0 && atomic_fetch_add(&hints_given, 1) == 0)
        gossip_udp_hint_unreachable(hinting_node, "b");
}

START_TEST(unreachable_hint_takes_no_lock)
{
    /* A worker's hint must never wait for the gossip lock: given here while this very thread
     * holds it (a hint that locked would deadlock), and still reaching the gossip. */
    struct gossip_udp *a = start_node("a", NULL);
    struct gossip_addr seed = gossip_udp_addr(a);
    struct gossip_udp *b = start_node("b", &seed);
    ck_assert(wait_state(a, "b", MEMBER_ALIVE, 10000));
    hinting_node = a;
    ck_assert_int_eq(gossip_udp_subscribe(a, hint_under_lock, NULL), 0);
    ck_assert_int_ge(atomic_load(&hints_given), 1);
    bool counted = false;
    char stats[8192];
    for (long t = 0; t < 10000 && !counted; t += 10) {
        gossip_udp_stats(a, stats, sizeof stats);
        counted = strstr(stats, "STAT cluster_unreachable_hints 1\r\n") != NULL &&
                  strstr(stats, "STAT cluster_hinted_probes 1\r\n") != NULL;
        if (!counted)
            pause_ms(10);
    }
    ck_assert_msg(counted, "the hint never reached the gossip");
    gossip_udp_stop(b);
    gossip_udp_stop(a);
}
END_TEST

START_TEST(bad_configuration_refused)
{
    struct gossip_udp_config c;
    gossip_udp_config_defaults(&c);
    c.gossip.name = "x";
    char err[256];
    ck_assert_ptr_null(gossip_udp_start(&c, err, sizeof err));          /* no bind address */
    gossip_addr_parse("0.0.0.0:0", &c.bind);
    ck_assert_ptr_null(gossip_udp_start(&c, err, sizeof err));          /* wildcard, no advertise */
    ck_assert_ptr_nonnull(strstr(err, "advertise"));
    gossip_addr_parse("127.0.0.1:0", &c.bind);
    c.gossip.name = "bad name";
    ck_assert_ptr_null(gossip_udp_start(&c, err, sizeof err));
}
END_TEST

START_TEST(seed_lists)
{
    struct gossip_addr a[4];
    size_t n;
    ck_assert_int_eq(gossip_seeds_parse("10.0.0.1:7946,[::1]:8000", a, 4, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(a[0].port, 7946);
    ck_assert_uint_eq(a[1].family, 6);
    ck_assert_int_eq(gossip_seeds_parse("10.0.0.1:1", a, 4, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(gossip_seeds_parse("", a, 4, &n), -1);
    ck_assert_int_eq(gossip_seeds_parse("10.0.0.1:1,", a, 4, &n), -1);
    ck_assert_int_eq(gossip_seeds_parse(",10.0.0.1:1", a, 4, &n), -1);
    ck_assert_int_eq(gossip_seeds_parse("host:1", a, 4, &n), -1);
    ck_assert_int_eq(gossip_seeds_parse("1.1.1.1:1,1.1.1.2:1,1.1.1.3:1", a, 2, &n), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gossip_udp");
    TCase *tc = tcase_create("udp");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, three_nodes_over_udp);
    tcase_add_test(tc, bad_configuration_refused);
    tcase_add_test(tc, seed_lists);
    suite_add_tcase(s, tc);
    TCase *hint = tcase_create("hint");
    tcase_set_timeout(hint, 20);        /* a hint that takes the lock deadlocks until this */
    tcase_add_test(hint, unreachable_hint_takes_no_lock);
    suite_add_tcase(s, hint);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
