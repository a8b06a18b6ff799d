/* Secure random bytes, constant-time helpers and the AEAD nonce sequence. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip/crypto/ct.h"
#include "cluster/gossip/crypto/nonce.h"
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

START_TEST(nonce_sequence_counts_up)
{
    struct nonce_seq seq;
    ck_assert_int_eq(nonce_seq_init(&seq), 0);
    uint8_t first[AEAD_NONCE_LEN], second[AEAD_NONCE_LEN];
    nonce_seq_next(&seq, first);
    nonce_seq_next(&seq, second);
    ck_assert_mem_eq(first, seq.prefix, 4);
    ck_assert_mem_eq(second, seq.prefix, 4);
    uint64_t a = 0, b = 0;
    for (int i = 7; i >= 0; i--) {
        a = a << 8 | first[4 + i];
        b = b << 8 | second[4 + i];
    }
    ck_assert(b == a + 1);

    /* The counter wraps around 2^64 without touching the prefix. */
    atomic_store(&seq.counter, UINT64_MAX);
    nonce_seq_next(&seq, first);
    nonce_seq_next(&seq, second);
    assert_bytes_hex(first + 4, 8, "ffffffffffffffff");
    assert_bytes_hex(second + 4, 8, "0000000000000000");
    ck_assert_mem_eq(second, seq.prefix, 4);

    /* Two sequences get different random starting points. */
    struct nonce_seq other;
    ck_assert_int_eq(nonce_seq_init(&other), 0);
    uint8_t theirs[AEAD_NONCE_LEN];
    nonce_seq_next(&other, theirs);
    ck_assert_mem_ne(theirs, second, AEAD_NONCE_LEN);
}
END_TEST

#define THREADS 4
#define PER_THREAD 5000

struct draw_job {
    struct nonce_seq *seq;
    uint8_t (*out)[AEAD_NONCE_LEN];
};

static void *draw_nonces(void *arg)
{
    struct draw_job *job = arg;
    for (int i = 0; i < PER_THREAD; i++)
        nonce_seq_next(job->seq, job->out[i]);
    return NULL;
}

static int compare_nonces(const void *a, const void *b)
{
    return memcmp(a, b, AEAD_NONCE_LEN);
}

START_TEST(nonce_sequence_unique_across_threads)
{
    struct nonce_seq seq;
    ck_assert_int_eq(nonce_seq_init(&seq), 0);
    uint8_t (*all)[AEAD_NONCE_LEN] = calloc(THREADS * PER_THREAD, AEAD_NONCE_LEN);
    ck_assert_ptr_nonnull(all);
    pthread_t threads[THREADS];
    struct draw_job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t].seq = &seq;
        jobs[t].out = all + t * PER_THREAD;
        ck_assert_int_eq(pthread_create(&threads[t], NULL, draw_nonces, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    qsort(all, THREADS * PER_THREAD, AEAD_NONCE_LEN, compare_nonces);
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        ck_assert_int_ne(memcmp(all[i - 1], all[i], AEAD_NONCE_LEN), 0);
    free(all);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto_random");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, random_bytes_fill);
    tcase_add_test(tc, ct_helpers);
    tcase_add_test(tc, nonce_sequence_counts_up);
    tcase_add_test(tc, nonce_sequence_unique_across_threads);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
