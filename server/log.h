#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H
/* Diagnostics on stderr, filtered by -v: level 1 is -v (errors and warnings worth an operator's
 * attention), 2 is -vv (every command and reply), 3 is -vvv (internal state changes).
 * Level 0 messages always print (fatal start-up errors). */
#include <stdatomic.h>

extern _Atomic int log_verbosity;

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_enabled(level) (atomic_load_explicit(&log_verbosity, memory_order_relaxed) >= (level))

#endif
