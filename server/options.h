#ifndef SHOAL_OPTIONS_H
#define SHOAL_OPTIONS_H
/* The command line: memcached 1.6's flags, declared once in a table that the parser, the -h text,
 * `stats settings` and man/shoal.1 all follow. Its rows come from server/option_list.h (one per
 * flag or honoured -o suboption, which also declares the settings field and its default; how to
 * add an option is written there), the -o tuning rows from options.c, the cluster's from
 * server/cluster_options.h.
 *
 * Exit codes follow memcached: 64 (EX_USAGE) for most bad values, 1 for the checks memcached
 * reports with EXIT_FAILURE (-c, -t, -R, -f, -n, -o). */
#include <stdbool.h>
#include <stdio.h>

#include "server/settings.h"

struct outbuf;

enum option_kind {
    OPTION_FLAG,      /* a command-line flag: -x / --long */
    OPTION_SUB,       /* an -o suboption Shoal honours */
    OPTION_TUNING,    /* an -o suboption memcached accepts for its own internals; noted at -v */
    OPTION_STAT_ONLY, /* no flag: a `stats settings` row memcached prints */
};

/* Parses an option's argument (NULL for a flag without one) into s. On a bad value prints
 * memcached's message on msg and returns the exit code (non-zero); returns 0 when it took it. */
typedef int (*option_parse_fn)(struct settings *s, const char *arg, FILE *msg);
/* Writes the value `stats settings` shows. */
typedef void (*option_show_fn)(const struct settings *s, char *buf, size_t len);

struct option_def {
    enum option_kind kind;
    char short_name;         /* 0 when there is none */
    const char *long_name;   /* --long_name, or the -o suboption's name */
    const char *arg_name;    /* NULL: takes no argument; "=<num>" style for -o */
    bool arg_optional;       /* -o name or -o name=value */
    const char *def;         /* the default, as an argument the parser accepts; NULL: none */
    const char *help;        /* one line of -h text; NULL keeps it out of -h */
    option_parse_fn parse;
    const char *stat_name;   /* `stats settings` name; NULL: not shown */
    option_show_fn show;
    int stat_rank;           /* position among `stats settings` rows (memcached's order) */
};

/* The table, in -h order. */
extern const struct option_def option_table[];
extern const unsigned option_count;

enum options_outcome {
    OPTIONS_RUN,  /* start the server */
    OPTIONS_EXIT, /* stop now with *exit_code (0 after -h, -V, -i) */
};

/* Parses argv (getopt-style; resets getopt) into s, which must hold settings_init's defaults.
 * Help and version go to out, errors and warnings to msg. Also runs the cross-option checks
 * (-I against -m, slab_chunk_max against -I, -U, -B binary). */
/* Strict integer parsing for option values: the whole string must be a number in [min, max]. */
bool options_parse_long(const char *arg, long min, long max, long *out);

enum options_outcome options_parse(int argc, char **argv, struct settings *s, FILE *out, FILE *msg,
                                   int *exit_code);

void options_print_help(FILE *out);

/* The rows of `stats settings`, "STAT name value\r\n" each, without the final END. */
void options_stats_settings(const struct settings *s, struct outbuf *out);

#endif
