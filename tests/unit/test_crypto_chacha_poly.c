/* ChaCha20 and Poly1305 against RFC 8439: sections 2.3.2, 2.4.2, 2.5.2, 2.6.2 and appendix A.1,
 * A.2 and A.3 (all eleven Poly1305 vectors, which exercise the carry and final-reduction edges). */
#include <check.h>
#include <string.h>

#include "cluster/gossip/crypto/chacha20.h"
#include "cluster/gossip/crypto/poly1305.h"
#include "test_crypto_util.h"

static const char sunscreen[] =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";

static const char ietf_contribution[] =
    "Any submission to the IETF intended by the Contributor for publication as all or part of an "
    "IETF Internet-Draft or RFC and any statement made within the context of an IETF activity is "
    "considered an \"IETF Contribution\". Such statements include oral statements in IETF sessions, "
    "as well as written and electronic communications made at any time or place, which are "
    "addressed to";

static const char jabberwocky[] =
    "'Twas brillig, and the slithy toves\nDid gyre and gimble in the wabe:\n"
    "All mimsy were the borogoves,\nAnd the mome raths outgrabe.";

START_TEST(chacha20_block_2_3_2)
{
    uint8_t key[32], nonce[12], out[64];
    hex_decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key, sizeof(key));
    hex_decode("000000090000004a00000000", nonce, sizeof(nonce));
    chacha20_block(key, 1, nonce, out);
    assert_bytes_hex(out, sizeof(out),
                     "10 f1 e7 e4 d1 3b 59 15 50 0f dd 1f a3 20 71 c4 c7 d1 f4 c7 33 c0 68 03 04 22 aa 9a c3 d4 6c 4e"
                     "d2 82 64 46 07 9f aa 09 14 c2 d7 05 d9 8b 02 a2 b5 12 9c d1 de 16 4e b9 cb d0 83 e8 a2 50 3c 4e");
}
END_TEST

START_TEST(chacha20_block_a_1)
{
    /* A.1 test vector #1: all-zero key and nonce, counter 0. */
    uint8_t key[32] = {0}, nonce[12] = {0}, out[64];
    chacha20_block(key, 0, nonce, out);
    assert_bytes_hex(out, sizeof(out),
                     "76 b8 e0 ad a0 f1 3d 90 40 5d 6a e5 53 86 bd 28 bd d2 19 b8 a0 8d ed 1a a8 36 ef cc 8b 77 0d c7"
                     "da 41 59 7c 51 57 48 8d 77 24 e0 3f b8 d8 4a 37 6a 43 b8 f4 15 18 a1 1c c3 87 b6 69 b2 ee 65 86");
}
END_TEST

START_TEST(chacha20_encrypt_2_4_2)
{
    uint8_t key[32], nonce[12], out[sizeof(sunscreen) - 1];
    hex_decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key, sizeof(key));
    hex_decode("000000000000004a00000000", nonce, sizeof(nonce));
    const char *want =
        "6e 2e 35 9a 25 68 f9 80 41 ba 07 28 dd 0d 69 81 e9 7e 7a ec 1d 43 60 c2 0a 27 af cc fd 9f ae 0b"
        "f9 1b 65 c5 52 47 33 ab 8f 59 3d ab cd 62 b3 57 16 39 d6 24 e6 51 52 ab 8f 53 0c 35 9f 08 61 d8"
        "07 ca 0d bf 50 0d 6a 61 56 a3 8e 08 8a 22 b6 5e 52 bc 51 4d 16 cc f8 06 81 8c e9 1a b7 79 37 36"
        "5a f9 0b bf 74 a3 5b e6 b4 0b 8e ed f2 78 5e 42 87 4d";
    chacha20_xor(key, 1, nonce, (const uint8_t *)sunscreen, out, sizeof(out));
    assert_bytes_hex(out, sizeof(out), want);

    /* In place, and back again. */
    chacha20_xor(key, 1, nonce, out, out, sizeof(out));
    ck_assert_mem_eq(out, sunscreen, sizeof(out));
}
END_TEST

START_TEST(chacha20_encrypt_a_2)
{
    /* A.2 test vector #2: key ending in 01, nonce ending in 02, counter 1. */
    uint8_t key[32] = {0}, nonce[12] = {0}, out[sizeof(ietf_contribution) - 1];
    key[31] = 1;
    nonce[11] = 2;
    chacha20_xor(key, 1, nonce, (const uint8_t *)ietf_contribution, out, sizeof(out));
    uint8_t again[sizeof(out)];
    chacha20_xor(key, 1, nonce, out, again, sizeof(out));
    ck_assert_mem_eq(again, ietf_contribution, sizeof(out));
    assert_bytes_hex(out, sizeof(out),
                     "a3fbf07df3fa2fde4f376ca23e82737041605d9f4f4f57bd8cff2c1d4b7955ec"
                     "2a97948bd3722915c8f3d337f7d370050e9e96d647b7c39f56e031ca5eb6250d"
                     "4042e02785ececfa4b4bb5e8ead0440e20b6e8db09d881a7c6132f420e527950"
                     "42bdfa7773d8a9051447b3291ce1411c680465552aa6c405b7764d5e87bea85a"
                     "d00f8449ed8f72d0d662ab052691ca66424bc86d2df80ea41f43abf937d3259d"
                     "c4b2d0dfb48a6c9139ddd7f76966e928e635553ba76c5c879d7b35d49eb2e62b"
                     "0871cdac638939e25e8a1e0ef9d5280fa8ca328b351c3c765989cbcf3daa8b6c"
                     "cc3aaf9f3979c92b3720fc88dc95ed84a1be059c6499b9fda236e7e818b04b0b"
                     "c39c1e876b193bfe5569753f88128cc08aaa9b63d1a16f80ef2554d7189c411f"
                     "5869ca52c5b83fa36ff216b9c1d30062bebcfd2dc5bce0911934fda79a86f6e6"
                     "98ced759c3ff9b6477338f3da4f9cd8514ea9982ccafb341b2384dd902f3d1ab"
                     "7ac61dd29c6f21ba5b862f3730e37cfdc4fd806c22f221");
}
END_TEST

START_TEST(chacha20_split_calls_match)
{
    /* A stream can be produced block by block by advancing the counter. */
    uint8_t key[32], nonce[12], whole[200], parts[200], zeros[200] = {0};
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    for (int i = 0; i < 12; i++)
        nonce[i] = (uint8_t)(i * 3 + 5);
    chacha20_xor(key, 7, nonce, zeros, whole, sizeof(whole));
    chacha20_xor(key, 7, nonce, zeros, parts, 64);
    chacha20_xor(key, 8, nonce, zeros, parts + 64, 128);
    chacha20_xor(key, 10, nonce, zeros, parts + 192, 8);
    ck_assert_mem_eq(whole, parts, sizeof(whole));
    uint8_t block[64];
    chacha20_block(key, 9, nonce, block);
    ck_assert_mem_eq(whole + 128, block, 64);
}
END_TEST

START_TEST(poly1305_2_5_2)
{
    uint8_t key[32], tag[16];
    hex_decode("85:d6:be:78:57:55:6d:33:7f:44:52:fe:42:d5:06:a8:01:03:80:8a:fb:0d:b2:fd:4a:bf:f6:af:41:49:f5:1b",
               key, sizeof(key));
    poly1305(key, "Cryptographic Forum Research Group", 34, tag);
    assert_bytes_hex(tag, sizeof(tag), "a8:06:1d:c1:30:51:36:c6:c2:2b:8b:af:0c:01:27:a9");
}
END_TEST

START_TEST(poly1305_key_generation_2_6_2)
{
    /* The one-time key is the first 32 bytes of ChaCha20 block 0. */
    uint8_t key[32], nonce[12], block[64];
    hex_decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", key, sizeof(key));
    hex_decode("000000000001020304050607", nonce, sizeof(nonce));
    chacha20_block(key, 0, nonce, block);
    assert_bytes_hex(block, 32,
                     "8a d5 a0 8b 90 5f 81 cc 81 50 40 27 4a b2 94 71 a8 33 b6 37 e3 fd 0d a5 08 db b8 e2 fd d1 a6 46");
}
END_TEST

struct poly_case {
    const char *key;        /* hex, r then s */
    const char *msg_hex;    /* NULL: msg_text */
    const char *msg_text;
    const char *tag;
};

static const struct poly_case appendix_a3[] = {
    /* #1 */
    {"0000000000000000000000000000000000000000000000000000000000000000",
     "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
     NULL, "00000000000000000000000000000000"},
    /* #2 */
    {"0000000000000000000000000000000036e5f6b5c5e06070f0efca96227a863e", NULL, ietf_contribution,
     "36e5f6b5c5e06070f0efca96227a863e"},
    /* #3 */
    {"36e5f6b5c5e06070f0efca96227a863e00000000000000000000000000000000", NULL, ietf_contribution,
     "f3477e7cd95417af89a6b8794c310cf0"},
    /* #4 */
    {"1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0", NULL, jabberwocky,
     "4541669a7eaaee61e708dc7cbcc5eb62"},
    /* #5: h reaches exactly p; the final reduction must subtract it. */
    {"0200000000000000000000000000000000000000000000000000000000000000",
     "ffffffffffffffffffffffffffffffff", NULL, "03000000000000000000000000000000"},
    /* #6: the addition of s wraps mod 2^128. */
    {"02000000000000000000000000000000ffffffffffffffffffffffffffffffff",
     "02000000000000000000000000000000", NULL, "03000000000000000000000000000000"},
    /* #7 */
    {"0100000000000000000000000000000000000000000000000000000000000000",
     "fffffffffffffffffffffffffffffffff0ffffffffffffffffffffffffffffff11000000000000000000000000000000",
     NULL, "05000000000000000000000000000000"},
    /* #8 */
    {"0100000000000000000000000000000000000000000000000000000000000000",
     "fffffffffffffffffffffffffffffffffbfefefefefefefefefefefefefefefe01010101010101010101010101010101",
     NULL, "00000000000000000000000000000000"},
    /* #9 */
    {"0200000000000000000000000000000000000000000000000000000000000000",
     "fdffffffffffffffffffffffffffffff", NULL, "faffffffffffffffffffffffffffffff"},
    /* #10 */
    {"0100000000000000040000000000000000000000000000000000000000000000",
     "e33594d7505e43b900000000000000003394d7505e4379cd01000000000000000000000000000000000000000000000001000000000000000000000000000000",
     NULL, "14000000000000005500000000000000"},
    /* #11 */
    {"0100000000000000040000000000000000000000000000000000000000000000",
     "e33594d7505e43b900000000000000003394d7505e4379cd010000000000000000000000000000000000000000000000",
     NULL, "13000000000000000000000000000000"},
};

START_TEST(poly1305_appendix_a3)
{
    const struct poly_case *c = &appendix_a3[_i];
    uint8_t key[32], msg[512], tag[16];
    hex_decode(c->key, key, sizeof(key));
    size_t len;
    if (c->msg_hex != NULL) {
        len = hex_decode(c->msg_hex, msg, sizeof(msg));
    } else {
        len = strlen(c->msg_text);
        memcpy(msg, c->msg_text, len);
    }
    poly1305(key, msg, len, tag);
    assert_bytes_hex(tag, sizeof(tag), c->tag);

    /* The same through uneven incremental updates. */
    for (size_t step = 1; step <= 17; step += 4) {
        struct poly1305_ctx ctx;
        poly1305_init(&ctx, key);
        for (size_t off = 0; off < len; off += step)
            poly1305_update(&ctx, msg + off, off + step <= len ? step : len - off);
        poly1305_final(&ctx, tag);
        assert_bytes_hex(tag, sizeof(tag), c->tag);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto_chacha_poly");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, chacha20_block_2_3_2);
    tcase_add_test(tc, chacha20_block_a_1);
    tcase_add_test(tc, chacha20_encrypt_2_4_2);
    tcase_add_test(tc, chacha20_encrypt_a_2);
    tcase_add_test(tc, chacha20_split_calls_match);
    tcase_add_test(tc, poly1305_2_5_2);
    tcase_add_test(tc, poly1305_key_generation_2_6_2);
    tcase_add_loop_test(tc, poly1305_appendix_a3, 0, (int)(sizeof(appendix_a3) / sizeof(appendix_a3[0])));
    suite_add_tcase(s, tc);
    return run_suite(s);
}
