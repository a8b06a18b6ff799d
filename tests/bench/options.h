#ifndef SHOAL_BENCH_OPTIONS_H
#define SHOAL_BENCH_OPTIONS_H
/* shoal-bench's command line. The struct holds plain values; key_prefix and host point into
 * argv (or at string literals) and are never freed. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/bench/keydist.h"

struct bench_options {
    const char *host;
    int port;
    unsigned threads;
    unsigned conns_per_thread;
    unsigned pipeline;
    unsigned ratio_set, ratio_get;
    unsigned multiget;
    uint64_t key_space;
    enum key_pattern key_pattern;
    double zipf_exponent;
    const char *key_prefix;
    size_t value_min, value_max;
    double duration;       /* seconds of measured load; 0 = until `requests` are done */
    uint64_t requests;     /* total measured requests; 0 = until `duration` ends */
    double max_time;       /* hard bound on the measured phase, seconds */
    bool fill;             /* set every key once before measuring */
    double rate;           /* total requests per second; 0 = as fast as replies come */
    unsigned idle_conns;   /* extra connections opened and left idle */
    double timeout;        /* seconds of server silence (with requests outstanding) = failure */
    uint64_t seed;
    bool verify;
    bool binary;           /* --protocol=binary: memcached's binary protocol instead of ASCII */
    bool json;
    bool quiet;
};

/* Fills *o from argv. Returns 0 to run, 1 when --help/--version was printed (exit 0),
 * -1 after printing an error to stderr (exit 1). */
int bench_options_parse(struct bench_options *o, int argc, char **argv);

#endif
