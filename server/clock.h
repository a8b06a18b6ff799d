#ifndef SHOAL_CLOCK_H
#define SHOAL_CLOCK_H
/* The server's notion of time, in memcached's terms.
 *
 * rel_time_t counts whole seconds since the process started (plus memcached's start offset, so
 * that 0 never means "now"), as memcached's current_time does. Workers read it without a system call;
 * a ticker advances it once per second. Tests may set it by hand. */
#include <stdint.h>
#include <time.h>

typedef uint32_t rel_time_t;

/* memcached's REALTIME_MAXDELTA: expiry times above 30 days are absolute unix times. */
#define CLOCK_REALTIME_MAXDELTA (60 * 60 * 24 * 30)

/* memcached's ITEM_UPDATE_INTERVAL + 2: how far in the past the clock starts. */
#define CLOCK_START_OFFSET 62

/* Starts the clock: process_started becomes now - CLOCK_START_OFFSET, as memcached does. */
void clock_init(void);
/* Re-reads the wall clock; called once a second by the ticker. */
void clock_tick(void);
/* Seconds since start (memcached's current_time). */
rel_time_t clock_now(void);
/* Unix time at which clock_now() was 0. */
time_t clock_process_started(void);
/* Converts a client's exptime (0, relative up to 30 days, absolute, or negative) to rel_time_t,
 * exactly as memcached's realtime(): 0 stays 0 (never expires), anything already past maps to 1. */
rel_time_t clock_from_exptime(int64_t exptime);
/* Tests only: sets clock_now() to `now` and stops it following the wall clock. */
void clock_set_for_test(rel_time_t now);

#endif
