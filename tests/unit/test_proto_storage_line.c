/* Unit tests for proto/storage_line: which storage lines memcached accepts, how long their data
 * block is, and its exact reply to the ones it refuses. Every case was sent to Debian 12's
 * memcached 1.6.18 (/usr/bin/memcached) as the line, "ab\r\n" and "version\r\n": an accepted
 * line took "ab" as its block (or swallowed what followed), a refused one answered its error and
 * then "ERROR" for "ab". */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/storage_line.h"

#define BAD_FORMAT "CLIENT_ERROR bad command line format"

/* A line tokenized as the session tokenizes it, with the command proto_command names. */
struct judged {
    char *copy;
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t nt;
    enum proto_cmd cmd;
    struct proto_storage_line line;
    enum proto_storage_verdict verdict;
};

static void judge(struct judged *j, const char *text)
{
    j->copy = strdup(text);
    ck_assert_ptr_nonnull(j->copy);
    j->nt = proto_tokenize(j->copy, j->t, PROTO_MAX_TOKENS);
    j->cmd = proto_command(j->t, j->nt);
    j->verdict = proto_storage_line(j->cmd, j->t, j->nt, &j->line);
}

/* before, key_len times 'k', after (a line with a key of a chosen length); the caller frees. */
static char *with_key(const char *before, size_t key_len, const char *after)
{
    size_t n = strlen(before) + key_len + strlen(after) + 1;
    char *s = malloc(n);
    ck_assert_ptr_nonnull(s);
    strcpy(s, before);
    memset(s + strlen(before), 'k', key_len);
    strcpy(s + strlen(before) + key_len, after);
    return s;
}

static void assert_accepts(const char *text, size_t block_len)
{
    struct judged j;
    judge(&j, text);
    ck_assert_msg(j.verdict == PROTO_STORAGE_ACCEPT, "%.60s: verdict %d", text, (int)j.verdict);
    ck_assert_msg(j.line.block_len == block_len, "%.60s: block %zu", text, j.line.block_len);
    ck_assert_ptr_null(j.line.error);
    free(j.copy);
}

/* reply: what the client receives ("" when noreply hides the error). */
static void assert_refuses(const char *text, const char *error, const char *reply)
{
    struct judged j;
    judge(&j, text);
    ck_assert_msg(j.verdict == PROTO_STORAGE_REFUSE, "%.60s: verdict %d", text, (int)j.verdict);
    ck_assert_str_eq(j.line.error, error);
    ck_assert_str_eq(j.line.reply, reply);
    free(j.copy);
}

static void assert_not_storage(const char *text)
{
    struct judged j;
    judge(&j, text);
    ck_assert_msg(j.verdict == PROTO_STORAGE_NONE, "%.60s: verdict %d", text, (int)j.verdict);
    free(j.copy);
}

START_TEST(accepted_lines_and_their_fields)
{
    struct judged j;
    judge(&j, "set key 7 -1 2");
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert_str_eq(j.line.key, "key");
    ck_assert_uint_eq(j.line.key_len, 3);
    ck_assert_uint_eq(j.line.flags, 7);
    ck_assert_int_eq(j.line.exptime, -1); /* stored as already expired */
    ck_assert_uint_eq(j.line.cas, 0);
    ck_assert_uint_eq(j.line.block_len, 2);
    ck_assert(!j.line.noreply);
    free(j.copy);

    judge(&j, "cas k 1 2 3 18446744073709551615 noreply");
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert_uint_eq(j.line.cas, UINT64_MAX);
    ck_assert_uint_eq(j.line.block_len, 3);
    ck_assert(j.line.noreply);
    free(j.copy);

    assert_accepts("add k 0 0 2", 2);
    assert_accepts("replace k 0 0 2", 2);
    assert_accepts("append k 0 0 2", 2);
    assert_accepts("prepend k 0 0 0", 0);
    assert_accepts("cas k 0 0 2 1", 2);
    /* any sixth token is accepted; only "noreply", exactly, silences the reply */
    judge(&j, "set k 0 0 2 NOREPLY");
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert(!j.line.noreply);
    free(j.copy);
    assert_accepts("set k 0 0 2 junk", 2);
}
END_TEST

START_TEST(key_length)
{
    char *s = with_key("set ", PROTO_KEY_MAX_LENGTH, " 0 0 2");
    assert_accepts(s, 2);
    free(s);
    s = with_key("set ", PROTO_KEY_MAX_LENGTH + 1, " 0 0 2");
    assert_refuses(s, BAD_FORMAT, BAD_FORMAT "\r\n");
    free(s);
    s = with_key("set ", PROTO_KEY_MAX_LENGTH + 1, " 0 0 2 noreply");
    assert_refuses(s, BAD_FORMAT, "");
    free(s);
    s = with_key("cas ", PROTO_KEY_MAX_LENGTH + 1, " 0 0 2 1");
    assert_refuses(s, BAD_FORMAT, BAD_FORMAT "\r\n");
    free(s);
}
END_TEST

START_TEST(block_length)
{
    assert_accepts("set k 0 0 2147483645", 2147483645u); /* INT_MAX - 2: memcached then swallows */
    assert_refuses("set k 0 0 2147483646", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("set k 0 0 -1", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("set k 0 0 -1 noreply", BAD_FORMAT, "");
    /* safe_strtol keeps the low 32 bits of a value that fits a long: 2^31 turns negative,
     * 2^32 + 2 turns into 2 */
    assert_refuses("set k 0 0 2147483648", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_accepts("set k 0 0 4294967298", 2);
    assert_refuses("set k 0 0 99999999999999999999", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("set k 0 0 2x", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("set k 0 0 x", BAD_FORMAT, BAD_FORMAT "\r\n");
    /* "noreply" where the length belongs: refused, and the refusal is silent */
    assert_refuses("set k 0 0 noreply", BAD_FORMAT, "");
}
END_TEST

START_TEST(flags)
{
    struct judged j;
    assert_refuses("set k -1 0 2", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("set k x 0 2", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("set k 1x 0 2", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("set k 18446744073709551616 0 2", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("append k x 0 2 noreply", BAD_FORMAT, "");
    judge(&j, "set k 4294967295 0 2");
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert_uint_eq(j.line.flags, UINT32_MAX);
    free(j.copy);
    /* safe_strtoul truncates to 32 bits */
    judge(&j, "set k 4294967296 0 2");
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert_uint_eq(j.line.flags, 0);
    free(j.copy);
    judge(&j, "set k 18446744073709551615 0 2");
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert_uint_eq(j.line.flags, UINT32_MAX);
    free(j.copy);
    /* a sign is refused only when the value wrapped */
    judge(&j, "set k -0 0 2");
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert_uint_eq(j.line.flags, 0);
    free(j.copy);
    judge(&j, "set k +5 0 2");
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert_uint_eq(j.line.flags, 5);
    free(j.copy);
}
END_TEST

START_TEST(exptime)
{
    struct judged j;
    assert_refuses("set k 0 x 2", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("set k 0 99999999999999999999 2", BAD_FORMAT, BAD_FORMAT "\r\n");
    judge(&j, "set k 0 2147483648 2"); /* truncated to 32 bits, as memcached does */
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert_int_eq(j.line.exptime, INT32_MIN);
    free(j.copy);
}
END_TEST

START_TEST(cas_unique)
{
    assert_refuses("cas k 0 0 2 -1", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("cas k 0 0 2 x", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("cas k 0 0 2 18446744073709551616", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("cas k 0 0 2 x noreply", BAD_FORMAT, "");
}
END_TEST

/* A wrong token count is proto_command's "ERROR", not a storage line. */
START_TEST(token_counts)
{
    assert_not_storage("set k 0 0");
    assert_not_storage("set k 0 0 2 noreply extra");
    assert_not_storage("cas k 0 0 2");
    assert_not_storage("cas k 0 0 2 1 noreply extra");
    assert_not_storage("ms");
    assert_not_storage("get k");
    assert_not_storage("mg k v");
    assert_not_storage("incr k 1");
    /* a command that does not match the tokens is refused too, not read past them */
    struct judged j;
    judge(&j, "set k 0 0 2");
    ck_assert_int_eq(proto_storage_line(PROTO_CMD_CAS, j.t, j.nt, &j.line), PROTO_STORAGE_NONE);
    ck_assert_int_eq(proto_storage_line(PROTO_CMD_GET, j.t, j.nt, &j.line), PROTO_STORAGE_NONE);
    free(j.copy);
    judge(&j, "cas k 0 0 2 1 noreply");
    ck_assert_int_eq(proto_storage_line(PROTO_CMD_SET, j.t, j.nt, &j.line), PROTO_STORAGE_NONE);
    free(j.copy);
}
END_TEST

/* ms: the line up to its length; the flags are judged later, after the block is read. */
START_TEST(meta_set)
{
    struct judged j;
    judge(&j, "ms key 2 T0 q");
    ck_assert_int_eq(j.verdict, PROTO_STORAGE_ACCEPT);
    ck_assert_str_eq(j.line.key, "key");
    ck_assert_uint_eq(j.line.block_len, 2);
    ck_assert(!j.line.noreply); /* q is a flag, judged later */
    free(j.copy);
    assert_accepts("ms k 2 zz", 2); /* an invalid flag: memcached still swallows the block */
    assert_accepts("ms k 2147483645", 2147483645u);
    assert_refuses("ms k 2147483646", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("ms k", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("ms k -1", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("ms k x", BAD_FORMAT, BAD_FORMAT "\r\n");
    assert_refuses("ms k x q", BAD_FORMAT, BAD_FORMAT "\r\n"); /* q does not hide it */
    char *s = with_key("ms ", PROTO_KEY_MAX_LENGTH, " 2");
    assert_accepts(s, 2);
    free(s);
    s = with_key("ms ", PROTO_KEY_MAX_LENGTH + 1, " 2");
    assert_refuses(s, BAD_FORMAT, BAD_FORMAT "\r\n");
    free(s);
    s = with_key("ms ", PROTO_KEY_MAX_LENGTH + 1, "");
    assert_refuses(s, BAD_FORMAT, BAD_FORMAT "\r\n");
    free(s);
    /* 16 flags make 20 tokens with the terminal one: accepted; 17 are too many */
    assert_accepts("ms k 2 T0 T1 T2 T3 T4 T5 T6 T7 T8 T9 T10 T11 T12 T13 T14 T15", 2);
    assert_refuses("ms k 2 T0 T1 T2 T3 T4 T5 T6 T7 T8 T9 T10 T11 T12 T13 T14 T15 T16",
                   "CLIENT_ERROR options flags too long",
                   "CLIENT_ERROR options flags too long\r\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto_storage_line");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, accepted_lines_and_their_fields);
    tcase_add_test(tc, key_length);
    tcase_add_test(tc, block_length);
    tcase_add_test(tc, flags);
    tcase_add_test(tc, exptime);
    tcase_add_test(tc, cas_unique);
    tcase_add_test(tc, token_counts);
    tcase_add_test(tc, meta_set);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
