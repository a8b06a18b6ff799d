/* Unit tests for server/stats.c: summing per-thread counters, `stats reset` as a baseline,
 * memcached's order and the subcommands' replies. No store is registered here. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/clock.h"
#include "server/outbuf.h"
#include "server/settings.h"
#include "server/stats.h"

static struct thread_stats t0, t1;
static struct thread_stats *const threads[] = {&t0, &t1};

static char reply[65536];

static const char *run(const char *args)
{
    struct outbuf ob;
    outbuf_init(&ob);
    stats_command(NULL, args, strlen(args), &ob);
    struct iovec iov[16];
    int n = outbuf_iov(&ob, iov, 16);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        memcpy(reply + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    reply[len] = '\0';
    outbuf_free(&ob);
    return reply;
}

static void setup(void)
{
    settings_init(&settings);
    clock_set_for_test(100);
    memset(&t0, 0, sizeof(t0));
    memset(&t1, 0, sizeof(t1));
    stats_init(NULL, threads, 2, NULL);
}

START_TEST(sums_threads)
{
    STAT_ADD(&t0, cmd_get, 3);
    STAT_ADD(&t1, cmd_get, 4);
    STAT_INC(&t1, bytes_written);
    const char *r = run("");
    ck_assert_ptr_nonnull(strstr(r, "STAT cmd_get 7\r\n"));
    ck_assert_ptr_nonnull(strstr(r, "STAT bytes_written 1\r\n"));
    ck_assert_ptr_nonnull(strstr(r, "STAT threads 2\r\n"));
    ck_assert_ptr_nonnull(strstr(r, "STAT uptime 100\r\n"));
    ck_assert(strncmp(r, "STAT pid ", 9) == 0);
    ck_assert(strstr(r, "STAT cmd_get") < strstr(r, "STAT get_hits"));
    ck_assert(strstr(r, "STAT bytes_written") < strstr(r, "STAT limit_maxbytes"));
    ck_assert_ptr_null(strstr(r, "idle_kicks")); /* only with -o idle_timeout */
    ck_assert(strcmp(r + strlen(r) - 5, "END\r\n") == 0);
}
END_TEST

START_TEST(reset_is_a_baseline)
{
    STAT_ADD(&t0, get_hits, 5);
    atomic_store(&conn_stats.total_conns, 9);
    ck_assert_str_eq(run("reset"), "RESET\r\n");
    const char *r = run("");
    ck_assert_ptr_nonnull(strstr(r, "STAT get_hits 0\r\n"));
    ck_assert_ptr_nonnull(strstr(r, "STAT total_connections 0\r\n"));
    STAT_INC(&t1, get_hits);
    r = run("");
    ck_assert_ptr_nonnull(strstr(r, "STAT get_hits 1\r\n"));
    ck_assert_uint_eq(atomic_load(&t0.get_hits), 5); /* the owner's counter was not touched */
}
END_TEST

START_TEST(idle_kicks_with_idle_timeout)
{
    settings.idle_timeout = 5;
    STAT_INC(&t0, idle_kicks);
    const char *r = run("");
    char *kicks = strstr(r, "STAT idle_kicks 1\r\n");
    ck_assert_ptr_nonnull(kicks);
    ck_assert(kicks < strstr(r, "STAT bytes_read"));
    ck_assert(kicks > strstr(r, "STAT auth_errors"));
}
END_TEST

START_TEST(subcommands)
{
    ck_assert_str_eq(run("bogus"), "ERROR\r\n");
    ck_assert_str_eq(run("detail"), "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
    ck_assert_str_eq(run("detail on"), "OK\r\n");
    ck_assert(stats_detail_enabled());
    ck_assert_str_eq(run("detail dump"), "END\r\n");
    ck_assert_str_eq(run("detail off"), "OK\r\n");
    ck_assert(!stats_detail_enabled());
    ck_assert_str_eq(run("sizes"), "STAT sizes_status disabled\r\nEND\r\n");
    ck_assert_str_eq(run("slabs"), "STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n");
    ck_assert_str_eq(run("items"), "END\r\n");
    ck_assert_str_eq(run("conns"), "END\r\n");
    ck_assert_str_eq(run("cachedump 1"), "CLIENT_ERROR bad command line\r\n");
    ck_assert_str_eq(run("cachedump 1 0"), "END\r\n");
    const char *r = run(" settings");
    ck_assert(strncmp(r, "STAT maxbytes 67108864\r\n", 24) == 0);
    ck_assert(strcmp(r + strlen(r) - 5, "END\r\n") == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, sums_threads);
    tcase_add_test(tc, reset_is_a_baseline);
    tcase_add_test(tc, idle_kicks_with_idle_timeout);
    tcase_add_test(tc, subcommands);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
