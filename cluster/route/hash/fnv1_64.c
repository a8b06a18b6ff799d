/* FNV-1 with the 64-bit offset basis and prime; the caller gets the low 32 bits. */
#include "cluster/route/hash/hash.h"

uint32_t hash_fnv1_64(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++) {
        hash *= UINT64_C(0x100000001b3);
        /* sign extension only touches bits above 7, identically in the low 32 bits we keep */
        hash ^= (uint64_t)(int64_t)(signed char)p[i];
    }
    return (uint32_t)hash;
}
