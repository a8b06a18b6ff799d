/* HMAC-SHA-256 against all RFC 4231 section 4 test cases, and HKDF-SHA-256 against RFC 5869
 * appendix A test cases 1-3. */
#include <check.h>
#include <string.h>

#include "cluster/gossip/crypto/hkdf.h"
#include "cluster/gossip/crypto/hmac_sha256.h"
#include "test_crypto_util.h"

struct hmac_case {
    const char *name;
    const char *key_hex;    /* NULL: use key_fill repeated key_len times */
    uint8_t key_fill;
    size_t key_len;
    const char *data;       /* text; NULL: data_fill repeated data_len times */
    uint8_t data_fill;
    size_t data_len;
    size_t out_len;         /* bytes of the MAC compared (case 5 is truncated to 128 bits) */
    const char *mac_hex;
};

static const struct hmac_case rfc4231[] = {
    {"4.2 case 1", NULL, 0x0b, 20, "Hi There", 0, 0, 32,
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"4.3 case 2", "4a656665" /* "Jefe" */, 0, 0, "what do ya want for nothing?", 0, 0, 32,
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {"4.4 case 3", NULL, 0xaa, 20, NULL, 0xdd, 50, 32,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {"4.5 case 4", "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0, NULL, 0xcd, 50, 32,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {"4.6 case 5", NULL, 0x0c, 20, "Test With Truncation", 0, 0, 16,
     "a3b6167473100ee06e0c796c2955552b"},
    {"4.7 case 6", NULL, 0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0, 32,
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {"4.8 case 7", NULL, 0xaa, 131,
     "This is a test using a larger than block-size key and a larger than block-size data. "
     "The key needs to be hashed before being used by the HMAC algorithm.", 0, 0, 32,
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

START_TEST(rfc4231_cases)
{
    const struct hmac_case *c = &rfc4231[_i];
    uint8_t key[256], data[256], mac[HMAC_SHA256_LEN], want[HMAC_SHA256_LEN];
    size_t key_len = c->key_len, data_len = c->data_len;
    if (c->key_hex != NULL)
        key_len = hex_decode(c->key_hex, key, sizeof(key));
    else
        memset(key, c->key_fill, key_len);
    if (c->data != NULL) {
        data_len = strlen(c->data);
        memcpy(data, c->data, data_len);
    } else {
        memset(data, c->data_fill, data_len);
    }
    ck_assert_uint_eq(hex_decode(c->mac_hex, want, sizeof(want)), c->out_len);

    hmac_sha256(key, key_len, data, data_len, mac);
    ck_assert_msg(memcmp(mac, want, c->out_len) == 0, "%s: MAC differs", c->name);

    /* Incremental, one byte at a time. */
    struct hmac_sha256_ctx ctx;
    hmac_sha256_init(&ctx, key, key_len);
    for (size_t i = 0; i < data_len; i++)
        hmac_sha256_update(&ctx, data + i, 1);
    hmac_sha256_final(&ctx, mac);
    ck_assert_msg(memcmp(mac, want, c->out_len) == 0, "%s: incremental MAC differs", c->name);

    /* Verification accepts the (possibly truncated) tag and rejects any single bit flip. */
    ck_assert(hmac_sha256_verify(key, key_len, data, data_len, want, c->out_len));
    for (size_t bit = 0; bit < 8 * c->out_len; bit++) {
        want[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert(!hmac_sha256_verify(key, key_len, data, data_len, want, c->out_len));
        want[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
END_TEST

START_TEST(verify_refuses_short_tags)
{
    uint8_t mac[HMAC_SHA256_LEN];
    hmac_sha256("k", 1, "m", 1, mac);
    ck_assert(hmac_sha256_verify("k", 1, "m", 1, mac, 32));
    ck_assert(hmac_sha256_verify("k", 1, "m", 1, mac, 16));
    ck_assert(!hmac_sha256_verify("k", 1, "m", 1, mac, 15));
    ck_assert(!hmac_sha256_verify("k", 1, "m", 1, mac, 0));
    ck_assert(!hmac_sha256_verify("k", 1, "m", 1, mac, 33));
}
END_TEST

struct hkdf_case {
    const char *ikm, *salt, *info;  /* hex */
    size_t okm_len;
    const char *prk, *okm;          /* hex */
};

/* RFC 5869 appendix A.1-A.3 (the SHA-256 cases). */
static const struct hkdf_case rfc5869[] = {
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9", 42,
     "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
     "404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     82, "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

START_TEST(rfc5869_cases)
{
    const struct hkdf_case *c = &rfc5869[_i];
    uint8_t ikm[128], salt[128], info[128], prk[HKDF_SHA256_PRK_LEN], okm[128];
    size_t ikm_len = hex_decode(c->ikm, ikm, sizeof(ikm));
    size_t salt_len = hex_decode(c->salt, salt, sizeof(salt));
    size_t info_len = hex_decode(c->info, info, sizeof(info));

    hkdf_sha256_extract(salt_len ? salt : NULL, salt_len, ikm, ikm_len, prk);
    assert_bytes_hex(prk, sizeof(prk), c->prk);
    ck_assert_int_eq(hkdf_sha256_expand(prk, info_len ? info : NULL, info_len, okm, c->okm_len), 0);
    assert_bytes_hex(okm, c->okm_len, c->okm);

    memset(okm, 0, sizeof(okm));
    ck_assert_int_eq(hkdf_sha256(salt, salt_len, ikm, ikm_len, info, info_len, okm, c->okm_len), 0);
    assert_bytes_hex(okm, c->okm_len, c->okm);
}
END_TEST

START_TEST(hkdf_length_limit)
{
    static uint8_t okm[HKDF_SHA256_MAX_OKM + 1];
    uint8_t prk[HKDF_SHA256_PRK_LEN] = {1};
    ck_assert_int_eq(hkdf_sha256_expand(prk, NULL, 0, okm, HKDF_SHA256_MAX_OKM), 0);
    ck_assert_int_eq(hkdf_sha256_expand(prk, NULL, 0, okm, HKDF_SHA256_MAX_OKM + 1), -1);
    ck_assert_int_eq(hkdf_sha256(NULL, 0, prk, 1, NULL, 0, okm, HKDF_SHA256_MAX_OKM + 1), -1);
    /* A shorter output is a prefix of a longer one (RFC 5869 2.3: T(1) | T(2) | ...). */
    uint8_t short_okm[40];
    ck_assert_int_eq(hkdf_sha256_expand(prk, NULL, 0, short_okm, sizeof(short_okm)), 0);
    ck_assert_mem_eq(short_okm, okm, sizeof(short_okm));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto_hmac");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, rfc4231_cases, 0, (int)(sizeof(rfc4231) / sizeof(rfc4231[0])));
    tcase_add_test(tc, verify_refuses_short_tags);
    tcase_add_loop_test(tc, rfc5869_cases, 0, (int)(sizeof(rfc5869) / sizeof(rfc5869[0])));
    tcase_add_test(tc, hkdf_length_limit);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
