#ifndef SHOAL_CRYPTO_POLY1305_H
#define SHOAL_CRYPTO_POLY1305_H
/* Poly1305 one-time authenticator (RFC 8439 section 2.5). A key must authenticate one message only;
 * the AEAD derives a fresh one per nonce. The context owns no heap memory. */
#include <stddef.h>
#include <stdint.h>

#define POLY1305_KEY_LEN 32
#define POLY1305_TAG_LEN 16

struct poly1305_ctx {
    uint32_t r[5];          /* clamped r in 26-bit limbs */
    uint32_t h[5];          /* accumulator in 26-bit limbs */
    uint32_t s[4];          /* the "s" half of the key, little-endian words */
    uint8_t pending[16];    /* partial block */
    size_t pending_len;
};

void poly1305_init(struct poly1305_ctx *ctx, const uint8_t key[POLY1305_KEY_LEN]);
void poly1305_update(struct poly1305_ctx *ctx, const void *data, size_t len);
/* Writes the tag and wipes the context. */
void poly1305_final(struct poly1305_ctx *ctx, uint8_t tag[POLY1305_TAG_LEN]);

void poly1305(const uint8_t key[POLY1305_KEY_LEN], const void *data, size_t len,
              uint8_t tag[POLY1305_TAG_LEN]);

#endif
