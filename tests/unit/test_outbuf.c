/* Unit tests for server/outbuf.c: appends across chunks, iovec order, partial consumption. */
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

int main(void)
{
    Suite *s = suite_create("outbuf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, append_small_and_large);
    tcase_add_test(tc, consume_partially_then_fully);
    tcase_add_test(tc, reserve_larger_than_chunk_fails);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
