#ifndef SHOAL_CRYPTO_AEAD_H
#define SHOAL_CRYPTO_AEAD_H
/* AEAD_CHACHA20_POLY1305 (RFC 8439 section 2.8) with a detached 16-byte tag.
 *
 * A (key, nonce) pair must never seal two different messages: see cluster/gossip/crypto/nonce.h for a
 * nonce source that guarantees this in practice. For authentication without encryption, seal
 * an empty plaintext (len 0) and pass the whole packet as aad. */
#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY_LEN 32
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16

/* cipher = Encrypt(plain) (len bytes; cipher may equal plain), tag authenticates aad + cipher. */
void aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
               const void *aad, size_t aad_len, const void *plain, size_t len,
               void *cipher, uint8_t tag[AEAD_TAG_LEN]);

/* Verifies tag (constant time) over aad + cipher first; only then decrypts into plain
 * (plain may equal cipher). Returns 0 on success, -1 when the tag does not match, in which
 * case plain is left untouched. */
int aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
              const void *aad, size_t aad_len, const void *cipher, size_t len,
              const uint8_t tag[AEAD_TAG_LEN], void *plain);

/* The same with the AAD given as several pieces, authenticated as if concatenated (saves a copy
 * when the AAD is a header assembled from separate buffers). A piece may have len 0. */
struct aead_piece {
    const void *data;
    size_t len;
};

void aead_seal_pieces(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
                      const struct aead_piece *aad, size_t aad_pieces, const void *plain, size_t len,
                      void *cipher, uint8_t tag[AEAD_TAG_LEN]);

int aead_open_pieces(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN],
                     const struct aead_piece *aad, size_t aad_pieces, const void *cipher, size_t len,
                     const uint8_t tag[AEAD_TAG_LEN], void *plain);

#endif
