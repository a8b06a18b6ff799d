/* The `stats` command and the process-wide counters. Per-thread counters are only ever summed
 * here; `stats reset` records a baseline to subtract instead of writing to another thread's
 * counters, so each counter keeps a single writer. */
#include "server/stats.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/clock.h"
#include "server/cluster_node.h"
#include "server/options.h"
#include "server/outbuf.h"
#include "server/settings.h"
#include "server/store.h"
#include "server/version.h"

struct conn_stats conn_stats;

static struct store *stats_store;
static struct thread_stats *const *stats_threads;
static int stats_nthreads;
static stats_conns_fn stats_conns;
static atomic_bool detail_enabled;

/* What `stats reset` subtracts. Guarded by baseline_lock. */
static pthread_mutex_t baseline_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
#define BASE_FIELD(name) uint64_t name;
    THREAD_STATS(BASE_FIELD)
    THREAD_STATS_OTHER(BASE_FIELD)
#undef BASE_FIELD
    uint64_t total_conns, rejected_conns;
} baseline;

void stats_init(struct store *store, struct thread_stats *const *threads, int nthreads,
                stats_conns_fn conns)
{
    stats_store = store;
    stats_threads = threads;
    stats_nthreads = nthreads;
    stats_conns = conns;
    atomic_store(&detail_enabled, settings.detail_enabled);
}

bool stats_detail_enabled(void)
{
    return atomic_load_explicit(&detail_enabled, memory_order_relaxed);
}

void stats_set_detail(bool on)
{
    atomic_store(&detail_enabled, on);
}

static uint64_t load(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* Raw sums, before the baseline. */
static void sum_raw(struct thread_stats *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (int i = 0; i < stats_nthreads; i++) {
        const struct thread_stats *t = stats_threads[i];
#define SUM_FIELD(name) atomic_store_explicit(&sum->name, load(&sum->name) + load(&t->name), memory_order_relaxed);
        THREAD_STATS(SUM_FIELD)
        THREAD_STATS_OTHER(SUM_FIELD)
#undef SUM_FIELD
    }
}

void stats_sum_threads(struct thread_stats *sum)
{
    sum_raw(sum);
    pthread_mutex_lock(&baseline_lock);
#define SUB_FIELD(name) atomic_store_explicit(&sum->name, load(&sum->name) - baseline.name, memory_order_relaxed);
    THREAD_STATS(SUB_FIELD)
    THREAD_STATS_OTHER(SUB_FIELD)
#undef SUB_FIELD
    pthread_mutex_unlock(&baseline_lock);
}

static void stats_reset(void)
{
    struct thread_stats raw;
    sum_raw(&raw);
    pthread_mutex_lock(&baseline_lock);
#define SET_BASE(name) baseline.name = load(&raw.name);
    THREAD_STATS(SET_BASE)
    THREAD_STATS_OTHER(SET_BASE)
#undef SET_BASE
    baseline.total_conns = load(&conn_stats.total_conns);
    baseline.rejected_conns = load(&conn_stats.rejected_conns);
    pthread_mutex_unlock(&baseline_lock);
    if (stats_store)
        store_reset_stats(stats_store);
}

static void stat_line(struct outbuf *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static void stat_line(struct outbuf *out, const char *name, const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "STAT %s ", name);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if ((size_t)n > sizeof(line) - 3)
        n = (int)sizeof(line) - 3;
    memcpy(line + n, "\r\n", 2);
    outbuf_append(out, line, (size_t)n + 2);
}

static void stat_u64(struct outbuf *out, const char *name, uint64_t v)
{
    stat_line(out, name, "%" PRIu64, v);
}

static void stats_general(struct outbuf *out)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    rel_time_t now = clock_now();
    struct thread_stats sum;
    stats_sum_threads(&sum);
    uint64_t total_conns, rejected_conns;
    pthread_mutex_lock(&baseline_lock);
    total_conns = load(&conn_stats.total_conns) - baseline.total_conns;
    rejected_conns = load(&conn_stats.rejected_conns) - baseline.rejected_conns;
    pthread_mutex_unlock(&baseline_lock);

    stat_line(out, "pid", "%ld", (long)getpid());
    stat_line(out, "uptime", "%u", (unsigned)now);
    stat_line(out, "time", "%ld", (long)(clock_process_started() + (time_t)now));
    stat_line(out, "version", "%s", SHOAL_VERSION_STRING);
    stat_line(out, "pointer_size", "%d", (int)(8 * sizeof(void *)));
    stat_line(out, "rusage_user", "%ld.%06ld", (long)usage.ru_utime.tv_sec,
              (long)usage.ru_utime.tv_usec);
    stat_line(out, "rusage_system", "%ld.%06ld", (long)usage.ru_stime.tv_sec,
              (long)usage.ru_stime.tv_usec);
    stat_line(out, "max_connections", "%d", settings.maxconns);
    stat_u64(out, "curr_connections", load(&conn_stats.curr_conns));
    stat_u64(out, "total_connections", total_conns);
    stat_u64(out, "rejected_connections", rejected_conns);
    stat_u64(out, "connection_structures", load(&conn_stats.conn_structures));
    /* Shoal's read buffers: one shared per worker, plus those connections holding a partial
     * line. It has no response objects, so memcached's response_obj_* rows are left out. */
    uint64_t shared = (uint64_t)stats_nthreads;
    stat_u64(out, "read_buf_count", shared + load(&conn_stats.held_input_bufs));
    stat_u64(out, "read_buf_bytes",
             shared * load(&conn_stats.read_buf_size) + load(&conn_stats.held_input_bytes));
    stat_u64(out, "read_buf_bytes_free", 0);
    stat_u64(out, "read_buf_oom", load(&conn_stats.read_buf_oom));
    stat_u64(out, "reserved_fds", load(&conn_stats.reserved_fds));
#define PRINT_FIELD(name)                                                  \
    if (strcmp(#name, "bytes_read") == 0 && settings.idle_timeout > 0)     \
        stat_u64(out, "idle_kicks", load(&sum.idle_kicks));                \
    stat_u64(out, #name, load(&sum.name));
    THREAD_STATS(PRINT_FIELD)
#undef PRINT_FIELD
    stat_u64(out, "limit_maxbytes", settings.maxbytes);
    stat_u64(out, "accepting_conns", load(&conn_stats.accept_paused) == 0);
    stat_u64(out, "listen_disabled_num", load(&conn_stats.listen_disabled_num));
    stat_u64(out, "time_in_listen_disabled_us", 0);
    stat_line(out, "threads", "%d", stats_nthreads);
    stat_u64(out, "conn_yields", load(&sum.conn_yields));
    if (!stats_store)
        return;
    struct store_stats ss;
    store_get_stats(stats_store, &ss);
    stat_u64(out, "hash_power_level", ss.hash_power_level);
    stat_u64(out, "hash_bytes", ss.hash_bytes);
    stat_u64(out, "hash_is_expanding", ss.hash_is_expanding);
    stat_u64(out, "slabs_moved", ss.slabs_moved);
    stat_u64(out, "bytes", ss.bytes);
    stat_u64(out, "curr_items", ss.curr_items);
    stat_u64(out, "total_items", ss.total_items);
    stat_u64(out, "slab_global_page_pool", ss.slab_global_page_pool);
    stat_u64(out, "expired_unfetched", ss.expired_unfetched);
    stat_u64(out, "evicted_unfetched", ss.evicted_unfetched);
    stat_u64(out, "evicted_active", ss.evicted_active);
    stat_u64(out, "evictions", ss.evictions);
    stat_u64(out, "reclaimed", ss.reclaimed);
    stat_u64(out, "crawler_reclaimed", ss.crawler_reclaimed);
}

static void class_stat(struct outbuf *out, const char *group, unsigned id, const char *name,
                       uint64_t v)
{
    char key[96];
    if (group)
        snprintf(key, sizeof(key), "%s:%u:%s", group, id, name);
    else
        snprintf(key, sizeof(key), "%u:%s", id, name);
    stat_u64(out, key, v);
}

static void items_class(void *ctx, const struct store_class_stats *c)
{
    struct outbuf *out = ctx;
    if (c->number == 0)
        return;
#define ITEM(field) class_stat(out, "items", c->id, #field, c->field)
    ITEM(number);
    ITEM(age);
    ITEM(mem_requested);
    ITEM(evicted);
    ITEM(evicted_nonzero);
    ITEM(evicted_time);
    ITEM(outofmemory);
    class_stat(out, "items", c->id, "tailrepairs", 0);
    ITEM(reclaimed);
    ITEM(expired_unfetched);
    ITEM(evicted_unfetched);
    ITEM(evicted_active);
#undef ITEM
}

struct slabs_ctx {
    struct outbuf *out;
    uint64_t active, malloced;
};

static void slabs_class(void *ctx, const struct store_class_stats *c)
{
    struct slabs_ctx *sc = ctx;
    if (c->total_pages == 0)
        return;
    sc->active++;
#define SLAB(field) class_stat(sc->out, NULL, c->id, #field, c->field)
    SLAB(chunk_size);
    SLAB(chunks_per_page);
    SLAB(total_pages);
    SLAB(total_chunks);
    SLAB(used_chunks);
    SLAB(free_chunks);
    class_stat(sc->out, NULL, c->id, "free_chunks_end", 0);
    SLAB(get_hits);
    SLAB(cmd_set);
    SLAB(delete_hits);
    SLAB(incr_hits);
    SLAB(decr_hits);
    SLAB(cas_hits);
    SLAB(cas_badval);
    SLAB(touch_hits);
#undef SLAB
}

/* Splits args into up to max space-separated tokens. */
static int tokenize(const char *args, size_t nargs, char tok[][64], int max)
{
    int n = 0;
    size_t i = 0;
    while (i < nargs && n < max) {
        while (i < nargs && args[i] == ' ')
            i++;
        size_t start = i;
        while (i < nargs && args[i] != ' ')
            i++;
        if (i == start)
            break;
        size_t len = i - start < 63 ? i - start : 63;
        memcpy(tok[n], args + start, len);
        tok[n][len] = '\0';
        n++;
    }
    return n;
}

void stats_command(struct session *s, const char *args, size_t nargs, struct outbuf *out)
{
    (void)s;
    char tok[4][64];
    int ntok = tokenize(args, nargs, tok, 4);
    if (ntok == 0) {
        stats_general(out);
    } else if (strcmp(tok[0], "reset") == 0) {
        stats_reset();
        outbuf_append_str(out, "RESET\r\n");
        return;
    } else if (strcmp(tok[0], "detail") == 0) {
        if (ntok < 2) {
            outbuf_append_str(out, "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
            return;
        }
        if (strcmp(tok[1], "on") == 0) {
            stats_set_detail(true);
            outbuf_append_str(out, "OK\r\n");
        } else if (strcmp(tok[1], "off") == 0) {
            stats_set_detail(false);
            outbuf_append_str(out, "OK\r\n");
        } else if (strcmp(tok[1], "dump") == 0) {
            /* Shoal keeps no per-prefix counters: the dump is empty. */
            outbuf_append_str(out, "END\r\n");
        } else {
            outbuf_append_str(out, "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
        }
        return;
    } else if (strcmp(tok[0], "cluster") == 0) {
        if (!cluster_node_stats(out)) {
            outbuf_append_str(out, "ERROR\r\n");
            return;
        }
    } else if (strcmp(tok[0], "settings") == 0) {
        options_stats_settings(&settings, out);
    } else if (strcmp(tok[0], "items") == 0) {
        if (stats_store)
            store_foreach_class(stats_store, items_class, out);
    } else if (strcmp(tok[0], "slabs") == 0) {
        struct slabs_ctx sc = {.out = out};
        if (stats_store) {
            store_foreach_class(stats_store, slabs_class, &sc);
            struct store_stats ss;
            store_get_stats(stats_store, &ss);
            sc.malloced = ss.total_malloced;
        }
        stat_u64(out, "active_slabs", sc.active);
        stat_u64(out, "total_malloced", sc.malloced);
    } else if (strcmp(tok[0], "sizes_enable") == 0 || strcmp(tok[0], "sizes_disable") == 0) {
        /* memcached's reply (one STAT line, no END); Shoal keeps no size histogram to switch. */
        stat_line(out, "sizes_status", tok[0][6] == 'e' ? "enabled" : "disabled");
        return;
    } else if (strcmp(tok[0], "sizes") == 0) {
        /* Shoal does not histogram item sizes; memcached says the same when not tracking. */
        stat_line(out, "sizes_status", "disabled");
    } else if (strcmp(tok[0], "conns") == 0) {
        if (stats_conns)
            stats_conns(out);
    } else if (strcmp(tok[0], "cachedump") == 0) {
        if (ntok < 3) {
            outbuf_append_str(out, "CLIENT_ERROR bad command line\r\n");
            return;
        }
        if (!settings.dump_enabled) {
            outbuf_append_str(out, "CLIENT_ERROR stats cachedump not allowed\r\n");
            return;
        }
        /* Shoal does not walk its LRU for dumps: always empty. */
    } else {
        outbuf_append_str(out, "ERROR\r\n");
        return;
    }
    outbuf_append_str(out, "END\r\n");
}
