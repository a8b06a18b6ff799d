#ifndef SHOAL_SETTINGS_H
#define SHOAL_SETTINGS_H
/* The server's configuration, filled once at start-up from the command line (server/options.c)
 * and read-only afterwards, except where a field says otherwise. */
#include <stdbool.h>
#include <stddef.h>

struct settings {
    int port;                /* -p, TCP port (0 = none) */
    int udpport;             /* -U, must be 0: Shoal does not serve UDP */
    const char *socketpath;  /* -s, unix socket instead of TCP */
    int access;              /* -a, unix socket mode */
    const char *inter;       /* -l, comma-separated addresses; NULL = all */
    bool daemonize;          /* -d */
    const char *pid_file;    /* -P */
    const char *username;    /* -u */
    size_t maxbytes;         /* -m, bytes */
    bool evict_to_free;      /* false with -M */
    int maxconns;            /* -c */
    int num_threads;         /* -t */
    int reqs_per_event;      /* -R */
    bool use_cas;            /* false with -C */
    int backlog;             /* -b */
    size_t item_size_max;    /* -I */
    double factor;           /* -f */
    int chunk_size;          /* -n */
    bool flush_enabled;      /* false with -F */
    bool shutdown_command;   /* -A */
    int idle_timeout;        /* -o idle_timeout, seconds, 0 = never */
    int hashpower_init;      /* -o hashpower */
    size_t read_buf_mem_limit; /* -o read_buf_mem_limit, bytes, 0 = no limit */
    bool maxconns_fast;      /* -o maxconns_fast (always on in memcached 1.6) */
};

extern struct settings settings;

/* Sets every field to memcached 1.6's default. */
void settings_init(struct settings *s);

#endif
