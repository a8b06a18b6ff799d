#ifndef SHOAL_PROTO_PARSE_H
#define SHOAL_PROTO_PARSE_H
/* Splitting a memcached ASCII command line into tokens and naming the command, with memcached
 * 1.6's exact rules: only ' ' separates tokens, a line is NUL-terminated text (an embedded NUL
 * ends it), at most PROTO_MAX_TOKENS - 1 tokens are split per call and the terminal token points
 * at whatever is left. */
#include <stdbool.h>
#include <stddef.h>

#define PROTO_MAX_TOKENS 24
#define PROTO_KEY_MAX_LENGTH 250
/* Without a newline after this many bytes, only a get/gets line may go on (memcached's rule). */
#define PROTO_LINE_MAX 2048

struct proto_token {
    char *value;   /* NUL-terminated in place; NULL in the terminal token when nothing is left */
    size_t length; /* 0 only for the terminal token */
};

/* Splits `line` (NUL-terminated, modified in place) into tokens. Returns the token count,
 * including the terminal token (length 0; value NULL if the whole line was split, else the first
 * unsplit character). tokens must have room for max_tokens entries; max_tokens > 1. */
size_t proto_tokenize(char *line, struct proto_token *tokens, size_t max_tokens);

/* Finds the end of the first line in buf[0..len): returns the length of the line's text (without
 * "\n" and, when the line has at least two bytes before "\n", without a "\r" before it) and sets
 * *consumed to the bytes through "\n". Returns -1 when there is no "\n" yet. */
long proto_find_line(const char *buf, size_t len, size_t *consumed);

/* For a line that has no newline yet and is longer than PROTO_LINE_MAX: true when memcached
 * would keep reading (a multi-key get/gets after at most 100 leading spaces), false when it
 * closes the connection. */
bool proto_long_line_may_continue(const char *buf, size_t len);

enum proto_cmd {
    PROTO_CMD_ERROR,   /* answer "ERROR" */
    PROTO_CMD_HTTP,    /* looks like an HTTP request: close without a reply */
    PROTO_CMD_GET,
    PROTO_CMD_GETS,
    PROTO_CMD_GAT,
    PROTO_CMD_GATS,
    PROTO_CMD_BGET,
    PROTO_CMD_SET,
    PROTO_CMD_ADD,
    PROTO_CMD_REPLACE,
    PROTO_CMD_APPEND,
    PROTO_CMD_PREPEND,
    PROTO_CMD_CAS,
    PROTO_CMD_INCR,
    PROTO_CMD_DECR,
    PROTO_CMD_DELETE,
    PROTO_CMD_TOUCH,
    PROTO_CMD_STATS,
    PROTO_CMD_FLUSH_ALL,
    PROTO_CMD_VERSION,
    PROTO_CMD_QUIT,
    PROTO_CMD_SHUTDOWN,
    PROTO_CMD_VERBOSITY,
    PROTO_CMD_MG,
    PROTO_CMD_MS,
    PROTO_CMD_MD,
    PROTO_CMD_MA,
    PROTO_CMD_MN,
    PROTO_CMD_ME,
    PROTO_CMD_CACHE_MEMLIMIT,
    PROTO_CMD_LRU,
    PROTO_CMD_SLABS,
    PROTO_CMD_LRU_CRAWLER,
};

/* Names the command of a tokenized line and checks the token count memcached demands for it
 * (a wrong count answers "ERROR"). ntokens includes the terminal token. */
enum proto_cmd proto_command(const struct proto_token *tokens, size_t ntokens);

/* True when the token before the terminal one is "noreply" (memcached's set_noreply_maybe). */
bool proto_has_noreply(const struct proto_token *tokens, size_t ntokens);

#endif
