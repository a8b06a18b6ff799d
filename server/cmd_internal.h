#ifndef SHOAL_CMD_INTERNAL_H
#define SHOAL_CMD_INTERNAL_H
/* What the protocol session (session.c) shares with the command implementations (cmd_*.c):
 * the session's state and the helpers every command uses. Not an interface for anyone else. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/binary.h"
#include "proto/meta.h"
#include "proto/parse.h"
#include "server/line_copy.h"
#include "server/outbuf.h"
#include "server/session.h"
#include "server/store.h"

/* How a completed data block is stored (memcached's NREAD_* modes). */
enum store_mode {
    MODE_SET,
    MODE_ADD,
    MODE_REPLACE,
    MODE_APPEND,
    MODE_PREPEND,
    MODE_CAS,
};

/* memcached's store_item results. */
enum store_result {
    RESULT_STORED,
    RESULT_EXISTS,
    RESULT_NOT_FOUND,
    RESULT_NOT_STORED,
};

enum session_phase {
    PHASE_LINE,     /* waiting for a command line */
    PHASE_DATA,     /* copying a data block into s->item */
    PHASE_DATA_END, /* reading the two bytes that must be "\r\n" after a data block */
    PHASE_SWALLOW,  /* discarding a refused data block */
};

/* Which protocol a connection speaks: with -B auto, its first byte decides (0x80: binary). */
enum session_protocol {
    SESSION_PROTOCOL_UNDECIDED,
    SESSION_PROTOCOL_ASCII,
    SESSION_PROTOCOL_BINARY,
};

/* Longest stash of ms return flags (O<opaque>, k, c) carried over the data block. */
#define MS_STASH_MAX 1024

struct session {
    const struct session_env *env;
    enum session_state state;
    enum session_phase phase;
    bool noreply; /* the current command's replies are suppressed (memcached's c->noreply) */
    /* -vv was on when the current command arrived: its replies are logged. Tested together with
     * noreply so that a reply costs one branch when -vv is off. */
    bool trace;
    bool trace_greeted; /* "Client using the ascii protocol" was logged */
    int conn_id;        /* the connection's fd, which memcached's -vv lines show */

    /* The current command line, copied so that it can be NUL-terminated and tokenized. */
    struct line_copy line;

    /* A data block in flight: owned until linked or freed. */
    struct item *item;
    size_t data_len;  /* value bytes expected */
    size_t data_done; /* value bytes copied so far */
    char data_end[2];
    size_t data_end_have;
    enum store_mode mode;
    bool meta_set;       /* the block belongs to ms: reply with meta codes */
    bool meta_set_stale; /* ms I with a CAS: a lower CAS stores the value as stale */
    bool meta_key_binary;
    bool meta_new_cas_set; /* ms E: the stored item gets meta_new_cas as its CAS */
    bool meta_copy;        /* ms with SESSION_COPY_OPAQUE and E: an older copy never replaces */
    uint64_t meta_new_cas;
    char ms_stash[MS_STASH_MAX];
    size_t ms_stash_len;
    char ms_key[PROTO_KEY_MAX_LENGTH];
    size_t ms_nkey;

    uint64_t swallow_left;

    enum session_protocol protocol;
    /* Binary protocol: the request being served (its value may still be arriving into `item`)
     * and whether it is a quiet form. */
    struct proto_bin_header bin;
    bool bin_quiet;
    /* memcached writes its queued replies out at some points (after a Noop, an error reply,
     * the end of what it read): bin_flush says the current request is such a point, and
     * bin_unflushed counts the reply bytes queued since the last one, which a close for a bad
     * magic byte discards unsent as memcached does. */
    bool bin_flush;
    size_t bin_unflushed;
    /* ... and the replies memcached keeps unwritten while it reads a value or discards a body
     * (a client that closes meanwhile never gets them): moved out of the outbuf, put back
     * when the value or body is done. Owned; freed by session_destroy. */
    char *bin_held;
    size_t bin_held_len;
    /* A run of gets found ahead in the input (a multi-get of quiet gets): their keys' hashes,
     * computed and prefetched together so that the lookups' cache misses overlap, as an ASCII
     * multi-get's do. bin_pf_key[i] points at the key in the current input. */
    uint32_t bin_pf_hv[STORE_PREFETCH_MAX];
    const char *bin_pf_key[STORE_PREFETCH_MAX];
    unsigned bin_pf_n, bin_pf_next;
};

/* Appends a reply line plus "\r\n" unless the command is noreply (which it then clears), as
 * memcached's out_string does; at -vv logs it as out_string does (">fd line", ">fd NOREPLY line"). */
void reply_line(struct session *s, struct outbuf *out, const char *line);
/* An error that noreply must not hide (memcached's out_errstring). */
void reply_error(struct session *s, struct outbuf *out, const char *line);
/* Appends raw bytes. */
void reply_raw(struct outbuf *out, const void *data, size_t n);

/* Looks a key up under its (held) lock, counting expired and flushed finds as memcached's
 * do_item_get does. */
struct item *session_find(struct session *s, uint32_t hv, const char *key, size_t nkey);

/* Converts a client exptime as memcached does (negative means already expired). */
rel_time_t session_exptime(int32_t exptime);

/* Starts reading a data block of vlen value bytes into `it` (owned by the session from now on). */
void session_expect_data(struct session *s, struct item *it, size_t vlen, enum store_mode mode);
/* Discards the next n bytes of input. */
void session_swallow(struct session *s, uint64_t n);

/* Counts one get-family lookup as memcached does: cmd_get and get_hits or get_misses, or for a
 * touching one (gat, gats, binary touch and GAT) cmd_touch and touch_hits or touch_misses. */
void session_count_lookup(struct thread_stats *ts, bool touch, bool hit);

/* Stores a completed item as memcached's do_store_item does, under the key's lock. Consumes `it`
 * (linked or freed). With cas_out, reports the stored item's CAS (0 when not stored). */
enum store_result session_store_item(struct session *s, struct item *it, enum store_mode mode,
                                     bool cas_stale, uint64_t *cas_out);

/* Refuses a data block whose item could not be allocated: memcached's reply (shown despite
 * noreply when `meta`), the block swallowed, and with drop_old the key's old value unlinked so
 * that a stale copy does not outlive a failed update. */
void session_refuse_alloc(struct session *s, const char *key, size_t nkey, size_t vlen,
                          enum store_alloc_err err, bool drop_old, bool meta, struct outbuf *out);

/* Under no lock: unlinks the key's item, if any (a failed set must not leave the old value). */
void session_unlink_key(struct session *s, const char *key, size_t nkey);

/* Appends an item's value (its lock held): a large one is pinned and written from the item. */
void session_reply_value(struct store *st, struct item *it, const struct item_view *v,
                         struct outbuf *out);

/* The binary protocol: framing (session_binary.c) and commands (cmd_binary.c). */
size_t session_binary_process(struct session *s, const char *in, size_t len, struct outbuf *out,
                              size_t out_limit);
/* Runs the accepted request s->bin (c: its classification), whose extras and key are in ext and
 * key. A storage command leaves the session reading its value into s->item. */
void cmd_binary(struct session *s, const struct proto_bin_check *c, const char *ext,
                const char *key, struct outbuf *out);
/* The hash of the key of the get being run, from the prefetched run when it is there. */
uint32_t session_binary_key_hash(struct session *s, const char *key, size_t nkey);
/* Stores the value read for a binary SET/ADD/REPLACE/APPEND/PREPEND and replies. */
void cmd_binary_complete_update(struct session *s, struct outbuf *out);
/* A reply to s->bin with an error status and memcached's text for it (msg NULL), or msg. */
void bin_error(struct session *s, struct outbuf *out, uint16_t status, const char *msg);

/* Storage commands (cmd_storage.c). */
/* cmd: a classic storage command (set, add, replace, append, prepend, cas), as dispatch named it. */
void cmd_update(struct session *s, struct proto_token *t, size_t nt, enum proto_cmd cmd,
                struct outbuf *out);
void cmd_complete_data(struct session *s, bool valid, struct outbuf *out);

/* Retrieval and touch (cmd_retrieve.c). */
void cmd_get(struct session *s, struct proto_token *t, size_t nt, bool return_cas,
             bool should_touch, struct outbuf *out);
void cmd_touch(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);

/* Arithmetic (cmd_arith.c). */
enum delta_result {
    DELTA_OK,
    DELTA_NON_NUMERIC,
    DELTA_EOM,
    DELTA_NOT_FOUND,
    DELTA_CAS_MISMATCH,
};
/* memcached's do_add_delta, under the key's (held) lock. Writes the new value in decimal to buf
 * (NUL-terminated, at least 21 bytes). With cas: a nonzero *cas must match, and *cas receives
 * the new CAS. With it_out: the item holding the new value (valid while the lock is held). */
enum delta_result session_add_delta(struct session *s, uint32_t hv, const char *key, size_t nkey,
                                    bool incr, uint64_t delta, char *buf, uint64_t *cas,
                                    struct item **it_out);
void cmd_arith(struct session *s, struct proto_token *t, size_t nt, bool incr,
               struct outbuf *out);

/* Meta commands (cmd_meta.c). */
void cmd_mg(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_ms(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_md(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_ma(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_me(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
/* Replies to a completed ms data block. */
void cmd_ms_finish(struct session *s, enum store_result r, uint64_t cas, struct outbuf *out);

/* Everything else (cmd_misc.c). */
void cmd_delete(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_flush_all(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_verbosity(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_shutdown(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);

/* memcached's tuning commands for internals Shoal lacks (cmd_admin.c). */
void cmd_cache_memlimit(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_lru(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_slabs(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);
void cmd_lru_crawler(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out);

#endif
