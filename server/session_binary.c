/* The binary protocol's framing: a 24-byte header, extras and key read whole from the input,
 * a value read straight into the item being stored, bodies memcached discards discarded. The
 * commands themselves are in cmd_binary.c. */
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
        /* memcached closes at once, dropping the replies it had not sent yet */
        log_msg(1, "Invalid magic:  %x", s->bin.magic);
        outbuf_consume(out, out->pending);
        s->state = SESSION_CLOSE;
        return len;
    }
    size_t need = PROTO_BIN_HEADER_LEN + (size_t)s->bin.extlen + s->bin.keylen;
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

static size_t process_value(struct session *s, const char *in, size_t len, struct outbuf *out)
{
    size_t want = s->data_len - s->data_done;
    size_t n = len < want ? len : want;
    memcpy(item_data(s->item) + s->data_done, in, n);
    s->data_done += n;
    if (s->data_done == s->data_len) {
        s->phase = PHASE_LINE;
        cmd_binary_complete_update(s, out);
    }
    return n;
}

size_t session_binary_process(struct session *s, const char *in, size_t len, struct outbuf *out,
                              size_t out_limit)
{
    size_t done = 0;
    while (done < len && s->state == SESSION_OPEN) {
        size_t n;
        switch (s->phase) {
        case PHASE_SWALLOW:
            n = len - done < s->swallow_left ? len - done : (size_t)s->swallow_left;
            s->swallow_left -= n;
            if (s->swallow_left == 0)
                s->phase = PHASE_LINE;
            break;
        case PHASE_DATA:
            n = process_value(s, in + done, len - done, out);
            break;
        default: /* PHASE_LINE: a request header */
            if (out->pending > out_limit)
                return done;
            n = process_header(s, in + done, len - done, out);
            if (n == 0)
                return done;
            break;
        }
        done += n;
    }
    return done;
}
