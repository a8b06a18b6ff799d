#ifndef SHOAL_BENCH_REPORT_H
#define SHOAL_BENCH_REPORT_H
/* shoal-bench's final report, as a table for people or as JSON for scripts. */
#include <stdio.h>

#include "tests/bench/options.h"
#include "tests/bench/worker.h"

struct report {
    const struct bench_options *opt;
    const struct phase_result *fill; /* merged over workers; NULL without --fill */
    double fill_seconds;
    const struct phase_result *main; /* merged over workers */
    double seconds;                  /* measured phase, first request to last reply */
    const char *aborted;             /* reason, or NULL */
};

/* Adds b's counts and histograms into a (first_error: a's unless empty). */
void report_merge(struct phase_result *a, const struct phase_result *b);
void report_print_table(FILE *out, const struct report *r);
void report_print_json(FILE *out, const struct report *r);

#endif
