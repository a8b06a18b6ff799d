/* Unit tests for the gossip building blocks: the dissemination queue (fewest-sent first,
 * replacement, retransmit limit), the replay window, and snapshot publication (epoch-based
 * reclamation, with reader threads). */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "cluster/gossip/gossip_auth.h"
#include "cluster/gossip/gossip_queue.h"
#include "cluster/gossip/gossip_view.h"
#include "cluster/gossip/wire.h"

static size_t fill(struct gossip_queue *q, uint8_t *out, size_t room, unsigned limit)
{
    static uint8_t buf[WIRE_MAX_PACKET];
    struct wire_writer w = {buf, room, 0};
    size_t n = gossip_queue_fill(q, &w, limit);
    memcpy(out, buf, w.len);
    return n;
}

START_TEST(queue_fewest_sent_first_and_limit)
{
    struct gossip_queue q;
    gossip_queue_init(&q);
    uint8_t a[20], b[20], out[64];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    struct gossip_bcast *slot_a = NULL, *slot_b = NULL;
    ck_assert_int_eq(gossip_queue_push(&q, a, sizeof a, &slot_a), 0);
    /* Room for one item only: a goes first, then b (never sent) before a again. */
    ck_assert_uint_eq(fill(&q, out, 30, 3), 1);
    ck_assert_uint_eq(out[0], 'a');
    ck_assert_int_eq(gossip_queue_push(&q, b, sizeof b, &slot_b), 0);
    ck_assert_uint_eq(fill(&q, out, 30, 3), 1);
    ck_assert_uint_eq(out[0], 'b');
    ck_assert_uint_eq(fill(&q, out, 30, 3), 1);
    ck_assert_uint_eq(out[0], 'b');           /* among equals (sent once), the newest */
    ck_assert_uint_eq(fill(&q, out, 30, 3), 1);
    ck_assert_uint_eq(out[0], 'a');           /* now a has been sent least */
    ck_assert_uint_eq(fill(&q, out, 30, 3), 1);
    ck_assert_uint_eq(out[0], 'a');           /* a's third send: dropped after it */
    ck_assert_ptr_null(slot_a);
    ck_assert_uint_eq(q.count, 1);
    ck_assert_uint_eq(fill(&q, out, 30, 3), 1);
    ck_assert_uint_eq(out[0], 'b');
    ck_assert_ptr_null(slot_b);
    ck_assert_uint_eq(fill(&q, out, 30, 3), 0);
    gossip_queue_free(&q);
}
END_TEST

START_TEST(queue_replaces_per_member)
{
    struct gossip_queue q;
    gossip_queue_init(&q);
    uint8_t a[10], b[10], out[64];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    struct gossip_bcast *slot = NULL;
    gossip_queue_push(&q, a, sizeof a, &slot);
    gossip_queue_push(&q, b, sizeof b, &slot);
    ck_assert_uint_eq(q.count, 1);
    ck_assert_uint_eq(fill(&q, out, 64, 5), 1);
    ck_assert_uint_eq(out[0], 'b');
    /* Several items fill one packet. */
    struct gossip_bcast *s2 = NULL, *s3 = NULL;
    gossip_queue_push(&q, a, sizeof a, &s2);
    gossip_queue_push(&q, a, sizeof a, &s3);
    ck_assert_uint_eq(fill(&q, out, 64, 5), 3);
    gossip_queue_free(&q);
    ck_assert_ptr_null(slot);
    ck_assert_ptr_null(s2);
}
END_TEST

START_TEST(replay_window)
{
    struct replay_table t;
    replay_init(&t);
    const char *a = "a", *b = "b";
    ck_assert(replay_check(&t, a, 7, 1000));
    ck_assert(!replay_check(&t, a, 7, 1000));     /* replayed */
    ck_assert(replay_check(&t, a, 7, 1002));
    ck_assert(replay_check(&t, a, 7, 1001));      /* reordered, still fresh */
    ck_assert(!replay_check(&t, a, 7, 1001));
    ck_assert(replay_check(&t, b, 7, 5));         /* per sender */
    ck_assert(replay_check(&t, a, 7, 1100));
    ck_assert(!replay_check(&t, a, 7, 1100 - 64));    /* older than the window */
    ck_assert(replay_check(&t, a, 7, 1100 - 63));
    ck_assert(replay_check(&t, a, 7, 5000000));   /* a restarted sender starts higher */
    ck_assert(!replay_check(&t, a, 7, 1102));
    /* Another process with the same name (another life): a window of its own. */
    ck_assert(replay_check(&t, a, 8, 1102));
    ck_assert(!replay_check(&t, a, 7, 1102));
    replay_free(&t);
}
END_TEST

START_TEST(view_publish_and_reclaim)
{
    struct gossip_view *v = gossip_view_create();
    int slot = gossip_view_register(v);
    ck_assert_int_ge(slot, 0);
    ck_assert_ptr_null(gossip_view_enter(v, slot));
    gossip_view_exit(v, slot);

    struct gossip_snapshot *s1 = gossip_snapshot_alloc(1);
    strcpy(s1->members[0].name, "one");
    gossip_view_publish(v, s1);
    const struct gossip_snapshot *held = gossip_view_enter(v, slot);
    ck_assert_ptr_eq(held, s1);
    ck_assert_uint_eq(held->version, 1);
    /* A new publication while a reader holds s1: s1 must stay until the reader exits. */
    gossip_view_publish(v, gossip_snapshot_alloc(2));
    ck_assert_uint_eq(gossip_view_reclaim(v), 1);
    ck_assert_str_eq(held->members[0].name, "one");
    gossip_view_exit(v, slot);
    ck_assert_uint_eq(gossip_view_reclaim(v), 0);
    const struct gossip_snapshot *now = gossip_view_enter(v, slot);
    ck_assert_uint_eq(now->count, 2);
    ck_assert_uint_eq(now->version, 2);
    gossip_view_exit(v, slot);
    gossip_view_unregister(v, slot);
    gossip_view_destroy(v);
}
END_TEST

static struct gossip_view *shared_view;
static atomic_bool stop_readers;

static void *reader(void *arg)
{
    (void)arg;
    int slot = gossip_view_register(shared_view);
    ck_assert_int_ge(slot, 0);
    uint64_t last = 0;
    while (!atomic_load(&stop_readers)) {
        const struct gossip_snapshot *s = gossip_view_enter(shared_view, slot);
        if (s) {
            /* Every member of a snapshot carries its version: a freed or mixed one would not. */
            for (size_t i = 0; i < s->count; i++)
                ck_assert_uint_eq(s->members[i].incarnation, s->version);
            ck_assert_uint_ge(s->version, last);
            last = s->version;
        }
        gossip_view_exit(shared_view, slot);
    }
    gossip_view_unregister(shared_view, slot);
    return NULL;
}

START_TEST(view_concurrent_readers)
{
    shared_view = gossip_view_create();
    atomic_store(&stop_readers, false);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, reader, NULL);
    for (uint64_t version = 1; version <= 20000; version++) {
        struct gossip_snapshot *s = gossip_snapshot_alloc(4);
        for (size_t i = 0; i < 4; i++)
            s->members[i].incarnation = version;
        gossip_view_publish(shared_view, s);
    }
    atomic_store(&stop_readers, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(gossip_view_reclaim(shared_view), 0);
    gossip_view_destroy(shared_view);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gossip_parts");
    TCase *tc = tcase_create("parts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, queue_fewest_sent_first_and_limit);
    tcase_add_test(tc, queue_replaces_per_member);
    tcase_add_test(tc, replay_window);
    tcase_add_test(tc, view_publish_and_reclaim);
    tcase_add_test(tc, view_concurrent_readers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
