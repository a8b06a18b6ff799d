/* Key patterns for the load generator: see keydist.h. */
#include "tests/bench/keydist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int keydist_zipf_build(struct zipf_table *z, uint64_t n, double exponent)
{
    memset(z, 0, sizeof *z);
    if (n == 0 || n > KEYDIST_ZIPF_MAX_KEYS || !(exponent >= 0)) {
        errno = EINVAL;
        return -1;
    }
    double *cdf = malloc(n * sizeof *cdf);
    if (!cdf)
        return -1;
    double total = 0;
    for (uint64_t k = 0; k < n; k++) {
        total += pow((double)(k + 1), -exponent);
        cdf[k] = total;
    }
    for (uint64_t k = 0; k < n; k++)
        cdf[k] /= total;
    cdf[n - 1] = 1.0; /* rounding must not leave a gap at the top */
    z->n = n;
    z->exponent = exponent;
    z->cdf = cdf;
    return 0;
}

void keydist_zipf_free(struct zipf_table *z)
{
    free(z->cdf);
    memset(z, 0, sizeof *z);
}

void keydist_init(struct key_picker *p, enum key_pattern pattern, uint64_t key_space,
                  const struct zipf_table *zipf, uint64_t seed, uint64_t start)
{
    memset(p, 0, sizeof *p);
    p->pattern = pattern;
    p->key_space = key_space ? key_space : 1;
    p->next = start % p->key_space;
    p->zipf = zipf;
    bench_rng_seed(&p->rng, seed);
}

/* The first k with cdf[k] >= u: inverse-transform sampling by binary search. */
static uint64_t zipf_draw(const struct zipf_table *z, double u)
{
    uint64_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] >= u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

uint64_t keydist_next(struct key_picker *p)
{
    switch (p->pattern) {
    case KEYS_SEQUENTIAL: {
        uint64_t k = p->next;
        p->next = k + 1 == p->key_space ? 0 : k + 1;
        return k;
    }
    case KEYS_ZIPF:
        if (p->zipf && p->zipf->n) {
            uint64_t k = zipf_draw(p->zipf, bench_rng_unit(&p->rng));
            return k < p->key_space ? k : k % p->key_space;
        }
        break;
    case KEYS_UNIFORM:
        break;
    }
    return bench_rng_below(&p->rng, p->key_space);
}

int keydist_parse(const char *name, enum key_pattern *out)
{
    if (strcmp(name, "uniform") == 0 || strcmp(name, "random") == 0)
        *out = KEYS_UNIFORM;
    else if (strcmp(name, "sequential") == 0)
        *out = KEYS_SEQUENTIAL;
    else if (strcmp(name, "zipf") == 0)
        *out = KEYS_ZIPF;
    else
        return -1;
    return 0;
}

const char *keydist_name(enum key_pattern pattern)
{
    switch (pattern) {
    case KEYS_SEQUENTIAL:
        return "sequential";
    case KEYS_ZIPF:
        return "zipf";
    case KEYS_UNIFORM:
        break;
    }
    return "uniform";
}
