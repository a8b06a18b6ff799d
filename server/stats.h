#ifndef SHOAL_STATS_H
#define SHOAL_STATS_H
/* Per-worker-thread counters, under memcached's stat names.
 *
 * Each worker owns one struct thread_stats and is its only writer, so an increment is a plain
 * load and store (relaxed atomics keep ThreadSanitizer and readers honest without a locked
 * instruction). `stats` sums all workers' structs. The list below is the one place a per-thread
 * counter is declared: the struct, the summing and the `stats` output all follow it. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct outbuf;
struct session;

/* X(name): a counter printed as STAT name <sum over threads>. Order is memcached's order. */
#define THREAD_STATS(X) \
    X(cmd_get)          \
    X(cmd_set)          \
    X(cmd_flush)        \
    X(cmd_touch)        \
    X(cmd_meta)         \
    X(get_hits)         \
    X(get_misses)       \
    X(get_expired)      \
    X(get_flushed)      \
    X(delete_misses)    \
    X(delete_hits)      \
    X(incr_misses)      \
    X(incr_hits)        \
    X(decr_misses)      \
    X(decr_hits)        \
    X(cas_misses)       \
    X(cas_hits)         \
    X(cas_badval)       \
    X(touch_hits)       \
    X(touch_misses)     \
    X(store_too_large)  \
    X(store_no_memory)  \
    X(auth_cmds)        \
    X(auth_errors)      \
    X(bytes_read)       \
    X(bytes_written)

/* Per-thread counters that `stats` prints away from the block above, at memcached's place:
 * idle_kicks (only with -o idle_timeout) just before bytes_read, conn_yields after threads. */
#define THREAD_STATS_OTHER(X) \
    X(idle_kicks)             \
    X(conn_yields)

struct thread_stats {
#define STATS_FIELD(name) _Atomic uint64_t name;
    THREAD_STATS(STATS_FIELD)
    THREAD_STATS_OTHER(STATS_FIELD)
#undef STATS_FIELD
};

/* Single-writer increment: no locked instruction on the hot path. */
#define STAT_ADD(ts, field, n)                                                                  \
    atomic_store_explicit(&(ts)->field,                                                         \
                          atomic_load_explicit(&(ts)->field, memory_order_relaxed) + (n),       \
                          memory_order_relaxed)
#define STAT_INC(ts, field) STAT_ADD(ts, field, 1)

struct store;

/* Process-wide connection counters, kept by the connection layer (any thread may change them). */
struct conn_stats {
    _Atomic uint64_t curr_conns;      /* client connections open now */
    _Atomic uint64_t total_conns;     /* client connections ever accepted (including rejected) */
    _Atomic uint64_t rejected_conns;  /* refused because of -c */
    _Atomic uint64_t conn_structures; /* connection structs allocated now (clients + listeners) */
    _Atomic uint64_t held_input_bufs;  /* connections holding unconsumed input between reads */
    _Atomic uint64_t held_input_bytes; /* their buffers' bytes (-o read_buf_mem_limit bounds it) */
    _Atomic uint64_t read_buf_oom;     /* connections closed because that limit was reached */
    _Atomic uint64_t reserved_fds;     /* descriptors kept back from -c for the server itself */
    _Atomic uint64_t read_buf_size;    /* bytes of each worker's shared read buffer */
    _Atomic uint64_t listen_disabled_num; /* times a worker stopped accepting (out of fds) */
    _Atomic uint64_t accept_paused;       /* workers not accepting right now */
};
extern struct conn_stats conn_stats;

/* Writes one "STAT <id>:<field> <value>\r\n" group per connection (listeners too), for
 * `stats conns`. Registered by the worker layer; the stats module only calls it. */
typedef void (*stats_conns_fn)(struct outbuf *out);

/* Registers what `stats` reports on: the store (may be NULL in tests), the workers' counters
 * (borrowed; they must outlive every stats_command call) and the `stats conns` writer. */
void stats_init(struct store *store, struct thread_stats *const *threads, int nthreads,
                stats_conns_fn conns);

/* Sum of every worker's counters since the last `stats reset`. */
void stats_sum_threads(struct thread_stats *sum);

/* `stats detail on|off` flips this at run time; -D turns it on at start. */
bool stats_detail_enabled(void);
void stats_set_detail(bool on);

/* The `stats [group]` command. `args` is what follows "stats" on the line (may be empty), without
 * the line end. Appends the whole reply (ending in END\r\n, or an error line) to out.
 * Implemented by server/stats.c, which knows the workers, connections and settings. */
void stats_command(struct session *s, const char *args, size_t nargs, struct outbuf *out);

#endif
