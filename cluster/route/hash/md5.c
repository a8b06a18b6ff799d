/* MD5 written from the algorithm description in RFC 1321 (section 3). */
#include "cluster/route/hash/md5.h"

#include <string.h>

static uint32_t rotl32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* RFC 1321 3.4: T[i] = floor(2^32 * abs(sin(i + 1))), tabulated to stay libm-free. */
static const uint32_t sine_table[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* Per-round left-rotation amounts, four per round (RFC 1321 3.4). */
static const unsigned char shifts[4][4] = {
    {7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21},
};

static void md5_transform(uint32_t state[4], const unsigned char block[64])
{
    uint32_t x[16];
    for (unsigned i = 0; i < 16; i++)
        x[i] = load_le32(block + 4 * i);

    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    for (unsigned i = 0; i < 64; i++) {
        unsigned round = i / 16;
        uint32_t f;
        unsigned g;
        switch (round) {
        case 0: f = (b & c) | (~b & d); g = i; break;
        case 1: f = (b & d) | (c & ~d); g = (5 * i + 1) % 16; break;
        case 2: f = b ^ c ^ d; g = (3 * i + 5) % 16; break;
        default: f = c ^ (b | ~d); g = (7 * i) % 16; break;
        }
        uint32_t rotated = rotl32(a + f + x[g] + sine_table[i], shifts[round][i % 4]);
        a = d;
        d = c;
        c = b;
        b = b + rotated;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
}

void md5_init(struct md5_ctx *ctx)
{
    ctx->state[0] = 0x67452301;
    ctx->state[1] = 0xefcdab89;
    ctx->state[2] = 0x98badcfe;
    ctx->state[3] = 0x10325476;
    ctx->length = 0;
    ctx->fill = 0;
}

void md5_update(struct md5_ctx *ctx, const void *data, size_t len)
{
    const unsigned char *in = data;
    ctx->length += len;
    if (ctx->fill > 0) {
        size_t take = 64 - ctx->fill;
        if (take > len)
            take = len;
        memcpy(ctx->block + ctx->fill, in, take);
        ctx->fill += take;
        in += take;
        len -= take;
        if (ctx->fill < 64)
            return;
        md5_transform(ctx->state, ctx->block);
        ctx->fill = 0;
    }
    while (len >= 64) {
        md5_transform(ctx->state, in);
        in += 64;
        len -= 64;
    }
    memcpy(ctx->block, in, len);
    ctx->fill = len;
}

void md5_final(struct md5_ctx *ctx, unsigned char digest[MD5_DIGEST_LEN])
{
    uint64_t bit_length = ctx->length * 8;
    /* Padding: one 1 bit, zeros up to 56 mod 64, then the 64-bit length (RFC 1321 3.1, 3.2). */
    static const unsigned char pad[64] = {0x80};
    size_t pad_len = ctx->fill < 56 ? 56 - ctx->fill : 120 - ctx->fill;
    md5_update(ctx, pad, pad_len);
    unsigned char length_le[8];
    store_le32(length_le, (uint32_t)bit_length);
    store_le32(length_le + 4, (uint32_t)(bit_length >> 32));
    md5_update(ctx, length_le, sizeof length_le);
    for (unsigned i = 0; i < 4; i++)
        store_le32(digest + 4 * i, ctx->state[i]);
}

void md5_digest(const void *data, size_t len, unsigned char digest[MD5_DIGEST_LEN])
{
    struct md5_ctx ctx;
    md5_init(&ctx);
    md5_update(&ctx, data, len);
    md5_final(&ctx, digest);
}

uint32_t md5_digest_word(const unsigned char digest[MD5_DIGEST_LEN], unsigned word)
{
    return load_le32(digest + 4 * word);
}
