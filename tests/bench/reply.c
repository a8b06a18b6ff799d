/* One line of a memcached ASCII reply: see reply.h. */
#include "tests/bench/reply.h"

#include <string.h>

static int starts_with(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(s, word, n) == 0;
}

static int is_exactly(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* Parses an unsigned decimal at *p (advancing it); 0 on success. */
static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

static long parse_value(const char *line, size_t len, struct reply_line *out)
{
    const char *p = line + 6, *end = line + len; /* after "VALUE " */
    const char *key = p;
    while (p < end && *p != ' ')
        p++;
    if (p == key || p == end)
        return -1;
    out->key = key;
    out->key_len = (size_t)(p - key);
    p++;
    uint64_t flags, bytes;
    if (parse_u64(&p, end, &flags) || flags > UINT32_MAX || p == end || *p++ != ' ' ||
        parse_u64(&p, end, &bytes))
        return -1;
    if (p < end && *p != ' ')
        return -1; /* a cas value may follow; anything else glued on is wrong */
    out->flags = (uint32_t)flags;
    out->bytes = bytes;
    return 0;
}

long bench_reply_parse_line(const char *buf, size_t len, struct reply_line *out)
{
    size_t scan = len < REPLY_LINE_MAX ? len : REPLY_LINE_MAX;
    const char *nl = memchr(buf, '\n', scan);
    if (!nl)
        return len >= REPLY_LINE_MAX ? -1 : 0;
    size_t line_len = (size_t)(nl - buf);
    if (line_len == 0 || buf[line_len - 1] != '\r')
        return -1;
    line_len--;
    memset(out, 0, sizeof *out);
    out->text = buf;
    out->text_len = line_len;
    if (starts_with(buf, line_len, "VALUE ")) {
        out->kind = REPLY_VALUE;
        if (parse_value(buf, line_len, out))
            return -1;
    } else if (is_exactly(buf, line_len, "END")) {
        out->kind = REPLY_END;
    } else if (is_exactly(buf, line_len, "STORED")) {
        out->kind = REPLY_STORED;
    } else if (is_exactly(buf, line_len, "NOT_STORED")) {
        out->kind = REPLY_NOT_STORED;
    } else if (is_exactly(buf, line_len, "EXISTS")) {
        out->kind = REPLY_EXISTS;
    } else if (is_exactly(buf, line_len, "NOT_FOUND")) {
        out->kind = REPLY_NOT_FOUND;
    } else if (is_exactly(buf, line_len, "ERROR") || starts_with(buf, line_len, "CLIENT_ERROR") ||
               starts_with(buf, line_len, "SERVER_ERROR")) {
        out->kind = REPLY_ERROR;
    } else {
        out->kind = REPLY_OTHER;
    }
    return (long)(line_len + 2);
}
