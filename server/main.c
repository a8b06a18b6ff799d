/* bin/shoal: parses the command line, opens the listeners, starts the workers, then ticks the
 * clock and the store's upkeep once a second until SIGTERM or SIGINT. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/clock.h"
#include "server/cluster_node.h"
#include "server/daemon.h"
#include "server/listen.h"
#include "server/log.h"
#include "server/options.h"
#include "server/route_worker.h"
#include "server/settings.h"
#include "server/stats.h"
#include "server/store.h"
#include "server/worker.h"

/* memcached's default hash table size when -o hashpower is not given. */
#define DEFAULT_HASHPOWER 16

static struct store *create_store(void)
{
    struct store_config cfg = {
        .mem_limit = settings.maxbytes,
        .item_size_max = settings.item_size_max,
        .growth_factor = settings.factor,
        .chunk_min = (size_t)settings.chunk_size,
        .hashpower = settings.hashpower_init ? (unsigned)settings.hashpower_init : DEFAULT_HASHPOWER,
        .evict = settings.evict_to_free,
        .use_cas = settings.use_cas,
    };
    char err[256] = "";
    struct store *st = store_create(&cfg, err, sizeof(err));
    if (!st)
        fprintf(stderr, "failed to create the store: %s\n", err);
    return st;
}

/* Waits for signals, ticking the clock and the store's upkeep every second. Returns on SIGTERM,
 * SIGINT or SIGUSR1 (also raised by the shutdown command); SIGHUP reloads the cluster secret. */
static void serve(struct store *st, const sigset_t *signals)
{
    for (;;) {
        struct timespec second = {.tv_sec = 1};
        int sig = sigtimedwait(signals, NULL, &second);
        clock_tick();
        if (sig == SIGTERM || sig == SIGINT || sig == SIGUSR1) {
            log_msg(1, "Signal handled: %s.", strsignal(sig));
            return;
        }
        if (sig == SIGHUP)
            cluster_node_reload();  /* the gossip thread re-reads --cluster-secret-file */
        if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            log_msg(0, "sigtimedwait: %s", strerror(errno));
            return;
        }
        store_maintain(st);
    }
}

int main(int argc, char **argv)
{
    settings_init(&settings);
    int exit_code = 0;
    if (options_parse(argc, argv, &settings, stdout, stderr, &exit_code) == OPTIONS_EXIT)
        return exit_code;
    atomic_store(&log_verbosity, settings.verbose);

    /* Every thread inherits this mask; only serve() takes the signals, synchronously. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (settings.maxcore)
        daemon_enable_coredumps();
    int reserved = 32 + settings.num_threads * 4;
    atomic_store(&conn_stats.reserved_fds, (uint64_t)reserved);
    if ((exit_code = daemon_raise_fd_limit(settings.maxconns, reserved)) != 0)
        return exit_code;
    if (settings.memory_file)
        log_msg(1, "note: -e %s ignored: Shoal keeps items in plain memory", settings.memory_file);
    if ((getuid() == 0 || geteuid() == 0) && !settings.username)
        log_msg(1, "warning: running as root without -u (memcached would refuse)");

    if ((exit_code = cluster_node_prepare(&settings)) != 0)
        return exit_code;
    if ((exit_code = route_worker_prepare(&settings)) != 0)
        return exit_code;
    /* A router's worker arena holds little besides the outbufs it fills and drains per reply, so
     * glibc's default (trim a thread arena's top once it passes 128 KiB) gave memory back with
     * madvise and faulted it in again on the next requests (BENCHMARKS.md, "Shoal --proxy vs
     * nutcracker"). Keeping up to 64 MiB of free top per arena costs no more than the pool of
     * pending commands may hold anyway. */
    if (route_worker_enabled())
        mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    clock_init();
    struct listen_set listeners;
    if ((exit_code = listen_open_all(&settings, settings.num_threads, &listeners)) != 0)
        return exit_code;
    if (settings.daemonize && (exit_code = daemon_detach(settings.verbose > 0)) != 0) {
        listen_close_all(&listeners);
        return exit_code;
    }
    if (settings.pid_file)
        daemon_write_pid_file(settings.pid_file);
    if ((exit_code = daemon_drop_root(settings.username)) != 0) {
        listen_close_all(&listeners);
        daemon_remove_pid_file();
        return exit_code;
    }
    if (settings.lock_memory)
        daemon_lock_memory();

    struct store *st = create_store();
    if (!st) {
        listen_close_all(&listeners);
        daemon_remove_pid_file();
        return EXIT_FAILURE;
    }
    if (workers_start(settings.num_threads, st, &listeners) != 0) {
        store_destroy(st);
        listen_close_all(&listeners);
        daemon_remove_pid_file();
        return EXIT_FAILURE;
    }
    for (int i = 0; i < listeners.count; i++)
        log_msg(1, "server listening on %s", listeners.items[i].name);
    cluster_node_attach_store(st); /* what a stale-read fence flushes */
    if ((exit_code = cluster_node_start()) != 0) {
        workers_stop();
        store_destroy(st);
        listen_close_all(&listeners);
        daemon_remove_pid_file();
        return exit_code;
    }

    serve(st, &signals);

    cluster_node_leave();   /* while still serving: peers stop counting on us first */
    workers_stop();
    cluster_node_stop();
    listen_close_all(&listeners);
    store_destroy(st);
    route_worker_release();
    daemon_remove_pid_file();
    log_msg(1, "Exiting normally");
    return 0;
}
