#ifndef SHOAL_SETTINGS_H
#define SHOAL_SETTINGS_H
/* The server's configuration, filled once at start-up from the command line (server/options.c)
 * and read-only afterwards, except where a field says otherwise. */
#include <stdbool.h>
#include <stddef.h>

#include "server/cluster_options.h"

/* -B: memcached's binding protocols. With auto, a connection whose first byte is 0x80 speaks
 * binary, any other ASCII. */
enum binding_protocol {
    BINDING_AUTO,
    BINDING_ASCII,
    BINDING_BINARY,
};

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
    int verbose;             /* -v count; the live level is log_verbosity (the verbosity command) */
    enum binding_protocol binding_protocol; /* -B */
    bool lock_memory;        /* -k */
    bool maxcore;            /* -r */
    char prefix_delimiter;   /* -D */
    bool detail_enabled;     /* -D turns it on; `stats detail on|off` changes it at run time */
    bool dump_enabled;       /* false with -X */
    bool watch_enabled;      /* false with -W */
    bool track_sizes;        /* -o track_sizes */
    unsigned slab_chunk_max; /* -o slab_chunk_max, bytes (memcached's check against -I) */
    const char *memory_file; /* -e, accepted and ignored: Shoal keeps items in plain memory */
    struct cluster_settings cluster; /* --node-name, --join, ... (server/cluster_options.h) */
    /* Routing (server/route_worker.h). */
    bool proxy;              /* --proxy: store nothing, route every key to its owner */
    const char *servers;     /* --servers host:port[:weight][ name],...: a fixed ring; NULL: none */
    unsigned backend_timeout_ms; /* --backend-timeout */
    bool backend_read_failure_error; /* --backend-read-failure=error (default miss) */
    const char *proxy_hash;  /* --hash: the key hash of the ring (twemproxy's names); NULL: md5 */
    unsigned warmup_sec;     /* --warmup: cluster warm-up grace period after joining; 0: off */
};

extern struct settings settings;

/* Sets every field to memcached 1.6's default, except num_threads: the number of online cores. */
void settings_init(struct settings *s);

#endif
