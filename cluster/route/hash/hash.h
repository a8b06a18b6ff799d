#ifndef SHOAL_CLUSTER_HASH_HASH_H
#define SHOAL_CLUSTER_HASH_HASH_H
/* 32-bit key hashes, bit-compatible with twemproxy's `hash:` choices (and libmemcached's
 * libhashkit, which they come from), so that a key lands where those place it.
 *
 * Bytes of the key are read the way those C sources read a plain `char` on x86-64 and most
 * Linux targets: as SIGNED, so a byte >= 0x80 enters the arithmetic sign-extended. Where that
 * matters it is said next to the function. See cluster/route/KETAMA.md. */
#include <stddef.h>
#include <stdint.h>

typedef uint32_t (*key_hash_fn)(const void *key, size_t len);

/* First 4 bytes of MD5(key), little-endian (twemproxy hash_md5, libhashkit md5). */
uint32_t hash_md5(const void *key, size_t len);
/* Standard CRC-32 (IEEE 802.3, reflected, as zlib): twemproxy's `crc32a`. */
uint32_t hash_crc32a(const void *key, size_t len);
/* libmemcached's CRC: bits 16..30 of the standard CRC-32: twemproxy's `crc32`. */
uint32_t hash_crc32(const void *key, size_t len);
/* FNV-1 / FNV-1a with the 64-bit parameters; the result is the low 32 bits (fnv1_64), or,
 * for fnv1a_64, computed entirely in 32 bits with the truncated 64-bit basis and prime, as
 * twemproxy and libhashkit do (this is NOT the low half of a real FNV-1a 64). */
uint32_t hash_fnv1_64(const void *key, size_t len);
uint32_t hash_fnv1a_64(const void *key, size_t len);
/* FNV-1 / FNV-1a, 32-bit. */
uint32_t hash_fnv1_32(const void *key, size_t len);
uint32_t hash_fnv1a_32(const void *key, size_t len);
/* Bob Jenkins' one-at-a-time hash. */
uint32_t hash_one_at_a_time(const void *key, size_t len);
/* MurmurHash2 seeded with 0xdeadbeef * len (twemproxy/libhashkit "murmur"). */
uint32_t hash_murmur(const void *key, size_t len);
/* Bob Jenkins' lookup3 hashlittle, initval 13 (twemproxy/libhashkit "jenkins"). */
uint32_t hash_jenkins(const void *key, size_t len);

/* A hash known by its twemproxy configuration name. */
struct hash_algorithm {
    const char *name;
    key_hash_fn fn;
};

/* The hash called `name` (e.g. "md5", "fnv1a_64"), or NULL if unknown. */
const struct hash_algorithm *hash_by_name(const char *name);
/* All known hashes, ending with an entry whose name is NULL. */
const struct hash_algorithm *hash_algorithms(void);

/* A key byte as twemproxy's `(uint32_t)key[i]` sees it on signed-char platforms. */
static inline uint32_t hash_signed_byte(unsigned char byte)
{
    return (uint32_t)(int32_t)(signed char)byte;
}

#endif
