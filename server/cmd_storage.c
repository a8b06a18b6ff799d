/* set, add, replace, append, prepend, cas: the command line, the data block's completion, and
 * memcached's do_store_item. */
#include <string.h>

#include "proto/storage_line.h"
#include "server/cmd_internal.h"
#include "server/stats.h"

void session_unlink_key(struct session *s, const char *key, size_t nkey)
{
    struct store_lock lk;
    uint32_t hv = store_hash(key, nkey);
    store_lock_key(s->env->store, hv, &lk);
    struct item *old = store_find(s->env->store, hv, key, nkey, &(enum store_miss){0});
    if (old != NULL)
        store_unlink(s->env->store, hv, old);
    store_unlock(s->env->store, &lk);
}

void session_refuse_alloc(struct session *s, const char *key, size_t nkey, size_t vlen,
                         enum store_alloc_err err, bool drop_old, bool meta, struct outbuf *out)
{
    struct thread_stats *ts = s->env->stats;
    const char *msg;
    if (err == STORE_ALLOC_TOO_LARGE) {
        msg = "SERVER_ERROR object too large for cache";
        STAT_INC(ts, store_too_large);
    } else {
        msg = "SERVER_ERROR out of memory storing object";
        STAT_INC(ts, store_no_memory);
    }
    if (drop_old)
        session_unlink_key(s, key, nkey);
    if (meta)
        reply_error(s, out, msg);
    else
        reply_line(s, out, msg);
    session_swallow(s, (uint64_t)vlen + 2);
}

static enum store_mode update_mode(enum proto_cmd cmd)
{
    switch (cmd) {
    case PROTO_CMD_ADD: return MODE_ADD;
    case PROTO_CMD_REPLACE: return MODE_REPLACE;
    case PROTO_CMD_APPEND: return MODE_APPEND;
    case PROTO_CMD_PREPEND: return MODE_PREPEND;
    case PROTO_CMD_CAS: return MODE_CAS;
    default: return MODE_SET;
    }
}

void cmd_update(struct session *s, struct proto_token *t, size_t nt, enum proto_cmd cmd,
                struct outbuf *out)
{
    struct proto_storage_line line;
    enum proto_storage_verdict verdict = proto_storage_line(cmd, t, nt, &line);
    s->noreply = line.noreply;
    if (verdict != PROTO_STORAGE_ACCEPT) {
        /* (NONE cannot happen: dispatch calls with a storage command proto_command named) */
        reply_line(s, out, verdict == PROTO_STORAGE_REFUSE ? line.error : "ERROR");
        return;
    }
    enum store_mode mode = update_mode(cmd);
    size_t vlen = line.block_len;

    enum store_alloc_err err = STORE_ALLOC_OK;
    struct item *it =
        store_alloc_flags(s->env->store, line.key, line.key_len, line.flags, vlen, &err);
    if (it == NULL) {
        session_refuse_alloc(s, line.key, line.key_len, vlen, err, mode == MODE_SET, false, out);
        return;
    }
    item_set_exptime(it, session_exptime(line.exptime));
    item_set_cas(it, line.cas);
    s->meta_set = false;
    s->meta_set_stale = false;
    s->meta_new_cas_set = false;
    s->meta_copy = false;
    session_expect_data(s, it, vlen, mode);
}

void cmd_complete_data(struct session *s, bool valid, struct outbuf *out)
{
    struct item *it = s->item;
    s->item = NULL;
    STAT_INC(s->env->stats, cmd_set);
    if (!valid) {
        store_free(s->env->store, it);
        if (s->meta_set)
            reply_error(s, out, "CLIENT_ERROR bad data chunk");
        else
            reply_line(s, out, "CLIENT_ERROR bad data chunk");
        return;
    }
    uint64_t cas = 0;
    enum store_result r = session_store_item(s, it, s->mode, s->meta_set_stale, &cas);
    if (s->meta_set) {
        cmd_ms_finish(s, r, cas, out);
        return;
    }
    static const char *const words[] = {
        [RESULT_STORED] = "STORED",
        [RESULT_EXISTS] = "EXISTS",
        [RESULT_NOT_FOUND] = "NOT_FOUND",
        [RESULT_NOT_STORED] = "NOT_STORED",
    };
    reply_line(s, out, words[r]);
}

/* Builds the item append/prepend stores: old and new values joined, the old item's flags and
 * exptime kept. NULL when it cannot be allocated. */
static struct item *joined_item(struct session *s, struct item *old, struct item *it, bool append)
{
    size_t n_old = item_nbytes(old), n_new = item_nbytes(it);
    enum store_alloc_err err;
    struct item *j = store_alloc_flags(s->env->store, item_key(it), item_nkey(it),
                                       item_flags(old), n_old + n_new, &err);
    if (j == NULL)
        return NULL;
    item_set_exptime(j, item_exptime(old));
    char *d = item_data(j);
    if (append) {
        memcpy(d, item_data(old), n_old);
        memcpy(d + n_old, item_data(it), n_new);
    } else {
        memcpy(d, item_data(it), n_new);
        memcpy(d + n_new, item_data(old), n_old);
    }
    return j;
}

enum store_result session_store_item(struct session *s, struct item *it, enum store_mode mode,
                                     bool cas_stale, uint64_t *cas_out)
{
    struct store *st = s->env->store;
    struct thread_stats *ts = s->env->stats;
    uint32_t hv = store_hash(item_key(it), item_nkey(it));
    struct store_lock lk;
    enum store_result r = RESULT_NOT_STORED;
    bool do_store = false;
    struct item *old;

    store_lock_key(st, hv, &lk);
    old = session_find(s, hv, item_key(it), item_nkey(it));
    if (old != NULL && s->meta_set && s->meta_copy && item_cas(old) >= s->meta_new_cas) {
        /* a copy no newer than what is here (replication, warm-up, repair): keep this one */
    } else if (old != NULL) {
        uint64_t it_cas = item_cas(it), old_cas = item_cas(old);
        enum { CAS_NONE, CAS_MATCH, CAS_BADVAL, CAS_STALE } cas_res;
        if (it_cas == 0)
            cas_res = CAS_NONE;
        else if (it_cas == old_cas)
            cas_res = CAS_MATCH;
        else if (cas_stale && it_cas < old_cas)
            cas_res = CAS_STALE;
        else
            cas_res = CAS_BADVAL;

        switch (mode) {
        case MODE_ADD:
            /* add leaves the existing item but counts as an access (LRU bump) */
            store_touch_access(st, old);
            break;
        case MODE_CAS:
            if (cas_res == CAS_MATCH) {
                STAT_INC(ts, cas_hits);
                do_store = true;
            } else if (cas_res == CAS_STALE) {
                /* a late writer's value is kept but marked stale, with the old TTL */
                item_set_exptime(it, item_exptime(old));
                unsigned bits = item_bits(it) | ITEM_STALE;
                if (item_bits(old) & ITEM_WIN_SENT)
                    bits |= ITEM_WIN_SENT;
                item_set_bits(it, bits);
                STAT_INC(ts, cas_hits);
                do_store = true;
            } else {
                STAT_INC(ts, cas_badval);
                r = RESULT_EXISTS;
            }
            break;
        case MODE_APPEND:
        case MODE_PREPEND: {
            if (cas_res != CAS_NONE && cas_res != CAS_MATCH) {
                r = RESULT_EXISTS;
                break;
            }
            struct item *j = joined_item(s, old, it, mode == MODE_APPEND);
            if (j == NULL)
                break;
            store_free(st, it);
            it = j;
            do_store = true;
            break;
        }
        case MODE_REPLACE:
        case MODE_SET:
            do_store = true;
            break;
        }
        if (do_store) {
            store_link(st, hv, it, old);
            r = RESULT_STORED;
        }
    } else {
        switch (mode) {
        case MODE_ADD:
        case MODE_SET:
            do_store = true;
            break;
        case MODE_CAS:
            r = RESULT_NOT_FOUND;
            STAT_INC(ts, cas_misses);
            break;
        default:
            break;
        }
        if (do_store) {
            store_link(st, hv, it, NULL);
            r = RESULT_STORED;
        }
    }
    if (r == RESULT_STORED && s->meta_set && s->meta_new_cas_set)
        item_give_cas(it, s->meta_new_cas); /* ms E: the writer chose the CAS */
    if (cas_out != NULL)
        *cas_out = (r == RESULT_STORED) ? item_cas(it) : 0;
    store_unlock(st, &lk);
    if (!do_store)
        store_free(st, it);
    return r;
}
