/* Unit tests for server/router's --servers list: twemproxy's "host:port[:weight][ name]"
 * entries, what is refused, and resolution to numeric addresses. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/route_worker.h"

START_TEST(parses_twemproxy_entries)
{
    struct route_worker_server_list l;
    char err[200] = "";
    ck_assert_int_eq(route_worker_servers_parse("10.0.0.1:11211:2 alpha,10.0.0.2:11212,"
                                          "[::1]:11213:7, host.example:1 b",
                                          &l, err, sizeof err),
                     0);
    ck_assert_uint_eq(l.count, 4);
    ck_assert_str_eq(l.items[0].host, "10.0.0.1");
    ck_assert_uint_eq(l.items[0].port, 11211);
    ck_assert_uint_eq(l.items[0].weight, 2);
    ck_assert_str_eq(l.items[0].name, "alpha");
    ck_assert_str_eq(l.items[1].host, "10.0.0.2");
    ck_assert_uint_eq(l.items[1].weight, 1);
    ck_assert_ptr_null(l.items[1].name);
    ck_assert_str_eq(l.items[2].host, "::1");
    ck_assert_uint_eq(l.items[2].port, 11213);
    ck_assert_uint_eq(l.items[2].weight, 7);
    ck_assert_str_eq(l.items[3].host, "host.example");
    ck_assert_str_eq(l.items[3].name, "b");
    route_worker_servers_free(&l);
}
END_TEST

START_TEST(refuses_malformed_entries)
{
    static const char *const bad[] = {
        "",          "host",          "host:",        ":11211",     "host:0",
        "host:65536", "host:11211:0", "host:11211:x", "host:1:1:1", "h:1,",
        "[::1:11211", "h:1 a b",      "h:1,h:1",      "a:1 n,b:2 n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct route_worker_server_list l;
        char err[200] = "";
        ck_assert_msg(route_worker_servers_parse(bad[i], &l, err, sizeof err) == -1, "%s accepted",
                      bad[i]);
        ck_assert_msg(err[0] != '\0', "%s: no reason", bad[i]);
        ck_assert_ptr_null(l.items);
    }
}
END_TEST

START_TEST(resolves_to_numeric_addresses)
{
    struct route_worker_server_list l;
    char err[200] = "";
    ck_assert_int_eq(route_worker_servers_parse("127.0.0.1:1,localhost:2,[::1]:3", &l, err, sizeof err),
                     0);
    ck_assert_int_eq(route_worker_servers_resolve(&l, err, sizeof err), 0);
    ck_assert_str_eq(l.items[0].addr, "127.0.0.1");
    ck_assert(strcmp(l.items[1].addr, "127.0.0.1") == 0 || strcmp(l.items[1].addr, "::1") == 0);
    ck_assert_str_eq(l.items[2].addr, "::1");
    /* the ring label stays as written */
    ck_assert_str_eq(l.items[1].host, "localhost");
    route_worker_servers_free(&l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, parses_twemproxy_entries);
    tcase_add_test(tc, refuses_malformed_entries);
    tcase_add_test(tc, resolves_to_numeric_addresses);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
