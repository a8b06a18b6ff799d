/* twemproxy's and libhashkit's "murmur": MurmurHash2 (Austin Appleby), 4-byte little-endian
 * blocks, with the seed derived from the length (0xdeadbeef * len) as those two do. */
#include "cluster/route/hash/hash.h"

uint32_t hash_murmur(const void *key, size_t len)
{
    const unsigned char *p = key;
    const uint32_t m = 0x5bd1e995u;
    uint32_t length = (uint32_t)len;
    uint32_t h = (0xdeadbeefu * length) ^ length;
    while (len >= 4) {
        uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
        p += 4;
        len -= 4;
    }
    if (len > 0) {
        if (len == 3)
            h ^= (uint32_t)p[2] << 16;
        if (len >= 2)
            h ^= (uint32_t)p[1] << 8;
        h ^= p[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}
