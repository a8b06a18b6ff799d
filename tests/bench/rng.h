#ifndef SHOAL_BENCH_RNG_H
#define SHOAL_BENCH_RNG_H
/* A small, fast, seedable pseudo-random generator for the load generator: SplitMix64
 * (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014).
 * Not for anything secret. A struct bench_rng is a plain value: copy it, no cleanup. */
#include <stdint.h>

struct bench_rng {
    uint64_t state;
};

static inline uint64_t bench_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void bench_rng_seed(struct bench_rng *rng, uint64_t seed)
{
    rng->state = seed;
}

static inline uint64_t bench_rng_next(struct bench_rng *rng)
{
    rng->state += 0x9e3779b97f4a7c15ULL;
    return bench_mix64(rng->state);
}

/* Uniform in [0, bound), bound > 0. The multiply-shift maps 64 random bits onto the range; its
 * bias is at most bound / 2^64, far below anything a benchmark can see. */
static inline uint64_t bench_rng_below(struct bench_rng *rng, uint64_t bound)
{
    return (uint64_t)(((unsigned __int128)bench_rng_next(rng) * bound) >> 64);
}

/* Uniform in [0, 1). */
static inline double bench_rng_unit(struct bench_rng *rng)
{
    return (double)(bench_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
