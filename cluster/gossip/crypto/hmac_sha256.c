/* HMAC-SHA-256 per RFC 2104 section 2: H(K ^ opad, H(K ^ ipad, text)). */
#include "cluster/gossip/crypto/hmac_sha256.h"

#include <string.h>

#include "cluster/gossip/crypto/ct.h"

#define IPAD 0x36
#define OPAD 0x5c

void hmac_sha256_init(struct hmac_sha256_ctx *ctx, const void *key, size_t key_len)
{
    uint8_t block_key[SHA256_BLOCK_LEN] = {0};
    if (key_len > SHA256_BLOCK_LEN)
        sha256(key, key_len, block_key);
    else if (key_len > 0)
        memcpy(block_key, key, key_len);

    uint8_t pad[SHA256_BLOCK_LEN];
    for (size_t i = 0; i < SHA256_BLOCK_LEN; i++)
        pad[i] = block_key[i] ^ IPAD;
    sha256_init(&ctx->inner);
    sha256_update(&ctx->inner, pad, sizeof(pad));
    for (size_t i = 0; i < SHA256_BLOCK_LEN; i++)
        pad[i] = block_key[i] ^ OPAD;
    sha256_init(&ctx->outer);
    sha256_update(&ctx->outer, pad, sizeof(pad));

    ct_wipe(block_key, sizeof(block_key));
    ct_wipe(pad, sizeof(pad));
}

void hmac_sha256_update(struct hmac_sha256_ctx *ctx, const void *data, size_t len)
{
    sha256_update(&ctx->inner, data, len);
}

void hmac_sha256_final(struct hmac_sha256_ctx *ctx, uint8_t mac[HMAC_SHA256_LEN])
{
    uint8_t inner_digest[SHA256_DIGEST_LEN];
    sha256_final(&ctx->inner, inner_digest);
    sha256_update(&ctx->outer, inner_digest, sizeof(inner_digest));
    sha256_final(&ctx->outer, mac);
    ct_wipe(inner_digest, sizeof(inner_digest));
}

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 uint8_t mac[HMAC_SHA256_LEN])
{
    struct hmac_sha256_ctx ctx;
    hmac_sha256_init(&ctx, key, key_len);
    hmac_sha256_update(&ctx, data, len);
    hmac_sha256_final(&ctx, mac);
}

bool hmac_sha256_verify(const void *key, size_t key_len, const void *data, size_t len,
                        const uint8_t *tag, size_t tag_len)
{
    if (tag_len < 16 || tag_len > HMAC_SHA256_LEN)
        return false;
    uint8_t expected[HMAC_SHA256_LEN];
    hmac_sha256(key, key_len, data, len, expected);
    bool ok = ct_equal(expected, tag, tag_len);
    ct_wipe(expected, sizeof(expected));
    return ok;
}
