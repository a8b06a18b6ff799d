#ifndef SHOAL_BENCH_HIST_H
#define SHOAL_BENCH_HIST_H
/* A latency histogram with log-linear buckets (the HdrHistogram idea, written for Shoal):
 * values below 2^HIST_SUB_BITS are counted exactly; above, each power of two is split into
 * 2^HIST_SUB_BITS equal buckets, so any recorded value is known to within 1/128 (0.8%) of
 * itself. Values are unsigned integers in any unit (shoal-bench records nanoseconds).
 * Values at or above HIST_LIMIT land in the last bucket; the exact maximum is kept apart.
 *
 * A struct hist is plain memory with no pointers: the caller owns it, zeroing it (or
 * hist_reset) makes an empty histogram, and nothing needs freeing. One writer at a time. */
#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS 42 /* 2^42 ns is over an hour: longer latencies are clamped */
#define HIST_LIMIT (1ULL << HIST_MAX_BITS)
#define HIST_BUCKETS (HIST_SUB_COUNT * (HIST_MAX_BITS - HIST_SUB_BITS + 1))

struct hist {
    uint64_t count;
    uint64_t min;   /* exact; meaningless while count == 0 */
    uint64_t max;   /* exact */
    double sum;     /* for the mean */
    uint64_t buckets[HIST_BUCKETS];
};

void hist_reset(struct hist *h);
void hist_record(struct hist *h, uint64_t value);
/* Adds every count of `from` into `into`. */
void hist_merge(struct hist *into, const struct hist *from);
/* The value at percentile p (0 < p <= 100): the highest value of the bucket holding the
 * ceil(p% * count)-th smallest recording, clamped to [min, max]. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

/* Bucket arithmetic, exposed for the unit tests. */
unsigned hist_bucket_of(uint64_t value);
uint64_t hist_bucket_low(unsigned bucket);
uint64_t hist_bucket_high(unsigned bucket);

#endif
