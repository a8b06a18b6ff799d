#ifndef SHOAL_BENCH_WORKER_H
#define SHOAL_BENCH_WORKER_H
/* One client thread of shoal-bench: its connections, its epoll loop, its counts.
 *
 * The main thread owns the struct bench_run and every struct worker (worker_create/
 * worker_destroy); a worker's thread owns its connections and writes its results, which the
 * main thread reads only after joining it. Live progress is read through the atomics. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tests/bench/hist.h"
#include "tests/bench/keydist.h"
#include "tests/bench/options.h"
#include "tests/bench/valuegen.h"

/* What the whole run shares; read-only while workers run, except the abort fields. */
struct bench_run {
    const struct bench_options *opt;
    const struct value_pool *pool;
    const struct zipf_table *zipf;      /* NULL unless the pattern is zipf */
    struct sockaddr_in addr;
    unsigned total_active;              /* active connections over all threads */
    pthread_barrier_t barrier;          /* workers + the main thread */
    uint64_t phase_start_ns;            /* written by main before releasing a phase */
    atomic_int aborted;                 /* set once; every loop stops */
    pthread_mutex_t abort_lock;
    char abort_reason[512];             /* the first reason, under abort_lock */
};

struct phase_result {
    uint64_t sets, gets, get_keys, hits, misses;
    uint64_t server_errors, protocol_errors, verify_errors;
    uint64_t incomplete; /* sent but never answered (run aborted) */
    uint64_t bytes_out, bytes_in;
    uint64_t end_ns;     /* when this worker finished the phase */
    char first_error[256];
    struct hist lat_all, lat_set, lat_get; /* nanoseconds */
};

struct conn;

struct worker {
    unsigned index;
    struct bench_run *run;
    pthread_t thread;
    int epfd;
    unsigned n_active, n_idle;
    unsigned first_global; /* global index of this worker's first active connection */
    struct conn *conns;    /* n_active + n_idle */
    struct phase_result fill, main;
    _Atomic uint64_t progress_ops;    /* completed requests in the current phase */
    _Atomic uint64_t progress_errors;
    _Atomic uint64_t progress_hits, progress_keys;
};

/* Records the first abort reason and tells every worker to stop. */
void bench_abort(struct bench_run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t bench_now_ns(void);

/* Allocates a worker with its share of connections (not yet connected); NULL on no memory. */
struct worker *worker_create(struct bench_run *run, unsigned index, unsigned n_active,
                             unsigned first_global, unsigned n_idle);
void worker_destroy(struct worker *w);
/* The thread body: connect, [fill], measure. Meets the run's barrier 3 times. */
void *worker_main(void *arg);

#endif
