/* twemproxy's (and libhashkit's) "fnv1a_64": FNV-1a run in 32-bit arithmetic with the 64-bit
 * basis and prime truncated to 32 bits (0x84222325 and 0x000001b3). Reproduced as is, since
 * placement compatibility is the point; it is not the real 64-bit FNV-1a. */
#include "cluster/route/hash/hash.h"

uint32_t hash_fnv1a_64(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t hash = (uint32_t)UINT64_C(0xcbf29ce484222325);
    const uint32_t prime = (uint32_t)UINT64_C(0x100000001b3);
    for (size_t i = 0; i < len; i++) {
        hash ^= hash_signed_byte(p[i]);
        hash *= prime;
    }
    return hash;
}
