/* The option table and the parser that follows it. See options.h; the options themselves are the
 * rows of option_list.h. */
#include "server/options.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "server/cluster_options.h"
#include "server/log.h"
#include "server/outbuf.h"
#include "server/route_worker.h"
#include "server/stats.h"
#include "server/version.h"

#define THREADS_WARN 64
#define THREADS_MAX 1024
#define ITEM_SIZE_MIN 1024
#define ITEM_SIZE_MAX (1024u * 1024 * 1024)
#define HASHPOWER_MIN 12
#define HASHPOWER_MAX 64

bool options_parse_long(const char *arg, long min, long max, long *out)
{
    if (!arg || !*arg)
        return false;
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *arg, double *out)
{
    if (!arg || !*arg)
        return false;
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* ---- complaints: memcached's message for a bad value, and its exit code -------------------- */
/* The INT rows of server/option_list.h name one of these with its `what`. */

static int bad_value(FILE *msg, const char *what, const char *arg)
{
    fprintf(msg, "Invalid value for %s: %s\n", what, arg ? arg : "(none)");
    return EX_USAGE;
}

static int bad_port(FILE *msg, const char *what, const char *arg)
{
    (void)what;
    fprintf(msg, "ERROR: Invalid port number %s.\n", arg);
    return EX_USAGE;
}

static int exit_failure_saying(FILE *msg, const char *sentence, const char *arg)
{
    (void)arg;
    fprintf(msg, "%s\n", sentence);
    return EXIT_FAILURE;
}

static int missing_numeric(FILE *msg, const char *name)
{
    fprintf(msg, "Missing numeric argument for %s\n", name);
    return EXIT_FAILURE;
}

static int sub_bad_value(FILE *msg, const char *name, const char *arg)
{
    fprintf(msg, "Invalid value for %s: %s\n", name, arg);
    return EXIT_FAILURE;
}

static int sub_unparsable(FILE *msg, const char *name, const char *arg)
{
    (void)arg;
    fprintf(msg, "could not parse argument to %s\n", name);
    return EXIT_FAILURE;
}

/* ---- parsers of the CUSTOM and NO_SETTING rows (the others are generated below) ---------- */

static int parse_udp_port(struct settings *s, const char *arg, FILE *msg)
{
    long v;
    if (!options_parse_long(arg, 0, 65535, &v))
        return bad_port(msg, NULL, arg);
    if (v != 0) {
        fprintf(msg, "Shoal does not serve UDP: -U must be 0 (got %ld)\n", v);
        return EX_USAGE;
    }
    s->udpport = 0;
    return 0;
}

static int parse_mask(struct settings *s, const char *arg, FILE *msg)
{
    char *end;
    errno = 0;
    long v = arg ? strtol(arg, &end, 8) : -1;
    if (!arg || !*arg || errno || *end || v < 0 || v > 0777)
        return bad_value(msg, "-a (octal mask)", arg);
    s->access = (int)v;
    return 0;
}

/* The -l list being built; owned here, kept for the life of the process (settings.inter). */
static char *joined;

/* Several -l flags add up, as memcached joins them with commas. */
static int parse_listen(struct settings *s, const char *arg, FILE *msg)
{
    if (!arg || !*arg)
        return bad_value(msg, "-l", arg);
    size_t old = joined ? strlen(joined) : 0;
    char *grown = realloc(joined, old + strlen(arg) + 2);
    if (!grown) {
        fprintf(msg, "out of memory\n");
        return EXIT_FAILURE;
    }
    if (old)
        grown[old++] = ',';
    strcpy(grown + old, arg);
    joined = grown;
    s->inter = joined;
    return 0;
}

static int parse_verbose(struct settings *s, const char *arg, FILE *msg)
{
    (void)arg, (void)msg;
    s->verbose++;
    return 0;
}

static int parse_factor(struct settings *s, const char *arg, FILE *msg)
{
    double v;
    if (!parse_double(arg, &v) || v <= 1.0) {
        fprintf(msg, "Factor must be greater than 1\n");
        return EXIT_FAILURE;
    }
    s->factor = v;
    return 0;
}

static int parse_delimiter(struct settings *s, const char *arg, FILE *msg)
{
    if (!arg || !*arg)
        return bad_value(msg, "-D", arg);
    s->prefix_delimiter = arg[0];
    s->detail_enabled = true;
    return 0;
}

static int parse_threads(struct settings *s, const char *arg, FILE *msg)
{
    long v;
    if (!options_parse_long(arg, LONG_MIN, LONG_MAX, &v) || v <= 0) {
        fprintf(msg, "Number of threads must be greater than 0\n");
        return EXIT_FAILURE;
    }
    if (v > THREADS_MAX) {
        fprintf(msg, "Number of threads must be at most %d\n", THREADS_MAX);
        return EXIT_FAILURE;
    }
    if (v > THREADS_WARN)
        fprintf(msg, "WARNING: Setting a high number of workerthreads is not recommended.\n"
                     " Set this value to the number of cores in your machine or less.\n");
    s->num_threads = (int)v;
    return 0;
}

static int parse_protocol(struct settings *s, const char *arg, FILE *msg)
{
    if (strcmp(arg, "auto") == 0) {
        s->binding_protocol = BINDING_AUTO;
    } else if (strcmp(arg, "ascii") == 0) {
        s->binding_protocol = BINDING_ASCII;
    } else if (strcmp(arg, "binary") == 0) {
        s->binding_protocol = BINDING_BINARY;
    } else {
        fprintf(msg, "Invalid value for binding protocol: %s\n"
                     " -- should be one of auto, binary, or ascii\n",
                arg);
        return EX_USAGE;
    }
    return 0;
}

/* memcached's -I: a number of bytes with an optional k or m suffix. Garbage reads as too small,
 * as memcached's atoi does. */
static int parse_item_size(struct settings *s, const char *arg, FILE *msg)
{
    size_t len = strlen(arg);
    unsigned long long mult = 1;
    char digits[32];
    if (len == 0 || len >= sizeof(digits)) {
        fprintf(msg, "Item max size cannot be less than %d bytes.\n", ITEM_SIZE_MIN);
        return EX_USAGE;
    }
    memcpy(digits, arg, len + 1);
    char unit = digits[len - 1];
    if (unit == 'k' || unit == 'K')
        mult = 1024;
    else if (unit == 'm' || unit == 'M')
        mult = 1024 * 1024;
    if (mult != 1)
        digits[len - 1] = '\0';
    long v;
    if (!options_parse_long(digits, 0, LONG_MAX / (long)mult, &v) || (unsigned long long)v * mult < ITEM_SIZE_MIN) {
        fprintf(msg, "Item max size cannot be less than %d bytes.\n", ITEM_SIZE_MIN);
        return EX_USAGE;
    }
    unsigned long long bytes = (unsigned long long)v * mult;
    if (bytes > ITEM_SIZE_MAX) {
        fprintf(msg, "Cannot set item size limit higher than a gigabyte.\n");
        return EX_USAGE;
    }
    s->item_size_max = (size_t)bytes;
    return 0;
}

static int parse_accepted(struct settings *s, const char *arg, FILE *msg)
{
    (void)s, (void)arg, (void)msg;
    return 0;
}

static int refuse_sasl(struct settings *s, const char *arg, FILE *msg)
{
    (void)s, (void)arg;
    fprintf(msg, "Shoal does not support SASL authentication (-S)\n");
    return EX_USAGE;
}

static int refuse_tls(struct settings *s, const char *arg, FILE *msg)
{
    (void)s, (void)arg;
    fprintf(msg, "Shoal does not support TLS (-Z)\n");
    return EX_USAGE;
}

static int refuse_auth_file(struct settings *s, const char *arg, FILE *msg)
{
    (void)s;
    fprintf(msg, "Shoal does not support ASCII authentication (-Y %s)\n", arg);
    return EX_USAGE;
}

/* ---- -o suboptions ------------------------------------------------------------------------ */

static int sub_hashpower(struct settings *s, const char *arg, FILE *msg)
{
    long v;
    if (!arg)
        return missing_numeric(msg, "hashpower");
    if (!options_parse_long(arg, LONG_MIN, LONG_MAX, &v))
        v = 0; /* memcached reads garbage as 0, which is too low */
    if (v < HASHPOWER_MIN) {
        fprintf(msg, "Initial hashtable multiplier of %ld is too low\n", v);
        return EXIT_FAILURE;
    }
    if (v > HASHPOWER_MAX) {
        fprintf(msg, "Initial hashtable multiplier of %ld is too high\n"
                     "Choose a value based on \"STAT hash_power_level\" from a running instance\n",
                v);
        return EXIT_FAILURE;
    }
    s->hashpower_init = (int)v;
    return 0;
}

static int sub_maxconns_fast(struct settings *s, const char *arg, FILE *msg)
{
    (void)arg, (void)msg;
    s->maxconns_fast = true;
    return 0;
}

static int sub_no_maxconns_fast(struct settings *s, const char *arg, FILE *msg)
{
    (void)arg;
    /* Shoal always answers and closes at the limit; it has no accept back-off to fall back to. */
    fprintf(msg, "note: Shoal always rejects connections over -c at once (maxconns_fast)\n");
    s->maxconns_fast = true;
    return 0;
}

static int sub_hash_algorithm(struct settings *s, const char *arg, FILE *msg)
{
    (void)s;
    if (!arg) {
        fprintf(msg, "Missing hash_algorithm argument\n");
        return EXIT_FAILURE;
    }
    if (strcmp(arg, "jenkins") && strcmp(arg, "murmur3") && strcmp(arg, "xxh3")) {
        fprintf(msg, "Unknown hash_algorithm option (jenkins, murmur3, xxh3)\n");
        return EXIT_FAILURE;
    }
    return 0;
}

static int sub_tuning_number(const char *name, const char *arg, FILE *msg)
{
    double v;
    if (!arg)
        return missing_numeric(msg, name);
    if (!parse_double(arg, &v)) {
        fprintf(msg, "Invalid value for %s: %s\n", name, arg);
        return EXIT_FAILURE;
    }
    return 0;
}

#define TUNING_NUMBER(name)                                                  \
    static int sub_##name(struct settings *s, const char *arg, FILE *msg)    \
    {                                                                        \
        (void)s;                                                             \
        return sub_tuning_number(#name, arg, msg);                           \
    }
TUNING_NUMBER(slab_automove_ratio)
TUNING_NUMBER(slab_automove_window)
TUNING_NUMBER(lru_crawler_sleep)
TUNING_NUMBER(lru_crawler_tocrawl)
TUNING_NUMBER(hot_max_factor)
TUNING_NUMBER(warm_max_factor)
TUNING_NUMBER(temporary_ttl)
TUNING_NUMBER(watcher_logbuf_size)
TUNING_NUMBER(worker_logbuf_size)
TUNING_NUMBER(resp_obj_mem_limit)
TUNING_NUMBER(sock_cookie_id)
TUNING_NUMBER(slab_automove_freeratio)

static int sub_tail_repair_time(struct settings *s, const char *arg, FILE *msg)
{
    (void)s;
    long v;
    if (!arg)
        return missing_numeric(msg, "tail_repair_time");
    if (!options_parse_long(arg, LONG_MIN, LONG_MAX, &v) || v < 10) {
        fprintf(msg, "Cannot set tail_repair_time to less than 10 seconds\n");
        return EXIT_FAILURE;
    }
    return 0;
}

static int lru_pct(const char *name, const char *arg, FILE *msg)
{
    long v;
    if (!arg)
        return missing_numeric(msg, name);
    if (!options_parse_long(arg, LONG_MIN, LONG_MAX, &v) || v < 1 || v > 80) {
        fprintf(msg, "%s must be > 1 and < 80\n", name);
        return EXIT_FAILURE;
    }
    return 0;
}

static int sub_hot_lru_pct(struct settings *s, const char *arg, FILE *msg)
{
    (void)s;
    return lru_pct("hot_lru_pct", arg, msg);
}

static int sub_warm_lru_pct(struct settings *s, const char *arg, FILE *msg)
{
    (void)s;
    return lru_pct("warm_lru_pct", arg, msg);
}

static int sub_slab_automove(struct settings *s, const char *arg, FILE *msg)
{
    (void)s;
    long v;
    if (arg && (!options_parse_long(arg, 0, 2, &v))) {
        fprintf(msg, "slab_automove must be between 0 and 2\n");
        return EXIT_FAILURE;
    }
    return 0;
}

/* ---- stats settings values of the CUSTOM rows and of the rows without a flag -------------- */

#define SHOW(fn, ...)                                                          \
    static void fn(const struct settings *s, char *buf, size_t len)            \
    {                                                                          \
        (void)s;                                                               \
        snprintf(buf, len, __VA_ARGS__);                                       \
    }
static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}
SHOW(show_udpport, "%d", s->udpport)
SHOW(show_inter, "%s", s->inter ? s->inter : "NULL")
SHOW(show_verbosity, "%d", atomic_load(&log_verbosity))
SHOW(show_oldest, "%lu", 0UL)
SHOW(show_umask, "%o", (unsigned)s->access)
SHOW(show_factor, "%.2f", s->factor)
SHOW(show_threads, "%d", s->num_threads)
SHOW(show_delimiter, "%c", s->prefix_delimiter)
SHOW(show_detail, "%s", yes_no(stats_detail_enabled()))
SHOW(show_protocol, "%s",
     s->binding_protocol == BINDING_ASCII    ? "ascii"
     : s->binding_protocol == BINDING_BINARY ? "binary"
                                             : "auto-negotiate")
SHOW(show_no, "no")
SHOW(show_item_size, "%zu", s->item_size_max)
SHOW(show_maxconns_fast, "%s", yes_no(s->maxconns_fast))
SHOW(show_hashpower, "%d", s->hashpower_init)

/* ---- routing ------------------------------------------------------------------------------ */

static int parse_servers(struct settings *s, const char *arg, FILE *msg)
{
    struct route_worker_server_list list;
    char err[200];
    if (route_worker_servers_parse(arg, &list, err, sizeof(err)) != 0) {
        fprintf(msg, "Invalid --servers %s: %s\n", arg ? arg : "", err);
        return EX_USAGE;
    }
    route_worker_servers_free(&list);
    s->servers = arg;
    return 0;
}

static int parse_backend_read_failure(struct settings *s, const char *arg, FILE *msg)
{
    if (arg && strcmp(arg, "miss") == 0)
        s->backend_read_failure_error = false;
    else if (arg && strcmp(arg, "error") == 0)
        s->backend_read_failure_error = true;
    else
        return bad_value(msg, "--backend-read-failure (miss or error)", arg);
    return 0;
}

static int parse_proxy_hash(struct settings *s, const char *arg, FILE *msg)
{
    if (!route_worker_hash_known(arg, msg))
        return EX_USAGE;
    s->proxy_hash = arg;
    return 0;
}

SHOW(show_servers, "%s", s->servers ? s->servers : "NULL")
SHOW(show_proxy_hash, "%s", s->proxy_hash ? s->proxy_hash : PROXY_HASH_DEFAULT)
SHOW(show_backend_read_failure, "%s", s->backend_read_failure_error ? "error" : "miss")

/* ---- the simple options' parsers and values, from server/option_list.h ------------------- */

static void show_signed(char *buf, size_t len, long long v)
{
    snprintf(buf, len, "%lld", v);
}

static void show_unsigned(char *buf, size_t len, unsigned long long v)
{
    snprintf(buf, len, "%llu", v);
}

/* A number the way memcached prints its field: signed or not as the field's type. */
#define SHOW_NUMBER(buf, len, v)                                                                   \
    _Generic((v), int: show_signed, long: show_signed, long long: show_signed,                     \
             default: show_unsigned)(buf, len, v)

#define DEFINE_PARSER(kind, where, short_name, long_name, arg, help, stat, rank, ...)              \
    DEFINE_PARSER_##kind(OPTION_##where, long_name, __VA_ARGS__)
#define DEFINE_PARSER_INT(where, long_name, field, type, value, min, max, scale, complain, what,   \
                          ...)                                                                     \
    static int parse_##field(struct settings *s, const char *arg, FILE *msg)                       \
    {                                                                                              \
        long v;                                                                                    \
        if (!arg && (where) == OPTION_SUB)                                                         \
            return missing_numeric(msg, long_name);                                                \
        if (!options_parse_long(arg, min, max, &v))                                                \
            return complain(msg, what, arg);                                                       \
        s->field = (type)v * (scale);                                                              \
        return 0;                                                                                  \
    }
#define DEFINE_PARSER_BOOL(where, long_name, field, set_to, ...)                                   \
    static int parse_##field(struct settings *s, const char *arg, FILE *msg)                       \
    {                                                                                              \
        (void)arg, (void)msg;                                                                      \
        s->field = (set_to);                                                                       \
        return 0;                                                                                  \
    }
#define DEFINE_PARSER_STRING(where, long_name, field, ...)                                         \
    static int parse_##field(struct settings *s, const char *arg, FILE *msg)                       \
    {                                                                                              \
        (void)msg;                                                                                 \
        s->field = arg;                                                                            \
        return 0;                                                                                  \
    }
#define DEFINE_PARSER_CUSTOM(...)
#define DEFINE_PARSER_NO_SETTING(...)
OPTION_LIST(DEFINE_PARSER)

#define DEFINE_SHOW(kind, where, short_name, long_name, arg, help, stat, rank, ...)                \
    DEFINE_SHOW_##kind(__VA_ARGS__)
#define DEFINE_SHOW_INT(field, type, value, min, max, scale, complain, what, shown_as)             \
    DEFINE_SHOW_AS_##shown_as(field)
#define DEFINE_SHOW_BOOL(field, set_to, shown_as) DEFINE_SHOW_AS_##shown_as(field)
#define DEFINE_SHOW_STRING(field, shown_as) DEFINE_SHOW_AS_##shown_as(field)
#define DEFINE_SHOW_CUSTOM(...)
#define DEFINE_SHOW_NO_SETTING(...)
#define DEFINE_SHOW_AS_NUMBER(field)                                                               \
    static void show_##field(const struct settings *s, char *buf, size_t len)                      \
    {                                                                                              \
        SHOW_NUMBER(buf, len, s->field);                                                           \
    }
#define DEFINE_SHOW_AS_YES_NO(field) SHOW(show_##field, "%s", yes_no(s->field))
#define DEFINE_SHOW_AS_ON_OFF(field) SHOW(show_##field, "%s", s->field ? "on" : "off")
#define DEFINE_SHOW_AS_TEXT_OR_NULL(field) SHOW(show_##field, "%s", s->field ? s->field : "NULL")
#define DEFINE_SHOW_AS_TEXT_OR_PAREN_NULL(field)                                                   \
    SHOW(show_##field, "%s", s->field ? s->field : "(null)")
#define DEFINE_SHOW_AS_UNSHOWN(field)
OPTION_LIST(DEFINE_SHOW)

/* ---- the table ---------------------------------------------------------------------------- */

/* One option_def per row of server/option_list.h. A default -h shows is text the parser accepts,
 * so a test can check that the documented default is the real one: an INT row's default as
 * written, a CUSTOM row's default_text; none for the other kinds. */
#define TABLE_ROW(kind, where, short_name, long_name, arg, help, stat, rank, ...)                  \
    {OPTION_##where, short_name, long_name, arg, false, TABLE_DEFAULT_TEXT_##kind(__VA_ARGS__),    \
     help, TABLE_PARSER_##kind(__VA_ARGS__), stat, TABLE_SHOW_##kind(__VA_ARGS__), rank},
#define TABLE_DEFAULT_TEXT_INT(field, type, value, ...) #value
#define TABLE_DEFAULT_TEXT_BOOL(...) NULL
#define TABLE_DEFAULT_TEXT_STRING(...) NULL
#define TABLE_DEFAULT_TEXT_CUSTOM(field, type, value, default_text, ...) default_text
#define TABLE_DEFAULT_TEXT_NO_SETTING(...) NULL
#define TABLE_PARSER_INT(field, ...) parse_##field
#define TABLE_PARSER_BOOL(field, ...) parse_##field
#define TABLE_PARSER_STRING(field, ...) parse_##field
#define TABLE_PARSER_CUSTOM(field, type, value, default_text, parse, show) parse
#define TABLE_PARSER_NO_SETTING(parse, show) parse
#define TABLE_SHOW_INT(field, type, value, min, max, scale, complain, what, shown_as)              \
    TABLE_SHOW_AS_##shown_as(field)
#define TABLE_SHOW_BOOL(field, set_to, shown_as) TABLE_SHOW_AS_##shown_as(field)
#define TABLE_SHOW_STRING(field, shown_as) TABLE_SHOW_AS_##shown_as(field)
#define TABLE_SHOW_CUSTOM(field, type, value, default_text, parse, show) show
#define TABLE_SHOW_NO_SETTING(parse, show) show
#define TABLE_SHOW_AS_NUMBER(field) show_##field
#define TABLE_SHOW_AS_YES_NO(field) show_##field
#define TABLE_SHOW_AS_ON_OFF(field) show_##field
#define TABLE_SHOW_AS_TEXT_OR_NULL(field) show_##field
#define TABLE_SHOW_AS_TEXT_OR_PAREN_NULL(field) show_##field
#define TABLE_SHOW_AS_UNSHOWN(field) NULL
#define TUNE(lo, arg, opt, parse) {OPTION_TUNING, 0, lo, arg, opt, NULL, NULL, parse, NULL, NULL, 0}
#define STAT_ONLY(stat, show, rank)                                                                \
    {OPTION_STAT_ONLY, 0, NULL, NULL, false, NULL, NULL, NULL, stat, show, rank}

/* How to add an option: see the top of server/option_list.h (a simple one takes 2 edits: its row
 * there and its man page entry). The -o tuning suboptions below are accepted for memcached's sake
 * and change nothing; the cluster's rows come from server/cluster_options.h. */
const struct option_def option_table[] = {
    OPTION_LIST(TABLE_ROW)
    TUNE("hash_algorithm", "<name>", false, sub_hash_algorithm),
    TUNE("no_hashexpand", NULL, false, parse_accepted),
    TUNE("slab_reassign", NULL, false, parse_accepted),
    TUNE("no_slab_reassign", NULL, false, parse_accepted),
    TUNE("slab_automove", "<0-2>", true, sub_slab_automove),
    TUNE("no_slab_automove", NULL, false, parse_accepted),
    TUNE("slab_automove_ratio", "<num>", false, sub_slab_automove_ratio),
    TUNE("slab_automove_window", "<num>", false, sub_slab_automove_window),
    TUNE("slab_automove_freeratio", "<num>", false, sub_slab_automove_freeratio),
    TUNE("tail_repair_time", "<sec>", false, sub_tail_repair_time),
    TUNE("lru_crawler", NULL, false, parse_accepted),
    TUNE("no_lru_crawler", NULL, false, parse_accepted),
    TUNE("lru_crawler_sleep", "<us>", false, sub_lru_crawler_sleep),
    TUNE("lru_crawler_tocrawl", "<num>", false, sub_lru_crawler_tocrawl),
    TUNE("lru_maintainer", NULL, false, parse_accepted),
    TUNE("no_lru_maintainer", NULL, false, parse_accepted),
    TUNE("hot_lru_pct", "<pct>", false, sub_hot_lru_pct),
    TUNE("warm_lru_pct", "<pct>", false, sub_warm_lru_pct),
    TUNE("hot_max_factor", "<num>", false, sub_hot_max_factor),
    TUNE("warm_max_factor", "<num>", false, sub_warm_max_factor),
    TUNE("temporary_ttl", "<sec>", false, sub_temporary_ttl),
    TUNE("watcher_logbuf_size", "<kb>", false, sub_watcher_logbuf_size),
    TUNE("worker_logbuf_size", "<kb>", false, sub_worker_logbuf_size),
    TUNE("slab_sizes", "<list>", false, parse_accepted),
    TUNE("no_inline_ascii_resp", NULL, false, parse_accepted),
    TUNE("modern", NULL, false, parse_accepted),
    TUNE("no_modern", NULL, false, parse_accepted),
    TUNE("no_chunked_items", NULL, false, parse_accepted),
    TUNE("drop_privileges", NULL, false, parse_accepted),
    TUNE("no_drop_privileges", NULL, false, parse_accepted),
    TUNE("resp_obj_mem_limit", "<mb>", false, sub_resp_obj_mem_limit),
    TUNE("sock_cookie_id", "<num>", false, sub_sock_cookie_id),
    CLUSTER_OPTION_ROWS
    STAT_ONLY("oldest", show_oldest, 7),
    STAT_ONLY("num_threads_per_udp", show_threads, 15),
    STAT_ONLY("detail_enabled", show_detail, 17),
};
const unsigned option_count = sizeof(option_table) / sizeof(option_table[0]);

/* ---- help --------------------------------------------------------------------------------- */

void options_print_help(FILE *out)
{
    fprintf(out, "shoal %s (memcached %s compatible)\n", SHOAL_VERSION, SHOAL_MEMCACHED_VERSION);
    for (unsigned i = 0; i < option_count; i++) {
        const struct option_def *o = &option_table[i];
        if (o->kind != OPTION_FLAG || !o->help)
            continue;
        char left[64];
        if (!o->short_name)
            snprintf(left, sizeof(left), "    --%s%s%s", o->long_name, o->arg_name ? "=" : "",
                     o->arg_name ? o->arg_name : "");
        else if (o->arg_name)
            snprintf(left, sizeof(left), "-%c, --%s=%s", o->short_name, o->long_name, o->arg_name);
        else
            snprintf(left, sizeof(left), "-%c, --%s", o->short_name, o->long_name);
        fprintf(out, "%-34s %s", left, o->help);
        if (o->def)
            fprintf(out, " (default: %s)", o->def);
        fputc('\n', out);
    }
    for (int pass = 0; pass < 2; pass++) {
        fprintf(out, pass == 0 ? "-o suboptions Shoal honours:\n"
                               : "-o suboptions memcached uses for its own internals "
                                 "(accepted, noted at -v, no effect):\n  ");
        unsigned col = 2;
        for (unsigned i = 0; i < option_count; i++) {
            const struct option_def *o = &option_table[i];
            if (pass == 0 && o->kind == OPTION_SUB) {
                char left[64];
                snprintf(left, sizeof(left), "   - %s%s%s", o->long_name, o->arg_name ? "=" : "",
                         o->arg_name ? o->arg_name : "");
                fprintf(out, "%-34s %s", left, o->help);
                if (o->def)
                    fprintf(out, " (default: %s)", o->def);
                fputc('\n', out);
            } else if (pass == 1 && o->kind == OPTION_TUNING) {
                size_t w = strlen(o->long_name) + 1;
                if (col + w > 96) {
                    fprintf(out, "\n  ");
                    col = 2;
                }
                fprintf(out, "%s ", o->long_name);
                col += (unsigned)w;
            }
        }
    }
    fprintf(out, "\n");
}

/* ---- parsing ------------------------------------------------------------------------------ */

/* Flags without a short name get getopt values from LONG_ONLY up: LONG_ONLY + table index. */
#define LONG_ONLY 0x100

static const struct option_def *find_flag(int short_name)
{
    if (short_name >= LONG_ONLY)
        return &option_table[short_name - LONG_ONLY];
    for (unsigned i = 0; i < option_count; i++)
        if (option_table[i].kind == OPTION_FLAG && option_table[i].short_name == short_name)
            return &option_table[i];
    return NULL;
}

static const struct option_def *find_sub(const char *name, size_t len)
{
    for (unsigned i = 0; i < option_count; i++) {
        const struct option_def *o = &option_table[i];
        if ((o->kind == OPTION_SUB || o->kind == OPTION_TUNING) && strlen(o->long_name) == len &&
            memcmp(o->long_name, name, len) == 0)
            return o;
    }
    return NULL;
}

/* -o a,b=1,c: each item must be known; memcached refuses the first unknown one. */
static int parse_suboptions(struct settings *s, const char *list, FILE *msg)
{
    char *copy = strdup(list);
    if (!copy) {
        fprintf(msg, "out of memory\n");
        return EXIT_FAILURE;
    }
    int rc = 0;
    char *p = copy;
    /* strtok would skip empty items, which memcached refuses. */
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        char *eq = strchr(p, '=');
        size_t nlen = eq ? (size_t)(eq - p) : strlen(p);
        const struct option_def *o = find_sub(p, nlen);
        if (!o || (eq && !o->arg_name)) {
            fprintf(msg, "Illegal suboption \"%s\"\n", p);
            rc = EXIT_FAILURE;
            break;
        }
        rc = o->parse(s, eq ? eq + 1 : NULL, msg);
        if (rc)
            break;
        if (o->kind == OPTION_TUNING && s->verbose > 0)
            fprintf(msg, "note: -o %s is a memcached internal setting; Shoal accepts it and "
                         "ignores it\n", p);
        if (!comma)
            break;
        p = comma + 1;
    }
    free(copy);
    return rc;
}

static void print_license(FILE *out)
{
    fprintf(out, "shoal %s\n\nA memcached-compatible cache. Written independently of memcached;"
                 " see the project's LICENSE file.\n", SHOAL_VERSION);
}

static int check_combination(struct settings *s, FILE *msg)
{
    if (s->item_size_max > s->maxbytes / 2) {
        fprintf(msg, "Cannot set item size limit higher than 1/2 of memory max.\n");
        return EX_USAGE;
    }
    if (s->slab_chunk_max > s->item_size_max) {
        fprintf(msg, "slab_chunk_max (bytes: %u) cannot be larger than -I (item_size_max %zu)\n",
                s->slab_chunk_max, s->item_size_max);
        return EX_USAGE;
    }
    if (s->item_size_max % s->slab_chunk_max != 0) {
        fprintf(msg, "-I (item_size_max: %zu) must be evenly divisible by slab_chunk_max (bytes: %u)\n",
                s->item_size_max, s->slab_chunk_max);
        return EX_USAGE;
    }
    return 0;
}

enum options_outcome options_parse(int argc, char **argv, struct settings *s, FILE *out, FILE *msg,
                                   int *exit_code)
{
    char shortopts[128];
    struct option longopts[128];
    size_t ns = 0, nl = 0;
    shortopts[ns++] = ':'; /* report a missing argument as ':' */
    for (unsigned i = 0; i < option_count; i++) {
        const struct option_def *o = &option_table[i];
        if (o->kind != OPTION_FLAG)
            continue;
        int val = o->short_name ? o->short_name : (int)(LONG_ONLY + i);
        if (o->short_name) {
            shortopts[ns++] = o->short_name;
            if (o->arg_name)
                shortopts[ns++] = ':';
        }
        longopts[nl++] = (struct option){o->long_name, o->arg_name ? required_argument : no_argument,
                                         NULL, val};
    }
    shortopts[ns] = '\0';
    longopts[nl] = (struct option){0};

    optind = 0; /* 0 also resets glibc's internal state, so tests may parse again */
    free(joined);
    joined = NULL;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        int rc = 0;
        if (c == '?' || c == ':') {
            const char *name = argv[optind - 1];
            if (c == ':')
                fprintf(msg, "%s: option requires an argument -- '%s'\n", argv[0],
                        name + strspn(name, "-"));
            else if (optopt)
                fprintf(msg, "%s: invalid option -- '%c'\n", argv[0], optopt);
            else
                fprintf(msg, "%s: unrecognized option '%s'\n", argv[0], name);
            fprintf(msg, "Illegal argument \"?\"\n");
            *exit_code = EXIT_FAILURE;
            return OPTIONS_EXIT;
        }
        if (c == 'h') {
            options_print_help(out);
            *exit_code = 0;
            return OPTIONS_EXIT;
        }
        if (c == 'V') {
            fprintf(out, "shoal %s\n", SHOAL_VERSION_STRING);
            *exit_code = 0;
            return OPTIONS_EXIT;
        }
        if (c == 'i') {
            print_license(out);
            *exit_code = 0;
            return OPTIONS_EXIT;
        }
        if (c == 'o')
            rc = parse_suboptions(s, optarg, msg);
        else
            rc = find_flag(c)->parse(s, optarg, msg);
        if (rc) {
            *exit_code = rc;
            return OPTIONS_EXIT;
        }
    }
    if (optind < argc) {
        /* memcached ignores stray words; say so rather than silently drop them. */
        fprintf(msg, "warning: ignoring extra argument \"%s\"\n", argv[optind]);
    }
    int rc = check_combination(s, msg);
    if (!rc && s->proxy && !s->servers && !cluster_enabled(s)) {
        fprintf(msg, "--proxy needs --servers host:port,... (a fixed ring) or --join (a cluster)\n");
        rc = EX_USAGE;
    }
    if (!rc && s->servers && !s->proxy) {
        fprintf(msg, "--servers is a proxy's backend list: give --proxy too\n");
        rc = EX_USAGE;
    }
    if (!rc && s->binding_protocol == BINDING_BINARY && cluster_enabled(s) && !s->proxy) {
        fprintf(msg, "-B binary cannot serve a cluster node: nodes forward requests to each other"
                     " in ASCII on the data port (use -B auto)\n");
        rc = EX_USAGE;
    }
    if (!rc && s->servers && cluster_enabled(s)) {
        fprintf(msg, "--servers (a fixed ring) and gossip options (a cluster ring) exclude each other\n");
        rc = EX_USAGE;
    }
    if (rc) {
        *exit_code = rc;
        return OPTIONS_EXIT;
    }
    *exit_code = 0;
    return OPTIONS_RUN;
}

void options_stats_settings(const struct settings *s, struct outbuf *out)
{
    int max_rank = 0;
    for (unsigned i = 0; i < option_count; i++)
        if (option_table[i].stat_rank > max_rank)
            max_rank = option_table[i].stat_rank;
    for (int rank = 1; rank <= max_rank; rank++) {
        for (unsigned i = 0; i < option_count; i++) {
            const struct option_def *o = &option_table[i];
            if (o->stat_rank != rank || !o->stat_name)
                continue;
            char value[256], line[400];
            o->show(s, value, sizeof(value));
            int n = snprintf(line, sizeof(line), "STAT %s %s\r\n", o->stat_name, value);
            if (n > 0)
                outbuf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        }
    }
}
