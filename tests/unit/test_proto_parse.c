/* Unit tests for proto/: number parsing, tokenizing, command recognition, base64, meta flags.
 * Expected answers were checked against memcached 1.6.18 (Debian 12's /usr/bin/memcached). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base64.h"
#include "proto/compose.h"
#include "proto/meta.h"
#include "proto/number.h"
#include "proto/parse.h"

START_TEST(u32_rules)
{
    uint32_t v;
    ck_assert(proto_parse_u32("0", &v) && v == 0);
    ck_assert(proto_parse_u32("4294967295", &v) && v == 4294967295u);
    /* memcached truncates values that fit a long: flags 2^32 are stored as 0 */
    ck_assert(proto_parse_u32("4294967296", &v) && v == 0);
    ck_assert(proto_parse_u32("+7", &v) && v == 7);
    ck_assert(!proto_parse_u32("-1", &v));
    ck_assert(!proto_parse_u32("", &v));
    ck_assert(!proto_parse_u32("abc", &v));
    ck_assert(!proto_parse_u32("12abc", &v));
    ck_assert(proto_parse_u32("12\r", &v) && v == 12);
    ck_assert(!proto_parse_u32("99999999999999999999999", &v));
}
END_TEST

START_TEST(i32_rules)
{
    int32_t v;
    ck_assert(proto_parse_i32("-1", &v) && v == -1);
    ck_assert(proto_parse_i32("4294967297", &v) && v == 1);
    ck_assert(!proto_parse_i32("1x", &v));
    ck_assert(!proto_parse_i32("-", &v));
    ck_assert(!proto_parse_i32("99999999999999999999", &v));
}
END_TEST

START_TEST(u64_rules)
{
    uint64_t v;
    ck_assert(proto_parse_u64("18446744073709551615", &v) && v == UINT64_MAX);
    ck_assert(!proto_parse_u64("18446744073709551616", &v));
    ck_assert(!proto_parse_u64("-1", &v));
    ck_assert(proto_parse_u64("-0", &v) && v == 0);
    ck_assert(!proto_parse_u64("1.5", &v));
    char buf[24];
    ck_assert_int_eq(proto_u64_to_dec(UINT64_MAX, buf), 20);
    ck_assert(memcmp(buf, "18446744073709551615", 20) == 0);
    ck_assert_int_eq(proto_i64_to_dec(-10, buf), 3);
    ck_assert(memcmp(buf, "-10", 3) == 0);
}
END_TEST

/* Every power of ten and its neighbours, and a spread of others, against snprintf. */
START_TEST(u64_to_dec_matches_printf)
{
    char got[24], want[24];
    uint64_t p = 1;
    for (int k = 0; k < 20; k++, p *= 10) {
        uint64_t around[] = {p - 1, p, p + 1, p * 3 + 7};
        for (size_t i = 0; i < sizeof around / sizeof around[0]; i++) {
            int n = proto_u64_to_dec(around[i], got);
            int m = snprintf(want, sizeof want, "%llu", (unsigned long long)around[i]);
            ck_assert_int_eq(n, m);
            ck_assert(memcmp(got, want, (size_t)n) == 0);
        }
    }
    uint64_t x = 88172645463325252ull; /* xorshift64 */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v = x >> (x % 64);
        int n = proto_u64_to_dec(v, got);
        int m = snprintf(want, sizeof want, "%llu", (unsigned long long)v);
        ck_assert_int_eq(n, m);
        ck_assert(memcmp(got, want, (size_t)n) == 0);
    }
}
END_TEST

START_TEST(tokenize_basic)
{
    char line[] = "  set  k 0 0 5 ";
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t n = proto_tokenize(line, t, PROTO_MAX_TOKENS);
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(t[0].value, "set");
    ck_assert_str_eq(t[1].value, "k");
    ck_assert_str_eq(t[4].value, "5");
    ck_assert_uint_eq(t[5].length, 0);
    ck_assert_ptr_null(t[5].value);
}
END_TEST

START_TEST(tokenize_limit_leaves_rest)
{
    char line[200] = "get";
    for (int i = 0; i < 30; i++)
        strcat(line, " k");
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t n = proto_tokenize(line, t, PROTO_MAX_TOKENS);
    ck_assert_uint_eq(n, PROTO_MAX_TOKENS);
    ck_assert_ptr_nonnull(t[n - 1].value);
    ck_assert_uint_eq(strlen(t[n - 1].value), 8 * 2 - 1);
}
END_TEST

START_TEST(tabs_do_not_separate)
{
    char line[] = "get\ta";
    struct proto_token t[PROTO_MAX_TOKENS];
    ck_assert_uint_eq(proto_tokenize(line, t, PROTO_MAX_TOKENS), 2);
}
END_TEST

START_TEST(find_line)
{
    size_t used;
    ck_assert_int_eq(proto_find_line("get a\r\nx", 8, &used), 5);
    ck_assert_uint_eq(used, 7);
    ck_assert_int_eq(proto_find_line("get a\n", 6, &used), 5);
    ck_assert_int_eq(proto_find_line("\r\n", 2, &used), 1); /* a lone "\r" stays: ERROR */
    ck_assert_int_eq(proto_find_line("\n", 1, &used), 0);
    ck_assert_int_eq(proto_find_line("get a", 5, &used), -1);
}
END_TEST

START_TEST(long_lines)
{
    char buf[3000];
    memset(buf, 'k', sizeof buf);
    memcpy(buf, "get ", 4);
    ck_assert(proto_long_line_may_continue(buf, sizeof buf));
    memcpy(buf, "gets ", 5);
    ck_assert(proto_long_line_may_continue(buf, sizeof buf));
    memcpy(buf, "set  ", 5);
    ck_assert(!proto_long_line_may_continue(buf, sizeof buf));
    memset(buf, ' ', 100);
    memcpy(buf + 100, "get ", 4);
    ck_assert(proto_long_line_may_continue(buf, sizeof buf));
    memset(buf, ' ', 101);
    memcpy(buf + 101, "get ", 4);
    ck_assert(!proto_long_line_may_continue(buf, sizeof buf));
}
END_TEST

static enum proto_cmd cmd_of(const char *text)
{
    static char line[512];
    static struct proto_token t[PROTO_MAX_TOKENS];
    strcpy(line, text);
    size_t n = proto_tokenize(line, t, PROTO_MAX_TOKENS);
    return proto_command(t, n);
}

START_TEST(commands)
{
    ck_assert_int_eq(cmd_of("get a"), PROTO_CMD_GET);
    ck_assert_int_eq(cmd_of("get"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("gets a b"), PROTO_CMD_GETS);
    ck_assert_int_eq(cmd_of("gat 1 a"), PROTO_CMD_GAT);
    ck_assert_int_eq(cmd_of("gats 1 a"), PROTO_CMD_GATS);
    ck_assert_int_eq(cmd_of("bget a"), PROTO_CMD_BGET);
    ck_assert_int_eq(cmd_of("set a 0 0 1"), PROTO_CMD_SET);
    ck_assert_int_eq(cmd_of("set a 0 0 1 noreply"), PROTO_CMD_SET);
    ck_assert_int_eq(cmd_of("set a 0 0"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("set a 0 0 1 noreply x"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("cas a 0 0 1 5"), PROTO_CMD_CAS);
    ck_assert_int_eq(cmd_of("cas a 0 0 1"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("add a 0 0 1"), PROTO_CMD_ADD);
    ck_assert_int_eq(cmd_of("append a 0 0 1"), PROTO_CMD_APPEND);
    ck_assert_int_eq(cmd_of("prepend a 0 0 1"), PROTO_CMD_PREPEND);
    ck_assert_int_eq(cmd_of("replace a 0 0 1"), PROTO_CMD_REPLACE);
    ck_assert_int_eq(cmd_of("incr a 1"), PROTO_CMD_INCR);
    ck_assert_int_eq(cmd_of("incr a"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("decr a 1 noreply"), PROTO_CMD_DECR);
    ck_assert_int_eq(cmd_of("delete a"), PROTO_CMD_DELETE);
    ck_assert_int_eq(cmd_of("delete a 0 noreply"), PROTO_CMD_DELETE);
    ck_assert_int_eq(cmd_of("delete a 0 noreply x"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("touch a 1"), PROTO_CMD_TOUCH);
    ck_assert_int_eq(cmd_of("touch a"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("stats"), PROTO_CMD_STATS);
    ck_assert_int_eq(cmd_of("stats slabs"), PROTO_CMD_STATS);
    ck_assert_int_eq(cmd_of("flush_all"), PROTO_CMD_FLUSH_ALL);
    ck_assert_int_eq(cmd_of("flush_all 1 noreply"), PROTO_CMD_FLUSH_ALL);
    ck_assert_int_eq(cmd_of("flush_all 1 noreply x"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("version"), PROTO_CMD_VERSION);
    ck_assert_int_eq(cmd_of("version x"), PROTO_CMD_VERSION);
    ck_assert_int_eq(cmd_of("quit"), PROTO_CMD_QUIT);
    ck_assert_int_eq(cmd_of("shutdown"), PROTO_CMD_SHUTDOWN);
    ck_assert_int_eq(cmd_of("verbosity 1"), PROTO_CMD_VERBOSITY);
    ck_assert_int_eq(cmd_of("verbosity"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("cache_memlimit 8"), PROTO_CMD_CACHE_MEMLIMIT);
    ck_assert_int_eq(cmd_of("cache_memlimit 8 noreply"), PROTO_CMD_CACHE_MEMLIMIT);
    ck_assert_int_eq(cmd_of("cache_memlimit 8 noreply x"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("cache_memlimit"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("lru mode flat"), PROTO_CMD_LRU);
    ck_assert_int_eq(cmd_of("lru"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("slabs automove 1"), PROTO_CMD_SLABS);
    ck_assert_int_eq(cmd_of("lru_crawler enable"), PROTO_CMD_LRU_CRAWLER);
    ck_assert_int_eq(cmd_of("lru_crawler"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("mg a v"), PROTO_CMD_MG);
    ck_assert_int_eq(cmd_of("ms a 1"), PROTO_CMD_MS);
    ck_assert_int_eq(cmd_of("md a"), PROTO_CMD_MD);
    ck_assert_int_eq(cmd_of("ma a"), PROTO_CMD_MA);
    ck_assert_int_eq(cmd_of("mn"), PROTO_CMD_MN);
    ck_assert_int_eq(cmd_of("me a"), PROTO_CMD_ME);
    ck_assert_int_eq(cmd_of("mz a"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("GET / HTTP/1.1"), PROTO_CMD_HTTP);
    ck_assert_int_eq(cmd_of("POST /x HTTP/1.0"), PROTO_CMD_HTTP);
    ck_assert_int_eq(cmd_of("gxx / HTTP/1.1"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("x"), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of(""), PROTO_CMD_ERROR);
    ck_assert_int_eq(cmd_of("bogus"), PROTO_CMD_ERROR);
}
END_TEST

START_TEST(noreply_token)
{
    char line[] = "set a 0 0 1 noreply";
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t n = proto_tokenize(line, t, PROTO_MAX_TOKENS);
    ck_assert(proto_has_noreply(t, n));
    char line2[] = "set a 0 0 1";
    n = proto_tokenize(line2, t, PROTO_MAX_TOKENS);
    ck_assert(!proto_has_noreply(t, n));
}
END_TEST

/* RFC 4648 section 10 test vectors. */
START_TEST(base64_vectors)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char enc[16];
        size_t n = proto_base64_encode((const unsigned char *)plain[i], strlen(plain[i]), enc,
                                       sizeof enc);
        ck_assert_uint_eq(n, strlen(coded[i]));
        ck_assert(memcmp(enc, coded[i], n) == 0);
        if (i == 0)
            continue;
        unsigned char dec[16];
        n = proto_base64_decode(coded[i], strlen(coded[i]), dec, sizeof dec);
        ck_assert_uint_eq(n, strlen(plain[i]));
        ck_assert(memcmp(dec, plain[i], n) == 0);
    }
}
END_TEST

START_TEST(base64_bad_input)
{
    unsigned char dec[16];
    ck_assert_uint_eq(proto_base64_decode("eA", 2, dec, sizeof dec), 0);
    ck_assert_uint_eq(proto_base64_decode("##", 2, dec, sizeof dec), 0);
    ck_assert_uint_eq(proto_base64_decode("Zm9vYmFy", 8, dec, 5), 0);
    /* in place */
    char buf[] = "Zm9vYmFy";
    ck_assert_uint_eq(proto_base64_decode(buf, 8, (unsigned char *)buf, 8), 6);
    ck_assert(memcmp(buf, "foobar", 6) == 0);
}
END_TEST

static int meta_of(const char *text, struct meta_flags *f, const char **err)
{
    static char line[512];
    static struct proto_token t[PROTO_MAX_TOKENS];
    strcpy(line, text);
    proto_tokenize(line, t, PROTO_MAX_TOKENS);
    memset(f, 0, sizeof *f);
    *err = "unset";
    return meta_parse_flags(t, 2, f, err);
}

START_TEST(meta_flags_parse)
{
    struct meta_flags f;
    const char *err;
    ck_assert_int_eq(meta_of("mg k v s f t c k O123 q h l T30 N10 R5 u", &f, &err), 0);
    ck_assert(f.value && f.no_reply && f.la && f.locked && f.vivify && f.new_ttl && f.no_update);
    ck_assert_int_eq(f.exptime, 30);
    ck_assert_int_eq(f.autoviv_exptime, 10);
    ck_assert_int_eq(f.recache_time, 5);
    ck_assert_int_eq(meta_of("ma k MD D5 J7 N0 C9", &f, &err), 0);
    ck_assert_int_eq(f.mode, 'D');
    ck_assert(f.delta == 5 && f.initial == 7 && f.has_cas && f.req_cas_id == 9);
    ck_assert_int_eq(meta_of("ms k 2 F7 I", &f, &err), -1); /* "2" is not a flag */
    ck_assert_str_eq(err, "CLIENT_ERROR invalid flag");
    ck_assert_int_eq(meta_of("mg k v v", &f, &err), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR duplicate flag");
    /* E (memcached 1.6.45): the CAS value to give what the command stores */
    ck_assert_int_eq(meta_of("mg k E5", &f, &err), 0);
    ck_assert(f.has_new_cas && f.new_cas == 5);
    ck_assert_int_eq(meta_of("ms k E18446744073709551615", &f, &err), 0);
    ck_assert(f.has_new_cas && f.new_cas == UINT64_MAX);
    ck_assert_int_eq(meta_of("ms k Ex", &f, &err), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR bad token in command line format");
    ck_assert_int_eq(meta_of("mg k E1 E2", &f, &err), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR duplicate flag");
    ck_assert_int_eq(meta_of("mg k Tx", &f, &err), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR bad token in command line format");
    ck_assert_int_eq(meta_of("ma k D-1", &f, &err), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR invalid numeric delta value");
    ck_assert_int_eq(meta_of("ma k Jx", &f, &err), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR invalid numeric initial value");
    ck_assert_int_eq(meta_of("ms k MSS", &f, &err), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR incorrect length for M token");
    ck_assert_int_eq(meta_of("ms k F-1", &f, &err), -1);
    ck_assert_str_eq(err, "unset"); /* memcached keeps its default error line */
}
END_TEST

START_TEST(meta_binary_key)
{
    char line[] = "mg Zm9v b k";
    struct proto_token t[PROTO_MAX_TOKENS];
    proto_tokenize(line, t, PROTO_MAX_TOKENS);
    struct meta_flags f = {0};
    const char *err;
    ck_assert_int_eq(meta_parse_flags(t, 2, &f, &err), 0);
    ck_assert(f.key_binary);
    ck_assert_uint_eq(t[1].length, 3);
    ck_assert(memcmp(t[1].value, "foo", 3) == 0);
    char out[PROTO_META_KEY_MAX];
    size_t n = proto_meta_key(out, "foo", 3, true);
    ck_assert_uint_eq(n, 8);
    ck_assert(memcmp(out, " kZm9v b", 8) == 0);
    char bad[] = "mg eA b";
    proto_tokenize(bad, t, PROTO_MAX_TOKENS);
    memset(&f, 0, sizeof f);
    ck_assert_int_eq(meta_parse_flags(t, 2, &f, &err), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR error decoding key");
}
END_TEST

START_TEST(value_header)
{
    char buf[PROTO_VALUE_HEADER_MAX];
    size_t n = proto_value_header(buf, "key", 3, 5, 10, false, 0);
    ck_assert(n == 16 && memcmp(buf, "VALUE key 5 10\r\n", n) == 0);
    n = proto_value_header(buf, "k", 1, 0, 1, true, 42);
    ck_assert(memcmp(buf, "VALUE k 0 1 42\r\n", n) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, u32_rules);
    tcase_add_test(tc, i32_rules);
    tcase_add_test(tc, u64_rules);
    tcase_add_test(tc, u64_to_dec_matches_printf);
    tcase_add_test(tc, tokenize_basic);
    tcase_add_test(tc, tokenize_limit_leaves_rest);
    tcase_add_test(tc, tabs_do_not_separate);
    tcase_add_test(tc, find_line);
    tcase_add_test(tc, long_lines);
    tcase_add_test(tc, commands);
    tcase_add_test(tc, noreply_token);
    tcase_add_test(tc, base64_vectors);
    tcase_add_test(tc, base64_bad_input);
    tcase_add_test(tc, meta_flags_parse);
    tcase_add_test(tc, meta_binary_key);
    tcase_add_test(tc, value_header);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
