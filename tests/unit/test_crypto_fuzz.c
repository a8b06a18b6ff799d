/* Randomised AEAD properties: any message round-trips (also in place and through incremental
 * Poly1305), and any single bit flip in ciphertext, tag, AAD, nonce or key is rejected.
 * The inputs come from a fixed-seed generator so that a failure reproduces exactly. */
#include <check.h>
#include <string.h>

#include "cluster/gossip/crypto/aead.h"
#include "cluster/gossip/crypto/chacha20.h"
#include "cluster/gossip/crypto/poly1305.h"
#include "test_crypto_util.h"

#define ROUNDS 24
#define MAX_TEXT 300
#define MAX_AAD 80

/* splitmix64: a tiny deterministic generator; test inputs only, not for secrets. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void fill(uint64_t *state, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)next_u64(state);
}

static void flip(uint8_t *buf, size_t bit)
{
    buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

START_TEST(round_trip_and_bit_flips)
{
    uint64_t rng = 0x5eed0000u + (uint64_t)_i;
    uint8_t key[AEAD_KEY_LEN], nonce[AEAD_NONCE_LEN], tag[AEAD_TAG_LEN];
    uint8_t aad[MAX_AAD], plain[MAX_TEXT], cipher[MAX_TEXT], opened[MAX_TEXT];
    for (int round = 0; round < ROUNDS; round++) {
        size_t len = (size_t)(next_u64(&rng) % (MAX_TEXT + 1));
        size_t aad_len = (size_t)(next_u64(&rng) % (MAX_AAD + 1));
        fill(&rng, key, sizeof(key));
        fill(&rng, nonce, sizeof(nonce));
        fill(&rng, aad, aad_len);
        fill(&rng, plain, len);

        aead_seal(key, nonce, aad, aad_len, plain, len, cipher, tag);
        ck_assert_int_eq(aead_open(key, nonce, aad, aad_len, cipher, len, tag, opened), 0);
        ck_assert_mem_eq(opened, plain, len);

        /* In place gives the same ciphertext and tag. */
        uint8_t inplace[MAX_TEXT], inplace_tag[AEAD_TAG_LEN];
        memcpy(inplace, plain, len);
        aead_seal(key, nonce, aad, aad_len, inplace, len, inplace, inplace_tag);
        ck_assert_mem_eq(inplace, cipher, len);
        ck_assert_mem_eq(inplace_tag, tag, AEAD_TAG_LEN);

        for (size_t bit = 0; bit < 8 * len; bit++) {
            flip(cipher, bit);
            ck_assert_int_eq(aead_open(key, nonce, aad, aad_len, cipher, len, tag, opened), -1);
            flip(cipher, bit);
        }
        for (size_t bit = 0; bit < 8 * AEAD_TAG_LEN; bit++) {
            flip(tag, bit);
            ck_assert_int_eq(aead_open(key, nonce, aad, aad_len, cipher, len, tag, opened), -1);
            flip(tag, bit);
        }
        for (size_t bit = 0; bit < 8 * aad_len; bit++) {
            flip(aad, bit);
            ck_assert_int_eq(aead_open(key, nonce, aad, aad_len, cipher, len, tag, opened), -1);
            flip(aad, bit);
        }
        size_t nonce_bit = (size_t)(next_u64(&rng) % (8 * AEAD_NONCE_LEN));
        flip(nonce, nonce_bit);
        ck_assert_int_eq(aead_open(key, nonce, aad, aad_len, cipher, len, tag, opened), -1);
        flip(nonce, nonce_bit);
        size_t key_bit = (size_t)(next_u64(&rng) % (8 * AEAD_KEY_LEN));
        flip(key, key_bit);
        ck_assert_int_eq(aead_open(key, nonce, aad, aad_len, cipher, len, tag, opened), -1);
        flip(key, key_bit);

        /* Moving bytes between AAD and ciphertext changes the tag (lengths are authenticated). */
        if (aad_len > 0) {
            ck_assert_int_eq(aead_open(key, nonce, aad, aad_len - 1, cipher, len, tag, opened), -1);
        }
        ck_assert_int_eq(aead_open(key, nonce, aad, aad_len, cipher, len, tag, opened), 0);
        ck_assert_mem_eq(opened, plain, len);
    }
}
END_TEST

START_TEST(incremental_poly1305_matches)
{
    uint64_t rng = 0x9011u + (uint64_t)_i;
    uint8_t key[POLY1305_KEY_LEN], msg[MAX_TEXT], want[POLY1305_TAG_LEN], got[POLY1305_TAG_LEN];
    for (int round = 0; round < ROUNDS; round++) {
        size_t len = (size_t)(next_u64(&rng) % (MAX_TEXT + 1));
        fill(&rng, key, sizeof(key));
        fill(&rng, msg, len);
        poly1305(key, msg, len, want);
        struct poly1305_ctx ctx;
        poly1305_init(&ctx, key);
        for (size_t off = 0; off < len;) {
            size_t piece = (size_t)(next_u64(&rng) % 40);
            if (piece > len - off)
                piece = len - off;
            poly1305_update(&ctx, msg + off, piece);
            off += piece;
        }
        poly1305_final(&ctx, got);
        ck_assert_mem_eq(got, want, POLY1305_TAG_LEN);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto_fuzz");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);     /* generous for sanitizer builds on a shared machine */
    tcase_add_loop_test(tc, round_trip_and_bit_flips, 0, 4);
    tcase_add_loop_test(tc, incremental_poly1305_matches, 0, 4);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
