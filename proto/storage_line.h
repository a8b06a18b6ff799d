#ifndef SHOAL_PROTO_STORAGE_LINE_H
#define SHOAL_PROTO_STORAGE_LINE_H
/* Whether memcached 1.6.18 accepts the line of a storage command (set, add, replace, append,
 * prepend, cas, and the part of ms that decides its data block), and how long the data block
 * after it is. The server's session and the router's framing both ask here, so they cannot
 * disagree about where the next command starts.
 *
 * On a refusal memcached reads no block: it answers the line and takes the next bytes as a
 * command line again (the data a client sent after a refused line is answered as a command).
 * It neither swallows a block nor closes the connection because of the line alone; a block is
 * swallowed only when a line that was accepted here cannot be stored (too large, out of memory,
 * or ms flags memcached refuses), which the caller decides. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/parse.h"

enum proto_storage_verdict {
    PROTO_STORAGE_NONE,   /* not a storage line: another command, a token count memcached answers
                           * "ERROR" for, or ms without a key */
    PROTO_STORAGE_ACCEPT, /* a data block of block_len bytes and "\r\n" follows */
    PROTO_STORAGE_REFUSE, /* memcached answers `error`; no block follows */
};

/* What a storage line says. Points into the tokens; owns nothing. */
struct proto_storage_line {
    const char *key; /* tokens[1] as sent (an ms b key is still base64 here) */
    size_t key_len;
    uint32_t flags;   /* classic commands only (ms: its F flag, parsed with the other flags) */
    int32_t exptime;  /* classic only, as sent: the caller converts it (memcached's realtime) */
    uint64_t cas;     /* cas only; 0 otherwise */
    size_t block_len; /* ACCEPT: the value's bytes, before the block's "\r\n" */
    bool noreply;     /* classic: the token before the last is "noreply" (set_noreply_maybe) */
    const char *error; /* REFUSE: memcached's reply line, without "\r\n" */
    const char *reply; /* REFUSE: the bytes the client receives: error and "\r\n", or "" when a
                        * classic noreply hides it (an ms error is never hidden) */
};

/* Judges the line in tokens[0..ntokens) (tokenized by proto_tokenize) whose command is cmd, as
 * proto_command named it. Fills *line (all fields: zero where they do not apply) and returns the
 * verdict. */
enum proto_storage_verdict proto_storage_line(enum proto_cmd cmd, const struct proto_token *tokens,
                                              size_t ntokens, struct proto_storage_line *line);

#endif
