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
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
