#include "proto/parse.h"

#include <string.h>

size_t proto_tokenize(char *line, struct proto_token *tokens, size_t max_tokens)
{
    size_t ntokens = 0;
    size_t len = strlen(line);
    char *start = line;
    char *end = line;

    for (size_t i = 0; i < len; i++, end++) {
        if (*end != ' ')
            continue;
        if (start != end) {
            tokens[ntokens].value = start;
            tokens[ntokens].length = (size_t)(end - start);
            ntokens++;
            *end = '\0';
            if (ntokens == max_tokens - 1) {
                end++;
                start = end;
                break;
            }
        }
        start = end + 1;
    }
    if (start != end) {
        tokens[ntokens].value = start;
        tokens[ntokens].length = (size_t)(end - start);
        ntokens++;
    }
    tokens[ntokens].value = (*end == '\0') ? NULL : end;
    tokens[ntokens].length = 0;
    return ntokens + 1;
}

long proto_find_line(const char *buf, size_t len, size_t *consumed)
{
    const char *nl = memchr(buf, '\n', len);
    if (nl == NULL)
        return -1;
    size_t text = (size_t)(nl - buf);
    *consumed = text + 1;
    /* memcached strips "\r" only when the line has more than one byte before "\n". */
    if (text > 1 && buf[text - 1] == '\r')
        text--;
    return (long)text;
}

bool proto_long_line_may_continue(const char *buf, size_t len)
{
    size_t skip = 0;
    while (skip < len && buf[skip] == ' ')
        skip++;
    if (skip > 100)
        return false;
    const char *p = buf + skip;
    size_t left = len - skip;
    return (left >= 4 && memcmp(p, "get ", 4) == 0) || (left >= 5 && memcmp(p, "gets ", 5) == 0);
}

static bool is(const struct proto_token *t, const char *name)
{
    return strcmp(t->value, name) == 0;
}

/* memcached's WANT_TOKENS family: wrong counts answer ERROR. */
static enum proto_cmd want_or(enum proto_cmd cmd, size_t ntokens, size_t a, size_t b)
{
    return (ntokens == a || ntokens == b) ? cmd : PROTO_CMD_ERROR;
}

static enum proto_cmd want_range(enum proto_cmd cmd, size_t ntokens, size_t min, size_t max)
{
    return (ntokens >= min && ntokens <= max) ? cmd : PROTO_CMD_ERROR;
}

static enum proto_cmd meta_command(char second)
{
    switch (second) {
    case 'g': return PROTO_CMD_MG;
    case 's': return PROTO_CMD_MS;
    case 'd': return PROTO_CMD_MD;
    case 'a': return PROTO_CMD_MA;
    case 'n': return PROTO_CMD_MN;
    case 'e': return PROTO_CMD_ME;
    default: return PROTO_CMD_ERROR;
    }
}

/* The dispatch follows memcached's: the first character picks a family, and a line whose first
 * character belongs to a family but names no command in it is a plain ERROR, while a line that
 * matches no family is checked for an HTTP request. */
enum proto_cmd proto_command(const struct proto_token *tokens, size_t ntokens)
{
    if (ntokens < 2 || tokens[0].length < 2)
        return PROTO_CMD_ERROR;
    const struct proto_token *t = &tokens[0];
    char first = t->value[0];

    if (first == 'm' && t->length == 2)
        return meta_command(t->value[1]);
    switch (first) {
    case 'g':
        if (ntokens < 3)
            return PROTO_CMD_ERROR;
        if (is(t, "get")) return PROTO_CMD_GET;
        if (is(t, "gets")) return PROTO_CMD_GETS;
        if (is(t, "gat")) return PROTO_CMD_GAT;
        if (is(t, "gats")) return PROTO_CMD_GATS;
        return PROTO_CMD_ERROR;
    case 's':
        if (is(t, "set")) return want_or(PROTO_CMD_SET, ntokens, 6, 7);
        if (is(t, "stats")) return PROTO_CMD_STATS;
        if (is(t, "shutdown")) return PROTO_CMD_SHUTDOWN;
        if (is(t, "slabs")) return PROTO_CMD_SLABS;
        return PROTO_CMD_ERROR;
    case 'a':
        if (is(t, "add")) return want_or(PROTO_CMD_ADD, ntokens, 6, 7);
        if (is(t, "append")) return want_or(PROTO_CMD_APPEND, ntokens, 6, 7);
        return PROTO_CMD_ERROR;
    case 'c':
        if (is(t, "cas")) return want_or(PROTO_CMD_CAS, ntokens, 7, 8);
        if (is(t, "cache_memlimit")) return want_or(PROTO_CMD_CACHE_MEMLIMIT, ntokens, 3, 4);
        return PROTO_CMD_ERROR;
    case 'i':
        if (is(t, "incr")) return want_or(PROTO_CMD_INCR, ntokens, 4, 5);
        return PROTO_CMD_ERROR;
    case 'd':
        if (is(t, "delete")) return want_range(PROTO_CMD_DELETE, ntokens, 3, 5);
        if (is(t, "decr")) return want_or(PROTO_CMD_DECR, ntokens, 4, 5);
        return PROTO_CMD_ERROR;
    case 't':
        if (is(t, "touch")) return want_or(PROTO_CMD_TOUCH, ntokens, 4, 5);
        return PROTO_CMD_ERROR;
    default:
        break;
    }
    if (is(t, "replace")) return want_or(PROTO_CMD_REPLACE, ntokens, 6, 7);
    if (is(t, "prepend")) return want_or(PROTO_CMD_PREPEND, ntokens, 6, 7);
    if (is(t, "bget")) return ntokens >= 3 ? PROTO_CMD_BGET : PROTO_CMD_ERROR;
    if (is(t, "flush_all")) return want_range(PROTO_CMD_FLUSH_ALL, ntokens, 2, 4);
    if (is(t, "version")) return PROTO_CMD_VERSION;
    if (is(t, "quit")) return PROTO_CMD_QUIT;
    if (is(t, "lru")) return ntokens >= 3 ? PROTO_CMD_LRU : PROTO_CMD_ERROR;
    if (is(t, "lru_crawler")) return ntokens >= 3 ? PROTO_CMD_LRU_CRAWLER : PROTO_CMD_ERROR;
    if (is(t, "verbosity")) return want_or(PROTO_CMD_VERBOSITY, ntokens, 3, 4);
    if (ntokens >= 2 && tokens[ntokens - 2].value != NULL &&
        strncmp(tokens[ntokens - 2].value, "HTTP/", 5) == 0)
        return PROTO_CMD_HTTP;
    return PROTO_CMD_ERROR;
}

bool proto_has_noreply(const struct proto_token *tokens, size_t ntokens)
{
    const struct proto_token *t = &tokens[ntokens - 2];
    return t->value != NULL && strcmp(t->value, "noreply") == 0;
}
