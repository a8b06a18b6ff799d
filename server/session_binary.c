/* The binary protocol's framing: a 24-byte header, extras and key read whole from the input,
 * a value read straight into the item being stored, bodies memcached discards discarded. The
 * commands themselves are in cmd_binary.c. */
#include <stdlib.h>
#include <string.h>

#include "server/cmd_internal.h"
#include "server/log.h"

/* Handles the request at the front of in; returns the bytes consumed (0: wait for more). */
static size_t process_header(struct session *s, const char *in, size_t len, struct outbuf *out)
{
    if (len < PROTO_BIN_HEADER_LEN)
        return 0;
    proto_bin_decode(in, &s->bin);
    if (s->bin.magic != PROTO_BIN_REQUEST) {
        /* memcached closes at once, dropping the replies it had not written yet */
        log_msg(1, "Invalid magic:  %x", s->bin.magic);
        outbuf_drop_tail(out, s->bin_unflushed < out->pending ? s->bin_unflushed : out->pending);
        s->state = SESSION_CLOSE;
        return len;
    }
    size_t need = PROTO_BIN_HEADER_LEN + (size_t)s->bin.extlen + s->bin.keylen;
    if (need > PROTO_BIN_READ_BUFFER) {
        if (len < PROTO_BIN_READ_BUFFER)
            return 0;
        log_msg(1, "closing fd %d: binary request header, extras and key over %d bytes",
                s->conn_id, PROTO_BIN_READ_BUFFER);
        s->state = SESSION_CLOSE;
        return len;
    }
    if (len < need)
        return 0;
    struct proto_bin_check c;
    proto_bin_check(&s->bin, &c);
    s->bin_quiet = c.quiet;
    const char *ext = in + PROTO_BIN_HEADER_LEN;
    switch (c.verdict) {
    case PROTO_BIN_RUN:
        cmd_binary(s, &c, ext, ext + s->bin.extlen, out);
        break;
    case PROTO_BIN_BAD_LENGTHS:
        bin_error(s, out, PROTO_BIN_UNKNOWN_COMMAND, NULL);
        s->state = SESSION_CLOSE;
        break;
    case PROTO_BIN_INVALID:
        bin_error(s, out, PROTO_BIN_EINVAL, NULL);
        log_msg(1, "Protocol error (opcode %02x), close connection %d", s->bin.opcode,
                s->conn_id);
        s->state = SESSION_CLOSE;
        break;
    case PROTO_BIN_UNKNOWN:
        bin_error(s, out, PROTO_BIN_UNKNOWN_COMMAND, NULL);
        session_swallow(s, c.swallow);
        break;
    }
    return need;
}

static bool is_get(uint8_t op)
{
    return op == PROTO_BIN_GET || op == PROTO_BIN_GETQ || op == PROTO_BIN_GETK ||
           op == PROTO_BIN_GETKQ;
}

/* At a get: finds the run of valid gets that follows it in the input, hashes their keys and
 * starts loading what their lookups will touch (the cache misses of many keys then overlap
 * instead of following one another; measured: most of a binary multi-get's user time). */
static void prefetch_gets(struct session *s, const char *in, size_t len)
{
    s->bin_pf_n = s->bin_pf_next = 0;
    size_t at = 0;
    while (s->bin_pf_n < STORE_PREFETCH_MAX && len - at >= PROTO_BIN_HEADER_LEN) {
        struct proto_bin_header h;
        proto_bin_decode(in + at, &h);
        size_t need = PROTO_BIN_HEADER_LEN + (size_t)h.extlen + h.keylen;
        if (h.magic != PROTO_BIN_REQUEST || !is_get(h.opcode) || len - at < need)
            break;
        struct proto_bin_check c;
        proto_bin_check(&h, &c);
        if (c.verdict != PROTO_BIN_RUN)
            break;
        const char *key = in + at + PROTO_BIN_HEADER_LEN + h.extlen;
        s->bin_pf_key[s->bin_pf_n] = key;
        s->bin_pf_hv[s->bin_pf_n] = store_hash(key, h.keylen);
        s->bin_pf_n++;
        at += need;
    }
    if (s->bin_pf_n > 1)
        store_prefetch_keys(s->env->store, s->bin_pf_hv, s->bin_pf_n);
}

uint32_t session_binary_key_hash(struct session *s, const char *key, size_t nkey)
{
    if (s->bin_pf_next < s->bin_pf_n && s->bin_pf_key[s->bin_pf_next] == key)
        return s->bin_pf_hv[s->bin_pf_next++];
    return store_hash(key, nkey);
}

/* Entering a value or a discarded body: the replies not yet written wait in s->bin_held. */
static void hold_replies(struct session *s, struct outbuf *out)
{
    size_t n = s->bin_unflushed < out->pending ? s->bin_unflushed : out->pending;
    if (n == 0 || s->bin_held_len > 0)
        return;
    char *held = malloc(n);
    if (held == NULL)
        return; /* they are written early instead */
    outbuf_copy_tail(out, n, held);
    outbuf_drop_tail(out, n);
    s->bin_held = held;
    s->bin_held_len = n;
    s->bin_unflushed -= n;
}

static void release_replies(struct session *s, struct outbuf *out)
{
    if (s->bin_held_len == 0)
        return;
    reply_raw(out, s->bin_held, s->bin_held_len);
    free(s->bin_held);
    s->bin_held = NULL;
    s->bin_held_len = 0;
}

static size_t process_value(struct session *s, const char *in, size_t len, struct outbuf *out)
{
    size_t want = s->data_len - s->data_done;
    size_t n = len < want ? len : want;
    memcpy(item_data(s->item) + s->data_done, in, n);
    s->data_done += n;
    if (s->data_done == s->data_len) {
        s->phase = PHASE_LINE;
        release_replies(s, out);
        cmd_binary_complete_update(s, out);
    }
    return n;
}

/* After a request (or the end of a value) appended since `before`: tracks what memcached would
 * have written out by now. */
static void note_flush(struct session *s, const struct outbuf *out, size_t before)
{
    if (s->bin_flush && s->phase != PHASE_SWALLOW)
        s->bin_unflushed = 0;
    else
        s->bin_unflushed += out->pending - before;
    s->bin_flush = false;
}

size_t session_binary_process(struct session *s, const char *in, size_t len, struct outbuf *out,
                              size_t out_limit)
{
    size_t done = 0;
    size_t before;
    /* the connection writes what this call queues before it reads again, as memcached writes
     * its replies once it has used up what it read */
    s->bin_unflushed = 0;
    s->bin_pf_n = s->bin_pf_next = 0; /* the keys found ahead pointed into the last input */
    while (done < len && s->state == SESSION_OPEN) {
        size_t n;
        switch (s->phase) {
        case PHASE_SWALLOW:
            n = len - done < s->swallow_left ? len - done : (size_t)s->swallow_left;
            s->swallow_left -= n;
            if (s->swallow_left == 0) {
                s->phase = PHASE_LINE;
                before = out->pending;
                release_replies(s, out);
                s->bin_unflushed += out->pending - before;
            }
            break;
        case PHASE_DATA:
            before = out->pending;
            n = process_value(s, in + done, len - done, out);
            if (s->phase != PHASE_DATA)
                note_flush(s, out, before);
            break;
        default: /* PHASE_LINE: a request header */
            if (out->pending > out_limit)
                return done;
            if (s->bin_pf_next >= s->bin_pf_n && len - done >= PROTO_BIN_HEADER_LEN &&
                is_get((uint8_t)in[done + 1]))
                prefetch_gets(s, in + done, len - done);
            before = out->pending;
            n = process_header(s, in + done, len - done, out);
            if (n == 0)
                return done;
            if (s->state == SESSION_OPEN) {
                note_flush(s, out, before);
                /* a value or body that is all here already is done before anything is written:
                 * nothing to hold */
                size_t rest = len - done - n;
                if ((s->phase == PHASE_DATA && s->data_len - s->data_done > rest) ||
                    (s->phase == PHASE_SWALLOW && s->swallow_left > rest))
                    hold_replies(s, out);
            }
            break;
        }
        done += n;
    }
    return done;
}
