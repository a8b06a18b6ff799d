/* Issue 4: a ring change moves only the keys of the node that joined or left, about 1/N of
 * them. For N = 3..10 servers and a 100,000-key sample: adding one server moves keys only to it,
 * removing one moves keys only from it, and the moved fraction is within 0.5/N .. 2/N (N = the
 * larger ring). Checked for named servers (what a cluster of named nodes gives) and for
 * host:port labels (a --servers list without names), as twemproxy computes the ring. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/route/ketama.h"

#define SAMPLE 100000
#define MAX_SERVERS 11

struct fleet {
    char names[MAX_SERVERS][32];
    char hosts[MAX_SERVERS][32];
    struct ketama_server servers[MAX_SERVERS];
    size_t n;
};

/* Servers 0..n-1 except `skip` (-1: none), each labelled by its own number whatever its index. */
static void fleet_make(struct fleet *f, size_t n, int skip, bool named)
{
    f->n = 0;
    for (size_t i = 0; i < n; i++) {
        if ((int)i == skip)
            continue;
        snprintf(f->names[f->n], sizeof f->names[f->n], "node-%zu", i);
        snprintf(f->hosts[f->n], sizeof f->hosts[f->n], "10.0.0.%zu", i + 1);
        f->servers[f->n] = (struct ketama_server){
            .name = named ? f->names[f->n] : NULL,
            .host = f->hosts[f->n],
            .port = (uint16_t)(11211 + i),
            .weight = 1,
        };
        f->n++;
    }
}

static struct ketama_ring *ring_of(const struct fleet *f)
{
    struct ketama_ring *r = NULL;
    ck_assert_int_eq(ketama_ring_build(f->servers, f->n, KETAMA_COMPAT_TWEMPROXY, NULL, &r), 0);
    return r;
}

/* The host of the owner of key i: the stable identity of a server across both rings. */
static const char *owner(const struct ketama_ring *r, const struct fleet *f, unsigned i)
{
    char key[32];
    int len = snprintf(key, sizeof key, "key:%u", i);
    return f->servers[ketama_ring_server_for_key(r, key, (size_t)len)].host;
}

/* Compares `small` (without server `changed`) with `big` (all n): every key that moves moves
 * between `changed` and another server, and the moved fraction is within the band. */
static void check_movement(size_t n, int changed, bool named)
{
    struct fleet small, big;
    fleet_make(&small, n, changed, named);
    fleet_make(&big, n, -1, named);
    struct ketama_ring *rs = ring_of(&small), *rb = ring_of(&big);
    const char *changed_host = big.hosts[changed];
    unsigned moved = 0;
    for (unsigned i = 0; i < SAMPLE; i++) {
        const char *before = owner(rs, &small, i), *after = owner(rb, &big, i);
        if (strcmp(before, after) == 0)
            continue;
        moved++;
        /* Joining: only to the newcomer. Leaving (big -> small): only its own keys move. */
        ck_assert_msg(strcmp(after, changed_host) == 0,
                      "n=%zu: key:%u moved from %s to %s, not to the changed server %s", n, i,
                      before, after, changed_host);
    }
    double fraction = (double)moved / SAMPLE, expect = 1.0 / (double)n;
    ck_assert_msg(fraction >= 0.5 * expect && fraction <= 2.0 * expect,
                  "n=%zu (%s): %.4f of the keys moved, expected about %.4f", n,
                  named ? "named" : "host:port", fraction, expect);
    ketama_ring_free(rs);
    ketama_ring_free(rb);
}

START_TEST(join_moves_only_to_the_newcomer)
{
    /* The newcomer is the last server: a ring of n - 1 grows to n. */
    for (size_t n = 4; n <= MAX_SERVERS; n++) {
        check_movement(n, (int)n - 1, true);
        check_movement(n, (int)n - 1, false);
    }
}
END_TEST

START_TEST(leave_moves_only_the_leavers_keys)
{
    /* A ring of n = 3..10 loses a server from the middle of its list. */
    for (size_t n = 3; n <= 10; n++) {
        check_movement(n, (int)(n / 2), true);
        check_movement(n, (int)(n / 2), false);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ketama_movement");
    TCase *tc = tcase_create("movement");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, join_moves_only_to_the_newcomer);
    tcase_add_test(tc, leave_moves_only_the_leavers_keys);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
