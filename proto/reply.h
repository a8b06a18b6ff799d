#ifndef SHOAL_PROTO_REPLY_H
#define SHOAL_PROTO_REPLY_H
/* Reading memcached's replies, as a proxy must: where one reply ends in a byte stream (so that
 * pipelined replies can be matched to their requests), and the VALUE blocks of a retrieval
 * reply (so that split multi-gets can be reassembled). Pure: no I/O, no allocation.
 *
 * The bytes come from a backend, which may be wrong or hostile: every length is checked against
 * the buffer, numbers against their range, lines against REPLY_LINE_MAX, and anything that is
 * not a reply memcached 1.6 could send for the request is REPLY_MALFORMED (the caller then drops
 * the connection, since the stream can no longer be framed). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A reply line longer than this is malformed (memcached's longest is a VALUE header: a 250-byte
 * key and three numbers; SERVER_ERROR texts and stats lines are far shorter). */
#define REPLY_LINE_MAX 2048
/* Largest data block accepted (memcached's -I tops out at 1 GiB). */
#define REPLY_VALUE_MAX (1024u * 1024u * 1024u)

/* What the request was, as far as the shape of its reply goes. */
enum reply_kind {
    REPLY_RETRIEVAL,     /* get/gets/gat/gats: VALUE blocks, then END */
    REPLY_LINE,          /* storage, delete, incr/decr, touch, flush_all, version, verbosity */
    REPLY_STATS,         /* stats: STAT lines, then END */
    REPLY_META,          /* one mg/ms/md/ma/me/mn reply without q: one line, VA with its data */
    REPLY_UNTIL_MN,      /* any replies (VA with data), then MN: a quiet or noreply request the
                          * proxy sent with "mn\r\n" appended (cluster/README.md, Routing) */
};

enum reply_status {
    REPLY_MALFORMED = -1,
    REPLY_INCOMPLETE = 0,
    REPLY_COMPLETE = 1,
};

/* Incremental framing of one reply at the start of a buffer that only grows between calls
 * (more bytes appended; the start never moves). Zero it, set kind, feed. */
struct reply_parser {
    enum reply_kind kind;
    size_t pos;      /* bytes of the reply accepted so far: parts already known complete */
    size_t length;   /* when complete: the reply's length in bytes */
    size_t nvalues;  /* VALUE / VA blocks seen */
    bool error;      /* the reply is or ends with ERROR, CLIENT_ERROR or SERVER_ERROR */
};

void reply_parser_init(struct reply_parser *p, enum reply_kind kind);
/* Looks at buf[0..len) (the same stream as earlier calls, maybe longer). Returns REPLY_COMPLETE
 * (p->length set; bytes past it belong to the next reply), REPLY_INCOMPLETE or REPLY_MALFORMED.
 * Once complete or malformed, further calls return the same answer. */
enum reply_status reply_parser_feed(struct reply_parser *p, const char *buf, size_t len);

/* One VALUE block of a retrieval reply; every pointer points into the reply. */
struct reply_value {
    const char *key;
    size_t key_len;
    uint32_t flags;
    uint32_t bytes;
    bool has_cas;
    uint64_t cas;
    const char *data;  /* `bytes` bytes of data */
    const char *block; /* the whole block, "VALUE ..." through the "\r\n" after the data */
    size_t block_len;
};

/* Walks the VALUE blocks of a complete REPLY_RETRIEVAL reply (as framed by reply_parser_feed).
 * *offset starts at 0. Returns true with *v filled and *offset advanced, false at END or at an
 * error line (or anything malformed, which a framed reply never has). */
bool reply_next_value(const char *reply, size_t len, size_t *offset, struct reply_value *v);

/* True when line[0..len) (without "\r\n") is ERROR, CLIENT_ERROR... or SERVER_ERROR... */
bool reply_line_is_error(const char *line, size_t len);

#endif
