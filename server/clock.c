#include "server/clock.h"

#include <stdatomic.h>
#include <stdbool.h>

static time_t process_started;
static _Atomic rel_time_t current_time;
static atomic_bool frozen;

void clock_init(void)
{
    /* memcached starts its clock one update interval (60 s) plus 2 s in the past, so that no
     * item time is ever 0; replies that print times relative to it (an already-expired TTL
     * shown as an unsigned number) depend on this offset, so it is memcached's. */
    process_started = time(NULL) - CLOCK_START_OFFSET;
    atomic_store(&current_time, (rel_time_t)(time(NULL) - process_started));
}

void clock_tick(void)
{
    if (atomic_load_explicit(&frozen, memory_order_relaxed))
        return;
    atomic_store_explicit(&current_time, (rel_time_t)(time(NULL) - process_started),
                          memory_order_relaxed);
}

rel_time_t clock_now(void)
{
    return atomic_load_explicit(&current_time, memory_order_relaxed);
}

time_t clock_process_started(void)
{
    return process_started;
}

rel_time_t clock_from_exptime(int64_t exptime)
{
    if (exptime == 0)
        return 0;
    if (exptime < 0)
        return 1;
    if (exptime > CLOCK_REALTIME_MAXDELTA) {
        if (exptime <= (int64_t)process_started)
            return 1;
        return (rel_time_t)(exptime - process_started);
    }
    return (rel_time_t)(exptime + clock_now());
}

void clock_set_for_test(rel_time_t now)
{
    if (process_started == 0)
        process_started = time(NULL) - CLOCK_START_OFFSET;
    atomic_store(&frozen, true);
    atomic_store(&current_time, now);
}
