/* Log-linear latency histogram: see hist.h for the bucket layout. */
#include "tests/bench/hist.h"

#include <string.h>

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof *h);
}

/* Bucket index layout: [0, SUB_COUNT) hold values 0..SUB_COUNT-1 exactly. A value whose top
 * set bit is e >= SUB_BITS is shifted right by e - SUB_BITS, which leaves a number in
 * [SUB_COUNT, 2 * SUB_COUNT); that power of two's row starts at (e - SUB_BITS + 1) * SUB_COUNT.
 * The rows meet without gaps, so bucket numbers grow with the values they hold. */
unsigned hist_bucket_of(uint64_t value)
{
    if (value >= HIST_LIMIT)
        return HIST_BUCKETS - 1;
    if (value < HIST_SUB_COUNT)
        return (unsigned)value;
    unsigned top = 63u - (unsigned)__builtin_clzll(value);
    unsigned shift = top - HIST_SUB_BITS;
    return (shift + 1) * HIST_SUB_COUNT + (unsigned)((value >> shift) - HIST_SUB_COUNT);
}

uint64_t hist_bucket_low(unsigned bucket)
{
    if (bucket < HIST_SUB_COUNT)
        return bucket;
    unsigned shift = bucket / HIST_SUB_COUNT - 1;
    uint64_t sub = bucket % HIST_SUB_COUNT;
    return (HIST_SUB_COUNT + sub) << shift;
}

uint64_t hist_bucket_high(unsigned bucket)
{
    if (bucket < HIST_SUB_COUNT)
        return bucket;
    unsigned shift = bucket / HIST_SUB_COUNT - 1;
    return hist_bucket_low(bucket) + ((1ULL << shift) - 1);
}

void hist_record(struct hist *h, uint64_t value)
{
    if (h->count == 0 || value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
    h->count++;
    h->sum += (double)value;
    h->buckets[hist_bucket_of(value)]++;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    if (from->count == 0)
        return;
    if (into->count == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->count += from->count;
    into->sum += from->sum;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p <= 0)
        return h->min;
    if (p >= 100)
        return h->max;
    /* rank = ceil(p/100 * count), at least 1; computed so that 50% of 10 is exactly 5 */
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want - 1e-9)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
