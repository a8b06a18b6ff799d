#ifndef SHOAL_OPTION_LIST_H
#define SHOAL_OPTION_LIST_H
/* Every command-line flag and honoured -o suboption, one row each, in -h order. From these rows
 * server/settings.h declares the fields of struct settings, server/settings.c fills in their
 * defaults, and server/options.c builds the option table, the parsers and the `stats settings`
 * values of the simple kinds. The -o tuning suboptions, the `stats settings` rows without a flag
 * and the cluster's options (server/cluster_options.h) sit in the table in server/options.c.
 *
 * How to add an option:
 *   - a number, a flag that sets a bool, or a string: one row here (INT, BOOL or STRING) and its
 *     entry in man/shoal.1 (tests/unit/test_options.c checks the page names it): 2 edits, where
 *     field, default, parser, -h line and `stats settings` line once took 5;
 *   - anything with its own parsing: a CUSTOM row here (field, default and the text -h shows for
 *     it) plus its parse and show functions in server/options.c, and the man page: 3 edits.
 * `stats settings` shows a row when it has a name; the rank is its position there (memcached's
 * order; the cluster's rows start at 101).
 *
 * Each row is X(kind, where, short, long, arg, help, stat, rank, ...) where `where` is FLAG (-x,
 * --long) or SUB (-o long[=arg]), short is 0 for a long-only flag or a suboption, arg is NULL for
 * one without an argument, stat is the `stats settings` name (NULL and rank 0: not shown), and
 * the kind's own columns follow:
 *
 *   INT(field, type, default, min, max, scale, complain, what, shown_as)
 *     a whole number in [min, max] (options_parse_long), stored times scale; -h shows the default
 *     as written. Anything but a number in range is answered by complain(msg, what, arg), one of
 *     the complaints in server/options.c, which prints memcached's message and returns its exit
 *     code. A suboption without its value gets memcached's "Missing numeric argument for <name>".
 *   BOOL(field, set_to, shown_as)      a flag without argument; the default is !set_to
 *   STRING(field, shown_as)            the argument itself, borrowed from argv; default NULL
 *   CUSTOM(field, type, default, default_text, parse, show)
 *     the field and its default are declared here, the parser and the `stats settings` value are
 *     functions in server/options.c; default_text is what -h shows (NULL: nothing), written as
 *     an argument the parser accepts (tests/unit/test_options.c gives each one and expects no
 *     change). default is evaluated in settings_init (server/settings.c).
 *   NO_SETTING(parse, show)            sets no field of its own (-h, refusals, accepted no-ops)
 *
 * shown_as says how `stats settings` prints the field: NUMBER, YES_NO, ON_OFF, TEXT_OR_NULL
 * (NULL when unset), TEXT_OR_PAREN_NULL ("(null)", as memcached's printf prints it), or
 * UNSHOWN. */

#define OPTION_LIST(X)                                                                             \
    X(INT, FLAG, 'p', "port", "<num>", "TCP port to listen on, 0: off", "tcpport", 3,              \
      port, int, 11211, 0, 65535, 1, bad_port, NULL, NUMBER)                                       \
    X(CUSTOM, FLAG, 'U', "udp-port", "<num>", "UDP port: must be 0 (off); Shoal serves no UDP",    \
      "udpport", 4, udpport, int, 0, "0", parse_udp_port, show_udpport)                            \
    X(STRING, FLAG, 's', "unix-socket", "<file>",                                                  \
      "UNIX socket to listen on (disables network support)", "domain_socket", 9,                   \
      socketpath, TEXT_OR_NULL)                                                                    \
    X(CUSTOM, FLAG, 'a', "unix-mask", "<mask>", "access mask for UNIX socket, in octal", "umask",  \
      10, access, int, 0700, "700", parse_mask, show_umask)                                        \
    X(BOOL, FLAG, 'A', "enable-shutdown", NULL, "enable ascii \"shutdown\" command",               \
      "shutdown_command", 11, shutdown_command, true, YES_NO)                                      \
    /* comma-separated addresses; NULL: all */                                                     \
    X(CUSTOM, FLAG, 'l', "listen", "<addr>",                                                       \
      "interfaces to listen on, comma separated (default: all)", "inter", 5,                       \
      inter, const char *, NULL, NULL, parse_listen, show_inter)                                   \
    X(BOOL, FLAG, 'd', "daemon", NULL, "run as a daemon", NULL, 0, daemonize, true, UNSHOWN)       \
    X(BOOL, FLAG, 'r', "enable-coredumps", NULL, "maximize core file limit", NULL, 0,              \
      maxcore, true, UNSHOWN)                                                                      \
    X(STRING, FLAG, 'u', "user", "<user>",                                                         \
      "assume identity of <username> (only when run as root)", NULL, 0, username, UNSHOWN)         \
    /* bytes */                                                                                    \
    X(INT, FLAG, 'm', "memory-limit", "<num>", "item memory in megabytes", "maxbytes", 1,          \
      maxbytes, size_t, 64, 0, (long)(SIZE_MAX / (1024 * 1024)), 1024 * 1024, bad_value,           \
      "-m (megabytes)", NUMBER)                                                                    \
    X(BOOL, FLAG, 'M', "disable-evictions", NULL,                                                  \
      "return error on memory exhausted instead of evicting", "evictions", 8,                      \
      evict_to_free, false, ON_OFF)                                                                \
    X(INT, FLAG, 'c', "conn-limit", "<num>", "max simultaneous connections", "maxconns", 2,        \
      maxconns, int, 1024, 1, INT_MAX, 1, exit_failure_saying,                                     \
      "Maximum connections must be greater than 0", NUMBER)                                        \
    X(BOOL, FLAG, 'k', "lock-memory", NULL, "lock down all paged memory", NULL, 0,                 \
      lock_memory, true, UNSHOWN)                                                                  \
    /* -v count; the live level is log_verbosity (the verbosity command) */                        \
    X(CUSTOM, FLAG, 'v', "verbose", NULL,                                                          \
      "verbose (errors and warnings); -vv: also client commands and replies;"                      \
      " -vvv: also internal state transitions",                                                    \
      "verbosity", 6, verbose, int, 0, NULL, parse_verbose, show_verbosity)                        \
    X(NO_SETTING, FLAG, 'h', "help", NULL, "print this help and exit", NULL, 0, NULL, NULL)        \
    X(NO_SETTING, FLAG, 'i', "license", NULL, "print the license and exit", NULL, 0, NULL, NULL)   \
    X(NO_SETTING, FLAG, 'V', "version", NULL, "print version and exit", NULL, 0, NULL, NULL)       \
    X(STRING, FLAG, 'P', "pidfile", "<file>", "save PID in <file> (removed at exit)", NULL, 0,     \
      pid_file, UNSHOWN)                                                                           \
    X(CUSTOM, FLAG, 'f', "slab-growth-factor", "<num>", "chunk size growth factor",                \
      "growth_factor", 12, factor, double, 1.25, "1.25", parse_factor, show_factor)                \
    X(INT, FLAG, 'n', "slab-min-size", "<bytes>", "min space used for key+value+flags",            \
      "chunk_size", 13, chunk_size, int, 48, 1, INT_MAX, 1, exit_failure_saying,                   \
      "Chunk size must be greater than 0", NUMBER)                                                 \
    X(NO_SETTING, FLAG, 'L', "enable-largepages", NULL,                                            \
      "accepted; Shoal does not use large pages", NULL, 0, parse_accepted, NULL)                   \
    /* -D also turns detail_enabled on */                                                          \
    X(CUSTOM, FLAG, 'D', "prefix-delimiter", "<char>",                                             \
      "delimiter between key prefixes and IDs for per-prefix stats; turns stats detail on",        \
      "stat_key_prefix", 16, prefix_delimiter, char, ':', NULL, parse_delimiter, show_delimiter)   \
    /* the default is the number of online cores (settings.c) */                                   \
    X(CUSTOM, FLAG, 't', "threads", "<num>",                                                       \
      "number of worker threads (default: number of cores)", "num_threads", 14,                    \
      num_threads, int, settings_online_cores(), NULL, parse_threads, show_threads)                \
    X(INT, FLAG, 'R', "max-reqs-per-event", "<num>",                                               \
      "maximum requests processed per connection per event", "reqs_per_event", 18,                 \
      reqs_per_event, int, 20, 1, INT_MAX, 1, exit_failure_saying,                                 \
      "Number of requests per event must be greater than 0", NUMBER)                               \
    X(BOOL, FLAG, 'C', "disable-cas", NULL, "disable use of CAS", "cas_enabled", 19,               \
      use_cas, false, YES_NO)                                                                      \
    X(INT, FLAG, 'b', "listen-backlog", "<num>", "set the backlog queue limit", "tcp_backlog", 20, \
      backlog, int, 1024, 1, INT_MAX, 1, bad_value, "-b (backlog)", NUMBER)                        \
    X(CUSTOM, FLAG, 'B', "protocol", "<name>", "protocol - one of ascii, binary, or auto",         \
      "binding_protocol", 21, binding_protocol, enum binding_protocol, BINDING_AUTO, "auto",       \
      parse_protocol, show_protocol)                                                               \
    /* bytes */                                                                                    \
    X(CUSTOM, FLAG, 'I', "max-item-size", "<num>",                                                 \
      "max item size, k/m suffix allowed (min: 1k, max: 1024m)", "item_size_max", 24,              \
      item_size_max, size_t, 1024 * 1024, "1m", parse_item_size, show_item_size)                   \
    X(NO_SETTING, FLAG, 'S', "enable-sasl", NULL, "refused: Shoal has no SASL",                    \
      "auth_enabled_sasl", 22, refuse_sasl, show_no)                                               \
    X(BOOL, FLAG, 'F', "disable-flush-all", NULL, "disable flush_all command", "flush_enabled",    \
      30, flush_enabled, false, YES_NO)                                                            \
    X(BOOL, FLAG, 'X', "disable-dumping", NULL,                                                    \
      "disable stats cachedump and lru_crawler metadump", "dump_enabled", 31,                      \
      dump_enabled, false, YES_NO)                                                                 \
    X(BOOL, FLAG, 'W', "disable-watch", NULL, "disable watch commands", NULL, 0,                   \
      watch_enabled, false, UNSHOWN)                                                               \
    X(NO_SETTING, FLAG, 'Y', "auth-file", "<file>", "refused: Shoal has no ASCII authentication",  \
      "auth_enabled_ascii", 23, refuse_auth_file, show_no)                                         \
    /* accepted and ignored: Shoal keeps items in plain memory */                                  \
    X(STRING, FLAG, 'e', "memory-file", "<file>",                                                  \
      "accepted and ignored: items live in plain memory", "memory_file", 40,                       \
      memory_file, TEXT_OR_PAREN_NULL)                                                             \
    X(NO_SETTING, FLAG, 'Z', "enable-ssl", NULL, "refused: Shoal has no TLS", "ssl_enabled", 39,   \
      refuse_tls, show_no)                                                                         \
    X(NO_SETTING, FLAG, 'o', "extended", "<list>",                                                 \
      "comma separated list of extended options (below)", NULL, 0, NULL, NULL)                     \
    /* always on in memcached 1.6; Shoal has no accept back-off to turn it off for */              \
    X(CUSTOM, SUB, 0, "maxconns_fast", NULL,                                                       \
      "immediately close new connections after limit (default: on)", "maxconns_fast", 25,          \
      maxconns_fast, bool, true, NULL, sub_maxconns_fast, show_maxconns_fast)                      \
    X(NO_SETTING, SUB, 0, "no_maxconns_fast", NULL, "accepted; Shoal always closes at once", NULL, \
      0, sub_no_maxconns_fast, NULL)                                                               \
    X(CUSTOM, SUB, 0, "hashpower", "<num>", "initial hash table size is 2^num buckets (12-64)",    \
      "hashpower_init", 26, hashpower_init, int, 0, NULL, sub_hashpower, show_hashpower)           \
    /* seconds, 0: never */                                                                        \
    X(INT, SUB, 0, "idle_timeout", "<sec>", "close connections idle this long, 0: never",          \
      "idle_timeout", 33, idle_timeout, int, 0, 0, INT_MAX, 1, sub_bad_value, "idle_timeout",      \
      NUMBER)                                                                                      \
    /* bytes, 0: no limit */                                                                       \
    X(INT, SUB, 0, "read_buf_mem_limit", "<mb>", "megabytes for all connections' buffered input",  \
      "read_buf_mem_limit", 34, read_buf_mem_limit, size_t, 0, 0,                                  \
      (long)(SIZE_MAX / (1024 * 1024)), 1024 * 1024, sub_unparsable, "read_buf_mem_limit",         \
      NUMBER)                                                                                      \
    /* bytes; memcached's check against -I (options.c, check_combination) */                       \
    X(INT, SUB, 0, "slab_chunk_max", "<bytes>", "largest slab chunk; -I must be a multiple",       \
      "slab_chunk_max", 29, slab_chunk_max, unsigned, 524288, 1, INT_MAX, 1, sub_unparsable,       \
      "slab_chunk_max", NUMBER)                                                                    \
    X(BOOL, SUB, 0, "track_sizes", NULL, "accepted; stats sizes is not tracked", "track_sizes",    \
      35, track_sizes, true, YES_NO)                                                               \
    /* Routing (server/route_worker.h). */                                                         \
    X(BOOL, FLAG, 0, "proxy", NULL,                                                                \
      "routing: store nothing, forward every key to its owner (needs --servers or --join)",        \
      "proxy", 95, proxy, true, YES_NO)                                                            \
    /* the fixed ring's list as given; NULL: none */                                               \
    X(CUSTOM, FLAG, 0, "servers", "<host:port[:weight][ name],...>",                               \
      "routing: a fixed ketama ring of backends, as twemproxy's servers list", "proxy_servers",    \
      96, servers, const char *, NULL, NULL, parse_servers, show_servers)                          \
    X(INT, FLAG, 0, "backend-timeout", "<ms>",                                                     \
      "routing: a backend reply (or connect) not there by then fails the request",                 \
      "backend_timeout", 97, backend_timeout_ms, unsigned, 1000, 1, 3600 * 1000L, 1, bad_value,    \
      "--backend-timeout (milliseconds, 1-3600000)", NUMBER)                                       \
    /* false: a failed read answers a miss */                                                      \
    X(CUSTOM, FLAG, 0, "backend-read-failure", "<miss|error>",                                     \
      "routing: a read whose backend failed answers a miss, or SERVER_ERROR as a write does",      \
      "backend_read_failure", 100, backend_read_failure_error, bool, false, "miss",                \
      parse_backend_read_failure, show_backend_read_failure)                                       \
    /* the ring's key hash, twemproxy's names; NULL: the default (route_worker.c reads NULL as     \
     * md5) */                                                                                     \
    X(CUSTOM, FLAG, 0, "hash", "<name>",                                                           \
      "routing: the key hash of the ring (twemproxy's names: md5, fnv1a_64, crc32a, ...)",         \
      "proxy_hash", 98, proxy_hash, const char *, NULL, PROXY_HASH_DEFAULT, parse_proxy_hash,      \
      show_proxy_hash)                                                                             \
    /* owners per key; 1: no copies */                                                             \
    X(INT, FLAG, 0, "replicas", "<num>",                                                           \
      "routing: keep each key on its first <num> distinct members clockwise on the ring",          \
      "replicas", 106, replicas, unsigned, 1, 1, 16, 1, bad_value, "--replicas (1-16)", NUMBER)     \
    /* seconds; 0: off */                                                                          \
    X(INT, FLAG, 0, "warmup", "<sec>",                                                             \
      "cluster: after joining, fetch a key missing here from its previous owner for this long",    \
      "warmup", 99, warmup_sec, unsigned, 30, 0, 86400, 1, bad_value,                              \
      "--warmup (seconds, 0-86400)", NUMBER)

/* --hash's default, which a NULL proxy_hash stands for. */
#define PROXY_HASH_DEFAULT "md5"

#endif
