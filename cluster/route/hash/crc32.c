/* CRC-32 with the reflected IEEE polynomial 0xEDB88320, computed bit by bit: keys are short,
 * and no table means no initialisation race between worker threads. */
#include "cluster/route/hash/hash.h"

static uint32_t crc32_ieee(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

uint32_t hash_crc32a(const void *key, size_t len)
{
    return crc32_ieee(key, len);
}

/* libmemcached kept only 15 bits of the CRC for its modula distribution; twemproxy's `crc32`
 * copies that, and ketama with it therefore uses only the low 1/131072 of the circle. */
uint32_t hash_crc32(const void *key, size_t len)
{
    return (crc32_ieee(key, len) >> 16) & 0x7FFFu;
}
