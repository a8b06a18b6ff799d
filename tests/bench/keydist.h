#ifndef SHOAL_BENCH_KEYDIST_H
#define SHOAL_BENCH_KEYDIST_H
/* Which key the next request uses: a number in [0, key_space), drawn by a pattern.
 *
 *   uniform     every key equally likely
 *   sequential  key_first, key_first+1, ... wrapping at key_space (each connection starts at
 *               its own offset, so together they sweep the space)
 *   zipf        key k (0-based) has weight 1/(k+1)^s: key 0 is the hottest
 *
 * The zipf table (the cumulative distribution, one double per key) is built once by
 * keydist_zipf_build and shared read-only by every picker; its builder owns it and frees it
 * with keydist_zipf_free. A struct key_picker is a plain value owned by one thread. */
#include <stddef.h>
#include <stdint.h>

#include "tests/bench/rng.h"

enum key_pattern { KEYS_UNIFORM, KEYS_SEQUENTIAL, KEYS_ZIPF };

/* Zipf tables above this many keys would cost more memory than they are worth. */
#define KEYDIST_ZIPF_MAX_KEYS 50000000ULL

struct zipf_table {
    uint64_t n;
    double exponent;
    double *cdf; /* cdf[k] = P(key <= k); cdf[n-1] == 1 */
};

/* Returns 0, or -1 (errno set) when n is 0, too large, or memory runs out. */
int keydist_zipf_build(struct zipf_table *z, uint64_t n, double exponent);
void keydist_zipf_free(struct zipf_table *z);

struct key_picker {
    enum key_pattern pattern;
    uint64_t key_space;
    uint64_t next;                 /* sequential: the next key */
    const struct zipf_table *zipf; /* zipf: shared table, not owned */
    struct bench_rng rng;
};

/* `start` is the first key of a sequential sweep (taken modulo key_space). */
void keydist_init(struct key_picker *p, enum key_pattern pattern, uint64_t key_space,
                  const struct zipf_table *zipf, uint64_t seed, uint64_t start);
uint64_t keydist_next(struct key_picker *p);

/* "uniform", "sequential", "zipf" -> pattern; -1 if unknown. */
int keydist_parse(const char *name, enum key_pattern *out);
const char *keydist_name(enum key_pattern pattern);

#endif
