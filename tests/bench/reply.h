#ifndef SHOAL_BENCH_REPLY_H
#define SHOAL_BENCH_REPLY_H
/* Recognises one line of a memcached ASCII reply at the start of a buffer. Pure: no I/O, no
 * allocation; the result points into the caller's buffer. */
#include <stddef.h>
#include <stdint.h>

enum reply_kind {
    REPLY_VALUE,        /* VALUE <key> <flags> <bytes> [<cas>] */
    REPLY_END,
    REPLY_STORED,
    REPLY_NOT_STORED,
    REPLY_EXISTS,
    REPLY_NOT_FOUND,
    REPLY_ERROR,        /* ERROR, CLIENT_ERROR ..., SERVER_ERROR ... */
    REPLY_OTHER,        /* a complete line this client does not expect */
};

/* Longest reply line accepted; a longer one without a line end is a protocol error. */
#define REPLY_LINE_MAX 2048

struct reply_line {
    enum reply_kind kind;
    const char *key; /* VALUE only */
    size_t key_len;
    uint32_t flags;
    uint64_t bytes;
    const char *text; /* the whole line without "\r\n", for messages */
    size_t text_len;
};

/* Returns the length of the line including "\r\n" and fills *out; 0 when the buffer does not
 * hold a whole line yet; -1 when it cannot be a valid line (too long, or a VALUE line that does
 * not parse): the stream is then out of step. */
long bench_reply_parse_line(const char *buf, size_t len, struct reply_line *out);

#endif
