/* A binary client's requests routed as meta commands, replies translated back; see
 * route_binary.h. */
#include "server/route_binary.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "proto/base64.h"
#include "proto/binary.h"
#include "proto/number.h"
#include "proto/reply.h"
#include "server/log.h"
#include "server/outbuf.h"
#include "server/route_worker.h"
#include "server/session.h"
#include "server/settings.h"
#include "server/store.h"

/* Requests one client may have waiting before its connection stops reading (as route_conn). */
#define PENDING_MAX 256
/* Finished entries kept for reuse, so that routing a request allocates nothing in the steady
 * state. */
#define SPARE_MAX 64
/* Room for a translated command line (a base64 key is at most 250 bytes). */
#define LINE_MAX 512
/* Status memcached's protocol_binary.h names EINTERNAL: a routed request failed at its owner
 * (Shoal's failure policy: backend down, timeout), which memcached alone never answers. */
#define STATUS_INTERNAL 0x84

enum pending_kind {
    PENDING_READY,   /* the reply is made (local session): `ready` */
    PENDING_META,    /* waits for one meta reply, translated into the binary one */
    PENDING_DISCARD, /* waits for one meta reply that nobody asked for, dropped */
};

/* One request waiting for its turn to reply. */
struct pending {
    struct pending *next;
    enum pending_kind kind;
    enum reply_kind reply_kind;
    struct outbuf ready;
    struct proto_bin_header req; /* opcode as sent, opaque */
    uint8_t op;                  /* the loud form */
    bool quiet;
    uint16_t nkey;
    char key[PROTO_BIN_KEY_MAX];
};

struct route_binary {
    struct route_conn *inner;    /* routes the translations; replies into meta_out */
    struct outbuf meta_out;
    char *meta;                  /* meta replies taken from meta_out, not yet translated */
    size_t meta_len, meta_cap;
    struct session *conn_session; /* the connection's: closing it closes the connection */
    struct session *local;       /* binary: requests with no key to route, refusals */
    struct outbuf *out;
    route_conn_notify_fn notify;
    void *notify_arg;
    const struct session_env *env;
    struct pending *head, *tail;
    size_t npending;
    struct pending *spare; /* up to SPARE_MAX, for reuse */
    size_t nspare;
    size_t want_input;
    uint64_t skip_left; /* bytes of a refused body still to pass to the local session */
    bool closing;
    char *text;         /* the current translation */
    size_t text_cap;
};

bool route_binary_wanted(unsigned char first)
{
    return settings.binding_protocol == BINDING_BINARY ||
           (settings.binding_protocol == BINDING_AUTO && first == PROTO_BIN_REQUEST);
}

static void drain(struct route_binary *rb);

/* Backend completions put meta replies in meta_out: translate, then wake the connection. */
static void inner_notify(void *arg)
{
    struct route_binary *rb = arg;
    drain(rb);
    rb->notify(rb->notify_arg);
}

struct route_binary *route_binary_create(struct route_worker *router, struct route_conn_pool *pool,
                                         struct session *session, struct outbuf *out,
                                         route_conn_notify_fn notify, void *notify_arg)
{
    struct route_binary *rb = calloc(1, sizeof *rb);
    if (!rb)
        return NULL;
    outbuf_init(&rb->meta_out);
    rb->conn_session = session;
    rb->env = session_env(session);
    rb->out = out;
    rb->notify = notify;
    rb->notify_arg = notify_arg;
    rb->local = session_create(rb->env);
    rb->inner = route_conn_create(router, pool, session, &rb->meta_out, inner_notify, rb);
    if (!rb->local || !rb->inner) {
        route_binary_destroy(rb);
        return NULL;
    }
    session_force_binary(rb->local);
    route_conn_ascii_only(rb->inner);
    return rb;
}

static void pending_free(struct pending *p)
{
    outbuf_free(&p->ready);
    free(p);
}

void route_binary_destroy(struct route_binary *rb)
{
    if (!rb)
        return;
    route_conn_destroy(rb->inner); /* requests in flight are detached from meta_out */
    session_destroy(rb->local);
    while (rb->head) {
        struct pending *p = rb->head;
        rb->head = p->next;
        pending_free(p);
    }
    while (rb->spare) {
        struct pending *p = rb->spare;
        rb->spare = p->next;
        pending_free(p);
    }
    outbuf_free(&rb->meta_out);
    free(rb->meta);
    free(rb->text);
    free(rb);
}

size_t route_binary_input_wanted(const struct route_binary *rb)
{
    return rb->want_input;
}

bool route_binary_blocked(const struct route_binary *rb)
{
    return rb->npending >= PENDING_MAX || route_conn_blocked(rb->inner);
}

bool route_binary_idle(const struct route_binary *rb)
{
    return !rb->head && route_conn_idle(rb->inner);
}

/* A drained entry: kept for the next request, or freed. */
static void pending_recycle(struct route_binary *rb, struct pending *p)
{
    if (rb->nspare >= SPARE_MAX) {
        pending_free(p);
        return;
    }
    outbuf_free(&p->ready);
    p->next = rb->spare;
    rb->spare = p;
    rb->nspare++;
}

static struct pending *pending_push(struct route_binary *rb, enum pending_kind kind)
{
    struct pending *p = rb->spare;
    if (p) {
        rb->spare = p->next;
        rb->nspare--;
    } else if ((p = malloc(sizeof *p)) == NULL) {
        return NULL;
    }
    p->next = NULL;
    p->kind = kind;
    p->nkey = 0;
    outbuf_init(&p->ready);
    if (rb->tail)
        rb->tail->next = p;
    else
        rb->head = p;
    rb->tail = p;
    rb->npending++;
    return p;
}

/* Where a reply made now goes: out when nothing waits, else behind what waits. */
static struct outbuf *ready_out(struct route_binary *rb)
{
    if (!rb->head)
        return rb->out;
    if (rb->tail->kind != PENDING_READY) {
        struct pending *p = pending_push(rb, PENDING_READY);
        if (!p)
            return rb->out;
    }
    return &rb->tail->ready;
}

/* Closes the connection once the replies before now are out: the connection's session takes a
 * quit (it answers nothing), and the connection, seeing it closed, stops reading and closes when
 * nothing is pending any more. */
static void close_conn(struct route_binary *rb)
{
    if (rb->closing)
        return;
    rb->closing = true;
    struct outbuf none;
    outbuf_init(&none);
    (void)session_process(rb->conn_session, "quit\r\n", 6, &none, SIZE_MAX);
    outbuf_free(&none);
}

/* Runs bytes of binary requests in the local binary session. */
static void run_local(struct route_binary *rb, const char *bytes, size_t n)
{
    (void)session_process(rb->local, bytes, n, ready_out(rb), SIZE_MAX);
    if (session_state(rb->local) != SESSION_OPEN)
        close_conn(rb);
}

/* ---- replies ---------------------------------------------------------------------------- */

static void bin_put(struct outbuf *o, const struct pending *p, uint16_t status, const void *ext,
                    uint8_t extlen, const void *key, uint16_t keylen, const void *val,
                    uint32_t vlen, uint64_t cas)
{
    char head[PROTO_BIN_HEADER_LEN];
    proto_bin_response(head, &p->req, status, extlen, keylen, (uint32_t)extlen + keylen + vlen,
                       cas);
    (void)outbuf_append(o, head, sizeof head);
    if (extlen)
        (void)outbuf_append(o, ext, extlen);
    if (keylen)
        (void)outbuf_append(o, key, keylen);
    if (vlen)
        (void)outbuf_append(o, val, vlen);
}

static void bin_fail(struct outbuf *o, const struct pending *p, uint16_t status, const char *msg)
{
    if (msg == NULL)
        msg = proto_bin_error_text(status);
    bin_put(o, p, status, NULL, 0, NULL, 0, msg, (uint32_t)strlen(msg), 0);
}

static void bin_done(struct outbuf *o, const struct pending *p, uint64_t cas)
{
    if (!p->quiet)
        bin_put(o, p, PROTO_BIN_SUCCESS, NULL, 0, NULL, 0, NULL, 0, cas);
}

/* A meta reply's parts: its code, return flags, and a VA's data. */
struct meta_reply {
    char code[3];
    uint32_t flags;
    uint64_t cas;
    const char *data;
    size_t data_len;
    const char *text; /* the line after an error word, NUL-terminated */
    char line[LINE_MAX];
};

static void parse_meta(const char *r, size_t len, struct meta_reply *m)
{
    memset(m->code, 0, sizeof m->code);
    m->flags = 0;
    m->cas = 0;
    m->data = NULL;
    m->data_len = 0;
    const char *eol = memchr(r, '\n', len);
    size_t n = eol ? (size_t)(eol - r) : len;
    if (n > 0 && r[n - 1] == '\r')
        n--;
    if (n >= sizeof m->line)
        n = sizeof m->line - 1;
    memcpy(m->line, r, n);
    m->line[n] = '\0';
    m->text = m->line;
    if (n >= 2) {
        m->code[0] = m->line[0];
        m->code[1] = m->line[1];
    }
    if (strncmp(m->line, "SERVER_ERROR ", 13) == 0 || strncmp(m->line, "CLIENT_ERROR ", 13) == 0) {
        m->text = m->line + 13;
        return;
    }
    char *save = NULL;
    char copy[LINE_MAX];
    memcpy(copy, m->line, n + 1);
    char *tok = strtok_r(copy, " ", &save);
    bool va = tok && strcmp(tok, "VA") == 0;
    if (va && (tok = strtok_r(NULL, " ", &save)) != NULL) {
        m->data_len = strtoul(tok, NULL, 10);
        m->data = eol ? eol + 1 : NULL;
        if (!m->data || (size_t)(r + len - m->data) < m->data_len)
            m->data = NULL;
    }
    while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
        if (tok[0] == 'f')
            m->flags = (uint32_t)strtoul(tok + 1, NULL, 10);
        else if (tok[0] == 'c')
            m->cas = strtoull(tok + 1, NULL, 10);
    }
}

static bool code_is(const struct meta_reply *m, const char *code)
{
    return strcmp(m->code, code) == 0 && (m->line[2] == '\0' || m->line[2] == ' ');
}

/* A reply no translation expects: an error line from the owner or the failure policy. */
static void translate_error(struct outbuf *o, const struct pending *p, const struct meta_reply *m)
{
    if (strncmp(m->line, "SERVER_ERROR ", 13) == 0) {
        if (strstr(m->text, "too large") != NULL)
            bin_fail(o, p, PROTO_BIN_E2BIG, NULL);
        else if (strstr(m->text, "out of memory") != NULL)
            bin_fail(o, p, PROTO_BIN_ENOMEM, "Out of memory");
        else
            bin_fail(o, p, STATUS_INTERNAL, m->text);
    } else if (strstr(m->line, "non-numeric") != NULL) {
        bin_fail(o, p, PROTO_BIN_DELTA_BADVAL, NULL);
    } else if (strstr(m->line, "flush_all not allowed") != NULL) {
        bin_fail(o, p, PROTO_BIN_AUTH_ERROR, NULL);
    } else {
        bin_fail(o, p, STATUS_INTERNAL, m->line);
    }
}

static void translate_get(struct outbuf *o, const struct pending *p, const struct meta_reply *m)
{
    bool with_key = p->op == PROTO_BIN_GETK || p->op == PROTO_BIN_GATK;
    bool with_value = p->op != PROTO_BIN_TOUCH;
    bool hit = with_value ? code_is(m, "VA") && m->data : code_is(m, "HD");
    if (hit) {
        char ext[4];
        proto_bin_put32(ext, m->flags);
        bin_put(o, p, PROTO_BIN_SUCCESS, ext, 4, p->key, with_key ? p->nkey : 0, m->data,
                with_value ? (uint32_t)m->data_len : 0, m->cas);
    } else if (code_is(m, "EN")) {
        if (p->quiet)
            return;
        if (with_key)
            bin_put(o, p, PROTO_BIN_KEY_ENOENT, NULL, 0, p->key, p->nkey, NULL, 0, 0);
        else
            bin_fail(o, p, PROTO_BIN_KEY_ENOENT, NULL);
    } else {
        translate_error(o, p, m);
    }
}

static void translate_store(struct outbuf *o, const struct pending *p, const struct meta_reply *m)
{
    if (code_is(m, "HD"))
        bin_done(o, p, m->cas);
    else if (code_is(m, "NS"))
        bin_fail(o, p,
                 p->op == PROTO_BIN_ADD       ? PROTO_BIN_KEY_EEXISTS
                 : p->op == PROTO_BIN_REPLACE ? PROTO_BIN_KEY_ENOENT
                                              : PROTO_BIN_NOT_STORED,
                 NULL);
    else if (code_is(m, "EX"))
        bin_fail(o, p, PROTO_BIN_KEY_EEXISTS, NULL);
    else if (code_is(m, "NF"))
        bin_fail(o, p, PROTO_BIN_KEY_ENOENT, NULL);
    else
        translate_error(o, p, m);
}

static void translate_arith(struct outbuf *o, const struct pending *p, const struct meta_reply *m)
{
    if (code_is(m, "VA") && m->data) {
        if (p->quiet)
            return;
        char digits[24];
        size_t n = m->data_len < sizeof digits - 1 ? m->data_len : sizeof digits - 1;
        memcpy(digits, m->data, n);
        digits[n] = '\0';
        char v[8];
        proto_bin_put64(v, strtoull(digits, NULL, 10));
        bin_put(o, p, PROTO_BIN_SUCCESS, NULL, 0, NULL, 0, v, sizeof v, m->cas);
    } else {
        translate_store(o, p, m); /* NF, NS, EX, errors: as a store's */
    }
}

static void translate(struct route_binary *rb, const struct pending *p, const char *r, size_t len)
{
    if (p->kind == PENDING_DISCARD)
        return;
    struct meta_reply m;
    parse_meta(r, len, &m);
    struct outbuf *o = rb->out;
    switch (p->op) {
    case PROTO_BIN_GET:
    case PROTO_BIN_GETK:
    case PROTO_BIN_TOUCH:
    case PROTO_BIN_GAT:
    case PROTO_BIN_GATK:
        translate_get(o, p, &m);
        break;
    case PROTO_BIN_INCREMENT:
    case PROTO_BIN_DECREMENT:
        translate_arith(o, p, &m);
        break;
    case PROTO_BIN_FLUSH:
        if (strcmp(m.line, "OK") == 0)
            bin_done(o, p, 0);
        else
            translate_error(o, p, &m);
        break;
    default: /* stores and delete */
        translate_store(o, p, &m);
        break;
    }
}

/* Moves what the inner route_conn wrote to the meta buffer. */
static void take_meta(struct route_binary *rb)
{
    while (rb->meta_out.pending > 0) {
        size_t need = rb->meta_len + rb->meta_out.pending;
        if (need > rb->meta_cap) {
            char *grown = realloc(rb->meta, need);
            if (!grown)
                return;
            rb->meta = grown;
            rb->meta_cap = need;
        }
        struct iovec iov[16];
        int n = outbuf_iov(&rb->meta_out, iov, 16);
        size_t moved = 0;
        for (int i = 0; i < n; i++) {
            memcpy(rb->meta + rb->meta_len, iov[i].iov_base, iov[i].iov_len);
            rb->meta_len += iov[i].iov_len;
            moved += iov[i].iov_len;
        }
        outbuf_consume(&rb->meta_out, moved);
    }
}

/* Moves every reply now in order to the connection's outbuf. */
static void drain(struct route_binary *rb)
{
    take_meta(rb);
    size_t at = 0;
    while (rb->head) {
        struct pending *p = rb->head;
        if (p->kind == PENDING_READY) {
            while (p->ready.pending > 0) {
                struct iovec iov[16];
                int n = outbuf_iov(&p->ready, iov, 16);
                size_t moved = 0;
                for (int i = 0; i < n; i++) {
                    (void)outbuf_append(rb->out, iov[i].iov_base, iov[i].iov_len);
                    moved += iov[i].iov_len;
                }
                outbuf_consume(&p->ready, moved);
            }
        } else {
            if (at == rb->meta_len)
                break; /* its reply has not come */
            struct reply_parser parser;
            reply_parser_init(&parser, p->reply_kind);
            enum reply_status st = reply_parser_feed(&parser, rb->meta + at, rb->meta_len - at);
            if (st == REPLY_INCOMPLETE)
                break;
            size_t n = st == REPLY_COMPLETE ? parser.length : rb->meta_len - at;
            translate(rb, p, rb->meta + at, n);
            at += n;
        }
        rb->head = p->next;
        if (!rb->head)
            rb->tail = NULL;
        rb->npending--;
        pending_recycle(rb, p);
    }
    if (at > 0) {
        memmove(rb->meta, rb->meta + at, rb->meta_len - at);
        rb->meta_len -= at;
    }
}

/* ---- requests ------------------------------------------------------------------------ */

/* Opcodes routed to the key's owner (and Flush, to every member). */
static bool routed(uint8_t op)
{
    switch (op) {
    case PROTO_BIN_GET:
    case PROTO_BIN_GETK:
    case PROTO_BIN_TOUCH:
    case PROTO_BIN_GAT:
    case PROTO_BIN_GATK:
    case PROTO_BIN_SET:
    case PROTO_BIN_ADD:
    case PROTO_BIN_REPLACE:
    case PROTO_BIN_APPEND:
    case PROTO_BIN_PREPEND:
    case PROTO_BIN_DELETE:
    case PROTO_BIN_INCREMENT:
    case PROTO_BIN_DECREMENT:
    case PROTO_BIN_FLUSH:
        return true;
    default:
        return false;
    }
}

/* The key as a meta command names it: as is when it is printable without spaces, else base64
 * with the b flag. False when that does not fit a meta key (250 bytes: a binary key of more
 * than 187 bytes with unprintable ones). */
static bool meta_key(const char *key, size_t nkey, char *dst, size_t *len, bool *b64)
{
    *b64 = false;
    for (size_t i = 0; i < nkey; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c <= ' ' || c >= 0x7f) {
            *b64 = true;
            break;
        }
    }
    if (!*b64) {
        memcpy(dst, key, nkey);
        *len = nkey;
        return true;
    }
    *len = proto_base64_encode((const unsigned char *)key, nkey, dst, PROTO_BIN_KEY_MAX);
    return *len > 0;
}

/* Binary exptimes are unsigned; a meta T or N token is a signed 32-bit number. Past 2^31-1 both
 * are absolute times after 2038: the largest token means the same. */
static unsigned long meta_ttl(uint32_t exptime)
{
    return exptime > INT32_MAX ? (unsigned long)INT32_MAX : exptime;
}

static bool text_reserve(struct route_binary *rb, size_t n)
{
    if (n <= rb->text_cap)
        return true;
    char *grown = realloc(rb->text, n);
    if (!grown)
        return false;
    rb->text = grown;
    rb->text_cap = n;
    return true;
}

/* Writes the meta command for request h (key, extras and value given) into rb->text; returns
 * its length, 0 when it cannot be expressed (or memory ran out), and the reply kind. */
static size_t translate_request(struct route_binary *rb, const struct proto_bin_header *h,
                                uint8_t op, const char *ext, const char *key, const char *value,
                                size_t vlen, enum reply_kind *kind)
{
    char k[PROTO_BIN_KEY_MAX + 1];
    size_t klen = 0;
    bool b64 = false;
    if (op != PROTO_BIN_FLUSH && !meta_key(key, h->keylen, k, &klen, &b64))
        return 0;
    k[klen] = '\0';
    if (!text_reserve(rb, LINE_MAX + vlen + 2))
        return 0;
    const char *b = b64 ? " b" : "";
    bool cas = h->cas != 0;
    char cas_flag[32] = "";
    if (cas)
        snprintf(cas_flag, sizeof cas_flag, " C%llu", (unsigned long long)h->cas);
    int n = -1;
    *kind = REPLY_META;
    switch (op) {
    case PROTO_BIN_GET:
    case PROTO_BIN_GETK:
        n = snprintf(rb->text, LINE_MAX, "mg %s%s v f c\r\n", k, b);
        break;
    case PROTO_BIN_TOUCH:
        n = snprintf(rb->text, LINE_MAX, "mg %s%s f c T%lu\r\n", k, b,
                     meta_ttl(proto_bin_get32(ext)));
        break;
    case PROTO_BIN_GAT:
    case PROTO_BIN_GATK:
        n = snprintf(rb->text, LINE_MAX, "mg %s%s v f c T%lu\r\n", k, b,
                     meta_ttl(proto_bin_get32(ext)));
        break;
    case PROTO_BIN_SET:
    case PROTO_BIN_ADD:
    case PROTO_BIN_REPLACE: {
        /* with a CAS all three are a compare and swap (memcached's NREAD_CAS); with -C the
         * CAS is not compared at all */
        bool swap = cas && settings.use_cas;
        char mode = swap ? 'S' : op == PROTO_BIN_ADD ? 'E' : op == PROTO_BIN_REPLACE ? 'R' : 'S';
        n = snprintf(rb->text, LINE_MAX, "ms %s %zu%s c F%u T%lu M%c%s\r\n", k, vlen, b,
                     (unsigned)proto_bin_get32(ext), meta_ttl(proto_bin_get32(ext + 4)), mode,
                     swap ? cas_flag : "");
        break;
    }
    case PROTO_BIN_APPEND:
    case PROTO_BIN_PREPEND:
        n = snprintf(rb->text, LINE_MAX, "ms %s %zu%s c M%c%s\r\n", k, vlen, b,
                     op == PROTO_BIN_APPEND ? 'A' : 'P', settings.use_cas ? cas_flag : "");
        break;
    case PROTO_BIN_DELETE:
        n = snprintf(rb->text, LINE_MAX, "md %s%s%s\r\n", k, b, cas_flag);
        break;
    case PROTO_BIN_INCREMENT:
    case PROTO_BIN_DECREMENT: {
        uint32_t exptime = proto_bin_get32(ext + 16);
        char create[64] = "";
        if (exptime != 0xffffffffu)
            snprintf(create, sizeof create, " N%lu J%llu", meta_ttl(exptime),
                     (unsigned long long)proto_bin_get64(ext + 8));
        n = snprintf(rb->text, LINE_MAX, "ma %s%s v c M%c D%llu%s%s\r\n", k, b,
                     op == PROTO_BIN_INCREMENT ? 'I' : 'D',
                     (unsigned long long)proto_bin_get64(ext), create, cas_flag);
        break;
    }
    case PROTO_BIN_FLUSH:
        *kind = REPLY_LINE;
        if (h->extlen == 4)
            n = snprintf(rb->text, LINE_MAX, "flush_all %lu\r\n", meta_ttl(proto_bin_get32(ext)));
        else
            n = snprintf(rb->text, LINE_MAX, "flush_all\r\n");
        break;
    }
    if (n <= 0 || n >= LINE_MAX)
        return 0;
    size_t len = (size_t)n;
    if (value != NULL) {
        memcpy(rb->text + len, value, vlen);
        memcpy(rb->text + len + vlen, "\r\n", 2);
        len += vlen + 2;
    }
    return len;
}

/* Hands a translated command to the inner route_conn, its reply awaited by a pending entry. */
static void route_text(struct route_binary *rb, enum pending_kind kind, enum reply_kind rkind,
                       const struct proto_bin_header *h, uint8_t op, bool quiet, const char *key,
                       size_t len)
{
    struct pending *p = pending_push(rb, kind);
    if (!p) {
        close_conn(rb);
        return;
    }
    p->reply_kind = rkind;
    p->req = *h;
    p->op = op;
    p->quiet = quiet;
    p->nkey = h->keylen <= PROTO_BIN_KEY_MAX ? h->keylen : 0;
    memcpy(p->key, key, p->nkey);
    size_t took = route_conn_process(rb->inner, rb->text, len, SIZE_MAX);
    if (took != len) {
        log_msg(1, "binary request not routed whole (%zu of %zu bytes): closing", took, len);
        close_conn(rb);
    }
}

/* memcached drops a key's old value when a set of it is refused as too large; the local
 * session did that here, the owner must too (its reply is not the client's). */
static void drop_at_owner(struct route_binary *rb, const struct proto_bin_header *h,
                          const char *key)
{
    struct proto_bin_header del = *h;
    del.cas = 0;
    enum reply_kind kind;
    size_t len = translate_request(rb, &del, PROTO_BIN_DELETE, NULL, key, NULL, 0, &kind);
    if (len > 0)
        route_text(rb, PENDING_DISCARD, kind, &del, PROTO_BIN_DELETE, true, key, len);
}

/* Handles the request at the front of in; returns the bytes it took (0: wait for more). */
static size_t one_request(struct route_binary *rb, const char *in, size_t len)
{
    if (len < PROTO_BIN_HEADER_LEN)
        return 0;
    struct proto_bin_header h;
    proto_bin_decode(in, &h);
    if (h.magic != PROTO_BIN_REQUEST) {
        close_conn(rb);
        return len;
    }
    size_t need = PROTO_BIN_HEADER_LEN + (size_t)h.extlen + h.keylen;
    if (need > PROTO_BIN_READ_BUFFER) {
        if (len < PROTO_BIN_READ_BUFFER)
            return 0;
        close_conn(rb);
        return len;
    }
    if (len < need)
        return 0;
    struct proto_bin_check c;
    proto_bin_check(&h, &c);
    if (c.verdict != PROTO_BIN_RUN || !routed(c.opcode)) {
        /* the local session answers (and discards what memcached discards after it) */
        run_local(rb, in, need);
        if (c.verdict == PROTO_BIN_UNKNOWN)
            rb->skip_left = c.swallow;
        return need;
    }
    const char *ext = in + PROTO_BIN_HEADER_LEN;
    const char *key = ext + h.extlen;
    const char *value = NULL;
    size_t vlen = 0, total = need;
    bool stores = c.opcode == PROTO_BIN_SET || c.opcode == PROTO_BIN_ADD ||
                  c.opcode == PROTO_BIN_REPLACE || c.opcode == PROTO_BIN_APPEND ||
                  c.opcode == PROTO_BIN_PREPEND;
    if (stores) {
        bool concat = c.opcode == PROTO_BIN_APPEND || c.opcode == PROTO_BIN_PREPEND;
        uint32_t flags = concat ? 0 : proto_bin_get32(ext);
        if (c.value_len < 0 ||
            (size_t)c.value_len > store_max_value(rb->env->store, h.keylen, flags)) {
            /* refused from the header: the local session answers as memcached and discards the
             * value as it arrives, so that it is never buffered whole */
            run_local(rb, in, need);
            rb->skip_left = c.value_len > 0 ? (uint64_t)c.value_len : 0;
            if (c.opcode == PROTO_BIN_SET)
                drop_at_owner(rb, &h, key);
            return need;
        }
        vlen = (size_t)c.value_len;
        total = need + vlen;
        if (len < total) {
            rb->want_input = total;
            return 0;
        }
        value = in + need;
    }
    enum reply_kind kind;
    size_t n = translate_request(rb, &h, c.opcode, ext, key, value, vlen, &kind);
    if (n == 0) {
        /* a key meta cannot name: served by this node */
        run_local(rb, in, total);
        return total;
    }
    route_text(rb, PENDING_META, kind, &h, c.opcode, c.quiet, key, n);
    return total;
}

size_t route_binary_process(struct route_binary *rb, const char *in, size_t len, size_t out_limit)
{
    size_t done = 0;
    rb->want_input = 0;
    while (done < len && !rb->closing && session_state(rb->conn_session) == SESSION_OPEN) {
        if (rb->skip_left > 0) {
            size_t n = len - done < rb->skip_left ? len - done : (size_t)rb->skip_left;
            run_local(rb, in + done, n);
            rb->skip_left -= n;
            done += n;
            continue;
        }
        if (rb->out->pending > out_limit || route_binary_blocked(rb))
            break;
        size_t n = one_request(rb, in + done, len - done);
        if (n == 0)
            break;
        done += n;
    }
    drain(rb);
    return done;
}
