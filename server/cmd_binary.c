/* The binary protocol's commands, as memcached 1.6.18 answers them, on the same store calls as
 * the ASCII commands (session_find, session_store_item, session_add_delta, store_flush) and the
 * ASCII `stats` rendering. Replies echo the request's opcode and opaque; a quiet request's
 * success is left out (for the quiet gets: its miss), its errors are not. */
#include <stdlib.h>
#include <string.h>

#include "proto/number.h"
#include "server/clock.h"
#include "server/cmd_internal.h"
#include "server/log.h"
#include "server/settings.h"
#include "server/stats.h"
#include "server/version.h"

/* An exptime from a binary request: unsigned, so never "already expired" as a negative ASCII
 * one is (memcached's realtime() of a time_t read with ntohl). */
static rel_time_t bin_exptime(const char *field)
{
    return clock_from_exptime((int64_t)proto_bin_get32(field));
}

/* Appends a response header for s->bin followed by extras, key and value (any may be empty). */
static void bin_reply(struct session *s, struct outbuf *out, uint16_t status, const void *ext,
                      uint8_t extlen, const void *key, uint16_t keylen, const void *value,
                      uint32_t vlen, uint64_t cas)
{
    char head[PROTO_BIN_HEADER_LEN];
    proto_bin_response(head, &s->bin, status, extlen, keylen, (uint32_t)extlen + keylen + vlen,
                       cas);
    reply_raw(out, head, sizeof head);
    if (extlen)
        reply_raw(out, ext, extlen);
    if (keylen)
        reply_raw(out, key, keylen);
    if (vlen)
        reply_raw(out, value, vlen);
}

void bin_error(struct session *s, struct outbuf *out, uint16_t status, const char *msg)
{
    if (msg == NULL)
        msg = proto_bin_error_text(status);
    if (s->trace)
        log_msg(2, ">%d Writing an error: %s", s->conn_id, msg);
    s->bin_flush = true; /* unless a body is then discarded (session_binary.c) */
    bin_reply(s, out, status, NULL, 0, NULL, 0, msg, (uint32_t)strlen(msg), 0);
}

/* A success without a body, left out for a quiet request. */
static void bin_ok(struct session *s, struct outbuf *out, uint64_t cas)
{
    if (!s->bin_quiet)
        bin_reply(s, out, PROTO_BIN_SUCCESS, NULL, 0, NULL, 0, NULL, 0, cas);
}

/* GET, GETK, TOUCH, GAT, GATK (and the quiet forms). */
static void bin_get(struct session *s, uint8_t op, const char *ext, const char *key,
                    struct outbuf *out)
{
    bool touch = op == PROTO_BIN_TOUCH || op == PROTO_BIN_GAT || op == PROTO_BIN_GATK;
    bool with_key = op == PROTO_BIN_GETK || op == PROTO_BIN_GATK;
    bool with_value = op != PROTO_BIN_TOUCH;
    size_t nkey = s->bin.keylen;
    struct store *st = s->env->store;
    struct thread_stats *ts = s->env->stats;
    rel_time_t exptime = touch ? bin_exptime(ext) : 0;
    struct store_lock lk;
    uint32_t hv = session_binary_key_hash(s, key, nkey);

    store_lock_key(st, hv, &lk);
    struct item *it = session_find(s, hv, key, nkey);
    if (it != NULL) {
        if (touch)
            item_set_exptime(it, exptime);
        store_touch_access(st, it);
        struct item_view v;
        item_get_view(it, &v);
        uint32_t body = 4 + (with_key ? (uint32_t)nkey : 0) + (with_value ? (uint32_t)v.nbytes : 0);
        /* header, flags and key in one piece of the outbuf */
        size_t head_len = PROTO_BIN_HEADER_LEN + 4 + (with_key ? v.nkey : 0);
        char *head = outbuf_reserve(out, head_len);
        if (head != NULL) {
            proto_bin_response(head, &s->bin, PROTO_BIN_SUCCESS, 4,
                               with_key ? (uint16_t)nkey : 0, body, v.cas);
            proto_bin_put32(head + PROTO_BIN_HEADER_LEN, v.flags);
            if (with_key)
                memcpy(head + PROTO_BIN_HEADER_LEN + 4, v.key, v.nkey);
            outbuf_commit(out, head_len);
        }
        if (with_value && head != NULL) /* (out of memory: no reply, as memcached closes) */
            session_reply_value(st, it, &v, out);
    }
    session_count_lookup(ts, touch, it != NULL);
    store_unlock(st, &lk);
    if (it != NULL || s->bin_quiet)
        return;
    if (with_key)
        bin_reply(s, out, PROTO_BIN_KEY_ENOENT, NULL, 0, key, (uint16_t)nkey, NULL, 0, 0);
    else
        bin_error(s, out, PROTO_BIN_KEY_ENOENT, NULL);
}

/* SET, ADD, REPLACE, APPEND, PREPEND: allocates the item and reads the value into it. */
static void bin_update(struct session *s, uint8_t op, int32_t vlen, const char *ext,
                       const char *key, struct outbuf *out)
{
    size_t nkey = s->bin.keylen;
    bool concat = op == PROTO_BIN_APPEND || op == PROTO_BIN_PREPEND;
    uint32_t flags = concat ? 0 : proto_bin_get32(ext);
    enum store_alloc_err err = STORE_ALLOC_TOO_LARGE;
    struct item *it = NULL;
    if (vlen >= 0)
        it = store_alloc_flags(s->env->store, key, nkey, flags, (size_t)vlen, &err);
    if (it == NULL) {
        if (err == STORE_ALLOC_TOO_LARGE) {
            bin_error(s, out, PROTO_BIN_E2BIG, NULL);
        } else {
            bin_error(s, out, PROTO_BIN_ENOMEM, "Out of memory allocating item");
        }
        /* a failed set must not leave the old value readable */
        if (op == PROTO_BIN_SET)
            session_unlink_key(s, key, nkey);
        /* a negative length (a body of 2 GiB or more) is not swallowed: memcached reads on */
        session_swallow(s, vlen > 0 ? (uint64_t)vlen : 0);
        s->bin_flush = false; /* memcached goes on to discard the value before writing */
        return;
    }
    if (!concat)
        item_set_exptime(it, bin_exptime(ext + 4));
    /* with -C an item has no CAS, so a request's CAS is not compared (memcached's ITEM_set_cas
     * does nothing then) */
    uint64_t req_cas = settings.use_cas ? s->bin.cas : 0;
    item_set_cas(it, req_cas);
    enum store_mode mode = op == PROTO_BIN_ADD       ? MODE_ADD
                           : op == PROTO_BIN_REPLACE ? MODE_REPLACE
                           : op == PROTO_BIN_APPEND  ? MODE_APPEND
                           : op == PROTO_BIN_PREPEND ? MODE_PREPEND
                                                     : MODE_SET;
    /* a CAS turns set, add and replace into a compare-and-swap (memcached's NREAD_CAS) */
    if (!concat && req_cas != 0)
        mode = MODE_CAS;
    s->item = it;
    s->data_len = (size_t)vlen;
    s->data_done = 0;
    s->mode = mode;
    s->meta_set = false;
    s->meta_set_stale = false;
    if (vlen == 0)
        cmd_binary_complete_update(s, out);
    else
        s->phase = PHASE_DATA;
}

void cmd_binary_complete_update(struct session *s, struct outbuf *out)
{
    struct item *it = s->item;
    s->item = NULL;
    STAT_INC(s->env->stats, cmd_set);
    uint64_t cas = 0;
    enum store_result r = session_store_item(s, it, s->mode, false, &cas);
    switch (r) {
    case RESULT_STORED:
        bin_ok(s, out, cas);
        break;
    case RESULT_EXISTS:
        bin_error(s, out, PROTO_BIN_KEY_EEXISTS, NULL);
        break;
    case RESULT_NOT_FOUND:
        bin_error(s, out, PROTO_BIN_KEY_ENOENT, NULL);
        break;
    case RESULT_NOT_STORED:
        bin_error(s, out,
                  s->mode == MODE_ADD       ? PROTO_BIN_KEY_EEXISTS
                  : s->mode == MODE_REPLACE ? PROTO_BIN_KEY_ENOENT
                                            : PROTO_BIN_NOT_STORED,
                  NULL);
        break;
    }
}

static void bin_delete(struct session *s, const char *key, struct outbuf *out)
{
    size_t nkey = s->bin.keylen;
    struct store *st = s->env->store;
    struct store_lock lk;
    uint32_t hv = store_hash(key, nkey);
    uint16_t status = PROTO_BIN_SUCCESS;
    store_lock_key(st, hv, &lk);
    struct item *it = session_find(s, hv, key, nkey);
    if (it == NULL) {
        status = PROTO_BIN_KEY_ENOENT;
        STAT_INC(s->env->stats, delete_misses);
    } else if (s->bin.cas != 0 && s->bin.cas != item_cas(it)) {
        status = PROTO_BIN_KEY_EEXISTS;
    } else {
        store_unlink(st, hv, it);
        STAT_INC(s->env->stats, delete_hits);
    }
    store_unlock(st, &lk);
    if (status == PROTO_BIN_SUCCESS)
        bin_ok(s, out, 0);
    else
        bin_error(s, out, status, NULL);
}

static void bin_counter_reply(struct session *s, struct outbuf *out, uint64_t value, uint64_t cas)
{
    if (s->bin_quiet)
        return;
    char v[8];
    proto_bin_put64(v, value);
    bin_reply(s, out, PROTO_BIN_SUCCESS, NULL, 0, NULL, 0, v, sizeof v, cas);
}

/* A missing counter with an expiration other than 0xffffffff is created holding `initial`. */
static void bin_create_counter(struct session *s, const char *key, size_t nkey, uint64_t initial,
                               const char *exp_field, struct outbuf *out)
{
    char digits[24];
    size_t n = (size_t)proto_u64_to_dec(initial, digits);
    enum store_alloc_err err;
    struct item *it = store_alloc_flags(s->env->store, key, nkey, 0, n, &err);
    if (it == NULL) {
        bin_error(s, out, PROTO_BIN_ENOMEM, "Out of memory allocating new item");
        return;
    }
    item_set_exptime(it, bin_exptime(exp_field));
    memcpy(item_data(it), digits, n);
    uint64_t cas = 0;
    if (session_store_item(s, it, MODE_ADD, false, &cas) == RESULT_STORED)
        bin_counter_reply(s, out, initial, cas);
    else
        bin_error(s, out, PROTO_BIN_NOT_STORED, NULL);
}

static void bin_arith(struct session *s, bool incr, const char *ext, const char *key,
                      struct outbuf *out)
{
    size_t nkey = s->bin.keylen;
    uint64_t delta = proto_bin_get64(ext), initial = proto_bin_get64(ext + 8);
    const char *exp_field = ext + 16;
    struct store *st = s->env->store;
    struct store_lock lk;
    uint32_t hv = store_hash(key, nkey);
    uint64_t cas = s->bin.cas;
    char buf[24];
    store_lock_key(st, hv, &lk);
    enum delta_result r = session_add_delta(s, hv, key, nkey, incr, delta, buf, &cas, NULL);
    store_unlock(st, &lk);
    switch (r) {
    case DELTA_OK:
        bin_counter_reply(s, out, strtoull(buf, NULL, 10), cas);
        break;
    case DELTA_NON_NUMERIC:
        bin_error(s, out, PROTO_BIN_DELTA_BADVAL, NULL);
        break;
    case DELTA_EOM:
        bin_error(s, out, PROTO_BIN_ENOMEM, "Out of memory incrementing value");
        break;
    case DELTA_NOT_FOUND:
        if (proto_bin_get32(exp_field) != 0xffffffffu) {
            bin_create_counter(s, key, nkey, initial, exp_field, out);
            break;
        }
        if (incr)
            STAT_INC(s->env->stats, incr_misses);
        else
            STAT_INC(s->env->stats, decr_misses);
        bin_error(s, out, PROTO_BIN_KEY_ENOENT, NULL);
        break;
    case DELTA_CAS_MISMATCH:
        bin_error(s, out, PROTO_BIN_KEY_EEXISTS, NULL);
        break;
    }
}

static void bin_flush(struct session *s, const char *ext, struct outbuf *out)
{
    if (!settings.flush_enabled) {
        bin_error(s, out, PROTO_BIN_AUTH_ERROR, NULL);
        return;
    }
    uint32_t delay = s->bin.extlen == 4 ? proto_bin_get32(ext) : 0;
    store_flush(s->env->store, delay > 0 ? clock_from_exptime(delay) : clock_now());
    STAT_INC(s->env->stats, cmd_flush);
    bin_ok(s, out, 0);
}

/* Sends one stat (name and value), or with name NULL the empty packet that ends a group. */
static void bin_stat(struct session *s, struct outbuf *out, const char *name, size_t nname,
                     const char *value, size_t nvalue)
{
    bin_reply(s, out, PROTO_BIN_SUCCESS, NULL, 0, name, (uint16_t)nname, value, (uint32_t)nvalue,
              0);
}

/* Renders the ASCII `stats <args>` reply and sends each "STAT name value" line as a packet,
 * and its END as the terminating one (a group without END, as sizes_enable, has none). */
static void bin_stats_group(struct session *s, const char *args, struct outbuf *out)
{
    struct outbuf text;
    outbuf_init(&text);
    stats_command(s, args, strlen(args), &text);
    char *flat = malloc(text.pending + 1);
    if (flat == NULL) {
        outbuf_free(&text);
        bin_error(s, out, PROTO_BIN_ENOMEM, "Out of memory preparing to send stats");
        return;
    }
    size_t n = 0;
    while (text.pending > 0) {
        struct iovec iov[16];
        int k = outbuf_iov(&text, iov, 16);
        size_t got = 0;
        for (int i = 0; i < k; i++) {
            memcpy(flat + n, iov[i].iov_base, iov[i].iov_len);
            n += iov[i].iov_len;
            got += iov[i].iov_len;
        }
        outbuf_consume(&text, got);
    }
    outbuf_free(&text);
    for (size_t at = 0; at < n;) {
        const char *line = flat + at;
        const char *end = memchr(line, '\r', n - at);
        if (end == NULL)
            break;
        size_t len = (size_t)(end - line);
        at += len + 2;
        if (len > 5 && memcmp(line, "STAT ", 5) == 0) {
            const char *name = line + 5;
            const char *sp = memchr(name, ' ', len - 5);
            size_t nname = sp ? (size_t)(sp - name) : len - 5;
            const char *value = sp ? sp + 1 : line + len;
            bin_stat(s, out, name, nname, value, (size_t)(line + len - value));
        } else if (len == 3 && memcmp(line, "END", 3) == 0) {
            bin_stat(s, out, NULL, 0, NULL, 0);
        }
    }
    free(flat);
}

static bool key_is(const char *key, size_t nkey, const char *word)
{
    return nkey == strlen(word) && memcmp(key, word, nkey) == 0;
}

static bool key_starts(const char *key, size_t nkey, const char *word)
{
    return nkey >= strlen(word) && memcmp(key, word, strlen(word)) == 0;
}

/* Runs an ASCII stats subcommand for its effect (reset, detail on|off), dropping its reply. */
static void stats_effect(struct session *s, const char *args)
{
    struct outbuf discard;
    outbuf_init(&discard);
    stats_command(s, args, strlen(args), &discard);
    outbuf_free(&discard);
}

/* STAT: the key names the group as memcached 1.6.18 reads it: reset, settings and detail by
 * prefix, the other groups by the whole key; no key is the general group. `stats conns` and
 * `stats cachedump` are ASCII only in memcached (Not found here). */
static void bin_stats(struct session *s, const char *key, struct outbuf *out)
{
    size_t nkey = s->bin.keylen;
    if (nkey == 0) {
        bin_stats_group(s, "", out);
    } else if (key_starts(key, nkey, "reset")) {
        stats_effect(s, "reset");
        bin_stat(s, out, NULL, 0, NULL, 0);
    } else if (key_starts(key, nkey, "settings")) {
        bin_stats_group(s, "settings", out);
    } else if (key_starts(key, nkey, "detail dump")) {
        /* Shoal keeps no per-prefix counters: memcached's empty dump */
        bin_stat(s, out, "detailed", 8, "END\r\n", 5);
        bin_stat(s, out, NULL, 0, NULL, 0);
    } else if (key_starts(key, nkey, "detail on") || key_starts(key, nkey, "detail off")) {
        stats_effect(s, key[8] == 'n' ? "detail on" : "detail off");
        bin_stat(s, out, NULL, 0, NULL, 0);
    } else if (key_is(key, nkey, "items") || key_is(key, nkey, "slabs") ||
               key_is(key, nkey, "sizes") || key_is(key, nkey, "sizes_enable") ||
               key_is(key, nkey, "sizes_disable")) {
        char group[16];
        memcpy(group, key, nkey);
        group[nkey] = '\0';
        bin_stats_group(s, group, out);
    } else {
        bin_error(s, out, PROTO_BIN_KEY_ENOENT, NULL);
    }
}

void cmd_binary(struct session *s, const struct proto_bin_check *c, const char *ext,
                const char *key, struct outbuf *out)
{
    s->trace = log_enabled(2);
    if (s->trace) {
        if (!s->trace_greeted)
            log_msg(2, "%d: Client using the binary protocol", s->conn_id);
        s->trace_greeted = true;
        log_msg(2, "<%d binary opcode 0x%02x key %.*s", s->conn_id, s->bin.opcode,
                (int)s->bin.keylen, key);
    }
    switch (c->opcode) {
    case PROTO_BIN_GET:
    case PROTO_BIN_GETK:
    case PROTO_BIN_TOUCH:
    case PROTO_BIN_GAT:
    case PROTO_BIN_GATK:
        bin_get(s, c->opcode, ext, key, out);
        break;
    case PROTO_BIN_SET:
    case PROTO_BIN_ADD:
    case PROTO_BIN_REPLACE:
    case PROTO_BIN_APPEND:
    case PROTO_BIN_PREPEND:
        bin_update(s, c->opcode, c->value_len, ext, key, out);
        break;
    case PROTO_BIN_DELETE:
        bin_delete(s, key, out);
        break;
    case PROTO_BIN_INCREMENT:
    case PROTO_BIN_DECREMENT:
        bin_arith(s, c->opcode == PROTO_BIN_INCREMENT, ext, key, out);
        break;
    case PROTO_BIN_FLUSH:
        bin_flush(s, ext, out);
        break;
    case PROTO_BIN_NOOP:
        bin_ok(s, out, 0);
        s->bin_flush = true;
        break;
    case PROTO_BIN_VERSION:
        bin_reply(s, out, PROTO_BIN_SUCCESS, NULL, 0, NULL, 0, SHOAL_VERSION_STRING,
                  sizeof SHOAL_VERSION_STRING - 1, 0);
        break;
    case PROTO_BIN_QUIT:
        bin_ok(s, out, 0);
        s->state = SESSION_CLOSE;
        break;
    case PROTO_BIN_STAT:
        bin_stats(s, key, out);
        break;
    default:
        /* proto_bin_check runs only the opcodes above */
        bin_error(s, out, PROTO_BIN_UNKNOWN_COMMAND, NULL);
        break;
    }
}
