#ifndef SHOAL_CRYPTO_HMAC_SHA256_H
#define SHOAL_CRYPTO_HMAC_SHA256_H
/* HMAC-SHA-256 (RFC 2104, tested with RFC 4231). Keys of any length; keys longer than a block are
 * hashed first, as the RFC says. The context owns no heap memory. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/crypto/sha256.h"

#define HMAC_SHA256_LEN SHA256_DIGEST_LEN

struct hmac_sha256_ctx {
    struct sha256_ctx inner;
    struct sha256_ctx outer;
};

void hmac_sha256_init(struct hmac_sha256_ctx *ctx, const void *key, size_t key_len);
void hmac_sha256_update(struct hmac_sha256_ctx *ctx, const void *data, size_t len);
/* Writes the full 32-byte MAC and wipes the context. */
void hmac_sha256_final(struct hmac_sha256_ctx *ctx, uint8_t mac[HMAC_SHA256_LEN]);

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 uint8_t mac[HMAC_SHA256_LEN]);

/* True when the first tag_len bytes of HMAC(key, data) equal tag, compared in constant time.
 * tag_len must be 16..32 (a truncated tag shorter than 128 bits is refused: returns false). */
bool hmac_sha256_verify(const void *key, size_t key_len, const void *data, size_t len,
                        const uint8_t *tag, size_t tag_len);

#endif
