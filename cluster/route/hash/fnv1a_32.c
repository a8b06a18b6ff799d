/* FNV-1a, 32-bit (xor the byte, then multiply). */
#include "cluster/route/hash/hash.h"

uint32_t hash_fnv1a_32(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        hash ^= hash_signed_byte(p[i]);
        hash *= 16777619u;
    }
    return hash;
}
