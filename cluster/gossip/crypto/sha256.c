/* SHA-256 per FIPS 180-4 sections 4.1.2, 4.2.2, 5.1.1, 5.3.3 and 6.2. */
#include "cluster/gossip/crypto/sha256.h"

#include <string.h>

#include "cluster/gossip/crypto/ct.h"

/* Big-endian loads and stores (FIPS 180-4 3.1), byte by byte so they work at any alignment and on
 * any host byte order. */
static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

static uint32_t rotr32(uint32_t v, unsigned n)
{
    return (v >> n) | (v << (32 - n));
}

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t round_constants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* FIPS 180-4 5.3.3: first 32 bits of the fractional parts of the square roots of the first 8 primes. */
static const uint32_t initial_state[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static void compress(uint32_t state[8], const uint8_t block[SHA256_BLOCK_LEN])
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = load_be32(block + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr32(w[t - 15], 7) ^ rotr32(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr32(w[t - 2], 17) ^ rotr32(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }

    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; t++) {
        uint32_t sigma1 = rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25);
        uint32_t choose = (e & f) ^ (~e & g);
        uint32_t t1 = h + sigma1 + choose + round_constants[t] + w[t];
        uint32_t sigma0 = rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22);
        uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = sigma0 + majority;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
    ct_wipe(w, sizeof(w));
}

void sha256_init(struct sha256_ctx *ctx)
{
    memcpy(ctx->state, initial_state, sizeof(initial_state));
    ctx->total_len = 0;
    ctx->block_len = 0;
}

void sha256_update(struct sha256_ctx *ctx, const void *data, size_t len)
{
    if (len == 0)
        return;     /* data may be NULL then, and memcpy must not see NULL */
    const uint8_t *in = data;
    ctx->total_len += len;
    if (ctx->block_len > 0) {
        size_t take = SHA256_BLOCK_LEN - ctx->block_len;
        if (take > len)
            take = len;
        memcpy(ctx->block + ctx->block_len, in, take);
        ctx->block_len += take;
        in += take;
        len -= take;
        if (ctx->block_len < SHA256_BLOCK_LEN)
            return;
        compress(ctx->state, ctx->block);
        ctx->block_len = 0;
    }
    for (; len >= SHA256_BLOCK_LEN; in += SHA256_BLOCK_LEN, len -= SHA256_BLOCK_LEN)
        compress(ctx->state, in);
    if (len > 0) {
        memcpy(ctx->block, in, len);
        ctx->block_len = len;
    }
}

void sha256_final(struct sha256_ctx *ctx, uint8_t digest[SHA256_DIGEST_LEN])
{
    /* FIPS 180-4 5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, then the bit length big-endian. */
    uint64_t bit_len = ctx->total_len * 8;
    ctx->block[ctx->block_len++] = 0x80;
    if (ctx->block_len > SHA256_BLOCK_LEN - 8) {
        memset(ctx->block + ctx->block_len, 0, SHA256_BLOCK_LEN - ctx->block_len);
        compress(ctx->state, ctx->block);
        ctx->block_len = 0;
    }
    memset(ctx->block + ctx->block_len, 0, SHA256_BLOCK_LEN - 8 - ctx->block_len);
    store_be64(ctx->block + SHA256_BLOCK_LEN - 8, bit_len);
    compress(ctx->state, ctx->block);
    for (int i = 0; i < 8; i++)
        store_be32(digest + 4 * i, ctx->state[i]);
    ct_wipe(ctx, sizeof(*ctx));
}

void sha256(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_LEN])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, data, len);
    sha256_final(&ctx, digest);
}
