#ifndef SHOAL_PROTO_META_H
#define SHOAL_PROTO_META_H
/* The flags of memcached 1.6.18's meta commands (mg, ms, md, ma): a first pass over the tokens
 * after the key that rejects unknown and repeated flags, parses the numeric ones, and decodes a
 * base64 key in place (b). The commands then walk the tokens again, in order, for the flags that
 * shape the reply. Exptimes are kept as the client sent them; the server converts them. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/parse.h"

/* memcached refuses a meta line with this many tokens or more (terminal token included). */
#define META_MAX_TOKENS 20
#define META_MAX_OPAQUE_LENGTH 32

struct meta_flags {
    bool no_update;  /* u: no LRU bump */
    bool locked;     /* N, T, R, l or h: the command works under the key lock */
    bool vivify;     /* N */
    bool la;         /* l */
    bool value;      /* v */
    bool set_stale;  /* I */
    bool no_reply;   /* q */
    bool has_cas;    /* C */
    bool has_new_cas; /* E (memcached 1.6.45; 1.6.18 refuses it as an invalid flag) */
    bool new_ttl;    /* T */
    bool key_binary; /* b: tokens[1] now holds the decoded key */
    char mode;       /* M<char>, 0 when absent */
    int32_t exptime;         /* T */
    int32_t autoviv_exptime; /* N */
    int32_t recache_time;    /* R */
    uint32_t client_flags;   /* F */
    uint64_t req_cas_id;     /* C */
    uint64_t new_cas;        /* E: the CAS value an item this command stores or changes gets */
    uint64_t delta;          /* D */
    uint64_t initial;        /* J */
};

/* Parses the flags in tokens[start..] (up to the terminal token) into *f, which the caller has
 * zeroed (or filled with defaults). Returns 0, or -1 with *err set to memcached's error line
 * (without "\r\n"). A failed base64 decode leaves tokens[1].length 0. */
int meta_parse_flags(struct proto_token *tokens, size_t start, struct meta_flags *f,
                     const char **err);

#endif
