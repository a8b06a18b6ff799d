/* SHA-256 against FIPS 180-4 / RFC 6234 examples and boundary lengths checked with sha256sum. */
#include <check.h>
#include <string.h>

#include "cluster/gossip/crypto/sha256.h"
#include "test_crypto_util.h"

static void check_digest(const void *msg, size_t len, const char *want_hex)
{
    uint8_t digest[SHA256_DIGEST_LEN];
    sha256(msg, len, digest);
    assert_bytes_hex(digest, sizeof(digest), want_hex);
}

START_TEST(fips_examples)
{
    /* FIPS 180-4 examples (also RFC 6234 section 8.5 TEST1, TEST2_1). */
    check_digest("abc", 3, "ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad");
    const char *msg448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_digest(msg448, strlen(msg448),
                 "248d6a61 d20638b8 e5c02693 0c3e6039 a33ce459 64ff2167 f6ecedd4 19db06c1");
    const char *msg896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                         "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_digest(msg896, strlen(msg896),
                 "cf5b16a7 78af8380 036ce59e 7b049237 0b249b11 e8f07a51 afac4503 7afee9d1");
    check_digest("", 0, "e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 649b934c a495991b 7852b855");
    check_digest(NULL, 0, "e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 649b934c a495991b 7852b855");
}
END_TEST

START_TEST(one_million_a)
{
    /* FIPS 180-4 / RFC 6234 TEST3: one million 'a', fed in uneven pieces. */
    static char chunk[1000];
    memset(chunk, 'a', sizeof(chunk));
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    size_t left = 1000000;
    for (size_t piece = 1; left > 0; piece = piece % 983 + 17) {
        size_t n = piece < left ? piece : left;
        sha256_update(&ctx, chunk, n);
        left -= n;
    }
    uint8_t digest[SHA256_DIGEST_LEN];
    sha256_final(&ctx, digest);
    assert_bytes_hex(digest, sizeof(digest),
                     "cdc76e5c 9914fb92 81a1c7e2 84d73e67 f1809a48 a497200e 046d39cc c7112cd0");
}
END_TEST

/* The first n bytes of a 64-character pattern repeated; digests from
 *   head -c N pattern-repeated | sha256sum
 * These lengths straddle the padding boundaries (55/56: length field fits or not; 64: a full block). */
static const char pattern[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_";

static const struct {
    size_t len;
    const char *digest;
} boundary_cases[] = {
    {1, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},
    {55, "dd00794e0454db49259b6c426331d5e0cdf642fc0d7353fb85ee89519aafd995"},
    {56, "ecbe4cc6c393d5e47e875e1a1ce7489d4e6d420bc3ec3312f9df475278d77f69"},
    {57, "d40d6b5e4d35b7ffb76daab1b5d5d99ae20601ced48ae44cc4204d09aa610be7"},
    {63, "fc3b07c1b17e62b55e2d5f2b64d5b24ff8734f40e1bf9c7bf547f557ae570345"},
    {64, "88b97bc371988d5ce4ec28665260a0128d40f591f809a2d6c98ae7c537d8545d"},
    {65, "99d3514618e8ea890d5781bb2058d07de1a6f8a5e93a6a419c291d9b0023bec9"},
    {119, "db2a5db0c5b5db9b9860dc3a7837548f37f645c15bc1ad6795fa2229628bcd29"},
    {120, "cf70bee0ebb3719b8eefc129f2684ab4808d409380a0c6716eedd21ff783c242"},
    {127, "24e6a64a5725188bf9629791a27d57f108f0b166fb0315f3441071896543a417"},
    {128, "d7e42f3c2f87a19bf8fa3cedd8ed317d9830355ac5a4342800cedf9947547162"},
    {129, "83d7f2102fc9e344f1f02dbcbb045125345380af6c995e5506821b4687868d74"},
};

static void fill_pattern(uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)pattern[i % 64];
}

START_TEST(boundary_lengths)
{
    uint8_t msg[256];
    for (size_t c = 0; c < sizeof(boundary_cases) / sizeof(boundary_cases[0]); c++) {
        fill_pattern(msg, boundary_cases[c].len);
        check_digest(msg, boundary_cases[c].len, boundary_cases[c].digest);
    }
}
END_TEST

START_TEST(incremental_equals_one_shot)
{
    /* Every split point of a 129-byte message, as two updates, gives the one-shot digest. */
    uint8_t msg[129];
    fill_pattern(msg, sizeof(msg));
    uint8_t want[SHA256_DIGEST_LEN];
    sha256(msg, sizeof(msg), want);
    for (size_t split = 0; split <= sizeof(msg); split++) {
        struct sha256_ctx ctx;
        uint8_t got[SHA256_DIGEST_LEN];
        sha256_init(&ctx);
        sha256_update(&ctx, msg, split);
        sha256_update(&ctx, NULL, 0);
        sha256_update(&ctx, msg + split, sizeof(msg) - split);
        sha256_final(&ctx, got);
        ck_assert_mem_eq(got, want, sizeof(want));
    }
    /* And byte by byte. */
    struct sha256_ctx ctx;
    uint8_t got[SHA256_DIGEST_LEN];
    sha256_init(&ctx);
    for (size_t i = 0; i < sizeof(msg); i++)
        sha256_update(&ctx, msg + i, 1);
    sha256_final(&ctx, got);
    ck_assert_mem_eq(got, want, sizeof(want));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto_sha256");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, fips_examples);
    tcase_add_test(tc, one_million_a);
    tcase_add_test(tc, boundary_lengths);
    tcase_add_test(tc, incremental_equals_one_shot);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
