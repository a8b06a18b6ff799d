/* Bob Jenkins' one-at-a-time hash (per-byte add/shift/xor mixing, then a final avalanche). */
#include "cluster/route/hash/hash.h"

uint32_t hash_one_at_a_time(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t value = 0;
    for (size_t i = 0; i < len; i++) {
        value += hash_signed_byte(p[i]);
        value += value << 10;
        value ^= value >> 6;
    }
    value += value << 3;
    value ^= value >> 11;
    value += value << 15;
    return value;
}
