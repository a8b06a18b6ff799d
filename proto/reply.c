/* Framing memcached replies; see reply.h. Every check here guards against a wrong backend. */
#include <string.h>

#include "proto/reply.h"

#define KEY_MAX 250

/* Finds the line at buf[pos..len): its text length (without "\r\n") in *text_len and the bytes
 * through "\n" in *line_len. Returns REPLY_INCOMPLETE, REPLY_COMPLETE, or REPLY_MALFORMED for a
 * line that is too long or does not end in "\r\n". */
static enum reply_status find_line(const char *buf, size_t len, size_t pos, size_t *text_len,
                                   size_t *line_len)
{
    size_t avail = len - pos;
    size_t scan = avail < REPLY_LINE_MAX + 2 ? avail : REPLY_LINE_MAX + 2;
    const char *nl = memchr(buf + pos, '\n', scan);
    if (nl == NULL)
        return avail >= REPLY_LINE_MAX + 2 ? REPLY_MALFORMED : REPLY_INCOMPLETE;
    size_t through = (size_t)(nl - (buf + pos)) + 1;
    if (through < 2 || buf[pos + through - 2] != '\r')
        return REPLY_MALFORMED;
    *text_len = through - 2;
    *line_len = through;
    return REPLY_COMPLETE;
}

static bool starts_with_word(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(line, word, n) == 0 && (len == n || line[n] == ' ');
}

static bool is_exactly(const char *line, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(line, word, len) == 0;
}

bool reply_line_is_error(const char *line, size_t len)
{
    return is_exactly(line, len, "ERROR") || starts_with_word(line, len, "CLIENT_ERROR") ||
           starts_with_word(line, len, "SERVER_ERROR");
}

/* Decimal digits only, no sign, no leading spaces; at most `max`. */
static bool parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* Splits the next space-separated field of line[*at..len). Exactly one space separates fields,
 * as memcached writes them. */
static bool next_field(const char *line, size_t len, size_t *at, const char **f, size_t *flen)
{
    if (*at >= len)
        return false;
    const char *start = line + *at;
    const char *sp = memchr(start, ' ', len - *at);
    size_t n = sp ? (size_t)(sp - start) : len - *at;
    if (n == 0)
        return false;
    *f = start;
    *flen = n;
    *at += n + (sp ? 1 : 0);
    if (sp && *at >= len)
        return false; /* a trailing space */
    return true;
}

/* "VALUE <key> <flags> <bytes>[ <cas>]" */
static bool parse_value_header(const char *line, size_t len, struct reply_value *v)
{
    if (!starts_with_word(line, len, "VALUE"))
        return false;
    size_t at = 6;
    const char *f;
    size_t flen;
    uint64_t n;
    if (!next_field(line, len, &at, &f, &flen) || flen > KEY_MAX)
        return false;
    for (size_t i = 0; i < flen; i++)
        if ((unsigned char)f[i] < 0x21 || f[i] == 0x7f)
            return false;
    v->key = f;
    v->key_len = flen;
    if (!next_field(line, len, &at, &f, &flen) || !parse_dec(f, flen, UINT32_MAX, &n))
        return false;
    v->flags = (uint32_t)n;
    if (!next_field(line, len, &at, &f, &flen) || !parse_dec(f, flen, REPLY_VALUE_MAX, &n))
        return false;
    v->bytes = (uint32_t)n;
    v->has_cas = false;
    v->cas = 0;
    if (at < len) {
        if (!next_field(line, len, &at, &f, &flen) || !parse_dec(f, flen, UINT64_MAX, &v->cas))
            return false;
        v->has_cas = true;
        if (at < len)
            return false;
    }
    return true;
}

/* "VA <size>[ <flags>...]": the size of the data block that follows. */
static bool parse_va_size(const char *line, size_t len, uint64_t *size)
{
    size_t at = 3;
    const char *f;
    size_t flen;
    if (!starts_with_word(line, len, "VA"))
        return false;
    return next_field(line, len, &at, &f, &flen) && parse_dec(f, flen, REPLY_VALUE_MAX, size);
}

static bool is_meta_code(const char *line, size_t len)
{
    static const char *const codes[] = {"HD", "EN", "NF", "NS", "EX", "MN", "ME"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (starts_with_word(line, len, codes[i]))
            return true;
    return false;
}

/* Checks that a data block of `bytes` plus "\r\n" is complete at buf[pos..len). */
static enum reply_status data_block(const char *buf, size_t len, size_t pos, uint64_t bytes)
{
    if (len - pos < bytes + 2)
        return REPLY_INCOMPLETE;
    if (buf[pos + bytes] != '\r' || buf[pos + bytes + 1] != '\n')
        return REPLY_MALFORMED;
    return REPLY_COMPLETE;
}

void reply_parser_init(struct reply_parser *p, enum reply_kind kind)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
}

static enum reply_status finish(struct reply_parser *p, enum reply_status st)
{
    if (st == REPLY_MALFORMED)
        p->length = SIZE_MAX; /* marks "malformed" for later calls */
    return st;
}

enum reply_status reply_parser_feed(struct reply_parser *p, const char *buf, size_t len)
{
    if (p->length == SIZE_MAX)
        return REPLY_MALFORMED;
    if (p->length != 0)
        return REPLY_COMPLETE;
    if (len < p->pos)
        return finish(p, REPLY_MALFORMED); /* the caller broke the contract: the buffer shrank */

    for (;;) {
        size_t text, through;
        enum reply_status st = find_line(buf, len, p->pos, &text, &through);
        if (st != REPLY_COMPLETE)
            return finish(p, st);
        const char *line = buf + p->pos;
        size_t after = p->pos + through;

        if (reply_line_is_error(line, text)) {
            p->error = true;
            if (p->kind != REPLY_UNTIL_MN) {
                p->length = after;
                return REPLY_COMPLETE;
            }
            p->pos = after;
            continue;
        }

        switch (p->kind) {
        case REPLY_LINE:
            p->length = after;
            return REPLY_COMPLETE;

        case REPLY_RETRIEVAL:
        case REPLY_STATS:
            if (is_exactly(line, text, "END")) {
                p->length = after;
                return REPLY_COMPLETE;
            }
            if (p->kind == REPLY_STATS) {
                if (!starts_with_word(line, text, "STAT"))
                    return finish(p, REPLY_MALFORMED);
                p->pos = after;
                continue;
            }
            {
                struct reply_value v;
                if (!parse_value_header(line, text, &v))
                    return finish(p, REPLY_MALFORMED);
                st = data_block(buf, len, after, v.bytes);
                if (st != REPLY_COMPLETE)
                    return finish(p, st);
                p->nvalues++;
                p->pos = after + v.bytes + 2;
            }
            continue;

        case REPLY_META:
        case REPLY_UNTIL_MN: {
            uint64_t size = 0;
            bool va = parse_va_size(line, text, &size);
            if (!va && starts_with_word(line, text, "VA"))
                return finish(p, REPLY_MALFORMED);
            if (!va && p->kind == REPLY_META && !is_meta_code(line, text))
                return finish(p, REPLY_MALFORMED);
            size_t end = after;
            if (va) {
                st = data_block(buf, len, after, size);
                if (st != REPLY_COMPLETE)
                    return finish(p, st);
                p->nvalues++;
                end = after + size + 2;
            }
            if (p->kind == REPLY_META || is_exactly(line, text, "MN")) {
                p->length = end;
                return REPLY_COMPLETE;
            }
            p->pos = end;
            continue;
        }
        }
        return finish(p, REPLY_MALFORMED); /* an unknown kind */
    }
}

bool reply_next_value(const char *reply, size_t len, size_t *offset, struct reply_value *v)
{
    size_t text, through;
    if (*offset > len || find_line(reply, len, *offset, &text, &through) != REPLY_COMPLETE)
        return false;
    const char *line = reply + *offset;
    if (!parse_value_header(line, text, v))
        return false;
    size_t data = *offset + through;
    if (data_block(reply, len, data, v->bytes) != REPLY_COMPLETE)
        return false;
    v->data = reply + data;
    v->block = line;
    v->block_len = through + v->bytes + 2;
    *offset += v->block_len;
    return true;
}
