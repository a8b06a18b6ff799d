/* Unit tests for server/options.c: defaults, flag parsing, memcached's error messages and exit
 * codes, -o suboptions, `stats settings` and the man page covering the whole table. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/options.h"
#include "server/outbuf.h"

#include "tests/unit/options_parse_util.h"

START_TEST(defaults_are_memcached_defaults)
{
    struct parsed p;
    parse(&p, NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    ck_assert_int_eq(p.s.port, 11211);
    ck_assert_int_eq(p.s.udpport, 0);
    ck_assert_uint_eq(p.s.maxbytes, 64u << 20);
    ck_assert_int_eq(p.s.maxconns, 1024);
    ck_assert_int_eq(p.s.reqs_per_event, 20);
    ck_assert_int_eq(p.s.backlog, 1024);
    ck_assert_uint_eq(p.s.item_size_max, 1u << 20);
    ck_assert_int_eq(p.s.chunk_size, 48);
    ck_assert_int_eq(p.s.access, 0700);
    ck_assert(p.s.num_threads >= 1);
    ck_assert(p.s.use_cas && p.s.evict_to_free && p.s.flush_enabled && !p.s.shutdown_command);
    ck_assert_ptr_null(p.s.inter);
}
END_TEST

START_TEST(short_and_long_forms)
{
    struct parsed p;
    parse(&p, "-p", "1234", "--threads=3", "-c", "50", "-m", "128", "-I", "2m", "-M", "-C", "-F",
          "-A", "-vv", "--listen=127.0.0.1", "-l", "::1", "-R", "5", "-b", "10", "-f", "2.0",
          "-n", "96", "-B", "ascii", "-d", "-P", "/tmp/x.pid", "-u", "nobody", "-a", "770", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    ck_assert_int_eq(p.s.port, 1234);
    ck_assert_int_eq(p.s.num_threads, 3);
    ck_assert_int_eq(p.s.maxconns, 50);
    ck_assert_uint_eq(p.s.maxbytes, 128u << 20);
    ck_assert_uint_eq(p.s.item_size_max, 2u << 20);
    ck_assert(!p.s.evict_to_free && !p.s.use_cas && !p.s.flush_enabled && p.s.shutdown_command);
    ck_assert_int_eq(p.s.verbose, 2);
    ck_assert_str_eq(p.s.inter, "127.0.0.1,::1");
    ck_assert_int_eq(p.s.reqs_per_event, 5);
    ck_assert_int_eq(p.s.backlog, 10);
    ck_assert(p.s.factor > 1.99 && p.s.factor < 2.01);
    ck_assert_int_eq(p.s.chunk_size, 96);
    ck_assert_int_eq(p.s.binding_protocol, BINDING_ASCII);
    ck_assert(p.s.daemonize);
    ck_assert_str_eq(p.s.pid_file, "/tmp/x.pid");
    ck_assert_str_eq(p.s.username, "nobody");
    ck_assert_int_eq(p.s.access, 0770);
}
END_TEST

START_TEST(item_size_suffixes)
{
    struct parsed p;
    parse(&p, "-I", "512k", "-o", "slab_chunk_max=524288", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    ck_assert_uint_eq(p.s.item_size_max, 512u * 1024);
    parse(&p, "-I", "1048576", NULL);
    ck_assert_uint_eq(p.s.item_size_max, 1u << 20);
    parse(&p, "-m", "4096", "-I", "1024m", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    ck_assert_uint_eq(p.s.item_size_max, 1u << 30);
}
END_TEST

struct bad_case {
    const char *args[6];
    int code;
    const char *message;
};

static const struct bad_case bad_cases[] = {
    {{"-c", "0"}, 1, "Maximum connections must be greater than 0\n"},
    {{"-t", "-2"}, 1, "Number of threads must be greater than 0\n"},
    {{"-R", "x"}, 1, "Number of requests per event must be greater than 0\n"},
    {{"-f", "0.9"}, 1, "Factor must be greater than 1\n"},
    {{"-n", "0"}, 1, "Chunk size must be greater than 0\n"},
    {{"-B", "xml"}, 64, "Invalid value for binding protocol: xml\n -- should be one of auto, binary, or ascii\n"},
    {{"-I", "100"}, 64, "Item max size cannot be less than 1024 bytes.\n"},
    {{"-I", "2000m", "-m", "8000"}, 64, "Cannot set item size limit higher than a gigabyte.\n"},
    {{"-I", "64m"}, 64, "Cannot set item size limit higher than 1/2 of memory max.\n"},
    {{"-p", "65536"}, 64, "ERROR: Invalid port number 65536.\n"},
    {{"-o", "bogus"}, 1, "Illegal suboption \"bogus\"\n"},
    {{"-o", "idle_timeout=5,,"}, 1, "Illegal suboption \"\"\n"},
    {{"-o", "modern=3"}, 1, "Illegal suboption \"modern=3\"\n"},
    {{"-o", "hashpower"}, 1, "Missing numeric argument for hashpower\n"},
    {{"-o", "hashpower=11"}, 1, "Initial hashtable multiplier of 11 is too low\n"},
    {{"-o", "slab_chunk_max=x"}, 1, "could not parse argument to slab_chunk_max\n"},
    {{"-o", "hot_lru_pct=95"}, 1, "hot_lru_pct must be > 1 and < 80\n"},
    {{"-o", "tail_repair_time=2"}, 1, "Cannot set tail_repair_time to less than 10 seconds\n"},
};

START_TEST(bad_values_fail_like_memcached)
{
    const struct bad_case *bc = &bad_cases[_i];
    struct parsed p;
    parse(&p, bc->args[0], bc->args[1], bc->args[2], bc->args[3], NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_EXIT);
    ck_assert_int_eq(p.exit_code, bc->code);
    ck_assert_str_eq(p.msg, bc->message);
}
END_TEST

START_TEST(refused_features_say_why)
{
    struct parsed p;
    parse(&p, "-U", "11211", NULL);
    ck_assert_int_eq(p.exit_code, 64);
    ck_assert_ptr_nonnull(strstr(p.msg, "UDP"));
    parse(&p, "-B", "binary", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    ck_assert_int_eq(p.s.binding_protocol, BINDING_BINARY);
    /* cluster nodes forward to each other in ASCII: a binary-only node could not take them */
    parse(&p, "-B", "binary", "--join", "127.0.0.1:7000", NULL);
    ck_assert_int_eq(p.exit_code, 64);
    ck_assert_ptr_nonnull(strstr(p.msg, "cluster"));
    parse(&p, "-B", "binary", "--proxy", "--join", "127.0.0.1:7000", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    parse(&p, "-U", "0", "-B", "auto", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
}
END_TEST

START_TEST(unknown_flags_and_missing_arguments)
{
    struct parsed p;
    parse(&p, "-q", NULL);
    ck_assert_int_eq(p.exit_code, 1);
    ck_assert_str_eq(p.msg, "shoal: invalid option -- 'q'\nIllegal argument \"?\"\n");
    parse(&p, "-m", NULL);
    ck_assert_int_eq(p.exit_code, 1);
    ck_assert_str_eq(p.msg, "shoal: option requires an argument -- 'm'\nIllegal argument \"?\"\n");
    parse(&p, "--nope", NULL);
    ck_assert_int_eq(p.exit_code, 1);
    ck_assert_str_eq(p.msg, "shoal: unrecognized option '--nope'\nIllegal argument \"?\"\n");
}
END_TEST

START_TEST(suboptions_honoured_and_tuning_noted)
{
    struct parsed p;
    parse(&p, "-o", "idle_timeout=30,hashpower=20,read_buf_mem_limit=4,maxconns_fast", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    ck_assert_int_eq(p.s.idle_timeout, 30);
    ck_assert_int_eq(p.s.hashpower_init, 20);
    ck_assert_uint_eq(p.s.read_buf_mem_limit, 4u << 20);
    ck_assert_str_eq(p.msg, "");
    parse(&p, "-v", "-o", "slab_reassign,slab_automove=2,lru_crawler,no_lru_maintainer,modern", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_RUN);
    ck_assert_ptr_nonnull(strstr(p.msg, "slab_reassign"));
    ck_assert_ptr_nonnull(strstr(p.msg, "modern"));
    parse(&p, "-o", "slab_reassign", NULL); /* without -v: silent */
    ck_assert_str_eq(p.msg, "");
}
END_TEST

START_TEST(help_and_version_exit_zero)
{
    struct parsed p;
    parse(&p, "-h", NULL);
    ck_assert_int_eq(p.outcome, OPTIONS_EXIT);
    ck_assert_int_eq(p.exit_code, 0);
    for (unsigned i = 0; i < option_count; i++) {
        const struct option_def *o = &option_table[i];
        if (o->kind == OPTION_STAT_ONLY)
            continue;
        ck_assert_msg(strstr(p.out, o->long_name), "-h lacks %s", o->long_name);
    }
    parse(&p, "--version", NULL);
    ck_assert_int_eq(p.exit_code, 0);
    ck_assert_ptr_nonnull(strstr(p.out, "1.6.18-shoal-"));
}
END_TEST

START_TEST(table_is_consistent)
{
    for (unsigned i = 0; i < option_count; i++) {
        const struct option_def *o = &option_table[i];
        if (o->kind == OPTION_STAT_ONLY) {
            ck_assert_ptr_nonnull(o->stat_name);
        } else {
            ck_assert_ptr_nonnull(o->long_name);
            /* A flag may be long-only (the cluster options): its long name must then be unique. */
        }
        ck_assert((o->stat_name == NULL) == (o->show == NULL));
        ck_assert((o->stat_name == NULL) == (o->stat_rank == 0));
        for (unsigned j = i + 1; j < option_count; j++) {
            const struct option_def *q = &option_table[j];
            if (o->short_name && o->kind == OPTION_FLAG && q->kind == OPTION_FLAG)
                ck_assert_msg(o->short_name != q->short_name, "-%c twice", o->short_name);
            if (o->stat_rank)
                ck_assert_msg(o->stat_rank != q->stat_rank, "rank %d twice", o->stat_rank);
            if (o->kind == OPTION_FLAG && q->kind == OPTION_FLAG)
                ck_assert_msg(strcmp(o->long_name, q->long_name) != 0, "--%s twice", o->long_name);
        }
    }
}
END_TEST

START_TEST(stats_settings_follow_the_table)
{
    struct parsed p;
    parse(&p, "-c", "99", "-o", "idle_timeout=7", NULL);
    struct outbuf ob;
    outbuf_init(&ob);
    options_stats_settings(&p.s, &ob);
    char text[8192] = "";
    struct iovec iov[8];
    int n = outbuf_iov(&ob, iov, 8);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        memcpy(text + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    ck_assert(strncmp(text, "STAT maxbytes 67108864\r\nSTAT maxconns 99\r\nSTAT tcpport 11211\r\n", 62) == 0);
    ck_assert_ptr_nonnull(strstr(text, "STAT idle_timeout 7\r\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT domain_socket NULL\r\n"));
    for (unsigned i = 0; i < option_count; i++) {
        if (!option_table[i].stat_name)
            continue;
        char want[96];
        snprintf(want, sizeof(want), "STAT %s ", option_table[i].stat_name);
        ck_assert_msg(strstr(text, want), "stats settings lacks %s", option_table[i].stat_name);
    }
    outbuf_free(&ob);
}
END_TEST

static void settings_text(const struct settings *st, char *text, size_t cap)
{
    struct outbuf ob;
    outbuf_init(&ob);
    options_stats_settings(st, &ob);
    struct iovec iov[16];
    int n = outbuf_iov(&ob, iov, 16);
    size_t len = 0;
    for (int i = 0; i < n && len + iov[i].iov_len < cap; i++) {
        memcpy(text + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    text[len] = '\0';
    outbuf_free(&ob);
}

/* Each documented default, given explicitly, changes nothing: the table and settings_init agree. */
START_TEST(documented_defaults_are_the_defaults)
{
    static struct parsed none, given;
    static char want[16384], got[16384];
    parse(&none, NULL);
    settings_text(&none.s, want, sizeof(want));
    unsigned checked = 0;
    for (unsigned i = 0; i < option_count; i++) {
        const struct option_def *o = &option_table[i];
        if (!o->def)
            continue;
        if (o->kind == OPTION_FLAG) {
            char flag[64] = {'-', o->short_name, '\0'};
            if (!o->short_name)
                snprintf(flag, sizeof(flag), "--%s", o->long_name);
            parse(&given, flag, o->def, NULL);
        } else {
            char sub[128];
            snprintf(sub, sizeof(sub), "%s=%s", o->long_name, o->def);
            parse(&given, "-o", sub, NULL);
        }
        ck_assert_msg(given.outcome == OPTIONS_RUN, "%s %s: %s", o->long_name, o->def, given.msg);
        settings_text(&given.s, got, sizeof(got));
        ck_assert_msg(strcmp(want, got) == 0, "default of %s is not %s", o->long_name, o->def);
        checked++;
    }
    ck_assert_uint_ge(checked, 10);
}
END_TEST

/* The man page documents every option of the table (tests run from the repository root). */
START_TEST(man_page_lists_every_option)
{
    FILE *f = fopen("man/shoal.1", "r");
    ck_assert_msg(f != NULL, "man/shoal.1 missing");
    static char page[200000];
    size_t len = fread(page, 1, sizeof(page) - 1, f);
    page[len] = '\0';
    fclose(f);
    for (unsigned i = 0; i < option_count; i++) {
        const struct option_def *o = &option_table[i];
        char want[128];
        if (o->kind == OPTION_FLAG) {
            /* groff escapes the dashes: \-p and \-\-port */
            snprintf(want, sizeof(want), "\\-%c", o->short_name);
            ck_assert_msg(strstr(page, want), "man page lacks -%c", o->short_name);
            char dashed[96];
            size_t k = 0;
            for (const char *c = o->long_name; *c && k + 3 < sizeof(dashed); c++) {
                if (*c == '-')
                    dashed[k++] = '\\';
                dashed[k++] = *c;
            }
            dashed[k] = '\0';
            snprintf(want, sizeof(want), "\\-\\-%s", dashed);
            ck_assert_msg(strstr(page, want), "man page lacks --%s", o->long_name);
        } else if (o->kind != OPTION_STAT_ONLY) {
            ck_assert_msg(strstr(page, o->long_name), "man page lacks -o %s", o->long_name);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, defaults_are_memcached_defaults);
    tcase_add_test(tc, short_and_long_forms);
    tcase_add_test(tc, item_size_suffixes);
    tcase_add_loop_test(tc, bad_values_fail_like_memcached, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, refused_features_say_why);
    tcase_add_test(tc, unknown_flags_and_missing_arguments);
    tcase_add_test(tc, suboptions_honoured_and_tuning_noted);
    tcase_add_test(tc, help_and_version_exit_zero);
    tcase_add_test(tc, table_is_consistent);
    tcase_add_test(tc, stats_settings_follow_the_table);
    tcase_add_test(tc, documented_defaults_are_the_defaults);
    tcase_add_test(tc, man_page_lists_every_option);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
