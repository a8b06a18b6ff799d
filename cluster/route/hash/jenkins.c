/* twemproxy's and libhashkit's "jenkins": Bob Jenkins' lookup3 hashlittle() with initval 13,
 * reading the key as little-endian 12-byte blocks (the byte-wise form; on little-endian
 * machines the word-wise forms those programs also use give the same value). */
#include "cluster/route/hash/hash.h"

static uint32_t rot(uint32_t x, unsigned k)
{
    return (x << k) | (x >> (32 - k));
}

static uint32_t load_partial_le32(const unsigned char *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n && i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

uint32_t hash_jenkins(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len + 13u;
    if (len == 0)
        return c;
    while (len > 12) {
        a += load_partial_le32(p, 4);
        b += load_partial_le32(p + 4, 4);
        c += load_partial_le32(p + 8, 4);
        /* mix(a, b, c) */
        a -= c; a ^= rot(c, 4);  c += b;
        b -= a; b ^= rot(a, 6);  a += c;
        c -= b; c ^= rot(b, 8);  b += a;
        a -= c; a ^= rot(c, 16); c += b;
        b -= a; b ^= rot(a, 19); a += c;
        c -= b; c ^= rot(b, 4);  b += a;
        len -= 12;
        p += 12;
    }
    /* the last 1..12 bytes, zero-padded */
    a += load_partial_le32(p, len);
    if (len > 4)
        b += load_partial_le32(p + 4, len - 4);
    if (len > 8)
        c += load_partial_le32(p + 8, len - 8);
    /* final(a, b, c) */
    c ^= b; c -= rot(b, 14);
    a ^= c; a -= rot(c, 11);
    b ^= a; b -= rot(a, 25);
    c ^= b; c -= rot(b, 16);
    a ^= c; a -= rot(c, 4);
    b ^= a; b -= rot(a, 14);
    c ^= b; c -= rot(b, 24);
    return c;
}
