/* delete, flush_all, verbosity, shutdown. */
#include <string.h>

#include "proto/number.h"
#include "server/clock.h"
#include "server/cmd_internal.h"
#include "server/log.h"
#include "server/settings.h"
#include "server/stats.h"

/* memcached's MAX_VERBOSITY_LEVEL. */
#define VERBOSITY_MAX 2

void cmd_delete(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    if (nt > 3) {
        /* only the legacy hold time "0" and noreply may follow the key */
        bool hold_is_zero = strcmp(t[2].value, "0") == 0;
        bool sets_noreply = proto_has_noreply(t, nt);
        s->noreply = sets_noreply;
        bool valid = (nt == 4 && (hold_is_zero || sets_noreply)) ||
                     (nt == 5 && hold_is_zero && sets_noreply);
        if (!valid) {
            reply_line(s, out, "CLIENT_ERROR bad command line format.  "
                               "Usage: delete <key> [noreply]");
            return;
        }
    }
    if (t[1].length > PROTO_KEY_MAX_LENGTH) {
        reply_line(s, out, "CLIENT_ERROR bad command line format");
        return;
    }
    struct store *st = s->env->store;
    struct store_lock lk;
    uint32_t hv = store_hash(t[1].value, t[1].length);
    store_lock_key(st, hv, &lk);
    struct item *it = session_find(s, hv, t[1].value, t[1].length);
    bool hit = it != NULL;
    if (hit) {
        store_unlink(st, hv, it);
        STAT_INC(s->env->stats, delete_hits);
    } else {
        STAT_INC(s->env->stats, delete_misses);
    }
    store_unlock(st, &lk);
    reply_line(s, out, hit ? "DELETED" : "NOT_FOUND");
}

void cmd_flush_all(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    s->noreply = proto_has_noreply(t, nt);
    STAT_INC(s->env->stats, cmd_flush);
    if (!settings.flush_enabled) {
        reply_line(s, out, "CLIENT_ERROR flush_all not allowed");
        return;
    }
    int32_t delay = 0;
    if (nt != (s->noreply ? 3u : 2u) && !proto_parse_i32(t[1].value, &delay)) {
        reply_line(s, out, "CLIENT_ERROR invalid exptime argument");
        return;
    }
    rel_time_t when = delay > 0 ? clock_from_exptime(delay) : clock_now();
    store_flush(s->env->store, when);
    reply_line(s, out, "OK");
}

void cmd_verbosity(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    s->noreply = proto_has_noreply(t, nt);
    uint32_t level;
    if (!proto_parse_u32(t[1].value, &level)) {
        reply_line(s, out, "CLIENT_ERROR bad command line format");
        return;
    }
    atomic_store(&log_verbosity, level > VERBOSITY_MAX ? VERBOSITY_MAX : (int)level);
    reply_line(s, out, "OK");
}

void cmd_shutdown(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    if (!settings.shutdown_command) {
        reply_line(s, out, "ERROR: shutdown not enabled");
        return;
    }
    if (nt == 2 || (nt == 3 && strcmp(t[1].value, "graceful") == 0))
        s->state = SESSION_SHUTDOWN;
    else
        reply_line(s, out, "CLIENT_ERROR invalid shutdown mode");
}
