/* shoal-bench: a load generator for memcached-protocol servers. Sets up the shared run, starts
 * one worker thread per -t, shows progress, and prints the report. See man/shoal-bench.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/options.h"
#include "tests/bench/report.h"
#include "tests/bench/worker.h"

enum { EXIT_USAGE = 1, EXIT_ABORTED = 2, EXIT_WRONG_DATA = 3 };

struct progress {
    struct bench_run *run;
    struct worker **workers;
    unsigned n;
    atomic_int phase; /* 0 connecting, 1 filling, 2 measuring, 3 done */
    _Atomic uint64_t phase_start_ns;
    bool tty;
};

static int resolve(const char *host, int port, struct sockaddr_in *out)
{
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &out->sin_addr) == 1)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc) {
        fprintf(stderr, "shoal-bench: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    out->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

/* Many connections need many descriptors: raise the soft limit as far as the hard one allows. */
static void raise_fd_limit(uint64_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < need)
        fprintf(stderr, "shoal-bench: warning: only %llu file descriptors for %llu connections\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

static void *progress_main(void *arg)
{
    struct progress *p = arg;
    uint64_t last_ops = 0, last_ns = bench_now_ns();
    int last_phase = -1;
    for (;;) {
        for (int i = 0; i < 10; i++) {
            if (atomic_load(&p->phase) == 3)
                goto done;
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
        }
        int phase = atomic_load(&p->phase);
        if (phase != 1 && phase != 2)
            continue;
        uint64_t ops = 0, errors = 0, hits = 0, keys = 0;
        for (unsigned i = 0; i < p->n; i++) {
            ops += atomic_load_explicit(&p->workers[i]->progress_ops, memory_order_relaxed);
            errors += atomic_load_explicit(&p->workers[i]->progress_errors, memory_order_relaxed);
            hits += atomic_load_explicit(&p->workers[i]->progress_hits, memory_order_relaxed);
            keys += atomic_load_explicit(&p->workers[i]->progress_keys, memory_order_relaxed);
        }
        uint64_t now = bench_now_ns();
        if (phase != last_phase) {
            last_ops = 0;
            last_ns = atomic_load(&p->phase_start_ns);
            last_phase = phase;
        }
        double rate = ops >= last_ops && now > last_ns ? (double)(ops - last_ops) * 1e9 / (double)(now - last_ns) : 0;
        double t = (double)(now - atomic_load(&p->phase_start_ns)) / 1e9;
        fprintf(stderr, "%s[%6.1fs] %s: %10.0f req/s, %llu requests, hits %5.1f%%, errors %llu%s",
                p->tty ? "\r" : "", t, phase == 1 ? "fill" : "run ", rate,
                (unsigned long long)ops, keys ? 100.0 * (double)hits / (double)keys : 0.0,
                (unsigned long long)errors, p->tty ? "   " : "\n");
        last_ops = ops;
        last_ns = now;
    }
done:
    if (p->tty && last_phase != -1)
        fputs("\n", stderr);
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_options opt;
    int rc = bench_options_parse(&opt, argc, argv);
    if (rc)
        return rc > 0 ? 0 : EXIT_USAGE;

    static struct bench_run run; /* static: zeroed, and outlives every worker */
    run.opt = &opt;
    if (resolve(opt.host, opt.port, &run.addr))
        return EXIT_USAGE;
    run.total_active = opt.threads * opt.conns_per_thread;
    pthread_mutex_init(&run.abort_lock, NULL);
    raise_fd_limit((uint64_t)run.total_active + opt.idle_conns + 64);

    struct value_pool pool;
    /* Items left by earlier runs may be longer than this run's; 1 MiB covers memcached's
     * default item size limit so they still verify. */
    size_t pool_len = opt.value_max > (1u << 20) ? opt.value_max : (1u << 20);
    if (valuegen_pool_init(&pool, pool_len)) {
        fprintf(stderr, "shoal-bench: out of memory\n");
        return EXIT_USAGE;
    }
    run.pool = &pool;
    struct zipf_table zipf = {0};
    if (opt.key_pattern == KEYS_ZIPF) {
        if (keydist_zipf_build(&zipf, opt.key_space, opt.zipf_exponent)) {
            fprintf(stderr, "shoal-bench: cannot build the zipf table: %s\n", strerror(errno));
            return EXIT_USAGE;
        }
        run.zipf = &zipf;
    }

    struct worker **workers = calloc(opt.threads, sizeof *workers);
    if (!workers) {
        fprintf(stderr, "shoal-bench: out of memory\n");
        return EXIT_USAGE;
    }
    for (unsigned i = 0; i < opt.threads; i++) {
        unsigned idle = opt.idle_conns / opt.threads + (i < opt.idle_conns % opt.threads ? 1 : 0);
        workers[i] = worker_create(&run, i, opt.conns_per_thread, i * opt.conns_per_thread, idle);
        if (!workers[i]) {
            fprintf(stderr, "shoal-bench: out of memory\n");
            return EXIT_USAGE;
        }
    }

    struct progress prog = {.run = &run, .workers = workers, .n = opt.threads,
                            .tty = isatty(STDERR_FILENO)};
    pthread_t progress_thread;
    bool show_progress = !opt.quiet;
    pthread_barrier_init(&run.barrier, NULL, opt.threads + 1);
    run.phase_start_ns = bench_now_ns();
    for (unsigned i = 0; i < opt.threads; i++) {
        if (pthread_create(&workers[i]->thread, NULL, worker_main, workers[i])) {
            fprintf(stderr, "shoal-bench: cannot start a thread\n");
            return EXIT_USAGE; /* the barrier would never open: nothing to clean up safely */
        }
    }
    if (show_progress && pthread_create(&progress_thread, NULL, progress_main, &prog))
        show_progress = false;

    pthread_barrier_wait(&run.barrier); /* 1: connected */
    uint64_t fill_start = bench_now_ns();
    atomic_store(&prog.phase_start_ns, fill_start);
    if (opt.fill)
        atomic_store(&prog.phase, 1);
    pthread_barrier_wait(&run.barrier); /* 2: filled */
    uint64_t fill_end = bench_now_ns();
    run.phase_start_ns = bench_now_ns();
    atomic_store(&prog.phase_start_ns, run.phase_start_ns);
    atomic_store(&prog.phase, 2);
    pthread_barrier_wait(&run.barrier); /* 3: measure */
    for (unsigned i = 0; i < opt.threads; i++)
        pthread_join(workers[i]->thread, NULL);
    atomic_store(&prog.phase, 3);
    if (show_progress)
        pthread_join(progress_thread, NULL);

    static struct phase_result fill, total; /* large (histograms): static, zeroed */
    for (unsigned i = 0; i < opt.threads; i++) {
        report_merge(&fill, &workers[i]->fill);
        report_merge(&total, &workers[i]->main);
    }
    if (opt.fill && fill.end_ns > fill_start)
        fill_end = fill.end_ns;
    uint64_t end = total.end_ns > run.phase_start_ns ? total.end_ns : run.phase_start_ns;
    const char *reason = atomic_load(&run.aborted) ? run.abort_reason : NULL;
    struct report rep = {.opt = &opt, .fill = opt.fill ? &fill : NULL,
                         .fill_seconds = (double)(fill_end - fill_start) / 1e9, .main = &total,
                         .seconds = (double)(end - run.phase_start_ns) / 1e9, .aborted = reason};
    if (opt.json)
        report_print_json(stdout, &rep);
    else
        report_print_table(stdout, &rep);
    fflush(stdout);

    int status = 0;
    if (reason) {
        fprintf(stderr, "shoal-bench: %s\n", reason);
        status = EXIT_ABORTED;
    } else if (total.verify_errors || fill.verify_errors) {
        fprintf(stderr, "shoal-bench: %llu values read back were wrong\n",
                (unsigned long long)total.verify_errors);
        status = EXIT_WRONG_DATA;
    }
    for (unsigned i = 0; i < opt.threads; i++)
        worker_destroy(workers[i]);
    free(workers);
    pthread_barrier_destroy(&run.barrier);
    pthread_mutex_destroy(&run.abort_lock);
    keydist_zipf_free(&zipf);
    valuegen_pool_free(&pool);
    return status;
}
