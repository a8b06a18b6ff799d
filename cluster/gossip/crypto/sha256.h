#ifndef SHOAL_CRYPTO_SHA256_H
#define SHOAL_CRYPTO_SHA256_H
/* SHA-256 (FIPS 180-4). Incremental (init/update/final) or one-shot. The context is plain data on
 * the caller's stack or in the caller's struct; it owns no heap memory. */
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN 64

struct sha256_ctx {
    uint32_t state[8];
    uint64_t total_len;                 /* bytes hashed so far */
    uint8_t block[SHA256_BLOCK_LEN];    /* pending partial block */
    size_t block_len;
};

void sha256_init(struct sha256_ctx *ctx);
void sha256_update(struct sha256_ctx *ctx, const void *data, size_t len);
/* Writes the digest and wipes the context; init it again to reuse it. */
void sha256_final(struct sha256_ctx *ctx, uint8_t digest[SHA256_DIGEST_LEN]);

void sha256(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_LEN]);

#endif
