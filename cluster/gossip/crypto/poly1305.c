/* Poly1305 per RFC 8439 section 2.5: tag = ((sum of (block + 2^(8*len)) * r^i) mod 2^130-5) + s,
 * mod 2^128. Numbers below 2^130 are held as five 26-bit limbs so that every limb product fits in
 * 64 bits with room for the sums; reduction uses 2^130 = 5 (mod 2^130-5). */
#include "cluster/gossip/crypto/poly1305.h"

#include <string.h>

#include "cluster/gossip/crypto/bytes.h"
#include "cluster/gossip/crypto/ct.h"

#define LIMB_MASK 0x3ffffffu
#define HIGH_BIT (1u << 24)     /* 2^128 in limb 4 (which starts at bit 104) */

/* 128-bit little-endian number (four 32-bit words) to five 26-bit limbs. */
static void words_to_limbs(const uint32_t w[4], uint32_t limb[5])
{
    limb[0] = w[0] & LIMB_MASK;
    limb[1] = ((w[0] >> 26) | (w[1] << 6)) & LIMB_MASK;
    limb[2] = ((w[1] >> 20) | (w[2] << 12)) & LIMB_MASK;
    limb[3] = ((w[2] >> 14) | (w[3] << 18)) & LIMB_MASK;
    limb[4] = w[3] >> 8;
}

void poly1305_init(struct poly1305_ctx *ctx, const uint8_t key[POLY1305_KEY_LEN])
{
    uint32_t w[4];
    for (int i = 0; i < 4; i++)
        w[i] = load_le32(key + 4 * i);
    /* RFC 8439 2.5 clamp: r &= 0x0ffffffc0ffffffc0ffffffc0fffffff */
    w[0] &= 0x0fffffffu;
    w[1] &= 0x0ffffffcu;
    w[2] &= 0x0ffffffcu;
    w[3] &= 0x0ffffffcu;
    words_to_limbs(w, ctx->r);
    ct_wipe(w, sizeof(w));
    for (int i = 0; i < 4; i++)
        ctx->s[i] = load_le32(key + 16 + 4 * i);
    memset(ctx->h, 0, sizeof(ctx->h));
    ctx->pending_len = 0;
}

/* h = (h + block + high_bit * 2^128) * r mod 2^130-5, limbs left partly reduced. */
static void absorb_block(struct poly1305_ctx *ctx, const uint8_t block[16], uint32_t high_bit)
{
    uint32_t w[4], m[5];
    for (int i = 0; i < 4; i++)
        w[i] = load_le32(block + 4 * i);
    words_to_limbs(w, m);
    m[4] |= high_bit;

    uint64_t h0 = ctx->h[0] + m[0], h1 = ctx->h[1] + m[1], h2 = ctx->h[2] + m[2];
    uint64_t h3 = ctx->h[3] + m[3], h4 = ctx->h[4] + m[4];
    uint64_t r0 = ctx->r[0], r1 = ctx->r[1], r2 = ctx->r[2], r3 = ctx->r[3], r4 = ctx->r[4];
    /* A product landing at or above 2^130 wraps to 5 times itself at the bottom. */
    uint64_t r1x5 = r1 * 5, r2x5 = r2 * 5, r3x5 = r3 * 5, r4x5 = r4 * 5;

    uint64_t d0 = h0 * r0 + h1 * r4x5 + h2 * r3x5 + h3 * r2x5 + h4 * r1x5;
    uint64_t d1 = h0 * r1 + h1 * r0 + h2 * r4x5 + h3 * r3x5 + h4 * r2x5;
    uint64_t d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * r4x5 + h4 * r3x5;
    uint64_t d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * r4x5;
    uint64_t d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0;

    uint64_t carry;
    carry = d0 >> 26; d0 &= LIMB_MASK; d1 += carry;
    carry = d1 >> 26; d1 &= LIMB_MASK; d2 += carry;
    carry = d2 >> 26; d2 &= LIMB_MASK; d3 += carry;
    carry = d3 >> 26; d3 &= LIMB_MASK; d4 += carry;
    carry = d4 >> 26; d4 &= LIMB_MASK; d0 += carry * 5;
    carry = d0 >> 26; d0 &= LIMB_MASK; d1 += carry;

    ctx->h[0] = (uint32_t)d0;
    ctx->h[1] = (uint32_t)d1;
    ctx->h[2] = (uint32_t)d2;
    ctx->h[3] = (uint32_t)d3;
    ctx->h[4] = (uint32_t)d4;
}

void poly1305_update(struct poly1305_ctx *ctx, const void *data, size_t len)
{
    if (len == 0)
        return;
    const uint8_t *in = data;
    if (ctx->pending_len > 0) {
        size_t take = 16 - ctx->pending_len;
        if (take > len)
            take = len;
        memcpy(ctx->pending + ctx->pending_len, in, take);
        ctx->pending_len += take;
        in += take;
        len -= take;
        if (ctx->pending_len < 16)
            return;
        absorb_block(ctx, ctx->pending, HIGH_BIT);
        ctx->pending_len = 0;
    }
    for (; len >= 16; in += 16, len -= 16)
        absorb_block(ctx, in, HIGH_BIT);
    if (len > 0) {
        memcpy(ctx->pending, in, len);
        ctx->pending_len = len;
    }
}

void poly1305_final(struct poly1305_ctx *ctx, uint8_t tag[POLY1305_TAG_LEN])
{
    if (ctx->pending_len > 0) {
        /* A short last block gets its 2^(8*len) bit as a 0x01 byte right after the data. */
        ctx->pending[ctx->pending_len] = 1;
        memset(ctx->pending + ctx->pending_len + 1, 0, 16 - ctx->pending_len - 1);
        absorb_block(ctx, ctx->pending, 0);
    }

    /* Carry fully: the value is then below 2^130 + 2^52, under twice the modulus. */
    uint32_t h0 = ctx->h[0], h1 = ctx->h[1], h2 = ctx->h[2], h3 = ctx->h[3], h4 = ctx->h[4];
    uint32_t carry;
    carry = h1 >> 26; h1 &= LIMB_MASK; h2 += carry;
    carry = h2 >> 26; h2 &= LIMB_MASK; h3 += carry;
    carry = h3 >> 26; h3 &= LIMB_MASK; h4 += carry;
    carry = h4 >> 26; h4 &= LIMB_MASK; h0 += carry * 5;
    carry = h0 >> 26; h0 &= LIMB_MASK; h1 += carry;

    /* g = h - (2^130 - 5); keep g when it is not negative, without branching on it. */
    uint32_t g0 = h0 + 5;
    carry = g0 >> 26; g0 &= LIMB_MASK;
    uint32_t g1 = h1 + carry;
    carry = g1 >> 26; g1 &= LIMB_MASK;
    uint32_t g2 = h2 + carry;
    carry = g2 >> 26; g2 &= LIMB_MASK;
    uint32_t g3 = h3 + carry;
    carry = g3 >> 26; g3 &= LIMB_MASK;
    uint32_t g4 = h4 + carry - (1u << 26);
    uint32_t use_g = (g4 >> 31) - 1;    /* all ones when g4 did not go negative */
    h0 = (h0 & ~use_g) | (g0 & use_g);
    h1 = (h1 & ~use_g) | (g1 & use_g);
    h2 = (h2 & ~use_g) | (g2 & use_g);
    h3 = (h3 & ~use_g) | (g3 & use_g);
    h4 = (h4 & ~use_g) | (g4 & use_g);

    /* tag = (h + s) mod 2^128. Limbs are added (not ORed) so a limb at exactly 2^26 still counts. */
    uint64_t acc = (uint64_t)h0 + ((uint64_t)h1 << 26);
    uint32_t word[4];
    word[0] = (uint32_t)acc;
    acc = (acc >> 32) + ((uint64_t)h2 << 20);
    word[1] = (uint32_t)acc;
    acc = (acc >> 32) + ((uint64_t)h3 << 14);
    word[2] = (uint32_t)acc;
    acc = (acc >> 32) + ((uint64_t)h4 << 8);
    word[3] = (uint32_t)acc;

    uint64_t sum = 0;
    for (int i = 0; i < 4; i++) {
        sum = (sum >> 32) + word[i] + ctx->s[i];
        store_le32(tag + 4 * i, (uint32_t)sum);
    }
    ct_wipe(word, sizeof(word));
    ct_wipe(ctx, sizeof(*ctx));
}

void poly1305(const uint8_t key[POLY1305_KEY_LEN], const void *data, size_t len,
              uint8_t tag[POLY1305_TAG_LEN])
{
    struct poly1305_ctx ctx;
    poly1305_init(&ctx, key);
    poly1305_update(&ctx, data, len);
    poly1305_final(&ctx, tag);
}
