/* incr and decr, and the add_delta step they share with ma. */
#include <stdlib.h>
#include <string.h>

#include "proto/number.h"
#include "server/cmd_internal.h"
#include "server/settings.h"
#include "server/stats.h"

enum delta_result session_add_delta(struct session *s, uint32_t hv, const char *key, size_t nkey,
                                    bool incr, uint64_t delta, char *buf, uint64_t *cas,
                                    struct item **it_out)
{
    struct store *st = s->env->store;
    struct thread_stats *ts = s->env->stats;
    struct item *it = session_find(s, hv, key, nkey);
    if (it == NULL)
        return DELTA_NOT_FOUND;
    size_t nbytes = item_nbytes(it);
    if (nbytes == 0)
        return DELTA_NON_NUMERIC;
    if (cas != NULL && *cas != 0 && item_cas(it) != *cas)
        return DELTA_CAS_MISMATCH;

    /* The value is not NUL-terminated in the store; memcached's parse stops at the "\r\n" that
     * follows it, which a NUL-terminated copy reproduces. */
    char small[64];
    char *digits = nbytes < sizeof small ? small : malloc(nbytes + 1);
    if (digits == NULL)
        return DELTA_EOM;
    memcpy(digits, item_data(it), nbytes);
    digits[nbytes] = '\0';
    uint64_t value;
    bool numeric = proto_parse_u64(digits, &value);
    if (digits != small)
        free(digits);
    if (!numeric)
        return DELTA_NON_NUMERIC;

    if (incr) {
        value += delta;
        STAT_INC(ts, incr_hits);
    } else {
        value = delta > value ? 0 : value - delta;
        STAT_INC(ts, decr_hits);
    }
    size_t len = (size_t)proto_u64_to_dec(value, buf);
    buf[len] = '\0';

    if (len <= nbytes && !item_pinned(it)) {
        /* fits: rewrite in place, padding with spaces as memcached does (unless a reader is
         * writing the value out from the item right now: then a new item, as memcached does
         * when the item's refcount shows another holder) */
        memcpy(item_data(it), buf, len);
        memset(item_data(it) + len, ' ', nbytes - len);
        store_new_cas(st, it);
        store_touch_access(st, it);
    } else {
        enum store_alloc_err err;
        struct item *n = store_alloc_flags(st, key, nkey, item_flags(it), len, &err);
        if (n == NULL)
            return DELTA_EOM;
        item_set_exptime(n, item_exptime(it));
        memcpy(item_data(n), buf, len);
        store_link(st, hv, n, it);
        it = n;
    }
    if (cas != NULL)
        *cas = item_cas(it);
    if (it_out != NULL)
        *it_out = it;
    return DELTA_OK;
}

void cmd_arith(struct session *s, struct proto_token *t, size_t nt, bool incr, struct outbuf *out)
{
    s->noreply = proto_has_noreply(t, nt);
    if (t[1].length > PROTO_KEY_MAX_LENGTH) {
        reply_line(s, out, "CLIENT_ERROR bad command line format");
        return;
    }
    uint64_t delta;
    if (!proto_parse_u64(t[2].value, &delta)) {
        reply_line(s, out, "CLIENT_ERROR invalid numeric delta argument");
        return;
    }
    struct store *st = s->env->store;
    struct store_lock lk;
    uint32_t hv = store_hash(t[1].value, t[1].length);
    char buf[24];
    store_lock_key(st, hv, &lk);
    enum delta_result r = session_add_delta(s, hv, t[1].value, t[1].length, incr, delta, buf,
                                            NULL, NULL);
    store_unlock(st, &lk);
    switch (r) {
    case DELTA_OK:
        reply_line(s, out, buf);
        break;
    case DELTA_NON_NUMERIC:
        reply_line(s, out, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        break;
    case DELTA_EOM:
        reply_line(s, out, "SERVER_ERROR out of memory");
        break;
    case DELTA_NOT_FOUND:
        if (incr)
            STAT_INC(s->env->stats, incr_misses);
        else
            STAT_INC(s->env->stats, decr_misses);
        reply_line(s, out, "NOT_FOUND");
        break;
    case DELTA_CAS_MISMATCH:
        break;
    }
}
