/* Sealed gossip packets: both modes, key rotation, and every way a packet must be refused. */
#include <check.h>
#include <string.h>

#include "cluster/gossip/crypto/envelope.h"
#include "test_crypto_util.h"

static const char context[] = "SHOAL1";
static const char payload[] = "alive node=10.0.0.7:7946 incarnation=42";

static void make_key(struct packet_key *key, uint8_t seed)
{
    struct cluster_secret secret;
    memset(secret.bytes, seed, SECRET_MIN_LEN);
    secret.len = SECRET_MIN_LEN;
    packet_key_derive(&secret, key);
}

/* keys with current from seed_current and, when seed_previous != 0, previous from it. */
static void make_keys(struct packet_keys *keys, uint8_t seed_current, uint8_t seed_previous)
{
    memset(keys, 0, sizeof(*keys));
    make_key(&keys->current, seed_current);
    keys->has_previous = seed_previous != 0;
    if (keys->has_previous)
        make_key(&keys->previous, seed_previous);
}

static size_t seal(const struct packet_keys *keys, struct nonce_seq *nonces, enum envelope_mode mode,
                   uint8_t *out, size_t cap)
{
    size_t len = 0;
    ck_assert_int_eq(envelope_seal(keys, nonces, mode, context, sizeof(context) - 1, payload,
                                   sizeof(payload) - 1, out, cap, &len), ENVELOPE_OK);
    ck_assert_uint_eq(len, sizeof(payload) - 1 + ENVELOPE_OVERHEAD);
    return len;
}

static enum envelope_status open_packet(const struct packet_keys *keys, enum envelope_mode mode,
                                        const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
    return envelope_open(keys, mode, context, sizeof(context) - 1, in, len, out, 512, out_len);
}

START_TEST(round_trip_both_modes)
{
    struct packet_keys keys;
    struct nonce_seq nonces;
    make_keys(&keys, 1, 0);
    ck_assert_int_eq(nonce_seq_init(&nonces), 0);
    enum envelope_mode modes[] = {ENVELOPE_AUTHENTICATE, ENVELOPE_ENCRYPT};
    for (size_t m = 0; m < 2; m++) {
        uint8_t packet[512], opened[512];
        size_t len = seal(&keys, &nonces, modes[m], packet, sizeof(packet));
        ck_assert_mem_eq(packet, keys.current.id, PACKET_KEY_ID_LEN);
        bool clear = memcmp(packet + ENVELOPE_HEADER_LEN, payload, sizeof(payload) - 1) == 0;
        ck_assert(clear == (modes[m] == ENVELOPE_AUTHENTICATE));

        size_t opened_len = 0;
        ck_assert_int_eq(open_packet(&keys, modes[m], packet, len, opened, &opened_len), ENVELOPE_OK);
        ck_assert_uint_eq(opened_len, sizeof(payload) - 1);
        ck_assert_mem_eq(opened, payload, opened_len);

        /* In place. */
        ck_assert_int_eq(open_packet(&keys, modes[m], packet, len, packet + ENVELOPE_HEADER_LEN, &opened_len),
                         ENVELOPE_OK);
        ck_assert_mem_eq(packet + ENVELOPE_HEADER_LEN, payload, opened_len);

        /* The other mode refuses it. */
        len = seal(&keys, &nonces, modes[m], packet, sizeof(packet));
        ck_assert_int_eq(open_packet(&keys, modes[1 - m], packet, len, opened, &opened_len), ENVELOPE_BAD_TAG);
    }
}
END_TEST

START_TEST(empty_payload)
{
    struct packet_keys keys;
    struct nonce_seq nonces;
    make_keys(&keys, 1, 0);
    ck_assert_int_eq(nonce_seq_init(&nonces), 0);
    uint8_t packet[ENVELOPE_OVERHEAD];
    size_t len = 0, opened_len = 99;
    ck_assert_int_eq(envelope_seal(&keys, &nonces, ENVELOPE_ENCRYPT, NULL, 0, NULL, 0, packet,
                                   sizeof(packet), &len), ENVELOPE_OK);
    ck_assert_uint_eq(len, ENVELOPE_OVERHEAD);
    ck_assert_int_eq(envelope_open(&keys, ENVELOPE_ENCRYPT, NULL, 0, packet, len, NULL, 0, &opened_len),
                     ENVELOPE_OK);
    ck_assert_uint_eq(opened_len, 0);
}
END_TEST

START_TEST(refusals)
{
    struct packet_keys keys;
    struct nonce_seq nonces;
    make_keys(&keys, 1, 0);
    ck_assert_int_eq(nonce_seq_init(&nonces), 0);
    uint8_t packet[512], opened[512];
    size_t opened_len = 0;
    size_t len = seal(&keys, &nonces, ENVELOPE_AUTHENTICATE, packet, sizeof(packet));

    /* Every single bit flip anywhere in the packet. */
    for (size_t bit = 0; bit < 8 * len; bit++) {
        packet[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(opened, 0x5a, sizeof(opened));
        enum envelope_status st = open_packet(&keys, ENVELOPE_AUTHENTICATE, packet, len, opened, &opened_len);
        if (bit < 8 * PACKET_KEY_ID_LEN)
            ck_assert_int_eq(st, ENVELOPE_UNKNOWN_KEY);
        else
            ck_assert_int_eq(st, ENVELOPE_BAD_TAG);
        ck_assert_uint_eq(opened[0], 0x5a);     /* nothing released */
        packet[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    ck_assert_int_eq(open_packet(&keys, ENVELOPE_AUTHENTICATE, packet, len, opened, &opened_len), ENVELOPE_OK);

    /* Another context (protocol version), truncation, a short output buffer. */
    ck_assert_int_eq(envelope_open(&keys, ENVELOPE_AUTHENTICATE, "SHOAL2", 6, packet, len, opened,
                                   sizeof(opened), &opened_len), ENVELOPE_BAD_TAG);
    ck_assert_int_eq(open_packet(&keys, ENVELOPE_AUTHENTICATE, packet, len - 1, opened, &opened_len),
                     ENVELOPE_BAD_TAG);
    ck_assert_int_eq(open_packet(&keys, ENVELOPE_AUTHENTICATE, packet, ENVELOPE_OVERHEAD - 1, opened,
                                 &opened_len), ENVELOPE_TRUNCATED);
    ck_assert_int_eq(envelope_open(&keys, ENVELOPE_AUTHENTICATE, context, sizeof(context) - 1, packet, len,
                                   opened, len - ENVELOPE_OVERHEAD - 1, &opened_len), ENVELOPE_NO_ROOM);
    size_t sealed_len;
    ck_assert_int_eq(envelope_seal(&keys, &nonces, ENVELOPE_ENCRYPT, NULL, 0, payload, 10, packet,
                                   10 + ENVELOPE_OVERHEAD - 1, &sealed_len), ENVELOPE_NO_ROOM);
    ck_assert_int_eq(envelope_seal(&keys, &nonces, ENVELOPE_ENCRYPT, NULL, 0, NULL, 0, packet, 3,
                                   &sealed_len), ENVELOPE_NO_ROOM);

    /* A node with another secret. */
    struct packet_keys stranger;
    make_keys(&stranger, 2, 0);
    ck_assert_int_eq(open_packet(&stranger, ENVELOPE_AUTHENTICATE, packet, len, opened, &opened_len),
                     ENVELOPE_UNKNOWN_KEY);
    /* Even if it forged the key id, its tag is wrong. */
    len = seal(&stranger, &nonces, ENVELOPE_AUTHENTICATE, packet, sizeof(packet));
    memcpy(packet, keys.current.id, PACKET_KEY_ID_LEN);
    ck_assert_int_eq(open_packet(&keys, ENVELOPE_AUTHENTICATE, packet, len, opened, &opened_len),
                     ENVELOPE_BAD_TAG);

    ck_assert_str_eq(envelope_status_name(ENVELOPE_BAD_TAG), "bad_tag");
    ck_assert_str_eq(envelope_status_name(ENVELOPE_OK), "ok");
}
END_TEST

START_TEST(key_rotation)
{
    /* Rolling a new secret 7 over an old secret 1: first every node gets "7 then 1"
     * (sends with 7, accepts both), then nodes drop 1. */
    struct packet_keys old_only, rotating, new_only;
    make_keys(&old_only, 1, 0);
    make_keys(&rotating, 7, 1);
    make_keys(&new_only, 7, 0);
    struct nonce_seq nonces;
    ck_assert_int_eq(nonce_seq_init(&nonces), 0);
    uint8_t packet[512], opened[512];
    size_t len, opened_len;

    len = seal(&old_only, &nonces, ENVELOPE_ENCRYPT, packet, sizeof(packet));
    ck_assert_int_eq(open_packet(&rotating, ENVELOPE_ENCRYPT, packet, len, opened, &opened_len), ENVELOPE_OK);
    ck_assert_int_eq(open_packet(&new_only, ENVELOPE_ENCRYPT, packet, len, opened, &opened_len),
                     ENVELOPE_UNKNOWN_KEY);

    len = seal(&rotating, &nonces, ENVELOPE_ENCRYPT, packet, sizeof(packet));
    ck_assert_int_eq(open_packet(&rotating, ENVELOPE_ENCRYPT, packet, len, opened, &opened_len), ENVELOPE_OK);
    ck_assert_int_eq(open_packet(&new_only, ENVELOPE_ENCRYPT, packet, len, opened, &opened_len), ENVELOPE_OK);
    ck_assert_mem_eq(opened, payload, opened_len);
    ck_assert_int_eq(open_packet(&old_only, ENVELOPE_ENCRYPT, packet, len, opened, &opened_len),
                     ENVELOPE_UNKNOWN_KEY);
}
END_TEST

START_TEST(aad_pieces_equal_concatenation)
{
    uint8_t key[AEAD_KEY_LEN], nonce[AEAD_NONCE_LEN] = {3}, tag_whole[16], tag_pieces[16];
    uint8_t cipher_whole[40], cipher_pieces[40], plain[40];
    memset(key, 0x11, sizeof(key));
    memset(plain, 0x22, sizeof(plain));
    const char aad[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    aead_seal(key, nonce, aad, sizeof(aad), plain, sizeof(plain), cipher_whole, tag_whole);
    struct aead_piece pieces[] = {{aad, 5}, {NULL, 0}, {aad + 5, 17}, {aad + 22, sizeof(aad) - 22}};
    aead_seal_pieces(key, nonce, pieces, 4, plain, sizeof(plain), cipher_pieces, tag_pieces);
    ck_assert_mem_eq(cipher_whole, cipher_pieces, sizeof(plain));
    ck_assert_mem_eq(tag_whole, tag_pieces, 16);
    ck_assert_int_eq(aead_open_pieces(key, nonce, pieces, 4, cipher_pieces, sizeof(plain), tag_pieces,
                                      cipher_pieces), 0);
    ck_assert_mem_eq(cipher_pieces, plain, sizeof(plain));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto_envelope");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_trip_both_modes);
    tcase_add_test(tc, empty_payload);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, key_rotation);
    tcase_add_test(tc, aad_pieces_equal_concatenation);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
