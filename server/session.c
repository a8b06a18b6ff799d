/* The protocol session: finds command lines and data blocks in the client's bytes, dispatches
 * commands, and reads data blocks straight into the item being stored. */
#include "server/session.h"

#include <stdlib.h>
#include <string.h>

#include "proto/number.h"
#include "proto/parse.h"
#include "server/clock.h"
#include "server/cmd_internal.h"
#include "server/settings.h"
#include "server/stats.h"
#include "server/log.h"
#include "server/version.h"

_Static_assert(SESSION_LINE_MAX == PROTO_LINE_MAX, "one line limit for session and parser");

struct session *session_create(const struct session_env *env)
{
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->env = env;
    s->state = SESSION_OPEN;
    s->phase = PHASE_LINE;
    s->protocol = settings.binding_protocol == BINDING_ASCII    ? SESSION_PROTOCOL_ASCII
                  : settings.binding_protocol == BINDING_BINARY ? SESSION_PROTOCOL_BINARY
                                                                : SESSION_PROTOCOL_UNDECIDED;
    return s;
}

void session_destroy(struct session *s)
{
    if (s == NULL)
        return;
    if (s->item != NULL)
        store_free(s->env->store, s->item);
    line_copy_free(&s->line);
    free(s->bin_held);
    free(s);
}

void session_force_binary(struct session *s)
{
    s->protocol = SESSION_PROTOCOL_BINARY;
}

void session_set_conn_id(struct session *s, int id)
{
    s->conn_id = id;
}

enum session_state session_state(const struct session *s)
{
    return s->state;
}

bool session_mid_command(const struct session *s)
{
    return s->phase != PHASE_LINE;
}

const struct session_env *session_env(const struct session *s)
{
    return s->env;
}

void reply_raw(struct outbuf *out, const void *data, size_t n)
{
    /* Out of memory here leaves the client short of a reply; memcached closes in that case. */
    (void)outbuf_append(out, data, n);
}

void reply_line(struct session *s, struct outbuf *out, const char *line)
{
    if (s->noreply | s->trace) {
        if (s->trace)
            log_msg(2, ">%d %s%s", s->conn_id, s->noreply ? "NOREPLY " : "", line);
        if (s->noreply) {
            s->noreply = false;
            return;
        }
    }
    reply_raw(out, line, strlen(line));
    reply_raw(out, "\r\n", 2);
}

void reply_error(struct session *s, struct outbuf *out, const char *line)
{
    s->noreply = false;
    reply_line(s, out, line);
}

struct item *session_find(struct session *s, uint32_t hv, const char *key, size_t nkey)
{
    enum store_miss why = STORE_HIT;
    struct item *it = store_find(s->env->store, hv, key, nkey, &why);
    if (it == NULL) {
        if (why == STORE_MISS_EXPIRED)
            STAT_INC(s->env->stats, get_expired);
        else if (why == STORE_MISS_FLUSHED)
            STAT_INC(s->env->stats, get_flushed);
    }
    return it;
}

rel_time_t session_exptime(int32_t exptime)
{
    /* memcached's EXPTIME_TO_POSITIVE_TIME: a negative exptime becomes a time long past. */
    return clock_from_exptime(exptime < 0 ? (int64_t)CLOCK_REALTIME_MAXDELTA + 1 : exptime);
}

void session_expect_data(struct session *s, struct item *it, size_t vlen, enum store_mode mode)
{
    s->item = it;
    s->data_len = vlen;
    s->data_done = 0;
    s->data_end_have = 0;
    s->mode = mode;
    s->phase = vlen > 0 ? PHASE_DATA : PHASE_DATA_END;
}

void session_swallow(struct session *s, uint64_t n)
{
    s->swallow_left = n;
    s->phase = n > 0 ? PHASE_SWALLOW : PHASE_LINE;
}

static void cmd_version(struct session *s, struct outbuf *out)
{
    reply_line(s, out, "VERSION " SHOAL_VERSION_STRING);
}

/* `stats` gets the rest of the line as it was sent. */
static void cmd_stats(struct session *s, char *line, size_t line_len, struct outbuf *out)
{
    for (size_t i = 0; i < line_len; i++)
        if (line[i] == '\0')
            line[i] = ' ';
    size_t i = 0;
    while (i < line_len && line[i] == ' ')
        i++;
    i += 5; /* "stats" */
    while (i < line_len && line[i] == ' ')
        i++;
    stats_command(s, line + i, line_len - i, out);
}

/* memcached closes some connections at once, dropping every reply it had not yet sent (an HTTP
 * request, a runaway line, shutdown). Replies already written stay written. */
static void close_now(struct session *s, enum session_state how, struct outbuf *out)
{
    outbuf_consume(out, out->pending);
    s->state = how;
}

static void dispatch(struct session *s, char *line, struct outbuf *out)
{
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t line_len = strlen(line);
    s->trace = log_enabled(2);
    if (s->trace) {
        if (!s->trace_greeted && settings.binding_protocol != BINDING_ASCII)
            log_msg(2, "%d: Client using the ascii protocol", s->conn_id);
        s->trace_greeted = true;
        log_msg(2, "<%d %s", s->conn_id, line);
    }
    size_t nt = proto_tokenize(line, t, PROTO_MAX_TOKENS);
    s->noreply = false;

    enum proto_cmd cmd = proto_command(t, nt);
    switch (cmd) {
    case PROTO_CMD_ERROR: reply_line(s, out, "ERROR"); break;
    case PROTO_CMD_HTTP: close_now(s, SESSION_CLOSE, out); break;
    case PROTO_CMD_GET:
    case PROTO_CMD_BGET: cmd_get(s, t, nt, false, false, out); break;
    case PROTO_CMD_GETS: cmd_get(s, t, nt, true, false, out); break;
    case PROTO_CMD_GAT: cmd_get(s, t, nt, false, true, out); break;
    case PROTO_CMD_GATS: cmd_get(s, t, nt, true, true, out); break;
    case PROTO_CMD_SET:
    case PROTO_CMD_ADD:
    case PROTO_CMD_REPLACE:
    case PROTO_CMD_APPEND:
    case PROTO_CMD_PREPEND:
    case PROTO_CMD_CAS: cmd_update(s, t, nt, cmd, out); break;
    case PROTO_CMD_INCR: cmd_arith(s, t, nt, true, out); break;
    case PROTO_CMD_DECR: cmd_arith(s, t, nt, false, out); break;
    case PROTO_CMD_DELETE: cmd_delete(s, t, nt, out); break;
    case PROTO_CMD_TOUCH: cmd_touch(s, t, nt, out); break;
    case PROTO_CMD_STATS: cmd_stats(s, line, line_len, out); break;
    case PROTO_CMD_FLUSH_ALL: cmd_flush_all(s, t, nt, out); break;
    case PROTO_CMD_VERSION: cmd_version(s, out); break;
    case PROTO_CMD_QUIT: s->state = SESSION_CLOSE; break;
    case PROTO_CMD_SHUTDOWN:
        cmd_shutdown(s, t, nt, out);
        if (s->state == SESSION_SHUTDOWN)
            close_now(s, SESSION_SHUTDOWN, out);
        break;
    case PROTO_CMD_VERBOSITY: cmd_verbosity(s, t, nt, out); break;
    case PROTO_CMD_MG: cmd_mg(s, t, nt, out); break;
    case PROTO_CMD_MS: cmd_ms(s, t, nt, out); break;
    case PROTO_CMD_MD: cmd_md(s, t, nt, out); break;
    case PROTO_CMD_MA: cmd_ma(s, t, nt, out); break;
    case PROTO_CMD_MN: reply_line(s, out, "MN"); break;
    case PROTO_CMD_ME: cmd_me(s, t, nt, out); break;
    case PROTO_CMD_CACHE_MEMLIMIT: cmd_cache_memlimit(s, t, nt, out); break;
    case PROTO_CMD_LRU: cmd_lru(s, t, nt, out); break;
    case PROTO_CMD_SLABS: cmd_slabs(s, t, nt, out); break;
    case PROTO_CMD_LRU_CRAWLER: cmd_lru_crawler(s, t, nt, out); break;
    }
}

/* Handles the line at the front of in; returns the bytes consumed (0: wait for more). */
static size_t process_line(struct session *s, const char *in, size_t len, struct outbuf *out)
{
    size_t used = 0;
    long n = proto_find_line(in, len, &used);
    if (n < 0) {
        if (len > PROTO_LINE_MAX && !proto_long_line_may_continue(in, len))
            close_now(s, SESSION_CLOSE, out);
        return 0;
    }
    char *line = line_copy_set(&s->line, in, (size_t)n);
    if (line == NULL) {
        s->state = SESSION_CLOSE;
        return used;
    }
    dispatch(s, line, out);
    line_copy_trim(&s->line);
    return used;
}

static size_t process_data(struct session *s, const char *in, size_t len)
{
    size_t want = s->data_len - s->data_done;
    size_t n = len < want ? len : want;
    memcpy(item_data(s->item) + s->data_done, in, n);
    s->data_done += n;
    if (s->data_done == s->data_len)
        s->phase = PHASE_DATA_END;
    return n;
}

static size_t process_data_end(struct session *s, const char *in, size_t len, struct outbuf *out)
{
    size_t n = 0;
    while (s->data_end_have < 2 && n < len)
        s->data_end[s->data_end_have++] = in[n++];
    if (s->data_end_have == 2) {
        s->phase = PHASE_LINE;
        cmd_complete_data(s, s->data_end[0] == '\r' && s->data_end[1] == '\n', out);
    }
    return n;
}

size_t session_process(struct session *s, const char *in, size_t len, struct outbuf *out,
                       size_t out_limit)
{
    if (s->protocol != SESSION_PROTOCOL_ASCII && len > 0) {
        if (s->protocol == SESSION_PROTOCOL_UNDECIDED)
            s->protocol = (unsigned char)in[0] == PROTO_BIN_REQUEST ? SESSION_PROTOCOL_BINARY
                                                                    : SESSION_PROTOCOL_ASCII;
        if (s->protocol == SESSION_PROTOCOL_BINARY)
            return session_binary_process(s, in, len, out, out_limit);
    }
    size_t done = 0;
    while (done < len && s->state == SESSION_OPEN) {
        size_t n;
        switch (s->phase) {
        case PHASE_LINE:
            if (out->pending > out_limit)
                return done;
            n = process_line(s, in + done, len - done, out);
            if (n == 0)
                return done;
            break;
        case PHASE_DATA:
            n = process_data(s, in + done, len - done);
            break;
        case PHASE_DATA_END:
            n = process_data_end(s, in + done, len - done, out);
            break;
        case PHASE_SWALLOW:
            n = len - done < s->swallow_left ? len - done : (size_t)s->swallow_left;
            s->swallow_left -= n;
            if (s->swallow_left == 0)
                s->phase = PHASE_LINE;
            break;
        default:
            abort();
        }
        done += n;
    }
    return done;
}
