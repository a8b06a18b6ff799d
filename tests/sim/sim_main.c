/* gossip-sim: scenarios over the simulated cluster, as assertions (`test`) or measurements.
 *
 *   gossip-sim test                      short scenarios with assertions; last line "N passed, N failed"
 *   gossip-sim crash N [seed] [settle_ms] time until every member marks a crashed node dead
 *   gossip-sim join N [seed]             time until every member knows a new node
 *   gossip-sim soak N SECONDS LOSS SLOW [seed]   false deaths under loss / with one slow member
 *   gossip-sim sweep [MAX_N] [SOAK_SECONDS]      the table for BENCHMARKS-gossip.md
 * Every time is virtual (ms); results depend only on the arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* ---- watching one member's state as every node sees it ---- */

struct watch {
    size_t subject;
    uint8_t want;                   /* enum member_state */
    uint64_t start;
    uint64_t *seen_at;              /* per observer; 0 = not yet */
};

static struct watch *current_watch;

static void watch_on_change(void *ctx, struct sim_node *observer, const struct gossip_event *ev)
{
    (void)ctx;
    struct watch *w = current_watch;
    if (!w || w->seen_at[observer->idx])
        return;
    if (sim_index_of(observer->sim, ev->member->name) == w->subject && ev->new_state == w->want)
        w->seen_at[observer->idx] = observer->sim->now;
}

static void watch_begin(struct sim *s, struct watch *w, size_t subject, uint8_t want)
{
    w->subject = subject;
    w->want = want;
    w->start = s->now;
    w->seen_at = calloc(s->cap, sizeof *w->seen_at);
    current_watch = w;
    s->observer.on_change = watch_on_change;
}

static void watch_end(struct sim *s, struct watch *w)
{
    free(w->seen_at);
    w->seen_at = NULL;
    current_watch = NULL;
    s->observer.on_change = NULL;
}

static bool watch_done(struct sim *s, void *ctx)
{
    struct watch *w = ctx;
    for (size_t i = 0; i < s->n; i++)
        if (s->nodes[i].g && i != w->subject && !w->seen_at[i])
            return false;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median and max of the observers' delays, in ms. */
static void watch_stats(struct sim *s, struct watch *w, uint64_t *median, uint64_t *max)
{
    uint64_t *d = calloc(s->n, sizeof *d);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->nodes[i].g && i != w->subject && w->seen_at[i])
            d[k++] = w->seen_at[i] - w->start;
    qsort(d, k, sizeof *d, cmp_u64);
    *median = k ? d[k / 2] : 0;
    *max = k ? d[k - 1] : 0;
    free(d);
}

/* ---- building blocks ---- */

static const size_t seeds3[] = {0, 1, 2};

/* Starts n nodes that join through nodes 0..2, a few ms apart, and waits for convergence. */
static bool bootstrap(struct sim *s, size_t n, uint64_t limit_ms)
{
    for (size_t i = 0; i < n; i++) {
        size_t idx = sim_add_node(s);
        sim_start(s, idx, seeds3, n < 3 ? n : 3);
        sim_run_until(s, s->now + 2);
    }
    return sim_run_until_cond(s, s->now + limit_ms, 100, sim_converged, NULL);
}

static uint64_t total_bytes(const struct sim *s)
{
    uint64_t b = 0;
    for (size_t i = 0; i < s->n; i++)
        b += s->nodes[i].bytes_sent;
    return b;
}

struct crash_result {
    bool converged, detected;
    uint64_t median, max, false_deaths;
    double bytes_per_node_s;
};

/* settle_ms: time after convergence for the start-up gossip to drain (every node joined at once,
 * so every node has N updates to retransmit) before the bytes are measured. */
static struct crash_result run_crash(size_t n, uint64_t seed, double loss, uint64_t settle_ms)
{
    struct crash_result r = {0};
    struct sim s;
    sim_init(&s, seed, n + 1);
    s.loss = loss;
    r.converged = bootstrap(&s, n, 300000);
    sim_run_until(&s, s.now + settle_ms);
    /* Steady state: measure the bytes. */
    uint64_t b0 = total_bytes(&s), t0 = s.now;
    sim_run_until(&s, s.now + 30000);
    r.bytes_per_node_s = (double)(total_bytes(&s) - b0) / (double)n /
                         ((double)(s.now - t0) / 1000.0);
    size_t victim = 3 + sim_rand(&s) % (n > 3 ? n - 3 : 1);
    if (victim >= n)
        victim = n - 1;
    struct watch w;
    watch_begin(&s, &w, victim, MEMBER_DEAD);
    sim_crash(&s, victim);
    r.detected = sim_run_until_cond(&s, s.now + 120000, 10, watch_done, &w);
    watch_stats(&s, &w, &r.median, &r.max);
    watch_end(&s, &w);
    r.false_deaths = s.false_deaths;
    sim_free(&s);
    return r;
}

struct join_result {
    bool converged, joined;
    uint64_t median, max;
};

static struct join_result run_join(size_t n, uint64_t seed)
{
    struct join_result r = {0};
    struct sim s;
    sim_init(&s, seed, n + 1);
    r.converged = bootstrap(&s, n, 300000);
    sim_run_until(&s, s.now + 5000);
    size_t j = sim_add_node(&s);
    struct watch w;
    watch_begin(&s, &w, j, MEMBER_ALIVE);
    size_t seed_node = sim_rand(&s) % n;
    sim_start(&s, j, &seed_node, 1);
    r.joined = sim_run_until_cond(&s, s.now + 60000, 10, watch_done, &w);
    watch_stats(&s, &w, &r.median, &r.max);
    watch_end(&s, &w);
    sim_free(&s);
    return r;
}

struct soak_result {
    bool converged;
    uint64_t false_deaths, suspicions, suspicions_of_slow;
    double bytes_per_node_s;
};

static struct soak_result run_soak(size_t n, uint64_t seconds, double loss, bool slow,
                                   uint64_t seed)
{
    struct soak_result r = {0};
    struct sim s;
    sim_init(&s, seed, n);
    r.converged = bootstrap(&s, n, 300000);
    s.loss = loss;
    if (slow)
        s.nodes[n / 2].slow_ms = s.base.probe_interval_ms;
    s.false_deaths = s.suspicions = 0;
    uint64_t b0 = total_bytes(&s), t0 = s.now;
    sim_run_until(&s, s.now + seconds * 1000);
    r.false_deaths = s.false_deaths;
    r.suspicions = s.suspicions;
    r.suspicions_of_slow = s.suspicions_of_slow;
    r.bytes_per_node_s = (double)(total_bytes(&s) - b0) / (double)n /
                         ((double)(s.now - t0) / 1000.0);
    sim_free(&s);
    return r;
}

/* ---- test mode ---- */

static int passed, failed;

static void check(bool ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    fflush(stdout);
    if (ok)
        passed++;
    else
        failed++;
}

static void test_converge_and_crash(void)
{
    struct crash_result r = run_crash(5, 1, 0.0, 0);
    check(r.converged, "5 nodes converge through seeds");
    check(r.detected, "5 nodes: crashed node marked dead by all");
    check(r.false_deaths == 0, "5 nodes: no false deaths");
    printf("   crash n=5: median %llu ms, max %llu ms, %.0f B/s per node\n",
           (unsigned long long)r.median, (unsigned long long)r.max, r.bytes_per_node_s);
}

static void test_leave_and_restart(void)
{
    struct sim s;
    sim_init(&s, 2, 8);
    check(bootstrap(&s, 6, 60000), "6 nodes converge");
    struct watch w;
    watch_begin(&s, &w, 4, MEMBER_LEFT);
    sim_leave(&s, 4);
    bool left = sim_run_until_cond(&s, s.now + 30000, 10, watch_done, &w);
    watch_end(&s, &w);
    check(left, "graceful leave seen as left by all");
    sim_run_until(&s, s.now + 1000);
    sim_crash(&s, 4);
    sim_run_until(&s, s.now + 5000);
    check(gossip_member_state(s.nodes[0].g, "n4", NULL) == MEMBER_LEFT,
          "left member stays left (no resurrection by stale gossip)");

    /* Crash n5, wait until dead everywhere, restart it with a fresh identity. */
    watch_begin(&s, &w, 5, MEMBER_DEAD);
    sim_crash(&s, 5);
    check(sim_run_until_cond(&s, s.now + 30000, 10, watch_done, &w), "crashed n5 marked dead");
    watch_end(&s, &w);
    sim_start(&s, 5, seeds3, 3);
    check(sim_run_until_cond(&s, s.now + 30000, 50, sim_converged, NULL),
          "restarted n5 accepted alive by all");
    sim_start(&s, 4, seeds3, 3);
    check(sim_run_until_cond(&s, s.now + 30000, 50, sim_converged, NULL),
          "n4 rejoins after leaving");
    /* A crash and restart faster than anyone notices: the new life simply supersedes the old. */
    sim_crash(&s, 3);
    sim_run_until(&s, s.now + 50);
    sim_start(&s, 3, seeds3, 3);
    check(sim_run_until_cond(&s, s.now + 30000, 50, sim_converged, NULL),
          "quick restart of n3 converges");
    check(s.false_deaths == 0, "no false deaths across leave/restart");
    sim_free(&s);
}

static void test_loss(void)
{
    struct soak_result r = run_soak(20, 120, 0.05, false, 3);
    check(r.converged, "20 nodes converge");
    check(r.false_deaths == 0, "20 nodes, 5% loss, 120 s: zero false deaths");
    printf("   loss n=20: %llu suspicions refuted, %.0f B/s per node\n",
           (unsigned long long)r.suspicions, r.bytes_per_node_s);
}

static void test_slow(void)
{
    struct soak_result r = run_soak(20, 120, 0.0, true, 4);
    check(r.false_deaths == 0, "20 nodes, one delayed by a full period, 120 s: zero false deaths");
    printf("   slow n=20: %llu suspicions refuted\n", (unsigned long long)r.suspicions);
}

static void test_partition(void)
{
    struct sim s;
    sim_init(&s, 5, 10);
    check(bootstrap(&s, 10, 60000), "10 nodes converge");
    for (size_t i = 0; i < 10; i++)
        s.nodes[i].group = i < 5 ? 0 : 1;
    s.partitioned = true;
    sim_run_until(&s, s.now + 30000);
    check(gossip_member_state(s.nodes[0].g, "n9", NULL) == MEMBER_DEAD &&
          gossip_member_state(s.nodes[9].g, "n0", NULL) == MEMBER_DEAD,
          "partition: each side marks the other dead");
    check(gossip_member_count(s.nodes[0].g, MEMBER_ALIVE) == 5, "partition: side A sees 5 alive");
    s.partitioned = false;
    check(sim_run_until_cond(&s, s.now + 180000, 100, sim_converged, NULL),
          "partition heals: all 10 alive everywhere");
    sim_free(&s);
}

static void test_reorder_and_join(void)
{
    struct sim s;
    sim_init(&s, 6, 31);
    s.delay_min_ms = 1;
    s.delay_max_ms = 60;    /* wide spread: packets overtake each other */
    check(bootstrap(&s, 30, 60000), "30 nodes converge with 1-60 ms delays (reordering)");
    size_t j = sim_add_node(&s);
    struct watch w;
    watch_begin(&s, &w, j, MEMBER_ALIVE);
    size_t seed_node = 7;
    sim_start(&s, j, &seed_node, 1);
    check(sim_run_until_cond(&s, s.now + 30000, 10, watch_done, &w), "join known to all 30");
    watch_end(&s, &w);
    check(s.false_deaths == 0, "reordering: no false deaths");
    sim_free(&s);
}

static void test_deterministic(void)
{
    struct crash_result a = run_crash(12, 42, 0.02, 0), b = run_crash(12, 42, 0.02, 0);
    check(a.median == b.median && a.max == b.max && a.bytes_per_node_s == b.bytes_per_node_s,
          "same seed, same run");
}

static void test_join_unreachable_seed(void)
{
    /* The first seed is down: the node keeps retrying and gets in through the second. */
    struct sim s;
    sim_init(&s, 7, 4);
    for (int i = 0; i < 3; i++)
        sim_add_node(&s);
    size_t none = 0;
    sim_start(&s, 1, &none, 0);
    size_t seeds[] = {0, 1};
    sim_start(&s, 2, seeds, 2);
    check(sim_run_until_cond(&s, s.now + 10000, 50, sim_converged, NULL),
          "join succeeds through the second seed when the first is down");
    sim_free(&s);
}

static void test_authenticated(void)
{
    struct packet_keys keys;
    memset(&keys, 0, sizeof keys);
    memset(keys.current.mac_key, 0x5a, sizeof keys.current.mac_key);
    memcpy(keys.current.id, "k001", 4);
    struct sim s;
    sim_init(&s, 8, 9);
    s.keys = &keys;
    s.loss = 0.01;
    s.delay_max_ms = 20;
    check(bootstrap(&s, 8, 60000), "authenticated: 8 nodes converge");
    struct watch w;
    watch_begin(&s, &w, 6, MEMBER_DEAD);
    sim_crash(&s, 6);
    check(sim_run_until_cond(&s, s.now + 30000, 10, watch_done, &w),
          "authenticated: crash detected by all");
    watch_end(&s, &w);
    sim_start(&s, 6, seeds3, 3);
    check(sim_run_until_cond(&s, s.now + 30000, 50, sim_converged, NULL),
          "authenticated: restarted node (new counter range) accepted");
    uint64_t unauth = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.nodes[i].g)
            unauth += gossip_counters(s.nodes[i].g)->dropped_unauthenticated +
                      gossip_counters(s.nodes[i].g)->dropped_replay;
    check(unauth == 0, "authenticated: no valid packet refused (tag or replay window)");
    check(s.false_deaths == 0, "authenticated: no false deaths");
    sim_free(&s);
}

static void test_tombstone_expiry(void)
{
    struct sim s;
    sim_init(&s, 9, 8);
    s.loss = 0.02;
    check(bootstrap(&s, 8, 60000), "8 nodes converge");
    sim_crash(&s, 5);
    sim_run_until(&s, s.now + 11 * 60 * 1000);
    bool forgotten = true;
    for (size_t i = 0; i < s.n; i++)
        if (s.nodes[i].g && gossip_member_state(s.nodes[i].g, "n5", NULL) != -1)
            forgotten = false;
    check(forgotten, "dead member forgotten everywhere after the retention time");
    check(sim_converged(&s, NULL) && s.false_deaths == 0,
          "survivors stay converged through tombstone expiry");
    sim_start(&s, 5, seeds3, 3);
    check(sim_run_until_cond(&s, s.now + 30000, 50, sim_converged, NULL),
          "the forgotten member rejoins");
    sim_free(&s);
}

static int run_tests(void)
{
    test_tombstone_expiry();
    test_authenticated();
    test_converge_and_crash();
    test_leave_and_restart();
    test_loss();
    test_slow();
    test_partition();
    test_reorder_and_join();
    test_join_unreachable_seed();
    test_deterministic();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* ---- measurements ---- */

static void sweep(size_t max_n, uint64_t soak_seconds)
{
    static const size_t sizes[] = {5, 10, 50, 100, 200, 500, 1000};
    printf("| N | crash: dead everywhere, median / max (ms) | join known to all, median / max (ms) "
           "| false deaths | bytes/s per node |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && sizes[i] <= max_n; i++) {
        size_t n = sizes[i];
        struct crash_result c = run_crash(n, 100 + n, 0.0, n >= 200 ? 150000 : 30000);
        struct join_result j = run_join(n, 200 + n);
        printf("| %zu | %llu / %llu%s | %llu / %llu%s | %llu | %.0f |\n", n,
               (unsigned long long)c.median, (unsigned long long)c.max,
               c.detected ? "" : " (not all)", (unsigned long long)j.median,
               (unsigned long long)j.max, j.joined ? "" : " (not all)",
               (unsigned long long)c.false_deaths, c.bytes_per_node_s);
        fflush(stdout);
    }
    if (soak_seconds == 0)
        return;
    printf("\n| soak (N=100, %llu s virtual) | false deaths | suspicions (refuted) | bytes/s per node |\n"
           "|---|---|---|---|\n", (unsigned long long)soak_seconds);
    struct soak_result l = run_soak(100, soak_seconds, 0.05, false, 300);
    printf("| 5%% packet loss | %llu | %llu | %.0f |\n", (unsigned long long)l.false_deaths,
           (unsigned long long)l.suspicions, l.bytes_per_node_s);
    fflush(stdout);
    struct soak_result sl = run_soak(100, soak_seconds, 0.0, true, 301);
    printf("| one member delayed by a full period | %llu | %llu | %.0f |\n",
           (unsigned long long)sl.false_deaths, (unsigned long long)sl.suspicions,
           sl.bytes_per_node_s);
}

static uint64_t arg_u64(int argc, char **argv, int i, uint64_t dflt)
{
    return i < argc ? strtoull(argv[i], NULL, 10) : dflt;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "test";
    if (strcmp(cmd, "test") == 0)
        return run_tests();
    if (strcmp(cmd, "crash") == 0) {
        size_t n = (size_t)arg_u64(argc, argv, 2, 10);
        struct crash_result r = run_crash(n, arg_u64(argc, argv, 3, 1), 0.0,
                                          arg_u64(argc, argv, 4, 0));
        printf("crash n=%zu converged=%d detected=%d median=%llu max=%llu false_deaths=%llu "
               "bytes_per_node_s=%.0f\n", n, r.converged, r.detected,
               (unsigned long long)r.median, (unsigned long long)r.max,
               (unsigned long long)r.false_deaths, r.bytes_per_node_s);
        return 0;
    }
    if (strcmp(cmd, "join") == 0) {
        size_t n = (size_t)arg_u64(argc, argv, 2, 10);
        struct join_result r = run_join(n, arg_u64(argc, argv, 3, 1));
        printf("join n=%zu converged=%d joined=%d median=%llu max=%llu\n", n, r.converged,
               r.joined, (unsigned long long)r.median, (unsigned long long)r.max);
        return 0;
    }
    if (strcmp(cmd, "soak") == 0 && argc >= 6) {
        size_t n = (size_t)arg_u64(argc, argv, 2, 100);
        struct soak_result r = run_soak(n, arg_u64(argc, argv, 3, 60), atof(argv[4]),
                                        atoi(argv[5]) != 0, arg_u64(argc, argv, 6, 1));
        printf("soak n=%zu converged=%d false_deaths=%llu suspicions=%llu (of the slow member "
               "%llu) bytes_per_node_s=%.0f\n", n, r.converged, (unsigned long long)r.false_deaths,
               (unsigned long long)r.suspicions, (unsigned long long)r.suspicions_of_slow,
               r.bytes_per_node_s);
        return 0;
    }
    if (strcmp(cmd, "sweep") == 0) {
        sweep((size_t)arg_u64(argc, argv, 2, 1000), arg_u64(argc, argv, 3, 3600));
        return 0;
    }
    fprintf(stderr, "usage: gossip-sim test | crash N [seed] | join N [seed] | "
                    "soak N SECONDS LOSS SLOW [seed] | sweep [MAX_N] [SOAK_SECONDS]\n");
    return 2;
}
