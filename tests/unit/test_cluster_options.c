/* Unit tests for server/cluster_options.c: which options turn gossip on, the defaults derived from
 * -l/-p/-s, the timing knobs and their ranges, and the `stats settings` rows. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cluster/gossip/gossip_udp.h"
#include "server/cluster_options.h"
#include "server/options.h"
#include "server/settings.h"

#include "tests/unit/options_parse_util.h"

static struct parsed p;     /* large: keep it off the stack */

START_TEST(plain_start_is_not_a_cluster)
{
    parse(&p, "-p", "11311", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    ck_assert(!cluster_enabled(&p.s));
    ck_assert(!cluster_any_option(&p.s));
    char buf[128];
    cluster_show_node_name(&p.s, buf, sizeof buf);
    ck_assert_str_eq(buf, "NULL");
    cluster_show_gossip_port(&p.s, buf, sizeof buf);
    ck_assert_str_eq(buf, "0");

    parse(&p, "--cluster-secret-file", "/x", "--gossip-interval", "50", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    ck_assert(!cluster_enabled(&p.s));
    ck_assert(cluster_any_option(&p.s));    /* cluster_node_prepare refuses this */
}
END_TEST

START_TEST(each_identity_option_turns_gossip_on)
{
    const char *flags[][2] = {{"--node-name", "a"}, {"--gossip-port", "7000"},
                              {"--gossip-addr", "127.0.0.2"}, {"--join", "127.0.0.1:7000"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        parse(&p, flags[i][0], flags[i][1], NULL);
        ck_assert_int_eq(p.outcome, OPTIONS_RUN);
        ck_assert_msg(cluster_enabled(&p.s), "%s", flags[i][0]);
    }
}
END_TEST

START_TEST(defaults_follow_listen_and_port)
{
    char name[128], host[128], data[128];
    parse(&p, "--join", "10.0.0.9", NULL);
    cluster_node_name(&p.s, name, sizeof name);
    cluster_data_addr(&p.s, data, sizeof data);
    ck_assert_str_eq(name, "127.0.0.1:11211");
    ck_assert_str_eq(data, "127.0.0.1:11211");
    ck_assert_int_eq(cluster_gossip_port(&p.s), 11211);

    parse(&p, "-l", "10.1.2.3:5000,10.1.2.4", "--join", "10.0.0.9", NULL);
    cluster_node_name(&p.s, name, sizeof name);
    cluster_data_addr(&p.s, data, sizeof data);
    ck_assert_str_eq(name, "10.1.2.3:5000");
    ck_assert_str_eq(data, "10.1.2.3:5000");

    parse(&p, "-l", "0.0.0.0", "-p", "7000", "--gossip-port", "7001", NULL);
    cluster_gossip_host(&p.s, host, sizeof host);
    cluster_node_name(&p.s, name, sizeof name);
    cluster_data_addr(&p.s, data, sizeof data);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_str_eq(name, "127.0.0.1:7001");
    ck_assert_str_eq(data, "127.0.0.1:7000");

    parse(&p, "-l", "::1", "--node-name", "n", NULL);
    cluster_node_name(&p.s, name, sizeof name);
    cluster_data_addr(&p.s, data, sizeof data);
    ck_assert_str_eq(name, "n");
    ck_assert_str_eq(data, "[::1]:11211");

    parse(&p, "-l", "127.0.0.1", "--gossip-addr", "127.0.0.5", "--node-name", "n", NULL);
    cluster_gossip_host(&p.s, host, sizeof host);
    cluster_data_addr(&p.s, data, sizeof data);
    ck_assert_str_eq(host, "127.0.0.5");
    ck_assert_str_eq(data, "127.0.0.1:11211");

    parse(&p, "-s", "/tmp/shoal.sock", "--node-name", "n", NULL);
    ck_assert_int_eq(cluster_gossip_port(&p.s), 0);    /* prepare asks for --gossip-port */
    cluster_data_addr(&p.s, data, sizeof data);
    ck_assert_str_eq(data, "");
}
END_TEST

START_TEST(knobs_override_the_module_defaults)
{
    struct gossip_udp_config want, got;
    gossip_udp_config_defaults(&want);
    parse(&p, "--node-name", "n", NULL);
    gossip_udp_config_defaults(&got);
    cluster_apply_knobs(&p.s, &got);
    ck_assert_uint_eq(got.gossip.probe_interval_ms, want.gossip.probe_interval_ms);
    ck_assert_uint_eq(got.gossip.dead_retention_ms, want.gossip.dead_retention_ms);
    ck_assert_uint_eq(got.leave_linger_ms, want.leave_linger_ms);

    parse(&p, "--gossip-interval", "50", "--gossip-probe-timeout", "20",
          "--gossip-suspicion-mult", "2", "--gossip-leave-fanout", "9", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    cluster_apply_knobs(&p.s, &got);
    ck_assert_uint_eq(got.gossip.probe_interval_ms, 50);
    ck_assert_uint_eq(got.gossip.probe_timeout_ms, 20);
    ck_assert_uint_eq(got.gossip.suspicion_mult, 2);
    ck_assert_uint_eq(got.gossip.leave_fanout, 9);
    ck_assert_uint_eq(got.leave_linger_ms, 100);    /* follows the interval */
    ck_assert_uint_eq(got.gossip.indirect_checks, want.gossip.indirect_checks);

    parse(&p, "--gossip-interval", "100", NULL);    /* the timeout follows a short period */
    cluster_apply_knobs(&p.s, &got);
    ck_assert_uint_eq(got.gossip.probe_timeout_ms, 40);
    parse(&p, "--gossip-interval", "1000", NULL);   /* ...but not a long one */
    cluster_apply_knobs(&p.s, &got);
    ck_assert_uint_eq(got.gossip.probe_timeout_ms, want.gossip.probe_timeout_ms);
}
END_TEST

static const char *const bad[][2] = {
    {"--gossip-interval", "0"},       {"--gossip-interval", "5x"},
    {"--gossip-port", "0"},           {"--gossip-port", "65536"},
    {"--node-name", "two words"},     {"--node-name", ""},
    {"--gossip-addr", "0.0.0.0"},     {"--gossip-addr", "a,b"},
    {"--join", ""},                   {"--join", "a,,b"},
    {"--gossip-indirect-checks", "17"},
};

START_TEST(bad_values_are_refused)
{
    parse(&p, bad[_i][0], bad[_i][1], NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_EXIT);
    ck_assert_int_eq(p.exit_code, EX_USAGE);
    ck_assert_msg(strstr(p.msg, bad[_i][0]) != NULL, "%s %s: %s", bad[_i][0], bad[_i][1], p.msg);
}
END_TEST

START_TEST(long_only_flags_in_help)
{
    parse(&p, "-h", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_EXIT);
    ck_assert_ptr_nonnull(strstr(p.out, "\n    --join=<host:port,...>"));
    ck_assert_ptr_nonnull(strstr(p.out, "--gossip-interval=<ms>"));
    ck_assert_ptr_nonnull(strstr(p.out, "(default: 200)"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster_options");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, plain_start_is_not_a_cluster);
    tcase_add_test(tc, each_identity_option_turns_gossip_on);
    tcase_add_test(tc, defaults_follow_listen_and_port);
    tcase_add_test(tc, knobs_override_the_module_defaults);
    tcase_add_loop_test(tc, bad_values_are_refused, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, long_only_flags_in_help);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
