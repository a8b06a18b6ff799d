/* shoal-bench's command line: see options.h and man/shoal-bench.1. */
#include "tests/bench/options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/valuegen.h"

#define BENCH_VERSION "shoal-bench 1.0"

static const char usage_text[] =
    "Usage: shoal-bench [options]\n"
    "Drives a memcached-protocol server with a configurable load and reports throughput,\n"
    "hits, errors and latency percentiles. Every value read back is verified.\n"
    "\n"
    "  -s, --server=HOST          server address (default 127.0.0.1)\n"
    "  -p, --port=PORT            server port (default 11211)\n"
    "  -t, --threads=N            client threads, one epoll loop each (default 2)\n"
    "  -c, --connections=N        connections per thread (default 25)\n"
    "  -P, --pipeline=N           requests in flight per connection (default 1)\n"
    "  -r, --ratio=SET:GET        mix of sets and gets (default 1:10)\n"
    "  -m, --multiget=N           keys per get request (default 1)\n"
    "  -k, --key-space=N          number of distinct keys (default 100000)\n"
    "      --key-pattern=P        uniform, sequential or zipf (default uniform)\n"
    "      --zipf-exponent=S      zipf skew, >= 0 (default 0.99)\n"
    "      --key-prefix=STR       key prefix (default \"key:\")\n"
    "  -d, --value-size=N|MIN-MAX value bytes, fixed or uniform in a range (default 100)\n"
    "  -D, --duration=SEC         measure for SEC seconds (default 10 unless -n)\n"
    "  -n, --requests=N           measure exactly N requests in total\n"
    "      --max-time=SEC         hard limit on the measured phase (default 600)\n"
    "  -f, --fill                 first set every key once (not measured)\n"
    "  -R, --rate=OPS             target total requests per second (default: unlimited)\n"
    "      --idle-connections=N   extra connections that stay idle (default 0)\n"
    "      --timeout=SEC          give up when the server is silent this long (default 5)\n"
    "      --seed=N               random seed (default 1)\n"
    "      --no-verify            do not check the values read back\n"
    "      --protocol=P           ascii or binary (memcached's binary protocol: a set is Set, a\n"
    "                             get GetK, a multi-get GetKQ per key then Noop) (default ascii)\n"
    "      --json                 print the report as JSON\n"
    "  -q, --quiet                no progress line on stderr\n"
    "  -h, --help                 this text\n"
    "  -V, --version              print the version\n";

enum {
    OPT_KEY_PATTERN = 256,
    OPT_ZIPF,
    OPT_PREFIX,
    OPT_MAX_TIME,
    OPT_IDLE,
    OPT_TIMEOUT,
    OPT_SEED,
    OPT_NO_VERIFY,
    OPT_JSON,
    OPT_PROTOCOL,
};

static const struct option long_options[] = {
    {"server", required_argument, NULL, 's'},
    {"port", required_argument, NULL, 'p'},
    {"threads", required_argument, NULL, 't'},
    {"connections", required_argument, NULL, 'c'},
    {"pipeline", required_argument, NULL, 'P'},
    {"ratio", required_argument, NULL, 'r'},
    {"multiget", required_argument, NULL, 'm'},
    {"key-space", required_argument, NULL, 'k'},
    {"key-pattern", required_argument, NULL, OPT_KEY_PATTERN},
    {"zipf-exponent", required_argument, NULL, OPT_ZIPF},
    {"key-prefix", required_argument, NULL, OPT_PREFIX},
    {"value-size", required_argument, NULL, 'd'},
    {"duration", required_argument, NULL, 'D'},
    {"requests", required_argument, NULL, 'n'},
    {"max-time", required_argument, NULL, OPT_MAX_TIME},
    {"fill", no_argument, NULL, 'f'},
    {"rate", required_argument, NULL, 'R'},
    {"idle-connections", required_argument, NULL, OPT_IDLE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
    {"json", no_argument, NULL, OPT_JSON},
    {"protocol", required_argument, NULL, OPT_PROTOCOL},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "shoal-bench: invalid %s: '%s' (see --help)\n", what, arg);
    return -1;
}

static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_ratio(const char *s, unsigned *sets, unsigned *gets)
{
    char copy[64];
    if (strlen(s) >= sizeof copy)
        return -1;
    strcpy(copy, s);
    char *colon = strchr(copy, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    uint64_t a, b;
    if (parse_uint(copy, 0, 1000000, &a) || parse_uint(colon + 1, 0, 1000000, &b) || a + b == 0)
        return -1;
    *sets = (unsigned)a;
    *gets = (unsigned)b;
    return 0;
}

static int parse_size_range(const char *s, size_t *min, size_t *max)
{
    char copy[64];
    if (strlen(s) >= sizeof copy)
        return -1;
    strcpy(copy, s);
    char *dash = strchr(copy, '-');
    uint64_t a, b;
    if (dash) {
        *dash = '\0';
        if (parse_uint(copy, 1, VALUEGEN_MAX_LEN, &a) ||
            parse_uint(dash + 1, 1, VALUEGEN_MAX_LEN, &b) || a > b)
            return -1;
    } else {
        if (parse_uint(copy, 1, VALUEGEN_MAX_LEN, &a))
            return -1;
        b = a;
    }
    *min = (size_t)a;
    *max = (size_t)b;
    return 0;
}

static void set_defaults(struct bench_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 11211;
    o->threads = 2;
    o->conns_per_thread = 25;
    o->pipeline = 1;
    o->ratio_set = 1;
    o->ratio_get = 10;
    o->multiget = 1;
    o->key_space = 100000;
    o->key_pattern = KEYS_UNIFORM;
    o->zipf_exponent = 0.99;
    o->key_prefix = "key:";
    o->value_min = o->value_max = 100;
    o->max_time = 600;
    o->timeout = 5;
    o->seed = 1;
    o->verify = true;
}

int bench_options_parse(struct bench_options *o, int argc, char **argv)
{
    set_defaults(o);
    uint64_t u;
    int c;
    optind = 0; /* glibc: 0 also resets getopt's internal state, so parsing twice works */
    while ((c = getopt_long(argc, argv, "s:p:t:c:P:r:m:k:d:D:n:fR:qhV", long_options, NULL)) != -1) {
        switch (c) {
        case 's':
            o->host = optarg;
            break;
        case 'p':
            if (parse_uint(optarg, 1, 65535, &u))
                return bad("port", optarg);
            o->port = (int)u;
            break;
        case 't':
            if (parse_uint(optarg, 1, 256, &u))
                return bad("thread count", optarg);
            o->threads = (unsigned)u;
            break;
        case 'c':
            if (parse_uint(optarg, 1, 100000, &u))
                return bad("connection count", optarg);
            o->conns_per_thread = (unsigned)u;
            break;
        case 'P':
            if (parse_uint(optarg, 1, 4096, &u))
                return bad("pipeline depth", optarg);
            o->pipeline = (unsigned)u;
            break;
        case 'r':
            if (parse_ratio(optarg, &o->ratio_set, &o->ratio_get))
                return bad("ratio (want SET:GET, e.g. 1:10)", optarg);
            break;
        case 'm':
            if (parse_uint(optarg, 1, 1000, &u))
                return bad("multiget width", optarg);
            o->multiget = (unsigned)u;
            break;
        case 'k':
            if (parse_uint(optarg, 1, UINT64_MAX / 2, &u))
                return bad("key space", optarg);
            o->key_space = u;
            break;
        case OPT_KEY_PATTERN:
            if (keydist_parse(optarg, &o->key_pattern))
                return bad("key pattern (uniform, sequential or zipf)", optarg);
            break;
        case OPT_ZIPF:
            if (parse_double(optarg, 0, 100, &o->zipf_exponent))
                return bad("zipf exponent", optarg);
            break;
        case OPT_PREFIX:
            if (strlen(optarg) > 200 || strpbrk(optarg, " \t\r\n"))
                return bad("key prefix", optarg);
            o->key_prefix = optarg;
            break;
        case 'd':
            if (parse_size_range(optarg, &o->value_min, &o->value_max))
                return bad("value size (N or MIN-MAX, 1..16777216)", optarg);
            break;
        case 'D':
            if (parse_double(optarg, 0.001, 86400, &o->duration))
                return bad("duration", optarg);
            break;
        case 'n':
            if (parse_uint(optarg, 1, UINT64_MAX / 2, &u))
                return bad("request count", optarg);
            o->requests = u;
            break;
        case OPT_MAX_TIME:
            if (parse_double(optarg, 0.001, 86400, &o->max_time))
                return bad("max time", optarg);
            break;
        case 'f':
            o->fill = true;
            break;
        case 'R':
            if (parse_double(optarg, 0, 1e9, &o->rate))
                return bad("rate", optarg);
            break;
        case OPT_IDLE:
            if (parse_uint(optarg, 0, 1000000, &u))
                return bad("idle connection count", optarg);
            o->idle_conns = (unsigned)u;
            break;
        case OPT_TIMEOUT:
            if (parse_double(optarg, 0.01, 3600, &o->timeout))
                return bad("timeout", optarg);
            break;
        case OPT_SEED:
            if (parse_uint(optarg, 0, UINT64_MAX, &u))
                return bad("seed", optarg);
            o->seed = u;
            break;
        case OPT_NO_VERIFY:
            o->verify = false;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_PROTOCOL:
            if (strcmp(optarg, "ascii") == 0)
                o->binary = false;
            else if (strcmp(optarg, "binary") == 0)
                o->binary = true;
            else
                return bad("protocol (ascii or binary)", optarg);
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        case 'V':
            puts(BENCH_VERSION);
            return 1;
        default:
            fputs("Try 'shoal-bench --help'.\n", stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shoal-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->duration == 0 && o->requests == 0)
        o->duration = 10;
    if (o->duration > 0 && o->duration < o->max_time)
        o->max_time = o->duration;
    if (o->key_pattern == KEYS_ZIPF && o->key_space > KEYDIST_ZIPF_MAX_KEYS) {
        fprintf(stderr, "shoal-bench: zipf supports at most %llu keys\n",
                (unsigned long long)KEYDIST_ZIPF_MAX_KEYS);
        return -1;
    }
    return 0;
}
