/* FNV-1, 32-bit (multiply, then xor the byte). */
#include "cluster/route/hash/hash.h"

uint32_t hash_fnv1_32(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        hash *= 16777619u;
        hash ^= hash_signed_byte(p[i]);
    }
    return hash;
}
