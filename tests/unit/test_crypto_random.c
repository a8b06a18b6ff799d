/* Secure random bytes and the constant-time helpers. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip/crypto/ct.h"
#include "cluster/gossip/crypto/random.h"
#include "test_crypto_util.h"

START_TEST(random_bytes_fill)
{
    uint8_t a[64], b[64], zeros[64] = {0};
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    ck_assert_int_eq(crypto_random_bytes(a, sizeof(a)), 0);
    ck_assert_int_eq(crypto_random_bytes(b, sizeof(b)), 0);
    /* 512 random bits equal to zero or to another draw: probability 2^-512. */
    ck_assert_mem_ne(a, zeros, sizeof(a));
    ck_assert_mem_ne(a, b, sizeof(a));
    ck_assert_int_eq(crypto_random_bytes(NULL, 0), 0);

    /* A large request is filled completely (getrandom may return short counts). */
    size_t big_len = 1 << 20;
    uint8_t *big = calloc(1, big_len);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(crypto_random_bytes(big, big_len), 0);
    /* No 4 KiB page left all zero (each page being zero has probability 2^-32768). */
    for (size_t page = 0; page < big_len; page += 4096)
        ck_assert_mem_ne(big + page, zeros, sizeof(zeros));
    free(big);

    uint64_t x = 0, y = 0;
    ck_assert_int_eq(crypto_random_u64(&x), 0);
    ck_assert_int_eq(crypto_random_u64(&y), 0);
    ck_assert(x != y);
}
END_TEST

START_TEST(ct_helpers)
{
    uint8_t a[16], b[16];
    for (int i = 0; i < 16; i++)
        a[i] = b[i] = (uint8_t)(i * 17);
    ck_assert(ct_equal(a, b, sizeof(a)));
    ck_assert(ct_equal(a, b, 0));
    for (int i = 0; i < 16 * 8; i++) {
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        ck_assert(!ct_equal(a, b, sizeof(a)));
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    ct_wipe(a, sizeof(a));
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(a[i], 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto_random");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, random_bytes_fill);
    tcase_add_test(tc, ct_helpers);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
