/* AEAD_CHACHA20_POLY1305 against RFC 8439 section 2.8.2 and appendix A.5, plus the behaviour the
 * gossip layer relies on: a bad tag releases no plaintext; authentication-only use. */
#include <check.h>
#include <string.h>

#include "cluster/gossip/crypto/aead.h"
#include "test_crypto_util.h"

static const char sunscreen[] =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";

static const char sunscreen_cipher[] =
    "d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2 a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6"
    "3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b 1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36"
    "92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58 fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc"
    "3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b 61 16";

struct vector_2_8_2 {
    uint8_t key[32], nonce[12], aad[12], tag[16];
};

static void load_2_8_2(struct vector_2_8_2 *v)
{
    hex_decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", v->key, 32);
    hex_decode("07000000 4041424344454647", v->nonce, 12);
    hex_decode("50515253c0c1c2c3c4c5c6c7", v->aad, 12);
    hex_decode("1a:e1:0b:59:4f:09:e2:6a:7e:90:2e:cb:d0:60:06:91", v->tag, 16);
}

START_TEST(seal_2_8_2)
{
    struct vector_2_8_2 v;
    load_2_8_2(&v);
    uint8_t cipher[sizeof(sunscreen) - 1], tag[16];
    aead_seal(v.key, v.nonce, v.aad, sizeof(v.aad), sunscreen, sizeof(cipher), cipher, tag);
    assert_bytes_hex(cipher, sizeof(cipher), sunscreen_cipher);
    ck_assert_mem_eq(tag, v.tag, 16);

    /* In place gives the same. */
    uint8_t buf[sizeof(sunscreen) - 1];
    memcpy(buf, sunscreen, sizeof(buf));
    aead_seal(v.key, v.nonce, v.aad, sizeof(v.aad), buf, sizeof(buf), buf, tag);
    ck_assert_mem_eq(buf, cipher, sizeof(buf));
    ck_assert_mem_eq(tag, v.tag, 16);
}
END_TEST

START_TEST(open_2_8_2)
{
    struct vector_2_8_2 v;
    load_2_8_2(&v);
    uint8_t cipher[sizeof(sunscreen) - 1], plain[sizeof(sunscreen) - 1];
    hex_decode(sunscreen_cipher, cipher, sizeof(cipher));
    ck_assert_int_eq(aead_open(v.key, v.nonce, v.aad, sizeof(v.aad), cipher, sizeof(cipher), v.tag, plain), 0);
    ck_assert_mem_eq(plain, sunscreen, sizeof(plain));
    /* In place. */
    ck_assert_int_eq(aead_open(v.key, v.nonce, v.aad, sizeof(v.aad), cipher, sizeof(cipher), v.tag, cipher), 0);
    ck_assert_mem_eq(cipher, sunscreen, sizeof(cipher));
}
END_TEST

START_TEST(open_appendix_a5)
{
    uint8_t key[32], nonce[12], aad[12], tag[16], cipher[265], plain[265];
    hex_decode("1c 92 40 a5 eb 55 d3 8a f3 33 88 86 04 f6 b5 f0 47 39 17 c1 40 2b 80 09 9d ca 5c bc 20 70 75 c0",
               key, sizeof(key));
    hex_decode("00 00 00 00 01 02 03 04 05 06 07 08", nonce, sizeof(nonce));
    hex_decode("f3 33 88 86 00 00 00 00 00 00 4e 91", aad, sizeof(aad));
    hex_decode("ee ad 9d 67 89 0c bb 22 39 23 36 fe a1 85 1f 38", tag, sizeof(tag));
    size_t len = hex_decode(
        "64 a0 86 15 75 86 1a f4 60 f0 62 c7 9b e6 43 bd 5e 80 5c fd 34 5c f3 89 f1 08 67 0a c7 6c 8c b2"
        "4c 6c fc 18 75 5d 43 ee a0 9e e9 4e 38 2d 26 b0 bd b7 b7 3c 32 1b 01 00 d4 f0 3b 7f 35 58 94 cf"
        "33 2f 83 0e 71 0b 97 ce 98 c8 a8 4a bd 0b 94 81 14 ad 17 6e 00 8d 33 bd 60 f9 82 b1 ff 37 c8 55"
        "97 97 a0 6e f4 f0 ef 61 c1 86 32 4e 2b 35 06 38 36 06 90 7b 6a 7c 02 b0 f9 f6 15 7b 53 c8 67 e4"
        "b9 16 6c 76 7b 80 4d 46 a5 9b 52 16 cd e7 a4 e9 90 40 c5 a4 04 33 22 5e e2 82 a1 b0 a0 6c 52 3e"
        "af 45 34 d7 f8 3f a1 15 5b 00 47 71 8c bc 54 6a 0d 07 2b 04 b3 56 4e ea 1b 42 22 73 f5 48 27 1a"
        "0b b2 31 60 53 fa 76 99 19 55 eb d6 31 59 43 4e ce bb 4e 46 6d ae 5a 10 73 a6 72 76 27 09 7a 10"
        "49 e6 17 d9 1d 36 10 94 fa 68 f0 ff 77 98 71 30 30 5b ea ba 2e da 04 df 99 7b 71 4d 6c 6f 2c 29"
        "a6 ad 5c b4 02 2b 02 70 9b",
        cipher, sizeof(cipher));
    ck_assert_uint_eq(len, 265);
    ck_assert_int_eq(aead_open(key, nonce, aad, sizeof(aad), cipher, len, tag, plain), 0);
    const char *want =
        "Internet-Drafts are draft documents valid for a maximum of six months and may be updated, "
        "replaced, or obsoleted by other documents at any time. It is inappropriate to use "
        "Internet-Drafts as reference material or to cite them other than as "
        "/\xe2\x80\x9cwork in progress./\xe2\x80\x9d";
    ck_assert_uint_eq(strlen(want), len);
    ck_assert_mem_eq(plain, want, len);
}
END_TEST

START_TEST(bad_tag_releases_nothing)
{
    struct vector_2_8_2 v;
    load_2_8_2(&v);
    uint8_t cipher[sizeof(sunscreen) - 1], plain[sizeof(sunscreen) - 1];
    hex_decode(sunscreen_cipher, cipher, sizeof(cipher));

    memset(plain, 0xA5, sizeof(plain));
    v.tag[15] ^= 0x80;
    ck_assert_int_eq(aead_open(v.key, v.nonce, v.aad, sizeof(v.aad), cipher, sizeof(cipher), v.tag, plain), -1);
    for (size_t i = 0; i < sizeof(plain); i++)
        ck_assert_uint_eq(plain[i], 0xA5);
    v.tag[15] ^= 0x80;

    /* Wrong nonce, wrong key, truncated ciphertext, missing AAD: all refused. */
    v.nonce[0] ^= 1;
    ck_assert_int_eq(aead_open(v.key, v.nonce, v.aad, sizeof(v.aad), cipher, sizeof(cipher), v.tag, plain), -1);
    v.nonce[0] ^= 1;
    v.key[31] ^= 1;
    ck_assert_int_eq(aead_open(v.key, v.nonce, v.aad, sizeof(v.aad), cipher, sizeof(cipher), v.tag, plain), -1);
    v.key[31] ^= 1;
    ck_assert_int_eq(aead_open(v.key, v.nonce, v.aad, sizeof(v.aad), cipher, sizeof(cipher) - 1, v.tag, plain), -1);
    ck_assert_int_eq(aead_open(v.key, v.nonce, NULL, 0, cipher, sizeof(cipher), v.tag, plain), -1);
    /* In-place open with a bad tag leaves the ciphertext as it was. */
    uint8_t copy[sizeof(cipher)];
    memcpy(copy, cipher, sizeof(copy));
    v.tag[0] ^= 1;
    ck_assert_int_eq(aead_open(v.key, v.nonce, v.aad, sizeof(v.aad), cipher, sizeof(cipher), v.tag, cipher), -1);
    ck_assert_mem_eq(cipher, copy, sizeof(copy));
}
END_TEST

START_TEST(authentication_only)
{
    /* Empty plaintext, the packet as AAD: the tag alone authenticates it. */
    uint8_t key[32], nonce[12] = {9}, tag[16];
    memset(key, 0x42, sizeof(key));
    const char packet[] = "ping seq=17 from=10.0.0.1:7946";
    aead_seal(key, nonce, packet, sizeof(packet), NULL, 0, NULL, tag);
    ck_assert_int_eq(aead_open(key, nonce, packet, sizeof(packet), NULL, 0, tag, NULL), 0);
    char tampered[sizeof(packet)];
    memcpy(tampered, packet, sizeof(packet));
    tampered[12] = '8';
    ck_assert_int_eq(aead_open(key, nonce, tampered, sizeof(tampered), NULL, 0, tag, NULL), -1);

    /* Empty everything still gives a tag bound to key and nonce. */
    uint8_t tag2[16];
    aead_seal(key, nonce, NULL, 0, NULL, 0, NULL, tag2);
    ck_assert_int_eq(aead_open(key, nonce, NULL, 0, NULL, 0, tag2, NULL), 0);
    nonce[1] = 1;
    ck_assert_int_eq(aead_open(key, nonce, NULL, 0, NULL, 0, tag2, NULL), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto_aead");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, seal_2_8_2);
    tcase_add_test(tc, open_2_8_2);
    tcase_add_test(tc, open_appendix_a5);
    tcase_add_test(tc, bad_tag_releases_nothing);
    tcase_add_test(tc, authentication_only);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
