#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>

_Atomic int log_verbosity;

void log_msg(int level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    /* one line at a time, even when several workers log (-vv) */
    flockfile(stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}
