/* get, gets, gat, gats (any number of keys) and touch. */
#include <string.h>

#include "proto/compose.h"
#include "proto/number.h"
#include "server/cmd_internal.h"
#include "server/log.h"
#include "server/stats.h"

static void unpin_value(void *store, void *item)
{
    store_unpin(store, item);
}

/* Under the key's lock: appends the item's value. A large one is not copied: the item is pinned
 * and the connection writes straight from it, so the lock is held only for the lookup. */
void session_reply_value(struct store *st, struct item *it, const struct item_view *v,
                         struct outbuf *out)
{
    if (v->nbytes >= STORE_PIN_MIN) {
        store_pin(st, it);
        if (outbuf_append_ref(out, v->data, v->nbytes, unpin_value, st, it) == 0)
            return;
        store_unpin(st, it);
    }
    reply_raw(out, v->data, v->nbytes);
}

void session_count_lookup(struct thread_stats *ts, bool touch, bool hit)
{
    if (touch) {
        STAT_INC(ts, cmd_touch);
        if (hit)
            STAT_INC(ts, touch_hits);
        else
            STAT_INC(ts, touch_misses);
    } else {
        STAT_INC(ts, cmd_get);
        if (hit)
            STAT_INC(ts, get_hits);
        else
            STAT_INC(ts, get_misses);
    }
}

/* Looks up one key (hv its hash) and, when `emit`, appends its VALUE block. Counts as memcached
 * does. */
static void get_one(struct session *s, const char *key, size_t nkey, uint32_t hv, bool return_cas,
                    bool should_touch, rel_time_t exptime, bool emit, struct outbuf *out)
{
    struct store *st = s->env->store;
    struct thread_stats *ts = s->env->stats;
    struct store_lock lk;

    store_lock_key(st, hv, &lk);
    struct item *it = session_find(s, hv, key, nkey);
    if (it != NULL) {
        if (should_touch)
            item_set_exptime(it, exptime);
        store_touch_access(st, it);
        if (emit) {
            struct item_view v;
            item_get_view(it, &v);
            char head[PROTO_VALUE_HEADER_MAX];
            size_t n = proto_value_header(head, v.key, v.nkey, v.flags, (uint32_t)v.nbytes,
                                          return_cas, v.cas);
            reply_raw(out, head, n);
            if (s->trace)
                log_msg(2, ">%d sending key %.*s", s->conn_id, (int)v.nkey, v.key);
            session_reply_value(st, it, &v, out);
            reply_raw(out, "\r\n", 2);
        }
    }
    session_count_lookup(ts, should_touch, it != NULL);
    store_unlock(st, &lk);
}

/* memcached tokenizes a get line 23 tokens at a time; a key over 250 bytes stops the command
 * there and replaces everything it had answered with one error line. Earlier keys have still
 * been looked up (and counted), so the keys are walked twice: once to find where it stops,
 * once to look them up, emitting only if it does not stop early. */
static bool get_line_has_long_key(char *rest_of_line, struct proto_token *first, size_t nfirst)
{
    for (size_t i = 0; i < nfirst; i++)
        if (first[i].length > PROTO_KEY_MAX_LENGTH)
            return true;
    /* later tokens: scan the untokenized remainder by hand, without modifying it */
    const char *p = rest_of_line;
    if (p == NULL)
        return false;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p != ' ' && *p != '\0')
            p++;
        if ((size_t)(p - start) > PROTO_KEY_MAX_LENGTH)
            return true;
    }
    return false;
}

/* Hashes the keys of one batch of tokens (up to the empty token that ends it, or the first key
 * too long to look up) into hv, and when there are several, starts loading what their lookups
 * will touch: each key's lookup is otherwise two or three cache misses in a row, which dominated
 * a multi-get's profile (BENCHMARKS.md, "lookups that overlap their cache misses"). Returns how
 * many keys it hashed. */
static size_t hash_and_prefetch(struct store *st, const struct proto_token *key,
                                uint32_t hv[PROTO_MAX_TOKENS])
{
    size_t n = 0;
    while (n < PROTO_MAX_TOKENS && key[n].length != 0 && key[n].length <= PROTO_KEY_MAX_LENGTH) {
        hv[n] = store_hash(key[n].value, key[n].length);
        n++;
    }
    if (n > 1)
        store_prefetch_keys(st, hv, n);
    return n;
}

void cmd_get(struct session *s, struct proto_token *t, size_t nt, bool return_cas,
             bool should_touch, struct outbuf *out)
{
    struct proto_token *key = &t[1];
    rel_time_t exptime = 0;
    if (should_touch) {
        int32_t e;
        if (!proto_parse_i32(t[1].value, &e)) {
            reply_line(s, out, "CLIENT_ERROR invalid exptime argument");
            return;
        }
        exptime = session_exptime(e);
        key++;
    }
    size_t nkeys_first = (size_t)(&t[nt - 1] - key);
    bool fails = get_line_has_long_key(t[nt - 1].value, key, nkeys_first);

    uint32_t hv[PROTO_MAX_TOKENS];
    for (;;) {
        size_t hashed = hash_and_prefetch(s->env->store, key, hv);
        for (size_t i = 0; key->length != 0; i++, key++) {
            if (key->length > PROTO_KEY_MAX_LENGTH) {
                reply_line(s, out, "CLIENT_ERROR bad command line format");
                return;
            }
            uint32_t h = i < hashed ? hv[i] : store_hash(key->value, key->length);
            get_one(s, key->value, key->length, h, return_cas, should_touch, exptime, !fails, out);
        }
        if (key->value == NULL)
            break;
        nt = proto_tokenize(key->value, t, PROTO_MAX_TOKENS);
        key = t;
    }
    reply_line(s, out, "END"); /* get has no noreply; reply_line logs it at -vv */
}

void cmd_touch(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    s->noreply = proto_has_noreply(t, nt);
    if (t[1].length > PROTO_KEY_MAX_LENGTH) {
        reply_line(s, out, "CLIENT_ERROR bad command line format");
        return;
    }
    int32_t e;
    if (!proto_parse_i32(t[2].value, &e)) {
        reply_line(s, out, "CLIENT_ERROR invalid exptime argument");
        return;
    }
    struct store *st = s->env->store;
    struct thread_stats *ts = s->env->stats;
    struct store_lock lk;
    uint32_t hv = store_hash(t[1].value, t[1].length);
    store_lock_key(st, hv, &lk);
    struct item *it = session_find(s, hv, t[1].value, t[1].length);
    bool hit = it != NULL;
    STAT_INC(ts, cmd_touch);
    if (hit) {
        item_set_exptime(it, session_exptime(e));
        store_touch_access(st, it);
        STAT_INC(ts, touch_hits);
    } else {
        STAT_INC(ts, touch_misses);
    }
    store_unlock(st, &lk);
    reply_line(s, out, hit ? "TOUCHED" : "NOT_FOUND");
}
