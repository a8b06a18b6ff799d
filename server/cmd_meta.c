/* The meta commands mg, ms, md, ma and me, as memcached 1.6.18 answers them. A reply line is
 * built in a local buffer (the flags can make it long) and appended in one piece. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/base64.h"
#include "proto/compose.h"
#include "proto/number.h"
#include "proto/storage_line.h"
#include "server/clock.h"
#include "server/cmd_internal.h"
#include "server/settings.h"
#include "server/stats.h"

static const char bad_format[] = "CLIENT_ERROR bad command line format";
static const char opaque_too_long[] = "CLIENT_ERROR opaque token too long";

/* A reply line under construction. Room for the longest: a status, every one-letter flag once,
 * a 32-byte opaque and a base64 key. */
struct line_buf {
    char data[2048];
    size_t len;
};

static void lb_add(struct line_buf *b, const void *p, size_t n)
{
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void lb_str(struct line_buf *b, const char *s)
{
    lb_add(b, s, strlen(s));
}

static void lb_u64(struct line_buf *b, char flag, uint64_t v)
{
    b->len += proto_meta_u64(b->data + b->len, flag, v);
}

static void lb_key(struct line_buf *b, const char *key, size_t nkey, bool binary)
{
    b->len += proto_meta_key(b->data + b->len, key, nkey, binary);
}

static void lb_opaque(struct line_buf *b, const struct proto_token *t)
{
    lb_add(b, " ", 1);
    lb_add(b, t->value, t->length);
}

/* Appends the O and k return flags in token order, as every miss or failure reply does. Returns
 * false when an opaque is too long. */
static bool lb_opaque_and_key(struct line_buf *b, const struct proto_token *t, size_t nt,
                              const char *key, size_t nkey, bool binary)
{
    for (size_t i = 2; i < nt - 1; i++) {
        if (t[i].value[0] == 'O') {
            if (t[i].length > META_MAX_OPAQUE_LENGTH)
                return false;
            lb_opaque(b, &t[i]);
        } else if (t[i].value[0] == 'k') {
            lb_key(b, key, nkey, binary);
        }
    }
    return true;
}

/* The remaining TTL as memcached prints it: -1 for never, else exptime - now in 32 bits. */
static void lb_ttl(struct line_buf *b, struct item *it)
{
    if (item_exptime(it) == 0)
        lb_str(b, " t-1");
    else
        lb_u64(b, 't', (uint32_t)(item_exptime(it) - clock_now()));
}

static bool item_key_binary(struct item *it)
{
    return (item_bits(it) & ITEM_KEY_BINARY) != 0;
}

/* Checks shared by mg, md and ma; returns false after replying. */
static bool meta_prologue(struct session *s, struct proto_token *t, size_t nt,
                          const char *too_long, bool errstring, struct outbuf *out)
{
    if (nt < 3) {
        reply_line(s, out, "ERROR");
        return false;
    }
    if (t[1].length > PROTO_KEY_MAX_LENGTH) {
        if (errstring)
            reply_error(s, out, bad_format);
        else
            reply_line(s, out, bad_format);
        return false;
    }
    if (nt > META_MAX_TOKENS) {
        reply_error(s, out, too_long);
        return false;
    }
    return true;
}

void cmd_mg(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    if (!meta_prologue(s, t, nt, "CLIENT_ERROR options flags are too long", true, out))
        return;
    struct meta_flags f = {0};
    const char *err = bad_format;
    if (meta_parse_flags(t, 2, &f, &err) != 0) {
        reply_error(s, out, err);
        return;
    }
    s->noreply = f.no_reply;
    const char *key = t[1].value;
    size_t nkey = t[1].length;

    struct store *st = s->env->store;
    struct thread_stats *ts = s->env->stats;
    struct store_lock lk;
    uint32_t hv = store_hash(key, nkey);
    bool created = false, won = false, ttl_set = false;
    struct line_buf b = {.len = 0};

    store_lock_key(st, hv, &lk);
    struct item *it = session_find(s, hv, key, nkey);
    if (it == NULL && f.vivify) {
        enum store_alloc_err aerr;
        it = store_alloc(st, key, nkey, 0, &aerr);
        if (it != NULL) {
            store_link(st, hv, it, NULL);
            if (f.has_new_cas)
                item_give_cas(it, f.new_cas);
            created = true;
        }
    }
    if (it == NULL) {
        store_unlock(st, &lk);
        STAT_INC(ts, cmd_get);
        STAT_INC(ts, get_misses);
        lb_str(&b, "EN");
        if (!lb_opaque_and_key(&b, t, nt, key, nkey, f.key_binary)) {
            reply_error(s, out, opaque_too_long);
            return;
        }
        lb_add(&b, "\r\n", 2);
        if (!s->noreply)
            reply_raw(out, b.data, b.len);
        return;
    }

    if (f.value) {
        lb_str(&b, "VA ");
        b.len += (size_t)proto_u64_to_dec(item_nbytes(it), b.data + b.len);
    } else {
        lb_str(&b, "HD");
    }
    for (size_t i = 2; i < nt - 1; i++) {
        switch (t[i].value[0]) {
        case 'T':
            ttl_set = true;
            item_set_exptime(it, session_exptime(f.exptime));
            break;
        case 'N':
            if (created) {
                item_set_exptime(it, session_exptime(f.autoviv_exptime));
                won = true;
            }
            break;
        case 'R':
            /* a recache win: the item expires sooner than the client's threshold */
            if (!(item_bits(it) & ITEM_WIN_SENT) && !created && item_exptime(it) != 0 &&
                item_exptime(it) < session_exptime(f.recache_time))
                won = true;
            break;
        case 's':
            lb_u64(&b, 's', item_nbytes(it));
            break;
        case 't':
            lb_ttl(&b, it);
            break;
        case 'c':
            lb_u64(&b, 'c', item_cas(it));
            break;
        case 'f':
            lb_u64(&b, 'f', item_flags(it));
            break;
        case 'l':
            lb_u64(&b, 'l', (uint32_t)(clock_now() - item_atime(it)));
            break;
        case 'h':
            lb_str(&b, (item_bits(it) & ITEM_FETCHED) ? " h1" : " h0");
            break;
        case 'O':
            if (t[i].length > META_MAX_OPAQUE_LENGTH) {
                store_unlock(st, &lk);
                reply_error(s, out, opaque_too_long);
                return;
            }
            lb_opaque(&b, &t[i]);
            break;
        case 'k':
            /* the request's b also counts: a store may not keep the binary-key bit */
            lb_key(&b, item_key(it), item_nkey(it), f.key_binary || item_key_binary(it));
            break;
        }
    }
    /* Z before X so that a client never sees W together with Z */
    if (item_bits(it) & ITEM_WIN_SENT)
        lb_str(&b, " Z");
    if (item_bits(it) & ITEM_STALE) {
        lb_str(&b, " X");
        if (!(item_bits(it) & ITEM_WIN_SENT))
            won = true;
    }
    if (won) {
        lb_str(&b, " W");
        item_set_bits(it, item_bits(it) | ITEM_WIN_SENT);
    }
    lb_add(&b, "\r\n", 2);
    reply_raw(out, b.data, b.len);
    if (f.value) {
        reply_raw(out, item_data(it), item_nbytes(it));
        reply_raw(out, "\r\n", 2);
    }
    if (!f.no_update)
        store_touch_access(st, it);
    store_unlock(st, &lk);
    if (ttl_set) {
        STAT_INC(ts, cmd_touch);
        STAT_INC(ts, touch_hits);
    } else {
        STAT_INC(ts, cmd_get);
        STAT_INC(ts, get_hits);
    }
}

/* Stashes the return flags an ms reply will carry, in token order (the reply is written only
 * once the data block is stored). Returns false when an opaque is too long. */
static bool ms_stash_flags(struct session *s, const struct proto_token *t, size_t nt)
{
    bool ok = true;
    s->ms_stash_len = 0;
    for (size_t i = 2; i < nt - 1; i++) {
        char c = t[i].value[0];
        if (c == 'O') {
            if (t[i].length > META_MAX_OPAQUE_LENGTH) {
                ok = false;
                continue;
            }
            s->ms_stash[s->ms_stash_len++] = ' ';
            memcpy(s->ms_stash + s->ms_stash_len, t[i].value, t[i].length);
            s->ms_stash_len += t[i].length;
        } else if (c == 'k' || c == 'c') {
            s->ms_stash[s->ms_stash_len++] = ' ';
            s->ms_stash[s->ms_stash_len++] = c;
        }
    }
    return ok;
}

void cmd_ms(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    struct proto_storage_line line;
    switch (proto_storage_line(PROTO_CMD_MS, t, nt, &line)) {
    case PROTO_STORAGE_NONE: /* no key */
        reply_line(s, out, "ERROR");
        return;
    case PROTO_STORAGE_REFUSE:
        reply_error(s, out, line.error);
        return;
    case PROTO_STORAGE_ACCEPT:
        break;
    }
    size_t vlen = line.block_len;
    /* From here on an error swallows the data block. */
    struct meta_flags f = {0};
    const char *err = bad_format;
    if (meta_parse_flags(t, 3, &f, &err) != 0)
        goto refuse;
    s->noreply = f.no_reply;
    bool stash_ok = ms_stash_flags(s, t, nt);
    if (!stash_ok)
        err = opaque_too_long;

    enum store_mode mode;
    switch (f.mode) {
    case 0:
    case 'S': mode = MODE_SET; break;
    case 'E': mode = MODE_ADD; break;
    case 'A': mode = MODE_APPEND; break;
    case 'P': mode = MODE_PREPEND; break;
    case 'R': mode = MODE_REPLACE; break;
    default:
        err = "CLIENT_ERROR invalid mode for ms M token";
        goto refuse;
    }
    /* a CAS turns set and replace into cas */
    if (f.has_cas && (mode == MODE_SET || mode == MODE_REPLACE))
        mode = MODE_CAS;
    if (!stash_ok)
        goto refuse;

    const char *key = t[1].value;
    size_t nkey = t[1].length;
    enum store_alloc_err aerr = STORE_ALLOC_OK;
    struct item *it =
        store_alloc_flags(s->env->store, key, nkey, f.client_flags, vlen, &aerr);
    if (it == NULL) {
        /* memcached drops the old value whatever the mode */
        session_refuse_alloc(s, key, nkey, vlen, aerr, true, true, out);
        return;
    }
    item_set_exptime(it, session_exptime(f.exptime));
    item_set_cas(it, f.req_cas_id);
    if (f.key_binary)
        item_set_bits(it, item_bits(it) | ITEM_KEY_BINARY);
    s->meta_set = true;
    s->meta_set_stale = f.set_stale && mode == MODE_CAS;
    s->meta_key_binary = f.key_binary;
    s->meta_new_cas_set = f.has_new_cas;
    s->meta_new_cas = f.new_cas;
    s->meta_copy = false;
    if (f.has_new_cas) {
        store_observe_cas(s->env->store, f.new_cas);
        for (size_t k = 3; k + 1 < nt && !s->meta_copy; k++)
            s->meta_copy = t[k].length == sizeof SESSION_COPY_OPAQUE - 1 &&
                           memcmp(t[k].value, SESSION_COPY_OPAQUE, t[k].length) == 0;
    }
    memcpy(s->ms_key, key, nkey);
    s->ms_nkey = nkey;
    session_expect_data(s, it, vlen, mode);
    return;

refuse:
    reply_error(s, out, err);
    session_swallow(s, (uint64_t)vlen + 2);
}

void cmd_ms_finish(struct session *s, enum store_result r, uint64_t cas, struct outbuf *out)
{
    static const char *const codes[] = {
        [RESULT_STORED] = "HD",
        [RESULT_EXISTS] = "EX",
        [RESULT_NOT_FOUND] = "NF",
        [RESULT_NOT_STORED] = "NS",
    };
    struct line_buf b = {.len = 0};
    lb_str(&b, codes[r]);
    /* the stash is " O<opaque>", " k" and " c" pieces */
    size_t i = 0;
    while (i < s->ms_stash_len) {
        i++; /* the space */
        char c = s->ms_stash[i];
        if (c == 'O') {
            size_t start = i;
            while (i < s->ms_stash_len && s->ms_stash[i] != ' ')
                i++;
            lb_add(&b, " ", 1);
            lb_add(&b, s->ms_stash + start, i - start);
        } else {
            if (c == 'k')
                lb_key(&b, s->ms_key, s->ms_nkey, s->meta_key_binary);
            else
                lb_u64(&b, 'c', cas);
            i++;
        }
    }
    lb_add(&b, "\r\n", 2);
    bool quiet = r == RESULT_STORED && s->noreply;
    s->noreply = false;
    s->meta_set = false;
    if (!quiet)
        reply_raw(out, b.data, b.len);
}

/* md and ma: the prologue, then the flags over the command's defaults in *f (these two answer
 * any bad flag with one message, unlike mg and ms). Returns false after replying. */
static bool md_ma_begin(struct session *s, struct proto_token *t, size_t nt, struct meta_flags *f,
                        struct outbuf *out)
{
    if (!meta_prologue(s, t, nt, "CLIENT_ERROR options flags too long", false, out))
        return false;
    const char *err = bad_format;
    if (meta_parse_flags(t, 2, f, &err) != 0) {
        reply_error(s, out, "CLIENT_ERROR invalid or duplicate flag");
        return false;
    }
    s->noreply = f->no_reply;
    return true;
}

void cmd_md(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    struct meta_flags f = {0};
    if (!md_ma_begin(s, t, nt, &f, out))
        return;
    const char *key = t[1].value;
    size_t nkey = t[1].length;
    struct line_buf flags = {.len = 0};
    if (!lb_opaque_and_key(&flags, t, nt, key, nkey, f.key_binary)) {
        reply_error(s, out, opaque_too_long);
        return;
    }

    struct store *st = s->env->store;
    struct thread_stats *ts = s->env->stats;
    struct store_lock lk;
    uint32_t hv = store_hash(key, nkey);
    const char *code;
    bool quiet = false;
    store_lock_key(st, hv, &lk);
    struct item *it = session_find(s, hv, key, nkey);
    if (it == NULL) {
        STAT_INC(ts, delete_misses);
        code = "NF";
    } else if (f.has_cas && item_cas(it) != f.req_cas_id) {
        STAT_INC(ts, delete_misses);
        code = "EX";
    } else if (f.set_stale) {
        /* invalidate: keep the value, mark it stale, let the next client win a recache */
        if (f.new_ttl)
            item_set_exptime(it, session_exptime(f.exptime));
        item_set_bits(it, (item_bits(it) | ITEM_STALE) & ~(unsigned)ITEM_WIN_SENT);
        if (f.has_new_cas)
            item_give_cas(it, f.new_cas);
        else
            store_new_cas(st, it);
        code = "HD";
        quiet = s->noreply;
    } else {
        STAT_INC(ts, delete_hits);
        store_unlink(st, hv, it);
        code = "HD";
        quiet = s->noreply;
    }
    store_unlock(st, &lk);
    s->noreply = false;
    if (quiet)
        return;
    reply_raw(out, code, 2);
    reply_raw(out, flags.data, flags.len);
    reply_raw(out, "\r\n", 2);
}

void cmd_ma(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    struct meta_flags f = {.delta = 1};
    if (!md_ma_begin(s, t, nt, &f, out))
        return;
    const char *err = bad_format;
    const char *key = t[1].value;
    size_t nkey = t[1].length;
    bool incr;
    switch (f.mode) {
    case 0: case 'I': case '+': incr = true; break;
    case 'D': case '-': incr = false; break;
    default:
        reply_error(s, out, "CLIENT_ERROR invalid mode for ma M token");
        return;
    }

    struct store *st = s->env->store;
    struct thread_stats *ts = s->env->stats;
    struct store_lock lk;
    uint32_t hv = store_hash(key, nkey);
    char num[24];
    struct item *it = NULL;
    bool created = false, quiet = false;
    struct line_buf b = {.len = 0};

    store_lock_key(st, hv, &lk);
    switch (session_add_delta(s, hv, key, nkey, incr, f.delta, num, &f.req_cas_id, &it)) {
    case DELTA_OK:
        quiet = s->noreply;
        break;
    case DELTA_NON_NUMERIC:
        err = "CLIENT_ERROR cannot increment or decrement non-numeric value";
        goto error;
    case DELTA_EOM:
        err = "SERVER_ERROR out of memory";
        goto error;
    case DELTA_NOT_FOUND:
        if (f.vivify) {
            size_t len = (size_t)proto_u64_to_dec(f.initial, num);
            num[len] = '\0';
            enum store_alloc_err aerr;
            it = store_alloc(st, key, nkey, len, &aerr);
            if (it == NULL) {
                err = "SERVER_ERROR Out of memory allocating new item";
                goto error;
            }
            memcpy(item_data(it), num, len);
            store_link(st, hv, it, NULL);
            created = true;
        } else {
            if (incr)
                STAT_INC(ts, incr_misses);
            else
                STAT_INC(ts, decr_misses);
            lb_str(&b, "NF");
        }
        break;
    case DELTA_CAS_MISMATCH:
        lb_str(&b, "EX");
        break;
    }

    if (it != NULL && f.has_new_cas)
        item_give_cas(it, f.new_cas); /* changed or created here: the writer chose the CAS */
    if (it != NULL) {
        size_t vlen = strlen(num);
        if (f.value) {
            lb_str(&b, "VA ");
            b.len += (size_t)proto_u64_to_dec(vlen, b.data + b.len);
        } else {
            lb_str(&b, "HD");
        }
        for (size_t i = 2; i < nt - 1; i++) {
            switch (t[i].value[0]) {
            case 'c':
                lb_u64(&b, 'c', item_cas(it));
                break;
            case 't':
                lb_ttl(&b, it);
                break;
            case 'T':
                item_set_exptime(it, session_exptime(f.exptime));
                break;
            case 'N':
                if (created)
                    item_set_exptime(it, session_exptime(f.autoviv_exptime));
                break;
            case 'O':
                if (t[i].length > META_MAX_OPAQUE_LENGTH) {
                    err = opaque_too_long;
                    goto error;
                }
                lb_opaque(&b, &t[i]);
                break;
            case 'k':
                lb_key(&b, key, nkey, f.key_binary);
                break;
            }
        }
        if (f.value) {
            lb_add(&b, "\r\n", 2);
            lb_add(&b, num, vlen);
        }
    } else if (!lb_opaque_and_key(&b, t, nt, key, nkey, f.key_binary)) {
        err = opaque_too_long;
        goto error;
    }
    store_unlock(st, &lk);
    lb_add(&b, "\r\n", 2);
    s->noreply = false;
    if (!quiet)
        reply_raw(out, b.data, b.len);
    return;

error:
    store_unlock(st, &lk);
    reply_error(s, out, err);
}

/* memcached's item header size and slab classes, to print `me`'s cls= and size= as it does. */
#define MC_ITEM_HEADER 48
static unsigned slab_class_of(size_t ntotal)
{
    double size = MC_ITEM_HEADER + (settings.chunk_size > 0 ? settings.chunk_size : 48);
    double factor = settings.factor > 1.0 ? settings.factor : 1.25;
    size_t chunk_max = settings.item_size_max / 2;
    unsigned cls = 1;
    for (;;) {
        size_t aligned = ((size_t)size + 7) & ~(size_t)7;
        if (ntotal <= aligned)
            return cls;
        if ((double)aligned * factor > (double)chunk_max)
            return cls + 1;
        size = (double)aligned * factor;
        cls++;
    }
}

void cmd_me(struct session *s, struct proto_token *t, size_t nt, struct outbuf *out)
{
    if (nt < 3 || t[1].length > PROTO_KEY_MAX_LENGTH) {
        reply_line(s, out, bad_format);
        return;
    }
    char *key = t[1].value;
    size_t nkey = t[1].length;
    if (nt >= 4 && t[2].length == 1 && t[2].value[0] == 'b') {
        nkey = proto_base64_decode(key, nkey, (unsigned char *)key, nkey);
        if (nkey == 0) {
            reply_line(s, out, bad_format);
            return;
        }
    }
    struct store *st = s->env->store;
    struct store_lock lk;
    uint32_t hv = store_hash(key, nkey);
    store_lock_key(st, hv, &lk);
    struct item *it = session_find(s, hv, key, nkey);
    if (it != NULL) {
        struct line_buf b = {.len = 0};
        lb_str(&b, "ME ");
        if (item_key_binary(it))
            b.len += proto_base64_encode((const unsigned char *)item_key(it), item_nkey(it),
                                         b.data + b.len, sizeof b.data - b.len);
        else
            lb_add(&b, item_key(it), item_nkey(it));
        size_t ntotal = MC_ITEM_HEADER + item_nkey(it) + 1 + item_nbytes(it) + 2 +
                        (item_flags(it) != 0 ? 4 : 0) + (settings.use_cas ? 8 : 0);
        rel_time_t now = clock_now();
        int n = snprintf(b.data + b.len, sizeof b.data - b.len,
                         " exp=%d la=%" PRIu64 " cas=%" PRIu64 " fetch=%s cls=%u size=%zu\r\n",
                         item_exptime(it) == 0 ? -1 : (int)(now - item_exptime(it)),
                         (uint64_t)(uint32_t)(now - item_atime(it)), item_cas(it),
                         (item_bits(it) & ITEM_FETCHED) ? "yes" : "no", slab_class_of(ntotal),
                         ntotal);
        b.len += (size_t)n;
        reply_raw(out, b.data, b.len);
    } else {
        reply_line(s, out, "EN");
    }
    store_unlock(st, &lk);
    STAT_INC(s->env->stats, cmd_meta);
}
