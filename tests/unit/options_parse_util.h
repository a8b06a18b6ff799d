#ifndef SHOAL_TEST_OPTIONS_PARSE_UTIL_H
#define SHOAL_TEST_OPTIONS_PARSE_UTIL_H
/* Shared by the option tests: runs options_parse on an argument list and captures what it
 * printed (-h, -V, stats-like output) and what it complained about. Header-only: each test is
 * its own program. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/options.h"
#include "server/settings.h"

struct parsed {
    enum options_outcome outcome;
    int exit_code;
    char out[16384];
    char msg[4096];
    struct settings s;
};

/* Parses the argument list ap (first, then NULL-terminated; argv[0] is added) into fresh
 * default settings. */
static inline void vparse(struct parsed *p, const char *first, va_list ap)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "shoal";
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    argv[argc] = NULL;
    memset(p, 0, sizeof(*p));
    settings_init(&p->s);
    FILE *out = fmemopen(p->out, sizeof(p->out) - 1, "w");
    FILE *msg = fmemopen(p->msg, sizeof(p->msg) - 1, "w");
    p->outcome = options_parse(argc, argv, &p->s, out, msg, &p->exit_code);
    fclose(out);
    fclose(msg);
}

/* Parses a NULL-terminated argument list. */
static inline void parse(struct parsed *p, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    vparse(p, first, ap);
    va_end(ap);
}

#endif
