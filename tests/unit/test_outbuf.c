/* Unit tests for server/outbuf.c: appends across chunks, iovec order, partial consumption, and
 * borrowed bytes (zero-copy values) released exactly once. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/outbuf.h"

static size_t gather(const struct outbuf *ob, char *dst)
{
    struct iovec iov[64];
    int n = outbuf_iov(ob, iov, 64);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        memcpy(dst + total, iov[i].iov_base, iov[i].iov_len);
        total += iov[i].iov_len;
    }
    return total;
}

START_TEST(append_small_and_large)
{
    struct outbuf ob;
    outbuf_init(&ob);
    ck_assert_int_eq(outbuf_append_str(&ob, "STORED\r\n"), 0);
    size_t big_len = 3 * OUTBUF_CHUNK_SIZE + 17;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    ck_assert_int_eq(outbuf_append(&ob, big, big_len), 0);
    ck_assert_uint_eq(ob.pending, 8 + big_len);

    char *all = malloc(8 + big_len);
    ck_assert_uint_eq(gather(&ob, all), 8 + big_len);
    ck_assert(memcmp(all, "STORED\r\n", 8) == 0);
    ck_assert(memcmp(all + 8, big, big_len) == 0);
    free(all);
    free(big);
    outbuf_free(&ob);
}
END_TEST

START_TEST(consume_partially_then_fully)
{
    struct outbuf ob;
    outbuf_init(&ob);
    char *p = outbuf_reserve(&ob, 5);
    memcpy(p, "hello", 5);
    outbuf_commit(&ob, 5);
    outbuf_append_str(&ob, " world");
    outbuf_consume(&ob, 3);
    char buf[32];
    size_t n = gather(&ob, buf);
    ck_assert_uint_eq(n, 8);
    ck_assert(memcmp(buf, "lo world", 8) == 0);
    outbuf_consume(&ob, 8);
    ck_assert_uint_eq(ob.pending, 0);
    ck_assert_ptr_null(ob.head);
    outbuf_free(&ob);
}
END_TEST

START_TEST(reserve_larger_than_chunk_fails)
{
    struct outbuf ob;
    outbuf_init(&ob);
    ck_assert_ptr_null(outbuf_reserve(&ob, OUTBUF_CHUNK_SIZE + 1));
    outbuf_free(&ob);
}
END_TEST

struct release_log {
    int calls;
    void *last_owner, *last_ref;
};

static void note_release(void *owner, void *ref)
{
    struct release_log *log = owner;
    log->calls++;
    log->last_owner = owner;
    log->last_ref = ref;
}

START_TEST(outbuf_borrowed_bytes_in_order_released_once_written)
{
    struct outbuf ob;
    outbuf_init(&ob);
    struct release_log log = {0};
    static const char value[] = "0123456789";
    int tag;
    ck_assert_int_eq(outbuf_append_str(&ob, "VALUE k 0 10\r\n"), 0);
    ck_assert_int_eq(outbuf_append_ref(&ob, value, 10, note_release, &log, &tag), 0);
    ck_assert_int_eq(outbuf_append_str(&ob, "\r\nEND\r\n"), 0);
    char *room = outbuf_reserve(&ob, 2);
    memcpy(room, "!!", 2);
    outbuf_commit(&ob, 2);
    char buf[64];
    size_t n = gather(&ob, buf);
    ck_assert_uint_eq(n, ob.pending);
    ck_assert(memcmp(buf, "VALUE k 0 10\r\n0123456789\r\nEND\r\n!!", n) == 0);
    outbuf_consume(&ob, 14 + 4); /* the header and part of the value */
    ck_assert_int_eq(log.calls, 0);
    n = gather(&ob, buf);
    ck_assert(memcmp(buf, "456789\r\nEND\r\n!!", n) == 0);
    outbuf_consume(&ob, 6);
    ck_assert_int_eq(log.calls, 1);
    ck_assert_ptr_eq(log.last_ref, &tag);
    outbuf_consume(&ob, ob.pending);
    ck_assert_ptr_null(ob.head);
    outbuf_free(&ob);
    ck_assert_int_eq(log.calls, 1);
}
END_TEST

START_TEST(outbuf_free_releases_unwritten_borrowed_bytes)
{
    struct outbuf ob;
    outbuf_init(&ob);
    struct release_log log = {0};
    ck_assert_int_eq(outbuf_append_ref(&ob, "abc", 3, note_release, &log, NULL), 0);
    ck_assert_int_eq(outbuf_append_ref(&ob, "def", 3, note_release, &log, NULL), 0);
    ck_assert_uint_eq(ob.pending, 6);
    outbuf_free(&ob);
    ck_assert_int_eq(log.calls, 2);
    ck_assert_uint_eq(ob.pending, 0);
}
END_TEST

START_TEST(drop_tail_keeps_the_head_and_releases_the_rest)
{
    struct outbuf ob;
    outbuf_init(&ob);
    struct release_log log = {0};
    ck_assert_int_eq(outbuf_append_str(&ob, "first;"), 0);
    ck_assert_int_eq(outbuf_append_ref(&ob, "borrowed", 8, note_release, &log, NULL), 0);
    size_t big_len = 2 * OUTBUF_CHUNK_SIZE;
    char *big = calloc(1, big_len);
    ck_assert_int_eq(outbuf_append(&ob, big, big_len), 0);
    free(big);
    char *tail = malloc(big_len + 4);
    outbuf_copy_tail(&ob, big_len + 4, tail);
    ck_assert(memcmp(tail, "owed", 4) == 0 && tail[4] == 0 && tail[big_len + 3] == 0);
    free(tail);
    outbuf_drop_tail(&ob, big_len + 4); /* the big block and "owed" */
    ck_assert_uint_eq(ob.pending, 10);
    ck_assert_int_eq(log.calls, 0);
    char buf[64];
    size_t n = gather(&ob, buf);
    ck_assert_uint_eq(n, 10);
    ck_assert(memcmp(buf, "first;borr", 10) == 0);
    ck_assert_int_eq(outbuf_append_str(&ob, "+"), 0); /* appends after the cut */
    n = gather(&ob, buf);
    ck_assert(memcmp(buf, "first;borr+", 11) == 0);
    outbuf_drop_tail(&ob, 5);
    ck_assert_int_eq(log.calls, 1);
    ck_assert_uint_eq(ob.pending, 6);
    outbuf_drop_tail(&ob, 0);
    ck_assert_uint_eq(ob.pending, 6);
    outbuf_drop_tail(&ob, 6);
    ck_assert_uint_eq(ob.pending, 0);
    ck_assert_ptr_null(ob.head);
    outbuf_free(&ob);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("outbuf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, append_small_and_large);
    tcase_add_test(tc, consume_partially_then_fully);
    tcase_add_test(tc, reserve_larger_than_chunk_fails);
    tcase_add_test(tc, outbuf_borrowed_bytes_in_order_released_once_written);
    tcase_add_test(tc, outbuf_free_releases_unwritten_borrowed_bytes);
    tcase_add_test(tc, drop_tail_keeps_the_head_and_releases_the_rest);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
