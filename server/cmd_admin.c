/* memcached's admin commands for its internals: cache_memlimit, lru, slabs, lru_crawler.
 * Shoal has no LRU segments, slab rebalancer or crawler thread, so these knobs are validated and
 * answered exactly as memcached 1.6.18 answers them, and change nothing (see man/shoal.1). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "proto/number.h"
#include "server/cmd_internal.h"

/* memcached refuses limits below 8 MB and values that look like bytes, not megabytes. */
#define MEMLIMIT_MIN_MB 8
#define MEMLIMIT_MAX_MB 1000000000u
/* memcached's lru_crawler sleep limit (microseconds) and its largest slab class id. */
#define CRAWLER_SLEEP_MAX 1000000u
#define CRAWLER_CLASS_MAX 63u

/* Whether `lru_crawler enable` would find the crawler already running (memcached starts it). */
static atomic_bool crawler_enabled = true;

/* memcached's safe_strtod: a number followed by the end or a whitespace character. */
static bool parse_double(const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || (*end != '\0' && *end != ' '))
        return false;
    *out = v;
    return true;
}

void cmd_cache_memlimit(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    s->noreply = proto_has_noreply(t, nt);
    uint32_t mb;
    if (!proto_parse_u32(t[1].value, &mb))
        reply_line(s, out, "ERROR");
    else if (mb < MEMLIMIT_MIN_MB)
        reply_line(s, out, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m");
    else if (mb > MEMLIMIT_MAX_MB)
        reply_line(s, out, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes");
    else
        reply_line(s, out, "OK");
}

static void lru_tune(struct session *s, struct proto_token *t, struct outbuf *out)
{
    uint32_t hot_pct, warm_pct;
    double hot_factor, warm_factor;
    if (!proto_parse_u32(t[2].value, &hot_pct) || !proto_parse_u32(t[3].value, &warm_pct) ||
        !parse_double(t[4].value, &hot_factor) || !parse_double(t[5].value, &warm_factor))
        reply_line(s, out, "ERROR");
    else if ((uint64_t)hot_pct + warm_pct > 80)
        reply_line(s, out, "ERROR hot and warm pcts must not exceed 80");
    else if (hot_factor <= 0 || warm_factor <= 0)
        reply_line(s, out, "ERROR hot/warm age factors must be greater than 0");
    else
        reply_line(s, out, "OK");
}

void cmd_lru(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    s->noreply = proto_has_noreply(t, nt);
    const char *what = t[1].value;
    int32_t ttl;
    if (nt >= 7 && strcmp(what, "tune") == 0)
        lru_tune(s, t, out);
    else if (nt >= 4 && strcmp(what, "mode") == 0 &&
             (strcmp(t[2].value, "flat") == 0 || strcmp(t[2].value, "segmented") == 0))
        reply_line(s, out, "OK");
    else if (nt >= 4 && strcmp(what, "temp_ttl") == 0 && proto_parse_i32(t[2].value, &ttl))
        reply_line(s, out, "OK");
    else
        reply_line(s, out, "ERROR");
}

static void slabs_automove(struct session *s, struct proto_token *t, size_t nt,
                           struct outbuf *out)
{
    s->noreply = proto_has_noreply(t, nt);
    if (strcmp(t[2].value, "ratio") == 0) {
        double ratio;
        reply_line(s, out, nt >= 5 && parse_double(t[3].value, &ratio) ? "OK" : "ERROR");
        return;
    }
    uint32_t level;
    if (!proto_parse_u32(t[2].value, &level))
        reply_line(s, out, "CLIENT_ERROR bad command line format");
    else
        reply_line(s, out, level <= 2 ? "OK" : "ERROR");
}

void cmd_slabs(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    if (nt >= 4 && strcmp(t[1].value, "automove") == 0)
        slabs_automove(s, t, nt, out);
    else
        reply_line(s, out, "ERROR");
}

/* A comma-separated list of class ids, or "all". Empty items are skipped, as memcached does. */
static bool crawl_classes_valid(char *list)
{
    if (strcmp(list, "all") == 0)
        return true;
    char *save = NULL;
    for (char *id = strtok_r(list, ",", &save); id != NULL; id = strtok_r(NULL, ",", &save)) {
        uint32_t n;
        if (!proto_parse_u32(id, &n) || n < 1 || n > CRAWLER_CLASS_MAX)
            return false;
    }
    return true;
}

static void crawler_set_number(struct session *s, struct proto_token *t, uint32_t max,
                               struct outbuf *out)
{
    uint32_t n;
    if (!proto_parse_u32(t[2].value, &n))
        reply_line(s, out, "CLIENT_ERROR bad command line format");
    else if (n > max)
        reply_line(s, out, "CLIENT_ERROR sleep must be one second or less");
    else
        reply_line(s, out, "OK");
}

void cmd_lru_crawler(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    const char *what = t[1].value;
    if (nt == 4 && strcmp(what, "crawl") == 0) {
        if (!atomic_load(&crawler_enabled))
            reply_line(s, out, "CLIENT_ERROR lru crawler disabled");
        else
            reply_line(s, out, crawl_classes_valid(t[2].value) ? "OK"
                                                               : "BADCLASS invalid class id");
    } else if (nt == 4 && strcmp(what, "tocrawl") == 0) {
        crawler_set_number(s, t, UINT32_MAX, out);
    } else if (nt == 4 && strcmp(what, "sleep") == 0) {
        crawler_set_number(s, t, CRAWLER_SLEEP_MAX, out);
    } else if (nt == 3 && strcmp(what, "enable") == 0) {
        bool was = atomic_exchange(&crawler_enabled, true);
        reply_line(s, out, was ? "ERROR failed to start lru crawler thread" : "OK");
    } else if (nt == 3 && strcmp(what, "disable") == 0) {
        atomic_store(&crawler_enabled, false);
        reply_line(s, out, "OK");
    } else {
        reply_line(s, out, "ERROR");
    }
}
