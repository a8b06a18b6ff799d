#ifndef SHOAL_BENCH_VALUEGEN_H
#define SHOAL_BENCH_VALUEGEN_H
/* Keys and verifiable values.
 *
 * A key is a prefix followed by its number in decimal. A value is a slice of a fixed pseudo-
 * random byte pool: where the slice starts depends on the key number, a version and the length,
 * and the version travels as the item's client flags. A GET's reply is therefore checkable
 * without remembering anything: given the key, the returned flags and length, there is exactly
 * one right value. Versions are never 0, so an item the benchmark did not write (flags 0) fails.
 * The pool does not depend on any option or seed, so values written by one run (a fill) verify
 * in the next (so long as the pool is large enough for the longest value: shoal-bench makes it
 * at least 1 MiB, memcached's default item size limit).
 *
 * struct value_pool owns its bytes: valuegen_pool_init allocates, valuegen_pool_free frees. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VALUEGEN_SPAN 65536 /* distinct start offsets */
#define VALUEGEN_MAX_LEN (16u << 20)
#define VALUEGEN_KEY_MAX 250 /* memcached's key length limit */

struct value_pool {
    size_t max_len;
    unsigned char *bytes; /* VALUEGEN_SPAN + max_len bytes */
};

int valuegen_pool_init(struct value_pool *pool, size_t max_len);
void valuegen_pool_free(struct value_pool *pool);

/* The value for (key, version, len): `len` bytes at the returned pointer. len <= max_len. */
const unsigned char *valuegen_value(const struct value_pool *pool, uint64_t key, uint32_t version,
                                    size_t len);
/* True when data[0..len) is the value the benchmark writes for (key, version, len). */
bool valuegen_check(const struct value_pool *pool, uint64_t key, uint32_t version,
                    const void *data, size_t len);

/* Writes prefix + decimal key into out (no terminator); returns the length, or 0 if it would
 * exceed VALUEGEN_KEY_MAX. out must hold VALUEGEN_KEY_MAX bytes. */
size_t valuegen_key(char *out, const char *prefix, size_t prefix_len, uint64_t key);

/* Writes the decimal digits of v to out (no terminator; out holds 20 bytes); returns the count. */
size_t valuegen_utoa(char *out, uint64_t v);

#endif
