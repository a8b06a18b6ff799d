/* AEAD_CHACHA20_POLY1305 per RFC 8439 sections 2.6 and 2.8. */
#include "cluster/gossip/crypto/aead.h"

#include "cluster/gossip/crypto/bytes.h"
#include "cluster/gossip/crypto/chacha20.h"
#include "cluster/gossip/crypto/ct.h"
#include "cluster/gossip/crypto/poly1305.h"

static const uint8_t zero_pad[16];

/* Tag over aad | pad16 | cipher | pad16 | le64(aad_len) | le64(len), keyed by the first half of
 * keystream block 0 (RFC 8439 2.6: the one-time Poly1305 key). */
static void compute_tag(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
                        const struct aead_piece *aad, size_t aad_pieces, const void *cipher,
                        size_t len, uint8_t tag[AEAD_TAG_LEN])
{
    uint8_t block0[CHACHA20_BLOCK_LEN];
    chacha20_block(key, 0, nonce, block0);
    struct poly1305_ctx mac;
    poly1305_init(&mac, block0);
    ct_wipe(block0, sizeof(block0));

    uint64_t aad_len = 0;
    for (size_t i = 0; i < aad_pieces; i++) {
        poly1305_update(&mac, aad[i].data, aad[i].len);
        aad_len += aad[i].len;
    }
    poly1305_update(&mac, zero_pad, (16 - aad_len % 16) % 16);
    poly1305_update(&mac, cipher, len);
    poly1305_update(&mac, zero_pad, (16 - len % 16) % 16);
    uint8_t lengths[16];
    store_le64(lengths, aad_len);
    store_le64(lengths + 8, (uint64_t)len);
    poly1305_update(&mac, lengths, sizeof(lengths));
    poly1305_final(&mac, tag);
}

void aead_seal_pieces(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
                      const struct aead_piece *aad, size_t aad_pieces, const void *plain, size_t len,
                      void *cipher, uint8_t tag[AEAD_TAG_LEN])
{
    chacha20_xor(key, 1, nonce, plain, cipher, len);
    compute_tag(key, nonce, aad, aad_pieces, cipher, len, tag);
}

int aead_open_pieces(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
                     const struct aead_piece *aad, size_t aad_pieces, const void *cipher, size_t len,
                     const uint8_t tag[AEAD_TAG_LEN], void *plain)
{
    uint8_t expected[AEAD_TAG_LEN];
    compute_tag(key, nonce, aad, aad_pieces, cipher, len, expected);
    bool authentic = ct_equal(expected, tag, AEAD_TAG_LEN);
    ct_wipe(expected, sizeof(expected));
    if (!authentic)
        return -1;
    chacha20_xor(key, 1, nonce, cipher, plain, len);
    return 0;
}

void aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
               const void *aad, size_t aad_len, const void *plain, size_t len,
               void *cipher, uint8_t tag[AEAD_TAG_LEN])
{
    struct aead_piece piece = {aad, aad_len};
    aead_seal_pieces(key, nonce, &piece, 1, plain, len, cipher, tag);
}

int aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
              const void *aad, size_t aad_len, const void *cipher, size_t len,
              const uint8_t tag[AEAD_TAG_LEN], void *plain)
{
    struct aead_piece piece = {aad, aad_len};
    return aead_open_pieces(key, nonce, &piece, 1, cipher, len, tag, plain);
}
