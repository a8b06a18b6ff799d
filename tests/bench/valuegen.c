/* Verifiable keys and values: see valuegen.h. */
#include "tests/bench/valuegen.h"

#include <stdlib.h>
#include <string.h>

#include "tests/bench/rng.h"

/* Fixed on purpose: values must verify across runs and options. */
#define POOL_SEED 0x5b0a1b5eedULL

int valuegen_pool_init(struct value_pool *pool, size_t max_len)
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
    pool->max_len = max_len;
    size_t size = VALUEGEN_SPAN + max_len;
    pool->bytes = malloc(size);
    if (!pool->bytes)
        return -1;
    struct bench_rng rng;
    bench_rng_seed(&rng, POOL_SEED);
    /* Printable bytes keep a captured conversation readable; 6 bits of each random byte. */
    for (size_t i = 0; i < size; i += 8) {
        uint64_t r = bench_rng_next(&rng);
        for (size_t j = 0; j < 8 && i + j < size; j++)
            pool->bytes[i + j] = (unsigned char)alphabet[(r >> (j * 8)) & 63];
    }
    return 0;
}

void valuegen_pool_free(struct value_pool *pool)
{
    free(pool->bytes);
    pool->bytes = NULL;
    pool->max_len = 0;
}

static size_t value_offset(uint64_t key, uint32_t version, size_t len)
{
    uint64_t h = bench_mix64(key * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)version << 20) ^
                             ((uint64_t)len << 52 | (uint64_t)len));
    return (size_t)(h % VALUEGEN_SPAN);
}

const unsigned char *valuegen_value(const struct value_pool *pool, uint64_t key, uint32_t version,
                                    size_t len)
{
    return pool->bytes + value_offset(key, version, len);
}

bool valuegen_check(const struct value_pool *pool, uint64_t key, uint32_t version,
                    const void *data, size_t len)
{
    if (version == 0 || len > pool->max_len)
        return false;
    return memcmp(data, valuegen_value(pool, key, version, len), len) == 0;
}

size_t valuegen_utoa(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t valuegen_key(char *out, const char *prefix, size_t prefix_len, uint64_t key)
{
    if (prefix_len + 20 > VALUEGEN_KEY_MAX)
        return 0;
    memcpy(out, prefix, prefix_len);
    return prefix_len + valuegen_utoa(out + prefix_len, key);
}
